package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/adapters/document"
	"github.com/jisr-bus/jisr/adapters/interior"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// adapterCall sends one request through a security server's client side as
// the portal and returns the status, headers and body.
func adapterCall(t *testing.T, method, url, body string, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Road-Client", "PS/GOV/CAB/portal")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestAdapterBehindSecurityServers runs the Ministry of Interior's adapter
// as `jisr adapter serve`, signing documents with the sign key its security
// server enrolled, registered as a service of PS/GOV/MOI/civil-registry;
// the portal's security server reaches it over the bus: a person lookup, a
// birth certificate issued to the citizen named in X-Road-UserId (with
// X-Road's "PS" prefix), a problem object passed through unchanged, and the
// certificate's code verified with adapters/document against the
// instance's root, its status read through the bus — genuine valid,
// altered forged.
func TestAdapterBehindSecurityServers(t *testing.T) {
	var got seen
	p, _, provider, consumer, _ := exchangeWorld(t, &got)
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("ss-passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ssDir := filepath.Dir(provider.cfg)
	today := seed.Day(time.Now())
	moiAddr := freeAddr(t)
	logs := serveProcess(t, "adapter", "serve", "--ministry", "moi", "--listen", moiAddr, "--db", filepath.Join(dir, "moi.db"),
		"--seed-date", today.Format(time.DateOnly), "--seed-persons", "30",
		"--sign-keys-dir", filepath.Join(ssDir, "keys"), "--sign-keys-passphrase-file", pass,
		"--sign-key-label", "sign-GOV-MOI", "--sign-cert", filepath.Join(ssDir, "certs", "sign-GOV-MOI.pem"), "--log-format", "text")
	waitHealthy(t, "http://"+moiAddr+"/healthz", logs)

	oas := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(oas, interior.OpenAPI(), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, false, "ss", "service", "add", "--config", provider.cfg, "--client", "PS/GOV/MOI/civil-registry",
		"--code", "registry", "--url", "http://"+moiAddr, "--openapi", oas)
	run(t, false, "ss", "access", "grant", "--config", provider.cfg, "--client", "PS/GOV/MOI/civil-registry",
		"--service", "registry", "--subject", "PS/GOV/CAB/portal")
	provider.serve(t)
	consumer.serve(t)

	w, err := seed.Generate(seed.Options{Persons: 30, Reference: today})
	if err != nil {
		t.Fatal(err)
	}
	citizen := w.Demo.Citizen.String()
	base := "http://" + consumer.clientAddr + "/r1/PS/GOV/MOI/civil-registry/registry"
	var status int
	var body []byte
	deadline := time.Now().Add(45 * time.Second)
	for {
		status, _, body = adapterCall(t, "GET", base+"/v1/persons/"+citizen, "")
		if status == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	var person interior.PersonJSON
	if err := json.Unmarshal(body, &person); status != http.StatusOK || err != nil || person.Name.EN != "Khaled Yousef Ibrahim Haddad" {
		t.Fatalf("person through the bus: %d %s", status, body)
	}

	status, hdr, body := adapterCall(t, "GET", base+"/v1/persons/123456782", "")
	if status != http.StatusNotFound || hdr.Get("Content-Type") != "application/problem+json" || hdr.Get("X-Road-Error") != "" ||
		!bytes.Contains(body, []byte(`"code":"Client.NotFound"`)) {
		t.Fatalf("the adapter's problem did not pass through unchanged: %d %v %s", status, hdr, body)
	}

	status, _, body = adapterCall(t, "POST", base+"/v1/birth-certificates",
		fmt.Sprintf(`{"nationalId":%q,"kind":"new"}`, w.Demo.Newborn.String()),
		"X-Road-UserId", "PS"+citizen, "X-Road-Issue", "APP-2026-000001")
	var doc interior.DocumentJSON
	if err := json.Unmarshal(body, &doc); status != http.StatusCreated || err != nil {
		t.Fatalf("birth certificate through the bus: %d %s", status, body)
	}

	opts := document.VerifyOptions{
		Roots:   p.roots,
		Issuers: map[string][]xroad.MemberID{document.TypeBirthCertificate: {{Instance: "PS", Class: "GOV", Code: "MOI"}}},
		Status: &document.StatusClient{
			BaseURL: func(m xroad.MemberID) (string, bool) { return base, m.Code == "MOI" },
			Header:  http.Header{"X-Road-Client": {"PS/GOV/CAB/portal"}},
		},
		Now: time.Now(),
	}
	res, err := document.Verify(t.Context(), doc.Code, opts)
	if err != nil || res.Verdict != document.Valid || res.Claims.Number != doc.Number {
		t.Fatalf("genuine certificate: %+v %v", res, err)
	}
	parts := strings.Split(doc.Code, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	parts[1] = base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte("Salma"), []byte("Selma"), 1))
	if res, err := document.Verify(t.Context(), strings.Join(parts, "."), opts); err != nil || res.Verdict != document.Forged {
		t.Fatalf("altered certificate: %+v %v", res, err)
	}
}
