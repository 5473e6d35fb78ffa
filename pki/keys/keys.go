// Package keys keeps private keys and hands them out as crypto.Signer.
//
// Two stores implement Store: an encrypted software store (files in a
// directory, PKCS#8 encrypted with a passphrase read from a file or the
// environment) and, behind build tag pkcs11, a PKCS#11 store (HSMs; SoftHSM2
// in tests) through crypto11. Everything that signs in jisr — the CA, the OCSP
// responder, the TSA, the central server's configuration key, a security
// server's auth and sign keys — gets its key from a Store.
package keys

import (
	"context"
	"crypto"
	"errors"
)

// Algorithm names a key type a Store can generate.
type Algorithm string

// Supported algorithms. ECDSA P-256 is the default everywhere; RSA exists for
// HSMs that prefer it.
const (
	ECP256  Algorithm = "EC-P256"
	RSA2048 Algorithm = "RSA-2048"
	RSA3072 Algorithm = "RSA-3072"
)

// Errors a Store returns (wrapped); test with errors.Is.
var (
	ErrNotFound = errors.New("keys: no key with that label")
	ErrExists   = errors.New("keys: a key with that label already exists")
)

// Store holds private keys by label.
//
// Generate fails with ErrExists if label is taken. Signer fails with
// ErrNotFound if label is absent. The returned crypto.Signer is safe for
// concurrent use and never exposes private key material.
type Store interface {
	Generate(ctx context.Context, label string, alg Algorithm) (crypto.Signer, error)
	Signer(ctx context.Context, label string) (crypto.Signer, error)
	Labels(ctx context.Context) ([]string, error)
	Close() error
}
