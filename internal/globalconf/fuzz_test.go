package globalconf

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fuzzKey returns a fixed P-256 key (test only), so that the seed corpus is
// the same on every run.
func fuzzKey(f *testing.F) SigningKey {
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		f.Fatal(err)
	}
	return SigningKey{KeyID: "fuzz", Signer: k}
}

// FuzzVerify feeds arbitrary bytes to every parser of untrusted input:
// Verify, ParseDocument and ParseAnchor must never panic, and whatever
// ParseDocument accepts must re-encode to exactly the same bytes (the
// canonical form is unique, so a signature covers exactly one document).
func FuzzVerify(f *testing.F) {
	key := fuzzKey(f)
	anchor := anchorFor(f, nil, key)
	doc := testDoc(f)
	signed := mustSign(f, doc, key)
	canon, err := Marshal(doc)
	if err != nil {
		f.Fatal(err)
	}
	anchorJSON, err := json.Marshal(anchor)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add(canon)
	f.Add(anchorJSON)
	f.Add([]byte(`{"payload":"e30","signatures":[{"protected":"eyJraWQiOiJmdXp6In0","signature":"AA"}]}`))
	f.Add([]byte(`{}`))
	if vec, err := os.ReadFile(filepath.Join("testdata", "vector", "globalconf.jws")); err == nil {
		f.Add(vec)
	}
	now := t0.Add(time.Minute)

	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := Verify(b, anchor, now); err == nil {
			again, err := Marshal(d)
			if err != nil {
				t.Fatalf("verified document does not marshal: %v", err)
			}
			if _, err := ParseDocument(again); err != nil {
				t.Fatalf("verified document does not parse again: %v", err)
			}
		}
		if d, err := ParseDocument(b); err == nil {
			again, err := Marshal(d)
			if err != nil {
				t.Fatalf("Marshal(ParseDocument(b)): %v", err)
			}
			if !bytes.Equal(again, b) {
				t.Fatalf("Marshal(ParseDocument(b)) != b:\n%s\n%s", again, b)
			}
			d2, err := ParseDocument(again)
			if err != nil {
				t.Fatal(err)
			}
			if third, _ := Marshal(d2); !bytes.Equal(third, again) {
				t.Fatal("Marshal→Unmarshal→Marshal not byte-exact")
			}
		}
		if a, err := ParseAnchor(b); err == nil {
			enc, err := json.Marshal(a)
			if err != nil {
				t.Fatalf("parsed anchor does not marshal: %v", err)
			}
			if _, err := ParseAnchor(enc); err != nil {
				t.Fatalf("re-encoded anchor does not parse: %v", err)
			}
			_, _ = Verify(signed, a, now)
		}
	})
}
