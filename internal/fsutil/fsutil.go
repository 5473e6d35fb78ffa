// Package fsutil holds the few file-system primitives durable writers
// share: syncing a directory after a rename, and an exclusive lock file.
package fsutil

import (
	"errors"
	"fmt"
	"os"
)

// ErrLocked is returned by Lock without wait when another process holds
// the lock.
var ErrLocked = errors.New("fsutil: locked by another process")

// Lock opens (creating it, mode 0600) the lock file at path and takes an
// exclusive lock on it, waiting for it when wait is set and failing with
// ErrLocked otherwise. Closing the returned file releases the lock. Where
// the platform has no flock, the file is opened but not locked.
func Lock(path string, wait bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fsutil: lock file: %w", err)
	}
	if err := flock(f, wait); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}
