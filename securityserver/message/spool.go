package message

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"sync"
)

// BodySum is what the signature and the request hash need to know about a
// body: its size and digests. A Spool computes it in one pass.
type BodySum struct {
	// Size is the body's length in bytes.
	Size int64
	// SHA256 is the body's SHA-256 digest (signed as the body digest).
	SHA256 []byte
	// SHA512 is the body's SHA-512 digest (used by RequestHash).
	SHA512 []byte
}

// SumBytes returns the BodySum of a body held in memory.
func SumBytes(b []byte) BodySum {
	s256, s512 := sha256.Sum256(b), sha512.Sum512(b)
	return BodySum{Size: int64(len(b)), SHA256: s256[:], SHA512: s512[:]}
}

// spoolChunk is the read size of NewSpool.
const spoolChunk = 32 << 10

// Spool holds a body read once from a stream: in memory while it is at most
// the memory limit, in a temporary file otherwise. Its digests are computed
// in the same pass. A Spool can be read any number of times, concurrently,
// until Close. Its methods are safe for concurrent use.
//
// The temporary file is created with os.CreateTemp (mode 0600) and holds
// the body in plain text: tmpDir should be a directory only the security
// server can read. Close removes it.
type Spool struct {
	sum  BodySum
	mem  []byte // the body when path == ""
	path string // temporary file holding the body, or ""

	mu     sync.Mutex
	closed bool
}

// SpoolOption changes how NewSpool digests a body.
type SpoolOption func(*spoolOptions)

type spoolOptions struct{ sha256Only bool }

// SHA256Only skips the SHA-512 digest, which only a request's
// X-Road-Request-Hash needs (BodySum.SHA512 is then nil): the provider's
// spools and response bodies need SHA-256 alone.
func SHA256Only() SpoolOption { return func(o *spoolOptions) { o.sha256Only = true } }

// NewSpool reads r to its end and returns a Spool holding what it read.
//
// At most memLimit bytes are kept in memory (memLimit ≥ 0); a longer body
// goes to a temporary file in tmpDir (os.TempDir() when tmpDir is ""). A
// body longer than maxSize bytes (maxSize ≥ 0) is refused with a
// *BodyTooLargeError as soon as its maxSize+1-th byte is read; r is not read
// further. On any error nothing is left on disk.
//
// Memory use is bounded by memLimit plus one read buffer, whatever the size
// of the body.
func NewSpool(r io.Reader, memLimit int64, maxSize int64, tmpDir string, opts ...SpoolOption) (*Spool, error) {
	if memLimit < 0 || maxSize < 0 {
		return nil, fmt.Errorf("message: NewSpool: negative limit (memLimit %d, maxSize %d)", memLimit, maxSize)
	}
	var o spoolOptions
	for _, opt := range opts {
		opt(&o)
	}
	s := &Spool{}
	h256 := sha256.New()
	var h512 hash.Hash
	var digests io.Writer = h256
	if !o.sha256Only {
		h512 = sha512.New()
		digests = io.MultiWriter(h256, h512)
	}
	var file *os.File
	fail := func(err error) (*Spool, error) {
		if file != nil {
			_ = file.Close()
			_ = os.Remove(file.Name())
		}
		return nil, err
	}
	buf := make([]byte, spoolChunk)
	// Read up to maxSize+1 bytes so that an oversized body is detected
	// without reading it all.
	lr := &io.LimitedReader{R: r, N: maxSize}
	if maxSize < math.MaxInt64 {
		lr.N++
	}
	var size int64
	for {
		n, rerr := lr.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			size += int64(n)
			if size > maxSize {
				return fail(&BodyTooLargeError{Limit: maxSize})
			}
			_, _ = digests.Write(chunk) // hash.Hash.Write never fails
			if file == nil && size > memLimit {
				f, err := os.CreateTemp(tmpDir, "jisr-body-*")
				if err != nil {
					return fail(fmt.Errorf("message: spooling body: %w", err))
				}
				file = f
				if _, err := file.Write(s.mem); err != nil {
					return fail(fmt.Errorf("message: spooling body: %w", err))
				}
				s.mem = nil
			}
			if file != nil {
				if _, err := file.Write(chunk); err != nil {
					return fail(fmt.Errorf("message: spooling body: %w", err))
				}
			} else {
				s.mem = appendBounded(s.mem, chunk, memLimit)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fail(fmt.Errorf("message: reading body: %w", rerr))
		}
	}
	if file != nil {
		name := file.Name()
		if err := file.Close(); err != nil {
			file = nil
			_ = os.Remove(name)
			return nil, fmt.Errorf("message: spooling body: %w", err)
		}
		s.path = name
	}
	s.sum = BodySum{Size: size, SHA256: h256.Sum(nil)}
	if h512 != nil {
		s.sum.SHA512 = h512.Sum(nil)
	}
	return s, nil
}

// appendBounded appends chunk to mem, growing its capacity by doubling but
// never beyond limit (the caller guarantees len(mem)+len(chunk) ≤ limit).
func appendBounded(mem, chunk []byte, limit int64) []byte {
	need := len(mem) + len(chunk)
	if need > cap(mem) {
		c := max(2*cap(mem), need, 512)
		c = int(min(int64(c), limit))
		grown := make([]byte, len(mem), c)
		copy(grown, mem)
		mem = grown
	}
	return append(mem, chunk...)
}

// Sum returns the body's size and digests.
func (s *Spool) Sum() BodySum {
	return BodySum{Size: s.sum.Size, SHA256: bytes.Clone(s.sum.SHA256), SHA512: bytes.Clone(s.sum.SHA512)}
}

// Digest returns the body's SHA-256 digest.
func (s *Spool) Digest() []byte { return bytes.Clone(s.sum.SHA256) }

// DigestSHA512 returns the body's SHA-512 digest.
func (s *Spool) DigestSHA512() []byte { return bytes.Clone(s.sum.SHA512) }

// Size returns the body's length in bytes.
func (s *Spool) Size() int64 { return s.sum.Size }

// InMemory reports whether the body is held in memory rather than in a
// temporary file.
func (s *Spool) InMemory() bool { return s.path == "" }

// errSpoolClosed is returned by Open after Close.
var errSpoolClosed = errors.New("message: spool is closed")

// Open returns a new reader of the whole body. Each call starts at the
// beginning; readers are independent. The caller must close the reader.
// After Close, Open fails.
func (s *Spool) Open() (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errSpoolClosed
	}
	if s.path == "" {
		return io.NopCloser(bytes.NewReader(s.mem)), nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("message: opening spooled body: %w", err)
	}
	return f, nil
}

// Close releases the body and removes the temporary file, if any. Readers
// already open keep working on platforms that allow removing open files
// (Unix). Close is idempotent.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.mem = nil
	if s.path != "" {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("message: removing spooled body: %w", err)
		}
	}
	return nil
}
