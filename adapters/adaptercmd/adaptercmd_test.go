package adaptercmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/adapters/interior"
	"github.com/jisr-bus/jisr/adapters/payments"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/adapters/transport"
	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/pki/profile"
)

// start runs `jisr adapter serve args…` until the test ends and returns
// the base URL it prints.
func start(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		cmd := New(pw, io.Discard)
		cmd.SetArgs(append([]string{"serve", "--log-level", "error"}, args...))
		err := cmd.ExecuteContext(ctx)
		_ = pw.CloseWithError(fmt.Errorf("serve returned: %v", err))
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve %v: %v", args, err)
		}
	})
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatalf("serve %v printed nothing: %v", args, sc.Err())
	}
	line := sc.Text()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	_, url, ok := strings.Cut(line, " on ")
	if !ok || !strings.HasPrefix(line, "serving ") {
		t.Fatalf("unexpected first line %q", line)
	}
	return url
}

func call(t *testing.T, method, url, body string, headers ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestServe starts every ministry as `jisr adapter serve` would and runs a
// licence renewal across two of them (Transport checking the payment at
// the Monetary Authority over HTTP) and a birth certificate at Interior
// signed with a key from a key store.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	// The adapters run on the wall clock, so the demo world is seeded for
	// today: its citizen's licence is then due for renewal.
	today := seed.Day(time.Now())
	common := []string{"--listen", "127.0.0.1:0", "--seed-date", today.Format(time.DateOnly), "--seed-persons", "20"}
	pma := start(t, append(common, "--ministry", "pma", "--db", filepath.Join(dir, "pma.db"))...)
	mot := start(t, append(common, "--ministry", "mot", "--db", filepath.Join(dir, "mot.db"), "--payments-url", pma+"/",
		"--payments-header", "X-Road-Client: PS/GOV/MOT/licensing")...)

	// Interior's signing key in a software key store, as a security
	// server keeps it.
	p := testpki.New(t, time.Now())
	key, chain := p.Leaf(t, profile.Sign, xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"})
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("adapter-test-passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := keys.NewSoftware(filepath.Join(dir, "keys"), []byte("adapter-test-passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Import(t.Context(), "sign-GOV-MOI", key); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	testpki.WritePEM(t, filepath.Join(dir, "sign.pem"), chain...)
	moi := start(t, append(common, "--ministry", "moi", "--db", filepath.Join(dir, "moi.db"),
		"--sign-keys-dir", filepath.Join(dir, "keys"), "--sign-keys-passphrase-file", pass, "--sign-cert", filepath.Join(dir, "sign.pem"))...)
	others := map[string]string{
		"moh":  start(t, append(common, "--ministry", "moh", "--db", filepath.Join(dir, "moh.db"), "--payments-url", pma)...),
		"mof":  start(t, append(common, "--ministry", "mof", "--db", filepath.Join(dir, "mof.db"), "--payments-url", pma)...),
		"post": start(t, append(common, "--ministry", "post", "--db", filepath.Join(dir, "post.db"))...),
	}
	for name, url := range others {
		if code, body := call(t, "GET", url+"/healthz", ""); code != 200 {
			t.Fatalf("%s /healthz: %d %s", name, code, body)
		}
		if code, body := call(t, "GET", url+"/openapi.yaml", ""); code != 200 || !bytes.HasPrefix(body, []byte("openapi: 3")) {
			t.Fatalf("%s /openapi.yaml: %d", name, code)
		}
	}

	w, err := seed.Generate(seed.Options{Persons: 20, Reference: today})
	if err != nil {
		t.Fatal(err)
	}
	citizen := w.Demo.Citizen.String()
	code, body := call(t, "GET", mot+"/v1/persons/"+citizen+"/driving-licence", "")
	if code != 200 {
		t.Fatalf("licence: %d %s", code, body)
	}
	var l transport.LicenceJSON
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatal(err)
	}
	order := fmt.Sprintf(`{"payer":{"nationalId":%q},"amount":{"amount":"150.00","currency":"ILS"},
		"purpose":{"service":"mot.driving-licence.renewal","reference":"APP-1"},
		"method":{"type":"card","card":{"number":"4111111111111111","expiryMonth":12,"expiryYear":2099,"cvv":"123"}}}`, citizen)
	code, body = call(t, "POST", pma+"/v1/payment-orders", order, "Idempotency-Key", "k1")
	var o payments.Order
	if err := json.Unmarshal(body, &o); code != 201 || err != nil || o.Status != payments.StatusPaid {
		t.Fatalf("payment: %d %s", code, body)
	}
	code, body = call(t, "POST", mot+"/v1/driving-licences/"+l.Number+"/renewals", fmt.Sprintf(`{"paymentOrderId":%q}`, o.ID), "X-Road-UserId", citizen)
	var r transport.RenewalResult
	if err := json.Unmarshal(body, &r); code != 201 || err != nil || r.PaymentOrderID != o.ID {
		t.Fatalf("renewal: %d %s", code, body)
	}

	code, body = call(t, "POST", moi+"/v1/birth-certificates", fmt.Sprintf(`{"nationalId":%q,"kind":"new"}`, w.Demo.Newborn.String()), "X-Road-UserId", citizen)
	var doc interior.DocumentJSON
	if err := json.Unmarshal(body, &doc); code != 201 || err != nil || doc.Issuer.Member != "PS/GOV/MOI" || doc.Code == "" {
		t.Fatalf("birth certificate: %d %s", code, body)
	}
}

func TestServeRefuses(t *testing.T) {
	dir := t.TempDir()
	db := []string{"--db", filepath.Join(dir, "x.db")}
	for name, args := range map[string][]string{
		"unknown ministry":         append([]string{"--ministry", "mod", "--listen", "127.0.0.1:0"}, db...),
		"no listen address":        append([]string{"--ministry", "pma"}, db...),
		"no database":              {"--ministry", "pma", "--listen", "127.0.0.1:0"},
		"two databases":            append([]string{"--ministry", "pma", "--listen", "127.0.0.1:0", "--postgres-dsn-env", "X"}, db...),
		"empty DSN variable":       {"--ministry", "pma", "--listen", "127.0.0.1:0", "--postgres-dsn-env", "JISR_ADAPTER_TEST_UNSET"},
		"transport without PMA":    append([]string{"--ministry", "mot", "--listen", "127.0.0.1:0"}, db...),
		"bad payments header":      append([]string{"--ministry", "mof", "--listen", "127.0.0.1:0", "--payments-url", "http://x", "--payments-header", "nocolon"}, db...),
		"interior without a key":   append([]string{"--ministry", "moi", "--listen", "127.0.0.1:0"}, db...),
		"interior without a store": append([]string{"--ministry", "moi", "--listen", "127.0.0.1:0", "--sign-cert", "/nonexistent.pem"}, db...),
		"bad seed date":            append([]string{"--ministry", "pma", "--listen", "127.0.0.1:0", "--seed-date", "15/03/2026"}, db...),
		"tiny population":          append([]string{"--ministry", "pma", "--listen", "127.0.0.1:0", "--seed-persons", "2"}, db...),
	} {
		t.Run(name, func(t *testing.T) {
			cmd := New(io.Discard, io.Discard)
			cmd.SetArgs(append([]string{"serve"}, args...))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := cmd.ExecuteContext(ctx); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
