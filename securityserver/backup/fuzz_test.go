package backup

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
)

// FuzzVerify feeds arbitrary bytes to Restore in verify-only mode: it
// never panics, and whatever it does not accept it refuses (ErrRefused),
// never failing in another way.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	plain, _ := fx.write(f)
	enc, _ := fx.write(f, func(o *WriteOptions) { o.Recipient = key.Public() })
	fx.closeDBs(f)
	f.Add(plain)
	f.Add(enc)
	f.Add(plain[:100])
	f.Add([]byte(encryptedMagic + "eyJhbGciOiJFQ0RILUVTK0EyNTZLVyJ9....\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o := fx.restoreOptions("")
		o.VerifyOnly, o.DecryptKey = true, key
		m, err := Restore(t.Context(), bytes.NewReader(b), o)
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("not a refusal: %v", err)
		}
		if err == nil && m.Server != testServer {
			t.Fatalf("accepted a backup of %s", m.Server)
		}
	})
}
