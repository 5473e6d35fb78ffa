//go:build pkcs11

package keys

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ThalesGroup/crypto11"
)

// PKCS11 is a Store backed by a PKCS#11 token (an HSM, or SoftHSM2 in tests),
// through crypto11. Private keys are generated on the token as sensitive,
// non-extractable objects and never leave it.
//
// A key pair is named by its CKA_LABEL. Generate also sets CKA_ID, which
// PKCS#11 uses to pair private and public halves, to the first 16 bytes of
// SHA-256(label), so the same label always gets the same id. Keys created by
// other tools are found by label as long as their private and public halves
// share a CKA_ID (pkcs11-tool --keypairgen --id ... does this). Signer and
// Labels accept any CKA_LABEL such a tool set; Generate applies
// ValidateLabel.
//
// Generate's check for an existing label and the creation that follows are
// serialised within the process but not across processes: two programs
// generating the same label on the same token at the same moment can both
// succeed.
//
// A PKCS11 store is safe for concurrent use; crypto11 hands each operation a
// session of its own.
type PKCS11 struct {
	p11   *crypto11.Context
	token string

	genMu sync.Mutex // serialises Generate's check-then-create

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*PKCS11)(nil)

// OpenPKCS11 loads the PKCS#11 library at module, finds the token labelled
// tokenLabel and logs in as the user with pin. OpenPKCS11 does not keep pin.
// Close releases the token and, with the last store using it, the library.
//
// PKCS#11 login state belongs to the process, not to a store: while one store
// is open on a token, opening a second one on the same token in the same
// process succeeds without the PIN being checked again.
func OpenPKCS11(module, tokenLabel string, pin []byte) (*PKCS11, error) {
	if module == "" || tokenLabel == "" {
		return nil, errors.New("keys: pkcs11: module and token label are required")
	}
	if len(pin) == 0 {
		return nil, errors.New("keys: pkcs11: empty PIN")
	}
	p11, err := crypto11.Configure(&crypto11.Config{
		Path:       module,
		TokenLabel: tokenLabel,
		Pin:        string(pin),
	})
	if err != nil {
		return nil, fmt.Errorf("keys: pkcs11: open token %q with module %s: %w", tokenLabel, module, err)
	}
	return &PKCS11{p11: p11, token: tokenLabel}, nil
}

