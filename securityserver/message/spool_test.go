package message

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"testing/iotest"
)

func listDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	e, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSpool(t *testing.T) {
	const memLimit = 1000
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 200_000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	tests := []struct {
		name     string
		size     int
		inMemory bool
	}{
		{"empty", 0, true},
		{"small", 10, true},
		{"at the memory limit", memLimit, true},
		{"one byte over the memory limit", memLimit + 1, false},
		{"large", len(data), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			body := data[:tt.size]
			// HalfReader makes every read short: the chunking must not matter.
			s, err := NewSpool(iotest.HalfReader(bytes.NewReader(body)), memLimit, int64(len(data)), dir)
			if err != nil {
				t.Fatal(err)
			}
			if s.InMemory() != tt.inMemory {
				t.Errorf("InMemory = %v, want %v", s.InMemory(), tt.inMemory)
			}
			if n := len(listDir(t, dir)); (n == 0) != tt.inMemory {
				t.Errorf("%d files in the spool directory", n)
			}
			if cap(s.mem) > memLimit {
				t.Errorf("memory buffer of capacity %d exceeds the limit %d", cap(s.mem), memLimit)
			}
			want256, want512 := sha256.Sum256(body), sha512.Sum512(body)
			if !bytes.Equal(s.Digest(), want256[:]) || !bytes.Equal(s.DigestSHA512(), want512[:]) || s.Size() != int64(len(body)) {
				t.Error("digest or size does not match crypto/sha256, crypto/sha512")
			}
			if sum := s.Sum(); !bytes.Equal(sum.SHA256, SumBytes(body).SHA256) || !bytes.Equal(sum.SHA512, SumBytes(body).SHA512) {
				t.Error("Sum does not match SumBytes")
			}
			for i := 0; i < 2; i++ { // re-readable
				r, err := s.Open()
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				_ = r.Close()
				if !bytes.Equal(got, body) {
					t.Fatalf("read %d: content differs", i)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if n := len(listDir(t, dir)); n != 0 {
				t.Errorf("%d files left after Close", n)
			}
			if _, err := s.Open(); err == nil {
				t.Error("Open after Close succeeded")
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestSpoolMaxSize(t *testing.T) {
	for _, tt := range []struct {
		name              string
		size, mem, max    int
		wantErr, wantFile bool
	}{
		{"exactly max in memory", 100, 100, 100, false, false},
		{"exactly max on disk", 100, 10, 100, false, true},
		{"over max in memory", 101, 1000, 100, true, false},
		{"over max on disk", 5000, 10, 4096, true, false},
		{"zero max, empty body", 0, 0, 0, false, false},
		{"zero max, one byte", 1, 0, 0, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// The reader would go on for ever: NewSpool must stop at max+1.
			r := io.MultiReader(bytes.NewReader(make([]byte, tt.size)), infiniteIfOver(tt.size > tt.max))
			s, err := NewSpool(r, int64(tt.mem), int64(tt.max), dir)
			if tt.wantErr {
				var tl *BodyTooLargeError
				if !errors.As(err, &tl) || !errors.Is(err, ErrBodyTooLarge) || tl.Limit != int64(tt.max) {
					t.Fatalf("got %v, want *BodyTooLargeError{%d}", err, tt.max)
				}
				if n := len(listDir(t, dir)); n != 0 {
					t.Errorf("%d files left after refusal", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.InMemory() == tt.wantFile {
				t.Errorf("InMemory = %v", s.InMemory())
			}
		})
	}
}

// infiniteIfOver returns an endless reader when on, else an empty one.
func infiniteIfOver(on bool) io.Reader {
	if on {
		return zeroReader{}
	}
	return bytes.NewReader(nil)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestSpoolReadError(t *testing.T) {
	dir := t.TempDir()
	boom := errors.New("connection reset")
	r := io.MultiReader(bytes.NewReader(make([]byte, 5000)), iotest.ErrReader(boom))
	if _, err := NewSpool(r, 10, 1<<20, dir); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the read error", err)
	}
	if n := len(listDir(t, dir)); n != 0 {
		t.Errorf("%d files left after a read error", n)
	}
	if _, err := NewSpool(bytes.NewReader(nil), -1, 10, dir); err == nil {
		t.Error("negative memLimit accepted")
	}
}

// TestSpoolSHA256Only: the option drops only the SHA-512 digest, and a
// request hash over such a body is refused rather than computed wrong.
func TestSpoolSHA256Only(t *testing.T) {
	body := []byte(`{"year":2025}`)
	s, err := NewSpool(bytes.NewReader(body), 4, 1<<20, t.TempDir(), SHA256Only())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := SumBytes(body)
	got := s.Sum()
	if got.SHA512 != nil || !bytes.Equal(got.SHA256, want.SHA256) || got.Size != want.Size {
		t.Fatalf("sum %+v", got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("RequestHash without a SHA-512 digest did not panic")
		}
	}()
	_ = testRequest(got).RequestHash(got)
}
