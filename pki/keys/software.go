package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"go.step.sm/crypto/pemutil"

	"github.com/jisr-bus/jisr/internal/fsutil"
)

// ErrBadPassphrase is returned (wrapped) by the software store when a key
// file cannot be decrypted with the store's passphrase. PKCS#8 encryption
// carries no integrity check, so a file whose ciphertext was damaged yields
// the same error.
var ErrBadPassphrase = errors.New("keys: wrong passphrase or corrupted key file")

// ErrInvalidLabel is returned (wrapped) for a label that breaks the syntax
// ValidateLabel enforces.
var ErrInvalidLabel = errors.New("keys: invalid label")

// errClosed is returned by a Store used after Close.
var errClosed = errors.New("keys: store is closed")

// keyFileSuffix is the extension of a software key file: label + ".key".
const keyFileSuffix = ".key"

// pemTypeEncrypted is the PEM type of an encrypted PKCS#8 private key
// (RFC 7468, section 11).
const pemTypeEncrypted = "ENCRYPTED PRIVATE KEY"

// labelPattern is the syntax of a key label: a letter or digit, then up to 63
// letters, digits, dots, underscores or hyphens. It admits no path separator
// and no leading dot, so a label is always a plain, visible file name.
var labelPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidateLabel reports whether label is a valid key label: 1 to 64
// characters from [A-Za-z0-9._-], starting with a letter or digit. Every
// Store in this package applies the same rule.
func ValidateLabel(label string) error {
	if !labelPattern.MatchString(label) {
		return fmt.Errorf("%w %q: want 1-64 characters of [A-Za-z0-9._-] starting with a letter or digit", ErrInvalidLabel, label)
	}
	return nil
}

// Software is a Store that keeps each key in its own file, <label>.key, in a
// directory. A file holds one PEM block of type "ENCRYPTED PRIVATE KEY":
// PKCS#8 encrypted with PBES2 (PBKDF2-HMAC-SHA256, 600,000 iterations,
// AES-256-CBC), which OpenSSL and most other tools read, e.g.
//
//	openssl pkey -in sign.key -passin file:/etc/jisr/keys.pass -noout
//
// Files are created mode 0600 and published atomically (written to a temporary
// file, synced, then linked into place, which fails rather than replaces if
// the label already exists), so a crash never leaves a partial key file and
// two processes generating the same label never overwrite each other.
//
// Decrypted keys are cached in memory for the life of the store. Neither the
// passphrase nor key material ever appears in an error.
//
// A Software store is safe for concurrent use.
type Software struct {
	dir string

	mu     sync.RWMutex
	pass   []byte                   // guarded by mu; zeroed by Close
	cache  map[string]crypto.Signer // guarded by mu
	closed bool                     // guarded by mu
}

var _ Store = (*Software)(nil)