// openPKCS11 serves Open.
func openPKCS11(module, tokenLabel string, pin []byte) (Store, error) {
	s, err := OpenPKCS11(module, tokenLabel, pin)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Generate creates a key pair of type alg on the token with CKA_LABEL label
// and returns its signer. It fails with ErrExists if a private key with that
// label is already on the token.
func (s *PKCS11) Generate(ctx context.Context, label string, alg Algorithm) (crypto.Signer, error) {
	if err := ValidateLabel(label); err != nil {
		return nil, err
	}
	if err := s.precheck(ctx); err != nil {
		return nil, err
	}
	s.genMu.Lock()
	defer s.genMu.Unlock()

	existing, err := s.p11.FindPrivateKeys(nil, []byte(label))
	if err != nil {
		return nil, s.opError("generate", label, err)
	}
	if len(existing) > 0 {
		return nil, s.opError("generate", label, ErrExists)
	}

	id := pkcs11KeyID(label)
	var sig crypto11.Signer
	switch alg {
	case ECP256:
		sig, err = s.p11.GenerateECDSAKeyPairWithLabel(id, []byte(label), elliptic.P256())
	case RSA2048:
		sig, err = s.p11.GenerateRSAKeyPairWithLabel(id, []byte(label), 2048)
	case RSA3072:
		sig, err = s.p11.GenerateRSAKeyPairWithLabel(id, []byte(label), 3072)
	default:
		return nil, s.opError("generate", label, fmt.Errorf("unsupported algorithm %q", alg))
	}
	if err != nil {
		return nil, s.opError("generate", label, err)
	}
	return &pkcs11Signer{key: sig}, nil
}

// Signer returns the signer of the key pair labelled label. It fails with
// ErrNotFound if the token has no such private key, and with an error if the
// label is ambiguous or the public half is missing.
func (s *PKCS11) Signer(ctx context.Context, label string) (crypto.Signer, error) {
	if label == "" {
		return nil, fmt.Errorf("%w: empty label", ErrInvalidLabel)
	}
	if err := s.precheck(ctx); err != nil {
		return nil, err
	}
	pairs, err := s.p11.FindKeyPairs(nil, []byte(label))
	if err != nil {
		return nil, s.opError("find", label, err)
	}
	switch len(pairs) {
	case 1:
		return &pkcs11Signer{key: pairs[0]}, nil
	case 0:
		// crypto11 skips private keys it cannot pair with a public key or
		// certificate; say so rather than claim there is no key.
		privs, err := s.p11.FindPrivateKeys(nil, []byte(label))
		if err != nil {
			return nil, s.opError("find", label, err)
		}
		if len(privs) > 0 {
			return nil, s.opError("find", label, errors.New("private key has no public key or certificate with the same CKA_ID on the token"))
		}
		return nil, s.opError("find", label, ErrNotFound)
	default:
		return nil, s.opError("find", label, fmt.Errorf("%d key pairs share this label", len(pairs)))
	}
}

// Labels returns the sorted, distinct labels of the key pairs on the token
// that Signer can use. Unlabelled keys are left out.
func (s *PKCS11) Labels(ctx context.Context) ([]string, error) {
	if err := s.precheck(ctx); err != nil {
		return nil, err
	}
	pairs, err := s.p11.FindAllKeyPairs()
	if err != nil {
		return nil, fmt.Errorf("keys: pkcs11: token %q: list key pairs: %w", s.token, err)
	}
	labels := []string{}
	for _, p := range pairs {
		attr, err := s.p11.GetAttribute(p, crypto11.CkaLabel)
		if err != nil {
			return nil, fmt.Errorf("keys: pkcs11: token %q: read CKA_LABEL: %w", s.token, err)
		}
		if attr != nil && len(attr.Value) > 0 {
			labels = append(labels, string(attr.Value))
		}
	}
	slices.Sort(labels)
	return slices.Compact(labels), nil
}

// Close logs out and releases the token and, if no other store uses it, the
// PKCS#11 library. Signers obtained from the store stop working. Close is
// idempotent.
func (s *PKCS11) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if err := s.p11.Close(); err != nil {
			s.closeErr = fmt.Errorf("keys: pkcs11: close token %q: %w", s.token, err)
		}
	})
	return s.closeErr
}

// precheck fails if ctx is done or the store is closed.
func (s *PKCS11) precheck(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if s.closed.Load() {
		return errClosed
	}
	return nil
}

// opError wraps err from operation op on the key labelled label.
func (s *PKCS11) opError(op, label string, err error) error {
	if err == ErrNotFound || err == ErrExists {
		return fmt.Errorf("%w: %q on token %q", err, label, s.token)
	}
	return fmt.Errorf("keys: pkcs11: %s %q on token %q: %w", op, label, s.token, err)
}

// pkcs11KeyID derives the CKA_ID for a key generated under label.
func pkcs11KeyID(label string) []byte {
	sum := sha256.Sum256([]byte(label))
	return sum[:16]
}

// pkcs11Signer narrows a crypto11 key to crypto.Signer, hiding Delete and the
// token handles from callers.
type pkcs11Signer struct {
	key crypto11.Signer
}

// Public returns the public half of the key pair.
func (s *pkcs11Signer) Public() crypto.PublicKey { return s.key.Public() }

// Sign signs digest on the token; see crypto.Signer. The token supplies any
// randomness, so random is ignored.
func (s *pkcs11Signer) Sign(random io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.key.Sign(random, digest, opts)
}
