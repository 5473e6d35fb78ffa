package backup

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
)

// An encrypted backup is
//
//	encryptedMagic
//	a compact JWE (one line, then "\n") whose plaintext is the 32-byte file key
//	the backup in chunks of chunkSize bytes, each sealed with AES-256-GCM
//
// Chunk i (from 0) is sealed under the file key with the 12-byte nonce
// big-endian(i) in the first 11 bytes and 1 in the last byte for the final
// chunk, 0 otherwise, and with SHA-256 of the header (magic and JWE line)
// as additional data. Every chunk but the last holds exactly chunkSize
// plaintext bytes; the last holds 0 to chunkSize. Reordering, dropping,
// truncating at a chunk boundary or swapping headers all fail
// authentication (docs/backup.md, "Encryption").
const (
	encryptedMagic = "jisr-ss-backup-encrypted/1\n"
	chunkSize      = 64 << 10
	fileKeySize    = 32
	maxJWELine     = 16 << 10
	jweType        = "jisr-ss-backup-key"
)

// gzipMagic starts every unencrypted backup.
var gzipMagic = []byte{0x1f, 0x8b}

// keyAlgorithm returns the JWE key management algorithm for a key:
// RSA-OAEP-256 for RSA (at least 2048 bits), ECDH-ES+A256KW for ECDSA
// P-256, P-384 and P-521.
func keyAlgorithm(pub crypto.PublicKey) (jwa.KeyEncryptionAlgorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return jwa.KeyEncryptionAlgorithm{}, fmt.Errorf("RSA key of %d bits; at least 2048 are required", k.N.BitLen())
		}
		return jwa.RSA_OAEP_256(), nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return jwa.ECDH_ES_A256KW(), nil
		}
		return jwa.KeyEncryptionAlgorithm{}, fmt.Errorf("ECDSA curve %s not supported", k.Curve.Params().Name)
	}
	return jwa.KeyEncryptionAlgorithm{}, fmt.Errorf("key type %T not supported: use RSA or ECDSA", pub)
}

// ParseRecipient reads a recipient's public key from PEM: a PUBLIC KEY
// (PKIX) block or a CERTIFICATE. RSA (≥ 2048 bits) and ECDSA P-256, P-384
// and P-521 keys are accepted.
func ParseRecipient(pemBytes []byte) (crypto.PublicKey, error) {
	for rest := pemBytes; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil, errors.New("backup: recipient: no PUBLIC KEY or CERTIFICATE PEM block")
		}
		var pub crypto.PublicKey
		switch blk.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("backup: recipient: %w", err)
			}
			pub = k
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("backup: recipient: %w", err)
			}
			pub = c.PublicKey
		default:
			continue
		}
		if _, err := keyAlgorithm(pub); err != nil {
			return nil, fmt.Errorf("backup: recipient: %w", err)
		}
		return pub, nil
	}
}

// ParseDecryptionKey reads a recipient's private key from PEM: PRIVATE KEY
// (PKCS#8), EC PRIVATE KEY (SEC 1) or RSA PRIVATE KEY (PKCS#1), unencrypted.
func ParseDecryptionKey(pemBytes []byte) (crypto.Signer, error) {
	for rest := pemBytes; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil, errors.New("backup: decryption key: no PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY PEM block")
		}
		var (
			key any
			err error
		)
		switch blk.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			// The parse error never holds key material.
			return nil, fmt.Errorf("backup: decryption key: %w", err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("backup: decryption key: unsupported key type %T", key)
		}
		if _, err := keyAlgorithm(s.Public()); err != nil {
			return nil, fmt.Errorf("backup: decryption key: %w", err)
		}
		return s, nil
	}
}

// streamCipher seals or opens the chunks of one file.
type streamCipher struct {
	aead    cipher.AEAD
	ad      []byte
	counter uint64
	nonce   [12]byte
}

func newStreamCipher(key, header []byte) (*streamCipher, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	ad := sha256.Sum256(header)
	return &streamCipher{aead: aead, ad: ad[:]}, nil
}

// next returns the nonce of the next chunk and advances the counter.
func (s *streamCipher) next(last bool) ([]byte, error) {
	if s.counter == 1<<63 {
		return nil, errors.New("backup: too many chunks")
	}
	clear(s.nonce[:])
	binary.BigEndian.PutUint64(s.nonce[3:11], s.counter)
	if last {
		s.nonce[11] = 1
	}
	s.counter++
	return s.nonce[:], nil
}

// encryptWriter encrypts what is written to it to w; Close seals the
// final chunk (it does not close w).
type encryptWriter struct {
	w      io.Writer
	sc     *streamCipher
	buf    []byte
	out    []byte
	closed bool
}

// newEncryptWriter writes the header for recipient to w and returns the
// writer of the payload.
func newEncryptWriter(w io.Writer, recipient crypto.PublicKey) (*encryptWriter, error) {
	alg, err := keyAlgorithm(recipient)
	if err != nil {
		return nil, fmt.Errorf("backup: encrypt: %w", err)
	}
	key := make([]byte, fileKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	hdr := jwe.NewHeaders()
	if err := hdr.Set(jwe.TypeKey, jweType); err != nil {
		return nil, fmt.Errorf("backup: encrypt: %w", err)
	}
	wrapped, err := jwe.Encrypt(key, jwe.WithKey(alg, recipient), jwe.WithContentEncryption(jwa.A256GCM()),
		jwe.WithProtectedHeaders(hdr), jwe.WithCompact())
	if err != nil {
		return nil, fmt.Errorf("backup: encrypt: wrapping the file key: %w", err)
	}
	header := append(append([]byte(encryptedMagic), wrapped...), '\n')
	sc, err := newStreamCipher(key, header)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("backup: encrypt: %w", err)
	}
	if _, err := w.Write(header); err != nil {
		return nil, err
	}
	return &encryptWriter{w: w, sc: sc, buf: make([]byte, 0, chunkSize), out: make([]byte, 0, chunkSize+16)}, nil
}

