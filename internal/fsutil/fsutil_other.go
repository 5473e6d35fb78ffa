//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package fsutil

import "os"

// flock takes no lock where the platform has none: run one writer per
// file there.
func flock(*os.File, bool) error { return nil }

// SyncDir is a no-op where directories cannot be synced.
func SyncDir(string) error { return nil }
