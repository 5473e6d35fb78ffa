package keys_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/jisr-bus/jisr/pki/keys"
)

// checkSigns signs a digest with sig and verifies the signature with sig's
// public key, using every scheme jisr relies on for that key type. It also
// checks that the public key matches alg when alg is not empty.
func checkSigns(t *testing.T, sig crypto.Signer, alg keys.Algorithm) {
	t.Helper()
	digest := sha256.Sum256([]byte("jisr: message to sign"))
	switch pub := sig.Public().(type) {
	case *ecdsa.PublicKey:
		if alg != "" && (alg != keys.ECP256 || pub.Curve != elliptic.P256()) {
			t.Fatalf("public key is ECDSA %s, want %s", pub.Curve.Params().Name, alg)
		}
		s, err := sig.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		if !ecdsa.VerifyASN1(pub, digest[:], s) {
			t.Fatal("ECDSA signature does not verify")
		}
		if ecdsa.VerifyASN1(pub, sha256.New().Sum(nil), s) {
			t.Fatal("ECDSA signature verifies for another digest")
		}
	case *rsa.PublicKey:
		wantBits := map[keys.Algorithm]int{keys.RSA2048: 2048, keys.RSA3072: 3072}[alg]
		if alg != "" && pub.N.BitLen() != wantBits {
			t.Fatalf("public key is RSA-%d, want %s", pub.N.BitLen(), alg)
		}
		s, err := sig.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("Sign PKCS#1 v1.5: %v", err)
		}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], s); err != nil {
			t.Fatalf("PKCS#1 v1.5 signature does not verify: %v", err)
		}
		pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		s, err = sig.Sign(rand.Reader, digest[:], pss)
		if err != nil {
			t.Fatalf("Sign PSS: %v", err)
		}
		if err := rsa.VerifyPSS(pub, crypto.SHA256, digest[:], s, pss); err != nil {
			t.Fatalf("PSS signature does not verify: %v", err)
		}
	case ed25519.PublicKey:
		msg := []byte("jisr: message to sign")
		s, err := sig.Sign(rand.Reader, msg, crypto.Hash(0))
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		if !ed25519.Verify(pub, msg, s) {
			t.Fatal("Ed25519 signature does not verify")
		}
	default:
		t.Fatalf("unexpected public key type %T", pub)
	}
}

// samePublic fails the test unless a and b hold the same public key.
func samePublic(t *testing.T, a, b crypto.Signer) {
	t.Helper()
	pa, ok := a.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		t.Fatalf("public key type %T has no Equal method", a.Public())
	}
	if !pa.Equal(b.Public()) {
		t.Fatal("public keys differ")
	}
}

// exposesPrivateKey reports whether a caller could reach private key
// material by type-asserting sig.
func exposesPrivateKey(sig crypto.Signer) bool {
	switch sig.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
		return true
	}
	return false
}
