package globalconf

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestInteropGoJose verifies the stored vector with go-jose, a JOSE library
// independent of the one that signed it, using the anchor's JWK Set as
// go-jose reads it: every signature verifies and yields the canonical
// document.
func TestInteropGoJose(t *testing.T) {
	dir := filepath.Join("testdata", "vector")
	signed, err := os.ReadFile(filepath.Join(dir, "globalconf.jws"))
	if err != nil {
		t.Fatal(err)
	}
	anchorJSON, _ := os.ReadFile(filepath.Join(dir, "anchor.json"))
	canon, _ := os.ReadFile(filepath.Join(dir, "document.json"))

	var a struct {
		Keys jose.JSONWebKeySet `json:"keys"`
	}
	if err := json.Unmarshal(anchorJSON, &a); err != nil {
		t.Fatalf("go-jose cannot read the anchor's JWK Set: %v", err)
	}
	obj, err := jose.ParseSigned(string(signed), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("go-jose cannot parse the signed document: %v", err)
	}
	if len(obj.Signatures) != 2 {
		t.Fatalf("go-jose sees %d signatures, want 2", len(obj.Signatures))
	}
	for _, sig := range obj.Signatures {
		kid := sig.Protected.KeyID
		keys := a.Keys.Key(kid)
		if len(keys) != 1 || keys[0].Algorithm != "ES256" {
			t.Fatalf("anchor key %q: %+v", kid, keys)
		}
		if typ := sig.Protected.ExtraHeaders[jose.HeaderType]; typ != JOSEType {
			t.Errorf("signature %q typ %v", kid, typ)
		}
		_, _, payload, err := obj.VerifyMulti(keys[0].Key)
		if err != nil {
			t.Errorf("go-jose: signature by %q does not verify: %v", kid, err)
			continue
		}
		if !bytes.Equal(payload, canon) {
			t.Errorf("go-jose payload differs from document.json")
		}
	}
}