// NewSoftware opens the software key store in dir, creating dir with mode
// 0700 if it does not exist. An existing dir must not be accessible to group
// or others. passphrase encrypts and decrypts every key in the store; it must
// not be empty. NewSoftware keeps its own copy of passphrase, so the caller
// may zero its slice afterwards.
func NewSoftware(dir string, passphrase []byte) (*Software, error) {
	if dir == "" {
		return nil, errors.New("keys: software store: empty directory")
	}
	if len(passphrase) == 0 {
		// pemutil writes an unencrypted key when given no password: refuse.
		return nil, errors.New("keys: software store: empty passphrase")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keys: software store: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("keys: software store: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("keys: software store: %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("keys: software store: directory %s has mode %04o; want no group or other access (chmod 700)", dir, perm)
	}
	return &Software{
		dir:   dir,
		pass:  append([]byte(nil), passphrase...),
		cache: make(map[string]crypto.Signer),
	}, nil
}

// Dir returns the directory the store keeps its key files in.
func (s *Software) Dir() string { return s.dir }

// Generate creates a key of type alg, stores it under label and returns its
// signer. It fails with ErrExists if the label is taken.
func (s *Software) Generate(ctx context.Context, label string, alg Algorithm) (crypto.Signer, error) {
	if err := ValidateLabel(label); err != nil {
		return nil, err
	}
	if err := s.precheck(ctx); err != nil {
		return nil, err
	}
	if err := s.checkAbsent(label); err != nil {
		return nil, opError("generate", label, err)
	}
	key, err := generateKey(rand.Reader, alg)
	if err != nil {
		return nil, opError("generate", label, err)
	}
	if err := s.store(label, key); err != nil {
		return nil, opError("generate", label, err)
	}
	return s.remember(label, key), nil
}

// Import stores an existing private key under label and returns a signer for
// it. key must be an *ecdsa.PrivateKey (P-256, P-384 or P-521), an
// *rsa.PrivateKey of at least 2048 bits or an ed25519.PrivateKey, not a
// signer backed by another store. It fails with ErrExists if the label is
// taken.
func (s *Software) Import(ctx context.Context, label string, key crypto.Signer) (crypto.Signer, error) {
	if err := ValidateLabel(label); err != nil {
		return nil, err
	}
	if err := s.precheck(ctx); err != nil {
		return nil, err
	}
	if err := checkImportable(key); err != nil {
		return nil, opError("import", label, err)
	}
	if err := s.checkAbsent(label); err != nil {
		return nil, opError("import", label, err)
	}
	if err := s.store(label, key); err != nil {
		return nil, opError("import", label, err)
	}
	return s.remember(label, key), nil
}

// Signer returns the signer for label, decrypting its file on first use. It
// fails with ErrNotFound if there is no such key and with ErrBadPassphrase if
// the file does not decrypt.
func (s *Software) Signer(ctx context.Context, label string) (crypto.Signer, error) {
	if err := ValidateLabel(label); err != nil {
		return nil, err
	}
	if err := s.precheck(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	sig, ok := s.cache[label]
	s.mu.RUnlock()
	if ok {
		return sig, nil
	}
	// Load without holding the lock: PBKDF2 is deliberately slow and other
	// labels must stay available meanwhile. Two goroutines may both load the
	// same label; remember keeps the first.
	key, err := s.load(label)
	if err != nil {
		return nil, opError("load", label, err)
	}
	return s.remember(label, key), nil
}

// Labels returns the labels of all keys in the store, sorted.
func (s *Software) Labels(ctx context.Context) ([]string, error) {
	if err := s.precheck(ctx); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	labels := []string{}
	for _, e := range entries { // os.ReadDir sorts by name
		name, ok := strings.CutSuffix(e.Name(), keyFileSuffix)
		if !ok || !e.Type().IsRegular() || ValidateLabel(name) != nil {
			continue
		}
		labels = append(labels, name)
	}
	return labels, nil
}

// Close forgets the cached keys and zeroes the store's copy of the
// passphrase. Signers handed out before Close keep working; the store itself
// fails afterwards.
func (s *Software) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.pass)
	s.pass = nil
	clear(s.cache)
	s.closed = true
	return nil
}

// precheck fails if ctx is done or the store is closed.
func (s *Software) precheck(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	return nil
}

// opError wraps err from operation op on label. A sentinel error reads best
// first, as in `keys: no key with that label: "x"`; anything else gets the
// operation as context.
func opError(op, label string, err error) error {
	for _, sentinel := range []error{ErrNotFound, ErrExists, ErrBadPassphrase, errClosed} {
		if err == sentinel {
			return fmt.Errorf("%w: %q", err, label)
		}
	}
	return fmt.Errorf("keys: %s %q: %w", op, label, err)
}

func (s *Software) path(label string) string {
	return filepath.Join(s.dir, label+keyFileSuffix)
}

// passphrase returns a copy of the passphrase, or errClosed.
func (s *Software) passphrase() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed
	}
	return append([]byte(nil), s.pass...), nil
}

