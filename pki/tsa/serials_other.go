//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package tsa

import (
	"fmt"
	"os"
)

// lockFile opens path. On this platform no lock is taken: running two TSA
// processes on one serial file would reuse serials.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tsa: opening serial lock file: %w", err)
	}
	return f, nil
}

// syncDir is a no-op where directories cannot be fsynced.
func syncDir(string) error { return nil }