// Write implements io.Writer. A full chunk is sealed only once more data
// follows, so that the final chunk may be full.
func (e *encryptWriter) Write(p []byte) (int, error) {
	if e.closed {
		return 0, errors.New("backup: write after close")
	}
	n := 0
	for len(p) > 0 {
		if len(e.buf) == chunkSize {
			if err := e.seal(false); err != nil {
				return n, err
			}
		}
		k := copy(e.buf[len(e.buf):chunkSize], p)
		e.buf = e.buf[:len(e.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

func (e *encryptWriter) seal(last bool) error {
	nonce, err := e.sc.next(last)
	if err != nil {
		return err
	}
	e.out = e.sc.aead.Seal(e.out[:0], nonce, e.buf, e.sc.ad)
	e.buf = e.buf[:0]
	_, err = e.w.Write(e.out)
	return err
}

// Close seals the final chunk.
func (e *encryptWriter) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	return e.seal(true)
}

// decryptReader opens the chunks of an encrypted backup. Its errors are
// *RefusedError for anything wrong with the input.
type decryptReader struct {
	r     *bufio.Reader
	sc    *streamCipher
	in    []byte
	plain []byte
	done  bool
	err   error
}

// newDecryptReader reads the header from r (positioned after the magic)
// with key and returns the reader of the payload.
func newDecryptReader(r *bufio.Reader, key crypto.Signer) (*decryptReader, error) {
	line, err := readLine(r, maxJWELine)
	if err != nil {
		return nil, refuse("encryption header", "unreadable", err)
	}
	jweBytes := bytes.TrimSuffix(line, []byte("\n"))
	msg, err := jwe.Parse(jweBytes)
	if err != nil {
		return nil, refuse("encryption header", "not a JWE", err)
	}
	ph := msg.ProtectedHeaders()
	want, err := keyAlgorithm(key.Public())
	if err != nil {
		return nil, err
	}
	alg, _ := ph.Algorithm()
	enc, _ := ph.ContentEncryption()
	typ, _ := ph.Type()
	if alg.String() != want.String() || enc.String() != jwa.A256GCM().String() || typ != jweType {
		return nil, refuse("encryption header", fmt.Sprintf("alg %s, enc %s, typ %q: want %s, A256GCM, %q", alg, enc, typ, want, jweType), nil)
	}
	if _, ok := ph.Compression(); ok {
		return nil, refuse("encryption header", "compressed key (zip) not accepted", nil)
	}
	var priv any = key
	fileKey, err := jwe.Decrypt(jweBytes, jwe.WithKey(alg, priv))
	if err != nil {
		return nil, refuse("encryption header", "the file key does not decrypt with the given key", err)
	}
	if len(fileKey) != fileKeySize {
		return nil, refuse("encryption header", fmt.Sprintf("file key of %d bytes", len(fileKey)), nil)
	}
	header := append([]byte(encryptedMagic), line...)
	sc, err := newStreamCipher(fileKey, header)
	clear(fileKey)
	if err != nil {
		return nil, err
	}
	return &decryptReader{r: r, sc: sc, in: make([]byte, chunkSize+16)}, nil
}

// readLine reads up to and including '\n', at most limit bytes.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		line = append(line, b)
		if b == '\n' {
			return line, nil
		}
		if len(line) >= limit {
			return nil, fmt.Errorf("line longer than %d bytes", limit)
		}
	}
}

// Read implements io.Reader.
func (d *decryptReader) Read(p []byte) (int, error) {
	for len(d.plain) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			return 0, io.EOF
		}
		d.err = d.nextChunk()
	}
	n := copy(p, d.plain)
	d.plain = d.plain[n:]
	return n, nil
}

// nextChunk reads and opens one chunk. A chunk shorter than a full one, or
// a full one at the end of the input, is the final chunk.
func (d *decryptReader) nextChunk() error {
	chunk := d.sc.counter
	n, err := io.ReadFull(d.r, d.in)
	last := false
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		last = true
	case err != nil:
		return refuse("encrypted stream", fmt.Sprintf("chunk %d", chunk), err)
	default:
		if _, perr := d.r.Peek(1); errors.Is(perr, io.EOF) {
			last = true
		} else if perr != nil {
			return refuse("encrypted stream", fmt.Sprintf("chunk %d", chunk), perr)
		}
	}
	if n < d.sc.aead.Overhead() {
		return refuse("encrypted stream", fmt.Sprintf("truncated at chunk %d", chunk), nil)
	}
	nonce, err := d.sc.next(last)
	if err != nil {
		return err
	}
	plain, err := d.sc.aead.Open(d.in[:0], nonce, d.in[:n], d.sc.ad)
	if err != nil {
		if last {
			return refuse("encrypted stream", fmt.Sprintf("chunk %d (final) does not authenticate: tampered or truncated", chunk), err)
		}
		return refuse("encrypted stream", fmt.Sprintf("chunk %d does not authenticate", chunk), err)
	}
	d.plain, d.done = plain, last
	return nil
}
