package globalconf

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/vector from freshly generated keys and certificates")

// TestVector checks a stored signed document, anchor and canonical payload
// (testdata/vector): the format must stay readable by this and later
// versions of the code. Regenerate with `go test -run TestVector -update`
// only when the format changes on purpose.
func TestVector(t *testing.T) {
	dir := filepath.Join("testdata", "vector")
	if *update {
		writeVector(t, dir)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	signed, anchorJSON, canon := read("globalconf.jws"), read("anchor.json"), read("document.json")
	anchor, err := ParseAnchor(anchorJSON)
	if err != nil {
		t.Fatalf("ParseAnchor: %v", err)
	}
	doc, err := Verify(signed, anchor, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	got, err := Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, canon) {
		t.Errorf("Marshal(Verify(vector)) differs from document.json:\n got %s\nwant %s", got, canon)
	}
	var env envelope
	if err := json.Unmarshal(signed, &env); err != nil {
		t.Fatal(err)
	}
	if env.Payload != base64.RawURLEncoding.EncodeToString(canon) {
		t.Error("the vector's payload is not document.json")
	}
	if _, err := Verify(signed, anchor, t0.Add(10*time.Minute)); err == nil {
		t.Error("vector verifies after its expiry")
	}
}

func writeVector(t *testing.T, dir string) {
	t.Helper()
	k1, k2 := newKey(t, "central-2026-1"), newKey(t, "central-2026-2")
	doc := testDoc(t)
	signed := mustSign(t, doc, k1, k2)
	canon, err := Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	anchorJSON, err := json.MarshalIndent(anchorFor(t, doc.CentralServer.ConfigurationURLs, k1, k2), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"globalconf.jws": signed,
		"anchor.json":    append(anchorJSON, '\n'),
		"document.json":  canon,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