// remember caches key under label and returns the signer callers get. If
// another goroutine cached the label first, its signer wins.
func (s *Software) remember(label string, key crypto.Signer) crypto.Signer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sig, ok := s.cache[label]; ok {
		return sig
	}
	sig := &softwareSigner{key: key}
	if !s.closed {
		s.cache[label] = sig
	}
	return sig
}

// checkAbsent fails with ErrExists if label has a file. It lets Generate and
// Import fail fast, before the slow key generation and PBKDF2; store has the
// final, atomic say.
func (s *Software) checkAbsent(label string) error {
	_, err := os.Lstat(s.path(label))
	switch {
	case err == nil:
		return ErrExists
	case errors.Is(err, fs.ErrNotExist):
		return nil
	default:
		return err
	}
}

// store encrypts key and publishes it as label's file without ever replacing
// an existing one.
func (s *Software) store(label string, key crypto.Signer) error {
	pass, err := s.passphrase()
	if err != nil {
		return err
	}
	defer clear(pass)

	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal PKCS#8: %w", err)
	}
	block, err := pemutil.EncryptPKCS8PrivateKey(rand.Reader, der, pass, x509.PEMCipherAES256)
	clear(der)
	if err != nil {
		return fmt.Errorf("encrypt PKCS#8: %w", err)
	}
	data := pem.EncodeToMemory(block)

	tmp, err := os.CreateTemp(s.dir, "."+label+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	// After a successful link this drops the temporary name; after a failure
	// it drops the file. Either way its error changes nothing for the caller.
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// link(2), unlike rename(2), fails if the target exists: an atomic
	// create-if-absent, across processes too.
	if err := os.Link(tmp.Name(), s.path(label)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
		return err
	}
	return fsutil.SyncDir(s.dir)
}

// load reads and decrypts label's file.
func (s *Software) load(label string) (crypto.Signer, error) {
	data, err := os.ReadFile(s.path(label))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != pemTypeEncrypted || len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("%s: want exactly one %q PEM block", s.path(label), pemTypeEncrypted)
	}
	pass, err := s.passphrase()
	if err != nil {
		return nil, err
	}
	der, err := pemutil.DecryptPKCS8PrivateKey(block.Bytes, pass)
	clear(pass)
	if errors.Is(err, x509.IncorrectPasswordError) {
		return nil, ErrBadPassphrase
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path(label), err)
	}
	defer clear(der)
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		// The padding happened to look right but the plaintext is noise:
		// a wrong passphrase in all likelihood. Do not echo the parse error,
		// which describes decrypted bytes.
		return nil, ErrBadPassphrase
	}
	sig, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key type %T cannot sign", s.path(label), key)
	}
	return sig, nil
}

// generateKey makes a fresh private key of type alg.
func generateKey(random io.Reader, alg Algorithm) (crypto.Signer, error) {
	switch alg {
	case ECP256:
		return ecdsa.GenerateKey(elliptic.P256(), random)
	case RSA2048:
		return rsa.GenerateKey(random, 2048)
	case RSA3072:
		return rsa.GenerateKey(random, 3072)
	default:
		return nil, fmt.Errorf("unsupported algorithm %q", alg)
	}
}

// checkImportable accepts the private key types the software store can hold.
func checkImportable(key crypto.Signer) error {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return errors.New("unsupported ECDSA curve")
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits is too small (minimum 2048)", k.N.BitLen())
		}
		return nil
	case ed25519.PrivateKey:
		return nil
	default:
		return fmt.Errorf("cannot import a %T: want *ecdsa.PrivateKey, *rsa.PrivateKey or ed25519.PrivateKey", key)
	}
}

// softwareSigner hides the private key behind crypto.Signer, so that callers
// cannot type-assert their way to key material.
type softwareSigner struct {
	key crypto.Signer
}

// Public returns the public half of the key.
func (s *softwareSigner) Public() crypto.PublicKey { return s.key.Public() }

// Sign signs digest with the key; see crypto.Signer.
func (s *softwareSigner) Sign(random io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.key.Sign(random, digest, opts)
}
