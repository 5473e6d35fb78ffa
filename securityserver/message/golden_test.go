package message

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenBody is the request body of the golden vectors.
const goldenBody = `{"year":2025}`

// goldenFiles returns the name and content of every golden file: the
// canonical request and response, their HTTP mapping without signature,
// and the request hash.
func goldenFiles() map[string][]byte {
	body := SumBytes([]byte(goldenBody))
	req := testRequest(body)
	resp := testResponse(req, SumBytes([]byte(`{"id":7}`)))
	return map[string][]byte{
		"request.canonical.json":  req.Canonical(),
		"response.canonical.json": resp.Canonical(),
		"request.headers.txt":     headerText(EncodeRequest(req, "SIGNATURE")),
		"response.headers.txt":    headerText(EncodeResponse(resp, "SIGNATURE")),
		"request.hash.txt":        []byte(req.RequestHash(body) + "\n" + req.RequestHash(SumBytes(nil)) + "\n"),
	}
}

// headerText writes h one "Name: value" line per value, names sorted.
func headerText(h map[string][]string) []byte {
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		for _, v := range h[n] {
			b.WriteString(n + ": " + v + "\n")
		}
	}
	return []byte(b.String())
}

func TestGolden(t *testing.T) {
	for name, got := range goldenFiles() {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s changed:\ngot  %s\nwant %s", name, got, want)
			}
		})
	}
	// The golden canonical files parse and reproduce themselves.
	for name, parse := range map[string]func([]byte) ([]byte, error){
		"request.canonical.json": func(b []byte) ([]byte, error) {
			h, err := ParseCanonicalRequest(b)
			return h.Canonical(), err
		},
		"response.canonical.json": func(b []byte) ([]byte, error) {
			h, err := ParseCanonicalResponse(b)
			return h.Canonical(), err
		},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		again, err := parse(b)
		if err != nil || !bytes.Equal(again, b) {
			t.Errorf("%s: parse → canonical not byte-exact (%v)", name, err)
		}
	}
}
