package archive

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
)

// MaxEncryptedSize bounds the files Decrypt accepts (encryption holds the
// whole file in memory).
const MaxEncryptedSize = 1 << 30

// Encrypt wraps a file (an archive or evidence) as a compact JWE to an
// auditor's ECDSA P-256 public key, with ECDH-ES+A256KW and A256GCM.
func Encrypt(file []byte, recipient crypto.PublicKey) ([]byte, error) {
	pub, ok := recipient.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("archive: encrypt: recipient must be an ECDSA P-256 public key, not %T", recipient)
	}
	out, err := jwe.Encrypt(file, jwe.WithKey(jwa.ECDH_ES_A256KW(), pub), jwe.WithContentEncryption(jwa.A256GCM()))
	if err != nil {
		return nil, fmt.Errorf("archive: encrypt: %w", err)
	}
	return out, nil
}

// Decrypt opens a file Encrypt wrapped, with the auditor's private key.
func Decrypt(enc []byte, key *ecdsa.PrivateKey) ([]byte, error) {
	if key == nil {
		return nil, errors.New("archive: decrypt: no key")
	}
	if len(enc) > MaxEncryptedSize {
		return nil, fmt.Errorf("archive: decrypt: larger than %d bytes", MaxEncryptedSize)
	}
	out, err := jwe.Decrypt(enc, jwe.WithKey(jwa.ECDH_ES_A256KW(), key))
	if err != nil {
		return nil, fmt.Errorf("archive: decrypt: %w", err)
	}
	return out, nil
}
