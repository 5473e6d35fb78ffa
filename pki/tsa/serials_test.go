package tsa

import (
	"context"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func openSerials(t *testing.T, path string) *FileSerialSource {
	t.Helper()
	s, err := FileSerials(path)
	if err != nil {
		t.Fatalf("FileSerials: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func next(t *testing.T, s SerialSource) *big.Int {
	t.Helper()
	n, err := s.Next(t.Context())
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return n
}

func TestFileSerialsConcurrentUnique(t *testing.T) {
	s := openSerials(t, filepath.Join(t.TempDir(), "serial"))
	const workers, each = 8, 400 // 3200 serials: several blocks
	results := make([][]*big.Int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				n, err := s.Next(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				results[w] = append(results[w], n)
			}
		})
	}
	wg.Wait()
	seen := make(map[string]bool)
	for w, rs := range results {
		for i, n := range rs {
			if n.Sign() <= 0 {
				t.Fatalf("non-positive serial %v", n)
			}
			if seen[n.String()] {
				t.Fatalf("serial %v handed out twice", n)
			}
			seen[n.String()] = true
			// Each worker sees its own serials strictly increasing.
			if i > 0 && n.Cmp(rs[i-1]) <= 0 {
				t.Fatalf("worker %d: %v after %v", w, n, rs[i-1])
			}
		}
	}
	if len(seen) != workers*each {
		t.Fatalf("%d serials, want %d", len(seen), workers*each)
	}
}

func TestFileSerialsPersistence(t *testing.T) {
	tests := []struct {
		name  string
		takes []int // serials taken in each successive incarnation
	}{
		{name: "fresh file starts at 1", takes: []int{1}},
		{name: "restart mid-block", takes: []int{5, 5, 5}},
		{name: "restart at block boundary", takes: []int{SerialBlockSize, 1}},
		{name: "restart after crossing a block", takes: []int{SerialBlockSize + 3, 2}},
		{name: "restart without taking any", takes: []int{3, 0, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "serial")
			high := big.NewInt(0)
			for _, n := range tc.takes {
				s, err := FileSerials(path)
				if err != nil {
					t.Fatal(err)
				}
				for range n {
					got := next(t, s)
					if got.Cmp(high) <= 0 {
						t.Fatalf("serial %v not above %v handed out earlier", got, high)
					}
					high = got
					// The mark on disk covers every serial handed out, so
					// a crash at any point cannot reuse one.
					if mark, err := readMark(path); err != nil || new(big.Int).SetUint64(mark).Cmp(got) < 0 {
						t.Fatalf("mark on disk %d (%v) below handed-out serial %v", mark, err, got)
					}
				}
				// No Close: a crash leaves the same state on disk as a
				// clean exit; only the lock has to go.
				_ = s.lock.Close()
			}
			if tc.takes[0] == 1 && high.Int64() != 1 {
				t.Fatalf("first serial = %v, want 1", high)
			}
		})
	}
}

func TestFileSerialsErrors(t *testing.T) {
	dir := t.TempDir()
	t.Run("corrupt file", func(t *testing.T) {
		path := filepath.Join(dir, "corrupt")
		if err := os.WriteFile(path, []byte("12x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := FileSerials(path); err == nil || !strings.Contains(err.Error(), "corrupt") {
			t.Fatalf("FileSerials = %v, want corrupt-file error", err)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		if _, err := FileSerials(filepath.Join(dir, "nope", "serial")); err == nil {
			t.Fatal("FileSerials succeeded in a missing directory")
		}
	})
	t.Run("second user is refused", func(t *testing.T) {
		if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "solaris" || runtime.GOOS == "illumos" || runtime.GOOS == "aix" {
			t.Skip("no flock on this platform")
		}
		path := filepath.Join(dir, "locked")
		s := openSerials(t, path)
		if _, err := FileSerials(path); err == nil || !strings.Contains(err.Error(), "in use") {
			t.Fatalf("second FileSerials = %v, want in-use error", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		openSerials(t, path) // free again after Close
	})
	t.Run("closed", func(t *testing.T) {
		s := openSerials(t, filepath.Join(dir, "closed"))
		_ = s.Close()
		if _, err := s.Next(t.Context()); err == nil {
			t.Fatal("Next after Close succeeded")
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		s := openSerials(t, filepath.Join(dir, "ctx"))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.Next(ctx); err == nil {
			t.Fatal("Next with a cancelled context succeeded")
		}
	})
	t.Run("unwritable directory keeps the block closed", func(t *testing.T) {
		sub := filepath.Join(dir, "ro")
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(sub, "serial")
		s := openSerials(t, path)
		// Replace the directory by a file so that writing the mark fails
		// even for root.
		if err := os.RemoveAll(sub); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sub, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Next(t.Context()); err == nil {
			t.Fatal("Next succeeded although the mark could not be written")
		}
	})
}
