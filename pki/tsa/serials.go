package tsa

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/jisr-bus/jisr/internal/fsutil"
)

// SerialSource hands out time-stamp token serial numbers.
//
// Next returns a positive integer never returned before by this source or
// any earlier incarnation of it (RFC 3161 §2.4.2 requires serials to be
// unique per TSA). Implementations must be safe for concurrent use.
type SerialSource interface {
	Next(ctx context.Context) (*big.Int, error)
}

// SerialBlockSize is how many serials FileSerialSource reserves per write of
// its high-water mark.
const SerialBlockSize = 1000

// FileSerialSource is a SerialSource persisted in a small file; see
// FileSerials.
type FileSerialSource struct {
	path string
	lock *os.File // held open with an exclusive lock while in use

	mu     sync.Mutex
	next   uint64 // next serial to hand out
	limit  uint64 // highest reserved serial, as persisted in path
	closed bool
}

// FileSerials opens (or creates) the serial high-water-mark file at path.
//
// The file holds, in decimal, the highest serial that may have been handed
// out. Serials are reserved in blocks of SerialBlockSize: before the first
// serial of a block is returned, the new mark is written to a temporary file,
// fsynced, renamed over path, and the directory fsynced. So after a crash or
// restart, numbering continues above every serial ever handed out (skipping
// the unused rest of the last block); serials are unique and increase
// strictly in the order Next calls return.
//
// Only one FileSerialSource may use a path at a time: it holds an exclusive
// lock on path+".lock" (on Unix-like systems) until Close, and FileSerials
// fails if another holder exists. The directory must exist. A file with
// unparseable content is an error, never a silent restart from 1.
func FileSerials(path string) (*FileSerialSource, error) {
	lock, err := fsutil.Lock(path+".lock", false)
	if errors.Is(err, fsutil.ErrLocked) {
		return nil, fmt.Errorf("tsa: serial file is in use by another TSA (%s.lock locked)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("tsa: %w", err)
	}
	mark, err := readMark(path)
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	if mark == math.MaxUint64 {
		_ = lock.Close()
		return nil, fmt.Errorf("tsa: serial file %s is exhausted", path)
	}
	return &FileSerialSource{path: path, lock: lock, next: mark + 1, limit: mark}, nil
}

// readMark reads the high-water mark; a missing file means 0.
func readMark(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("tsa: reading serial file: %w", err)
	}
	mark, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("tsa: serial file %s is corrupt: %w", path, err)
	}
	return mark, nil
}

// Next returns the next serial number, reserving a new block first when the
// current one is used up.
func (s *FileSerialSource) Next(ctx context.Context) (*big.Int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("tsa: serial source is closed")
	}
	if s.next > s.limit {
		if s.limit > math.MaxUint64-SerialBlockSize {
			return nil, errors.New("tsa: serial numbers exhausted")
		}
		mark := s.limit + SerialBlockSize
		if err := writeMark(s.path, mark); err != nil {
			return nil, err
		}
		s.limit = mark
	}
	n := s.next
	s.next++
	return new(big.Int).SetUint64(n), nil
}

// Close releases the lock on the serial file. Serials already handed out
// stay reserved; Next fails after Close.
func (s *FileSerialSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.lock.Close()
}

// writeMark atomically and durably replaces the file at path with mark.
func writeMark(path string, mark uint64) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("tsa: writing serial file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.WriteString(strconv.FormatUint(mark, 10) + "\n"); err != nil {
		return fmt.Errorf("tsa: writing serial file: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("tsa: syncing serial file: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("tsa: closing serial file: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tsa: replacing serial file: %w", err)
	}
	if err := fsutil.SyncDir(dir); err != nil {
		return fmt.Errorf("tsa: syncing serial directory: %w", err)
	}
	return nil
}
