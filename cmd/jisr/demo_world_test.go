package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/jisr-bus/jisr/central"
	"github.com/jisr-bus/jisr/internal/demo"
)

// demoWorld is a running `jisr demo` (serving, not --once).
type demoWorld struct {
	dir     string
	addr    map[string]string
	printed string
	// up is the time the demo reported from its start to every ministry
	// answering through the bus.
	up time.Duration
}

// startDemoWorld runs `jisr demo` in a new folder and waits until it
// serves; it stops when the test ends.
func startDemoWorld(t *testing.T) *demoWorld {
	t.Helper()
	dir := t.TempDir()
	base := freePortRange(t, len(demo.Ports()))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, jisrBin, "demo", "--dir", dir, "--port-base", strconv.Itoa(base))
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); pw.Close(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "demo.log")); err == nil {
				t.Logf("demo.log (tail):\n%s", tail(string(b), 60))
			}
		}
	})
	var printed bytes.Buffer
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(4 * time.Minute)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo stopped:\n%s", printed.String())
			}
			printed.WriteString(l + "\n")
			done = strings.HasPrefix(l, "everything keeps running")
		case <-timeout:
			t.Fatalf("demo not up:\n%s", printed.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	w := &demoWorld{dir: dir, printed: printed.String()}
	m := regexp.MustCompile(`is up \(([0-9.]+) s\)`).FindStringSubmatch(w.printed)
	if m == nil {
		t.Fatalf("the demo did not say how long it took:\n%s", w.printed)
	}
	secs, _ := strconv.ParseFloat(m[1], 64)
	w.up = time.Duration(secs * float64(time.Second))
	b, err := os.ReadFile(filepath.Join(dir, "ports.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &w.addr); err != nil {
		t.Fatal(err)
	}
	return w
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// busCall sends one request through the Cabinet Secretariat's security
// server as the portal, for a citizen and an application.
func (w *demoWorld) busCall(t *testing.T, method, service, path, body string, headers ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+w.addr["cab-http"]+"/r1/"+service+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Road-Client", demo.Cabinet().Client().String())
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
	return resp.StatusCode, b
}

// auditorSearch creates an AUDITOR API key on an organisation's security
// server (next to the running server, as an operator would) and searches
// its message log through the admin API with `jisr audit search`.
func (w *demoWorld) auditorSearch(t *testing.T, prefix string, filters ...string) []auditRecord {
	t.Helper()
	cfg := filepath.Join(w.dir, "ss-"+prefix, "ss.yaml")
	keyFile := filepath.Join(w.dir, "auditor-"+prefix+".key")
	if _, err := os.Stat(keyFile); err != nil {
		var key struct{ Secret string }
		out := run(t, false, "ss", "apikey", "create", "--config", cfg, "--role", "AUDITOR", "--name", "auditor", "--expires", "1h")
		if err := json.Unmarshal([]byte(out), &key); err != nil || key.Secret == "" {
			t.Fatalf("ss apikey create: %v %s", err, out)
		}
		if err := os.WriteFile(keyFile, []byte(key.Secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := run(t, false, append([]string{"audit", "search", "--server", "http://" + w.addr[prefix+"-admin"], "--api-key-file", keyFile}, filters...)...)
	var found struct{ Records []auditRecord }
	if err := json.Unmarshal([]byte(out), &found); err != nil {
		t.Fatalf("audit search: %v\n%s", err, out)
	}
	return found.Records
}

// colonForm writes an identifier as the message-log search prints it.
func colonForm(id string) string { return strings.ReplaceAll(id, "/", ":") }

type auditRecord struct {
	Direction, Side, MessageID, Client, Service, UserID, Issue string
	Status                                                     int
}

// sides counts the records of each side and direction.
func sides(recs []auditRecord) map[string]int {
	m := map[string]int{}
	for _, r := range recs {
		m[r.Side+" "+r.Direction]++
	}
	return m
}

// TestDemoWorld runs `jisr demo` on a fresh folder and checks the world it
// brings up (issue 6, acceptance 1 and 5): all seven security servers
// healthy; every ministry adapter's OpenAPI description in the central
// catalogue, valid, and the one the adapter serves; a portal-style
// exchange with every ministry through the Cabinet Secretariat's security
// server — a traffic fine paid by card at the Monetary Authority, the
// payment checked by Transport and credited by Finance, each of them
// reading the order at the Monetary Authority through the bus — recorded
// with the citizen's X-Road-UserId and the application's X-Road-Issue in
// each provider's message log; and the portal answering at the printed
// address with the printed demo citizen.
func TestDemoWorld(t *testing.T) {
	w := startDemoWorld(t)
	t.Logf("demo world up in %s (from start to every ministry answering through the bus)", w.up)
	if w.up > 60*time.Second {
		t.Errorf("the demo world took %s to come up, want at most 60 s", w.up)
	}
	for _, want := range []string{"Hukumati portal", "http://" + w.addr["portal"] + "/", "demo citizen (DEMO DATA)"} {
		if !strings.Contains(w.printed, want) {
			t.Errorf("the demo did not print %q:\n%s", want, w.printed)
		}
	}

	// Seven security servers, healthy.
	orgs := append([]demo.Org{demo.Cabinet()}, demo.Providers()...)
	for _, o := range orgs {
		url := "http://" + w.addr[o.Prefix+"-admin"] + "/healthz"
		eventually(t, o.Server().String()+" healthy", time.Minute, func() bool {
			resp, err := http.Get(url)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}

	// The catalogue: every adapter's description, valid, as served.
	ccfg, err := central.LoadConfig(filepath.Join(w.dir, "central", central.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := central.NewClient(ccfg, filepath.Join(w.dir, "central", central.AdminAPIKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	var entries []central.CatalogueService
	if err := cc.Call(t.Context(), http.MethodGet, "/catalogue", nil, &entries); err != nil {
		t.Fatal(err)
	}
	for _, o := range demo.Providers() {
		var entry *central.CatalogueService
		for i := range entries {
			if id, err := central.ParseServiceID(entries[i].ID); err == nil && id == o.ServiceID() {
				entry = &entries[i]
			}
		}
		if entry == nil || entry.Type != "OPENAPI" || entry.Title != o.Title {
			t.Errorf("%s is not in the catalogue as an OpenAPI service titled %q: %+v", o.ServiceID(), o.Title, entry)
			continue
		}
		var doc []byte
		if err := cc.Call(t.Context(), http.MethodGet, "/catalogue/"+entry.ID+"/openapi", nil, &doc); err != nil {
			t.Fatalf("%s: %v", entry.ID, err)
		}
		loaded, err := openapi3.NewLoader().LoadFromData(doc)
		if err != nil {
			t.Fatalf("%s: the catalogue's description does not load: %v", entry.ID, err)
		}
		if err := loaded.Validate(t.Context()); err != nil {
			t.Errorf("%s: the catalogue's description is not valid: %v", entry.ID, err)
		}
		resp, err := http.Get("http://" + w.addr[o.Prefix+"-adapter"] + "/openapi.yaml")
		if err != nil {
			t.Fatal(err)
		}
		served, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(served, doc) {
			t.Errorf("%s: the catalogue's description is not the one the adapter serves", entry.ID)
		}
	}

	// A portal-style exchange with every ministry, for the citizen with
	// the unpaid parking fine: look her up, find the fine, pay it by card,
	// have Transport record the payment and Finance credit it.
	const nid, user, issue = "402345672", "PS402345672", "APP-WORLD-000001"
	svc := func(prefix string) string {
		for _, o := range demo.Providers() {
			if o.Prefix == prefix {
				return o.ServiceID().URLPath()
			}
		}
		t.Fatalf("no provider %s", prefix)
		return ""
	}
	as := []string{"X-Road-UserId", user, "X-Road-Issue", issue}
	mustStatus := func(what string, want, got int, body []byte) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %d, want %d: %s", what, got, want, body)
		}
	}
	status, body := w.busCall(t, http.MethodGet, svc("moi"), "/v1/persons/"+nid, "", as...)
	mustStatus("Interior: person", http.StatusOK, status, body)
	if !bytes.Contains(body, []byte("Layla")) {
		t.Fatalf("Interior: person: %s", body)
	}
	status, body = w.busCall(t, http.MethodGet, svc("moh"), "/v1/persons/"+nid+"/policies", "", as...)
	mustStatus("Health: policies", http.StatusOK, status, body)
	status, body = w.busCall(t, http.MethodGet, svc("post"), "/v1/offices", "", as...)
	mustStatus("Post: offices", http.StatusOK, status, body)
	status, body = w.busCall(t, http.MethodGet, svc("mot"), "/v1/fines?nationalId="+nid+"&status=unpaid", "", as...)
	mustStatus("Transport: fines", http.StatusOK, status, body)
	var fines struct {
		Fines []struct {
			Number string
			Amount struct{ Amount, Currency string }
		}
	}
	if err := json.Unmarshal(body, &fines); err != nil || len(fines.Fines) != 1 {
		t.Fatalf("Transport: fines: %v %s", err, body)
	}
	fine := fines.Fines[0]
	order := fmt.Sprintf(`{"payer":{"nationalId":%q},"amount":{"amount":%q,"currency":%q},"purpose":{"service":"mot.traffic-fine","reference":%q},`+
		`"method":{"type":"card","card":{"number":"4111111111111111","expiryMonth":12,"expiryYear":2099,"cvv":"123"}}}`,
		nid, fine.Amount.Amount, fine.Amount.Currency, fine.Number)
	status, body = w.busCall(t, http.MethodPost, svc("pma"), "/v1/payment-orders", order, append(as, "Idempotency-Key", issue+"-fine")...)
	mustStatus("Monetary Authority: payment order", http.StatusCreated, status, body)
	var paid struct{ ID, Status string }
	if err := json.Unmarshal(body, &paid); err != nil || paid.Status != "paid" {
		t.Fatalf("Monetary Authority: payment order: %v %s", err, body)
	}
	status, body = w.busCall(t, http.MethodPost, svc("mot"), "/v1/fines/"+fine.Number+"/payment", fmt.Sprintf(`{"paymentOrderId":%q}`, paid.ID), as...)
	mustStatus("Transport: fine payment", http.StatusOK, status, body)
	status, body = w.busCall(t, http.MethodPost, svc("mof"), "/v1/ledger/credits", fmt.Sprintf(`{"paymentOrderId":%q}`, paid.ID), as...)
	mustStatus("Finance: credit", http.StatusCreated, status, body)

	// Each provider's message log holds the exchanges with the citizen's
	// user id and the application number; the Monetary Authority's also
	// holds Transport's and Finance's checks of the order.
	for _, o := range demo.Providers() {
		recs := w.auditorSearch(t, o.Prefix, "--user-id", user, "--issue", issue)
		got := sides(recs)
		if got["PROVIDER REQUEST"] == 0 || got["PROVIDER RESPONSE"] == 0 {
			t.Errorf("%s: the message log lacks the exchanges for %s: %v", o.Server(), user, got)
		}
		for _, r := range recs {
			if r.UserID != user || r.Issue != issue || r.Client != colonForm(demo.Cabinet().Client().String()) {
				t.Errorf("%s: search returned %+v", o.Server(), r)
			}
		}
	}
	for _, checker := range []string{"mot", "mof"} {
		var client string
		for _, o := range demo.Providers() {
			if o.Prefix == checker {
				client = o.Client().String()
			}
		}
		if got := sides(w.auditorSearch(t, "pma", "--client", client)); got["PROVIDER REQUEST"] == 0 {
			t.Errorf("the Monetary Authority's log has no order check by %s: %v", client, got)
		}
		if got := sides(w.auditorSearch(t, checker, "--client", client)); got["CONSUMER REQUEST"] == 0 {
			t.Errorf("%s's log has no order check of its own: %v", checker, got)
		}
	}

	// The portal answers where the demo said.
	resp, err := http.Get("http://" + w.addr["portal"] + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("portal /login: %d", resp.StatusCode)
	}

	t.Run("portal in the browser", func(t *testing.T) { portalInBrowser(t, w) })
}
