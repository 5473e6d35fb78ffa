package proxy

import (
	"bytes"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites the file with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got: %s\nwant: %s", name, got, want)
	}
}

// TestMetaservices checks the REST metaservices in X-Road's shapes:
// listClients answered by the consumer from the global configuration, the
// others forwarded as signed exchanges and answered by the provider from
// its local configuration.
func TestMetaservices(t *testing.T) {
	w := newWorld(t, worldOpts{})
	for _, c := range []struct {
		name, path, accept, client, file, ctype string
		exchange                                bool
	}{
		{name: "listClients JSON", path: "/listClients", accept: "application/json", file: "listClients.json", ctype: "application/json; charset=utf-8"},
		{name: "listClients XML", path: "/listClients", file: "listClients.xml", ctype: "text/xml; charset=utf-8"},
		{name: "listClients other instance", path: "/listClients?xRoadInstance=EE", accept: "application/json", file: "listClients-EE.json", ctype: "application/json; charset=utf-8"},
		{name: "listMethods", path: "/r1/PS/GOV/MOI/civil-registry/listMethods", file: "listMethods.json", ctype: "application/json; charset=utf-8", exchange: true},
		{name: "allowedMethods", path: "/r1/PS/GOV/MOI/civil-registry/allowedMethods", file: "allowedMethods.json", ctype: "application/json; charset=utf-8", exchange: true},
		{name: "allowedMethods of a client granted nothing", path: "/r1/PS/GOV/MOI/civil-registry/allowedMethods", client: other.String(),
			file: "allowedMethods-none.json", ctype: "application/json; charset=utf-8", exchange: true},
		{name: "getOpenAPI", path: "/r1/PS/GOV/MOI/civil-registry/getOpenAPI?serviceCode=persons", file: "getOpenAPI-persons.yaml", ctype: "text/yaml", exchange: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.accept != "" {
				h.Set("Accept", c.accept)
			}
			if c.client != "" {
				h.Set(HeaderClient, c.client)
			}
			resp := w.do(request{path: c.path, header: h})
			if resp.status != http.StatusOK || resp.header.Get("Content-Type") != c.ctype {
				t.Fatalf("got %d %q: %s", resp.status, resp.header.Get("Content-Type"), resp.body)
			}
			if got := resp.header.Get(HeaderRequestHash) != ""; got != c.exchange {
				t.Errorf("X-Road-Request-Hash present: %v, want %v", got, c.exchange)
			}
			golden(t, c.file, resp.body)
		})
	}
	if n := len(w.backend.requests()); n != 0 {
		t.Errorf("metaservices reached the service %d times", n)
	}
	// Forwarded metaservices are logged on both sides like any exchange.
	if n, m := len(w.consumer.log.all()), len(w.providers[0].log.all()); n != 8 || m != 8 {
		t.Errorf("logged %d and %d records, want 8 each", n, m)
	}
}
