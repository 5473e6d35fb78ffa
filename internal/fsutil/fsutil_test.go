package fsutil

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	a, err := Lock(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path, false); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock = %v, want ErrLocked", err)
	}
	_ = a.Close()
	b, err := Lock(path, true)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	_ = b.Close()
	if err := SyncDir(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
}
