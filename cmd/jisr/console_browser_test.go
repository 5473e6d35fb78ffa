package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jisr-bus/jisr/internal/testutil"
)

const birthsOpenAPI = `openapi: 3.0.3
info: {title: Birth records, version: "1"}
paths:
  /v1/births/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {responses: {"200": {description: the birth record}}}
`

// browserContext starts headless Chromium (Debian's chromium) with a fresh
// profile and the flags a closed network needs, and returns a chromedp
// context bounded by timeout.
func browserContext(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	exe := testutil.RequireTool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancelTimeout)
	return ctx
}

// screenshot saves the page as NAME.png in $JISR_CONSOLE_SCREENSHOTS, when
// that is set (for a person to look at the console).
func screenshot(name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		dir := os.Getenv("JISR_CONSOLE_SCREENSHOTS")
		if dir == "" {
			return chromedp.Void{}, nil
		}
		buf, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	}
}

// textOf returns the text of the element sel (a CSS selector) of the page.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// TestConsoleInBrowser is issue 7's acceptance 4, in headless Chromium
// against the running processes of exchangeWorld: the provider's operator
// signs in to its security server's console with the key of
// `admin-api-key`, adds a service whose OpenAPI description is uploaded as
// a file and whose backend this test runs, and grants the consumer's
// subsystem PS/GOV/CAB/portal access; an exchange through the consumer's
// security server to that service then succeeds. The operator also adds a
// client, whose registration request the central server's operator
// approves in the central server's console.
func TestConsoleInBrowser(t *testing.T) {
	var got seen
	_, c, provider, consumer, _ := exchangeWorld(t, &got)
	ctx := browserContext(t, 4*time.Minute)
	provider.serve(t)
	consumer.serve(t)

	births := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "child": "Yara Mansour", "client": r.Header.Get("X-Road-Client")})
	}))
	t.Cleanup(births.Close)
	oas := filepath.Join(t.TempDir(), "births.yaml")
	if err := os.WriteFile(oas, []byte(birthsOpenAPI), 0o644); err != nil {
		t.Fatal(err)
	}
	readKey := func(dir string) string {
		b, err := os.ReadFile(filepath.Join(dir, "admin-api-key"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	ssKey, centralKey := readKey(filepath.Dir(provider.cfg)), readKey(c.dir)
	ss, cs := "http://"+provider.adminAddr, "http://"+c.adminAddr

	// do runs browser steps and fails the test, saying what it was doing,
	// if one fails.
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// Sign in and add the service with its description uploaded.
	do("signing in to the security server's console",
		chromedp.Navigate(ss+"/console/"),
		chromedp.WaitVisible(css("#apiKey")),
		screenshot("ss-login"),
		chromedp.SendKeys(css("#apiKey"), ssKey),
		chromedp.Click(css("#signin")),
		chromedp.WaitVisible(css("#clients")),
		screenshot("ss-clients"))
	if id := textOf(t, ctx, "#identity"); id != "admin" {
		t.Errorf("signed in as %q, want the key admin", id)
	}
	do("adding the service",
		chromedp.Click(css(`#clients a[href="/console/clients/PS:GOV:MOI:civil-registry"]`)),
		chromedp.WaitVisible(css("#add-service")),
		screenshot("ss-client"),
		chromedp.SendKeys(css("#svc-code"), "birth-records"),
		chromedp.SendKeys(css("#svc-url"), births.URL),
		chromedp.SetUploadFiles(css("#svc-openapi"), []string{oas}),
		chromedp.Click(css("#svc-submit")),
		chromedp.WaitVisible(css("#grant")))
	if f := textOf(t, ctx, "#flash"); f != "Service PS:GOV:MOI:civil-registry:birth-records added with 1 endpoints." {
		t.Fatalf("after adding the service: %q", f)
	}

	// Grant the portal access.
	do("granting access",
		chromedp.SendKeys(css("#grant-subject"), "PS/GOV/CAB/portal"),
		chromedp.Click(css("#grant-submit")),
		chromedp.WaitVisible(css("#access-rights")),
		screenshot("ss-service"))
	if f, rights := textOf(t, ctx, "#flash"), textOf(t, ctx, "#access-rights"); !strings.Contains(f, "granted to SUBSYSTEM:PS/GOV/CAB/portal") ||
		!strings.Contains(rights, "SUBSYSTEM:PS/GOV/CAB/portal") {
		t.Fatalf("after granting: flash %q, rights %q", f, rights)
	}

	// The portal calls the new service through its own security server.
	url := "http://" + consumer.clientAddr + "/r1/PS/GOV/MOI/civil-registry/birth-records/v1/births/B-2026-17"
	var status int
	var body []byte
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("X-Road-Client", "PS/GOV/CAB/portal")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
		if status == http.StatusOK || time.Now().After(deadline) {
			break
		}
	}
	if status != http.StatusOK || !strings.Contains(string(body), `"path":"/v1/births/B-2026-17"`) || !strings.Contains(string(body), "Yara Mansour") {
		t.Fatalf("exchange to the service added in the console: %d %s", status, body)
	}

	// The exchange shows among recent exchanges, and both changes in the
	// audit trail.
	// The operational monitoring recorder writes in the background: look
	// again for a few seconds.
	var x string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		do("recent exchanges", chromedp.Navigate(ss+"/console/exchanges"), chromedp.WaitVisible(css("main")))
		if x = textOf(t, ctx, "main"); strings.Contains(x, "/v1/births/B-2026-17") || time.Now().After(deadline) {
			break
		}
	}
	do("screenshot", screenshot("ss-exchanges"))
	if !strings.Contains(x, "PS/GOV/MOI/civil-registry/birth-records") || !strings.Contains(x, "/v1/births/B-2026-17") {
		t.Errorf("recent exchanges lack the call:\n%s", x)
	}
	do("audit trail", chromedp.Navigate(ss+"/console/audit"), chromedp.WaitVisible(css("#audit")))
	if a := textOf(t, ctx, "#audit"); !strings.Contains(a, "service.add") || !strings.Contains(a, "accessRight.grant") {
		t.Errorf("audit trail lacks the console's changes:\n%s", a)
	}

	// A new client: its registration request waits for the central
	// server's registration officer, who approves it in the central
	// server's console.
	do("adding a client",
		chromedp.Navigate(ss+"/console/clients"),
		chromedp.WaitVisible(css("#add-client")),
		chromedp.SendKeys(css("#client-id"), "PS/GOV/MOI/births"),
		chromedp.Click(css("#client-submit")),
		chromedp.WaitVisible(css("#client-status")))
	flash, state := textOf(t, ctx, "#flash"), textOf(t, ctx, "#client-status")
	m := regexp.MustCompile(`Management request #(\d+) \(clientRegistration\) is PENDING\.`).FindStringSubmatch(flash)
	if m == nil || state != "REGISTRATION_IN_PROGRESS" {
		t.Fatalf("after adding the client: flash %q, status %q", flash, state)
	}
	id := m[1]

	do("signing in to the central server's console",
		chromedp.Navigate(cs+"/console/"),
		chromedp.WaitVisible(css("#apiKey")),
		chromedp.SendKeys(css("#apiKey"), centralKey),
		chromedp.Click(css("#signin")),
		chromedp.WaitVisible(css("#checks")),
		screenshot("central-configuration"),
		chromedp.Navigate(cs+"/console/requests"),
		chromedp.WaitVisible(css("#approve-"+id)),
		screenshot("central-requests"))
	if row := textOf(t, ctx, "#request-"+id); !strings.Contains(row, "PS:GOV:MOI:births") || !strings.Contains(row, "PENDING") {
		t.Errorf("pending request row %q", row)
	}
	do("approving", chromedp.Click(css("#approve-"+id)), chromedp.WaitVisible(css("#flash")))
	if f := textOf(t, ctx, "#flash"); f != "Management request #"+id+" (clientRegistration) is APPROVED." {
		t.Fatalf("after approving: %q", f)
	}
	do("security servers", chromedp.Navigate(cs+"/console/security-servers"), chromedp.WaitVisible(css("#servers")),
		screenshot("central-servers"))
	if servers := textOf(t, ctx, "#servers"); !strings.Contains(servers, "PS:GOV:MOI:births") {
		t.Errorf("the registry does not list the approved client:\n%s", servers)
	}
}
