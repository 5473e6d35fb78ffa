//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package archive

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive flock on dir's lock file, waiting for it, so
// that two archivers (the server's and `jisr ss archive`) never write the
// same range into one directory. The returned function releases it.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("archive: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("archive: lock %s: %w", dir, err)
	}
	return func() { _ = f.Close() }, nil
}
