package backup

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"
)

// sealed encrypts plain to key's public half, writing it in pieces of
// step bytes, and returns the header length and the whole file.
func sealed(t *testing.T, key *ecdsa.PrivateKey, plain []byte, step int) (int, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w, err := newEncryptWriter(&buf, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	header := buf.Len()
	for p := plain; len(p) > 0; {
		n := min(step, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return header, buf.Bytes()
}

func opened(key *ecdsa.PrivateKey, file []byte) ([]byte, error) {
	br := bufio.NewReader(bytes.NewReader(file))
	if _, err := br.Discard(len(encryptedMagic)); err != nil {
		return nil, err
	}
	r, err := newDecryptReader(br, key)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// TestStreamRoundTrip checks lengths around chunk boundaries, written in
// small and large pieces.
func TestStreamRoundTrip(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize, 3*chunkSize + 17} {
		for _, step := range []int{1000, 1 << 20} {
			t.Run(fmt.Sprintf("%d bytes in pieces of %d", n, step), func(t *testing.T) {
				plain := make([]byte, n)
				_, _ = rand.Read(plain)
				header, file := sealed(t, key, plain, step)
				chunks := max(1, (n+chunkSize-1)/chunkSize)
				if n > 0 && n%chunkSize == 0 {
					chunks = n / chunkSize
				}
				if want := header + n + 16*chunks; len(file) != want {
					t.Errorf("%d bytes, want %d (%d chunks)", len(file), want, chunks)
				}
				got, err := opened(key, file)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("opened %d bytes (%v), want %d", len(got), err, n)
				}
			})
		}
	}
}

// TestStreamTampering: every change to the chunk sequence is found.
func TestStreamTampering(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, 3*chunkSize+100)
	header, file := sealed(t, key, plain, 1<<20)
	sealedChunk := chunkSize + 16
	chunk := func(i int) []byte { return file[header+i*sealedChunk : min(len(file), header+(i+1)*sealedChunk)] }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	_, other := sealed(t, key, plain, 1<<20)
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"cut at a chunk boundary", file[:header+3*sealedChunk]},
		{"last chunk dropped and one before repeated", join(file[:header], chunk(0), chunk(1), chunk(2), chunk(2))},
		{"chunks swapped", join(file[:header], chunk(1), chunk(0), chunk(2), chunk(3))},
		{"middle chunk dropped", join(file[:header], chunk(0), chunk(2), chunk(3))},
		{"one byte cut", file[:len(file)-1]},
		{"one byte added", join(file, []byte{0})},
		{"header of another file", join(other[:header], file[header:])},
		{"a chunk of another file", join(file[:header], chunk(0), other[header+sealedChunk:header+2*sealedChunk], chunk(2), chunk(3))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := opened(key, tc.file); !errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v, want a refusal", err)
			}
		})
	}
}
