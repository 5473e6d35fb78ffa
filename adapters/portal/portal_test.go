package portal

import (
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/internal/store/storetest"
)

// TestLicenceRenewal renews Khaled's licence paying by test card with
// pick-up at a post office: identity from Interior, licence and fines from
// Transport, fee from Finance, payment at the Monetary Authority, renewal
// at Transport, delivery at Post; the receipt is shown, and every call
// carried the citizen's national ID and the application number.
func TestLicenceRenewal(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { licenceRenewal(t, newFixture(t)) })
	// The portal's own storage (accounts, sessions, applications) on
	// PostgreSQL; the ministries stay on SQLite.
	t.Run("postgres", func(t *testing.T) {
		licenceRenewal(t, newFixtureWith(t, kit.Database{Driver: kit.DriverPostgres, DSN: storetest.PostgresDSN(t)}))
	})
}

func licenceRenewal(t *testing.T, f *fixture) {
	b := f.browser(t)
	b.login(khaled, demoPW)
	status, page := b.get("/services/licence-renewal")
	if status != http.StatusOK || !strings.Contains(page, `id="licence-renewal-form"`) || !strings.Contains(page, "150.00 ILS") {
		t.Fatalf("licence page: %d\n%s", status, page)
	}
	number := find(t, page, `id="application-number">(APP-[0-9-]+)<`)
	office := find(t, page, firstOffice.String())
	status, page, path := b.post("/services/licence-renewal", with(card("4111111111111111"), "delivery", "pickup", "officeCode", office, "phone", "0599123456"))
	if status != http.StatusOK || path != "/applications/"+number {
		t.Fatalf("submit: %d %s\n%s", status, path, page)
	}
	for _, want := range []string{`data-status="completed"`, `id="receipt"`, `class="receipt-number">`, "150.00 ILS", `id="tracking-number">RR`, `id="new-expiry">`} {
		if !strings.Contains(page, want) {
			t.Errorf("application page lacks %s\n%s", want, page)
		}
	}
	for _, c := range [][3]string{{"mot", "POST", "/v1/driving-licences/"}, {"pma", "POST", "/v1/payment-orders"},
		{"mof", "POST", "/v1/ledger/credits"}, {"post", "POST", "/v1/deliveries"}, {"mot", "GET", "/v1/fines"}} {
		calls := f.callsTo(Ministry(c[0]), c[1], c[2])
		if c[0] == "mot" && c[1] == "GET" && len(calls) == 2 {
			calls = calls[1:] // the page's and the submit's
		}
		if len(calls) != 1 {
			t.Errorf("%v: %d calls, want 1", c, len(calls))
			continue
		}
		if calls[0].header.Get(HeaderUserID) != khaled || calls[0].header.Get(HeaderIssue) != number {
			t.Errorf("%v: headers %v", c, calls[0].header)
		}
	}
	f.checkHeaders(t)
	_, receipts := b.get("/receipts")
	if !strings.Contains(receipts, `class="receipt-row"`) || !strings.Contains(receipts, number) {
		t.Errorf("receipts page:\n%s", receipts)
	}
	// In English, left to right.
	_, en := b.get("/applications/" + number + "?lang=en")
	if !strings.Contains(en, `lang="en" dir="ltr"`) || !strings.Contains(en, "Payment receipt") {
		t.Errorf("English page:\n%s", en)
	}
	_, ar := b.get("/applications/" + number)
	if !strings.Contains(ar, `lang="ar" dir="rtl"`) || !strings.Contains(ar, "إيصال الدفع") {
		t.Errorf("Arabic page:\n%s", ar)
	}
}

// TestLicenceRenewalDoubleSubmit submits the same form twice: one
// application, one payment order, one charge; the second submit shows the
// completed application.
func TestLicenceRenewalDoubleSubmit(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.login(khaled, demoPW)
	_, page := b.get("/services/licence-renewal")
	form := with(card("4111111111111111"), "delivery", "pickup", "officeCode", find(t, page, firstOffice.String()), "phone", "0599123456",
		"csrf", hidden(page, "csrf"), "token", hidden(page, "token"))
	_, first, path1 := b.post("/services/licence-renewal", form)
	_, second, path2 := b.post("/services/licence-renewal", form)
	if path1 != path2 || !strings.Contains(first, `data-status="completed"`) || !strings.Contains(second, `data-status="completed"`) {
		t.Fatalf("double submit: %s %s", path1, path2)
	}
	if n := len(f.callsTo(Payments, "POST", "/v1/payment-orders")); n != 1 {
		t.Errorf("%d payment orders requested, want 1", n)
	}
	day := reference().Format(time.DateOnly)
	rec := doDirect(t, f.pma.Handler(), "GET", "/v1/payment-orders?from="+day+"&to="+day)
	if c := strings.Count(rec, `"status":"paid"`); c != 1 {
		t.Errorf("paid orders at the Monetary Authority: %d, want 1\n%s", c, rec)
	}
}

// TestPaymentIdempotentAfterInterruption: a submit whose payment was
// charged but whose answer was lost (the record stays pending) is
// repeated with the same Idempotency-Key, so the Monetary Authority
// replays the order instead of charging again.
func TestPaymentIdempotentAfterInterruption(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.login(khaled, demoPW)
	_, page := b.get("/services/licence-renewal")
	form := with(card("4111111111111111"), "delivery", "pickup", "officeCode", find(t, page, firstOffice.String()), "phone", "0599123456",
		"csrf", hidden(page, "csrf"), "token", hidden(page, "token"))
	// Transport fails after the payment: the renewal step cannot run.
	f.fault(Finance, "Server.ServerProxy.ServiceFailed")
	_, failed, _ := b.post("/services/licence-renewal", form)
	if !strings.Contains(failed, `data-status="failed"`) || !strings.Contains(failed, "Ministry of Finance") && !strings.Contains(failed, "وزارة المالية") {
		t.Fatalf("failed submit:\n%s", failed)
	}
	f.fault(Finance, "")
	_, done, _ := b.post("/services/licence-renewal", form)
	if !strings.Contains(done, `data-status="completed"`) {
		t.Fatalf("retry:\n%s", done)
	}
	orders := f.callsTo(Payments, "POST", "/v1/payment-orders")
	if len(orders) < 1 {
		t.Fatal("no payment order")
	}
	for _, o := range orders {
		if o.header.Get("Idempotency-Key") != orders[0].header.Get("Idempotency-Key") {
			t.Errorf("keys differ: %q %q", o.header.Get("Idempotency-Key"), orders[0].header.Get("Idempotency-Key"))
		}
	}
	day := reference().Format(time.DateOnly)
	if c := strings.Count(doDirect(t, f.pma.Handler(), "GET", "/v1/payment-orders?from="+day+"&to="+day), `"status":"paid"`); c != 1 {
		t.Errorf("paid orders: %d, want 1", c)
	}
}

// TestLicenceRenewalDeclined: a declined card leaves the application
// "payment declined" with a plain message; another card then completes it
// under a new attempt key.
func TestLicenceRenewalDeclined(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.login(khaled, demoPW)
	b.get("/lang/en?next=/")
	_, page := b.get("/services/licence-renewal")
	office := find(t, page, firstOffice.String())
	_, page, _ = b.post("/services/licence-renewal", with(card("4000000000000002"), "delivery", "pickup", "officeCode", office, "phone", "0599123456"))
	if !strings.Contains(page, `data-status="payment-declined"`) || !strings.Contains(page, "The bank declined the card.") {
		t.Fatalf("declined:\n%s", page)
	}
	if len(f.callsTo(Transport, "POST", "/v1/driving-licences/")) != 0 {
		t.Error("renewed without payment")
	}
	b.get("/services/licence-renewal")
	_, page, _ = b.post("/services/licence-renewal", with(card("4111111111111111"), "delivery", "pickup", "officeCode", office, "phone", "0599123456"))
	if !strings.Contains(page, `data-status="completed"`) {
		t.Fatalf("second card:\n%s", page)
	}
	orders := f.callsTo(Payments, "POST", "/v1/payment-orders")
	if len(orders) != 2 || orders[0].header.Get("Idempotency-Key") == orders[1].header.Get("Idempotency-Key") {
		t.Errorf("want two orders under two keys: %d", len(orders))
	}
	f.checkHeaders(t)
}

// TestUnpaidFinesBlockRenewal: Omar's unpaid fines block the renewal
// before anything is charged.
func TestUnpaidFinesBlockRenewal(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.login(omar, demoPW)
	b.get("/lang/en?next=/")
	_, page := b.get("/services/licence-renewal")
	if !strings.Contains(page, `id="unpaid-fines"`) || strings.Contains(page, `id="licence-renewal-form"`) {
		t.Fatalf("licence page:\n%s", page)
	}
	app, err := f.portal.draft(t.Context(), omar, svcLicence)
	if err != nil {
		t.Fatal(err)
	}
	_, page, _ = b.post("/services/licence-renewal", with(card("4111111111111111"), "delivery", "pickup", "officeCode", "RAM01",
		"phone", "0599123456", "token", app.Token))
	if !strings.Contains(page, `data-status="rejected"`) || !strings.Contains(page, "unpaid traffic fines") {
		t.Fatalf("rejected:\n%s", page)
	}
	if n := len(f.callsTo(Payments, "POST", "/v1/payment-orders")); n != 0 {
		t.Errorf("%d payment orders for a blocked renewal", n)
	}
	f.checkHeaders(t)
}

// TestTrafficFinePayment pays one of Omar's fines.
func TestTrafficFinePayment(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.login(omar, demoPW)
	_, page := b.get("/services/traffic-fines")
	fine := find(t, page, `name="fine" value="(TF-[0-9]+)"`)
	_, page, _ = b.post("/services/traffic-fines", with(card("4111111111111111"), "fine", fine))
	if !strings.Contains(page, `data-status="completed"`) || !strings.Contains(page, `id="receipt-fine"`) {
		t.Fatalf("fine payment:\n%s", page)
	}
	if n := len(f.callsTo(Transport, "POST", "/v1/fines/"+fine+"/payment")); n != 1 {
		t.Errorf("fine payment recorded %d times", n)
	}
	f.checkHeaders(t)
}

// TestInsuranceRenewal renews Khaled's family policy.
func TestInsuranceRenewal(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.login(khaled, demoPW)
	_, page := b.get("/services/insurance-renewal")
	policy := find(t, page, `name="policy" value="(HI-[0-9]+)"`)
	_, page, _ = b.post("/services/insurance-renewal", with(card("4111111111111111"), "policy", policy))
	if !strings.Contains(page, `data-status="completed"`) || !strings.Contains(page, "1080.00 ILS") {
		t.Fatalf("insurance renewal:\n%s", page)
	}
	f.checkHeaders(t)
}

// issueBirthCertificate runs the new-birth-certificate journey for Salma
// and returns her certificate's code.
func issueBirthCertificate(t *testing.T, f *fixture, b *browser) (number, code string) {
	t.Helper()
	_, page := b.get("/services/birth-certificate?kind=new")
	if !strings.Contains(page, `id="subject-`+salma+`"`) {
		t.Fatalf("birth-certificate page:\n%s", page)
	}
	_, page, _ = b.post("/services/birth-certificate", url.Values{"subject": {salma}, "delivery": {"none"}})
	if !strings.Contains(page, `data-status="completed"`) || !strings.Contains(page, `id="document-qr"`) {
		t.Fatalf("birth certificate:\n%s", page)
	}
	number = find(t, page, `id="document-number">([A-Z]+-[0-9]{4}-[0-9]+)<`)
	code = html.UnescapeString(find(t, page, `id="document-code" readonly rows="6" cols="80">([^<]+)<`))
	app := find(t, page, `id="application-number">(APP-[0-9-]+)<`)
	resp, err := b.hc.Get(f.srv.URL + "/applications/" + app + "/qr.png")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("QR image: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return number, code
}

// TestVerificationPage: a genuine certificate is valid, an altered one
// forged, and once Interior revokes it, revoked — asked through the bus.
func TestVerificationPage(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.login(khaled, demoPW)
	number, code := issueBirthCertificate(t, f, b)
	f.checkHeaders(t)

	anon := f.browser(t)
	verdict := func(code string) string {
		t.Helper()
		anon.get("/verify?lang=en")
		status, page, _ := anon.post("/verify", url.Values{"code": {code}})
		if status != http.StatusOK {
			t.Fatalf("verify: %d\n%s", status, page)
		}
		return find(t, page, `data-verdict="([a-z]+)"`)
	}
	if v := verdict(code); v != "valid" {
		t.Errorf("genuine: %s", v)
	}
	parts := strings.Split(code, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), "Salma", "Selma", 1)))
	if v := verdict(strings.Join(parts, ".")); v != "forged" {
		t.Errorf("altered: %s", v)
	}
	if v := verdict("not a code"); v != "forged" {
		t.Errorf("garbage: %s", v)
	}
	if out := doDirect(t, f.moi.Handler(), "POST", "/v1/documents/"+number+"/revocation", `{"reason":"issued in error"}`); !strings.Contains(out, `"revoked"`) {
		t.Fatalf("revoke: %s", out)
	}
	if v := verdict(code); v != "revoked" {
		t.Errorf("revoked: %s", v)
	}
	status := f.callsTo(Interior, "GET", "/v1/documents/"+number+"/status")
	if len(status) != 2 || status[0].header.Get(HeaderIssue) != "VERIFY-"+number {
		t.Errorf("status asked %d times through the bus", len(status))
	}
}

// TestDocumentJourneys issues a civil-registry extract and a copy of a
// birth certificate.
func TestDocumentJourneys(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.login(khaled, demoPW)
	b.get("/services/civil-registry-extract")
	_, page, _ := b.post("/services/civil-registry-extract", with(card("4111111111111111"), "delivery", "address", "phone", "0599123456"))
	if !strings.Contains(page, `data-status="completed"`) || !strings.Contains(page, `id="document-number">CRE-`) ||
		!strings.Contains(page, `id="receipt-delivery"`) || !strings.Contains(page, `id="tracking-number">RR`) {
		t.Fatalf("extract:\n%s", page)
	}
	b.get("/services/birth-certificate?kind=copy")
	_, page, _ = b.post("/services/birth-certificate", url.Values{"subject": {khaled}, "delivery": {"none"}})
	if !strings.Contains(page, `data-status="completed"`) || !strings.Contains(page, `id="document-number">BC-`) {
		t.Fatalf("copy:\n%s", page)
	}
	f.checkHeaders(t)
}

// TestCSRFRefused: a POST without the form's token, or with another
// session's, is refused and changes nothing.
func TestCSRFRefused(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.get("/login")
	status, _, _ := b.post("/login", url.Values{"csrf": {"forged"}, "nationalId": {khaled}, "password": {demoPW}})
	if status != http.StatusForbidden {
		t.Errorf("sign-in with a wrong token: %d", status)
	}
	b.login(khaled, demoPW)
	_, page := b.get("/services/licence-renewal")
	status, _, _ = b.post("/services/licence-renewal", with(card("4111111111111111"), "csrf", "", "token", hidden(page, "token"),
		"delivery", "pickup", "officeCode", "RAM01", "phone", "0599123456"))
	if status != http.StatusForbidden {
		t.Errorf("journey without a token: %d", status)
	}
	other := f.browser(t)
	other.get("/login")
	status, _, _ = b.post("/services/licence-renewal", with(card("4111111111111111"), "csrf", hidden(other.last, "csrf"), "token", hidden(page, "token")))
	if status != http.StatusForbidden {
		t.Errorf("journey with another visitor's token: %d", status)
	}
	if n := len(f.callsTo(Payments, "POST", "/v1/payment-orders")); n != 0 {
		t.Errorf("%d payments after refused forms", n)
	}
}

// TestActivation: the officer looks a citizen up through the bus and
// issues a code; the citizen activates once, and the code does not work
// twice.
func TestActivation(t *testing.T) {
	f := newFixture(t)
	o := f.browser(t)
	o.get("/officer/login")
	if _, page, _ := o.post("/officer/login", url.Values{"username": {"officer1"}, "password": {"officer password"}}); !strings.Contains(page, `id="officer-lookup-form"`) {
		t.Fatalf("officer sign-in:\n%s", page)
	}
	_, page, _ := o.post("/officer/lookup", url.Values{"nationalId": {"402345672"}})
	if !strings.Contains(page, "Layla") && !strings.Contains(page, `id="officer-person-name"`) {
		t.Fatalf("lookup:\n%s", page)
	}
	_, page, _ = o.post("/officer/codes", url.Values{"issue": {hidden(page, "issue")}})
	code := find(t, page, `id="activation-code">([A-Z0-9-]+)<`)
	f.checkHeaders(t)

	c := f.browser(t)
	c.get("/activate")
	activate := func(code string) (int, string) {
		c.get("/activate")
		status, page, _ := c.post("/activate", url.Values{"nationalId": {"402345672"}, "code": {code}, "password": {"a new password 1"}, "password2": {"a new password 1"}})
		return status, page
	}
	if status, page := activate(strings.ToLower(code)); status != http.StatusOK || !strings.Contains(page, `id="notice"`) {
		t.Fatalf("activation: %d\n%s", status, page)
	}
	if status, _ := activate(code); status != http.StatusBadRequest {
		t.Errorf("second use of the code: %d", status)
	}
	c.login("402345672", "a new password 1")
}

// TestWrongPasswordRateLimited: five wrong passwords lock the account
// for fifteen minutes, even against the right one.
func TestWrongPasswordRateLimited(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	try := func(pw string) int {
		b.get("/login")
		status, _, _ := b.post("/login", url.Values{"nationalId": {khaled}, "password": {pw}})
		return status
	}
	for i := range 5 {
		if s := try("wrong password"); s != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, s)
		}
	}
	if s := try(demoPW); s != http.StatusTooManyRequests {
		t.Fatalf("locked account accepted the right password: %d", s)
	}
	f.clock.Add(16 * time.Minute)
	b.login(khaled, demoPW)
}

// TestBusFaultsArePlainMessages: an X-Road fault and an unreachable
// ministry become plain messages in the visitor's language.
func TestBusFaultsArePlainMessages(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.login(khaled, demoPW)
	f.fault(Transport, "Server.ServerProxy.AccessDenied")
	status, page := b.get("/services/licence-renewal?lang=en")
	if status != http.StatusBadGateway || !strings.Contains(page, "The portal is not permitted to use this service of the Ministry of Transport") ||
		strings.Contains(page, "goroutine") || strings.Contains(page, "injected") {
		t.Errorf("access denied: %d\n%s", status, page)
	}
	f.fault(Transport, "Server.ClientProxy.NetworkError")
	_, page = b.get("/services/licence-renewal?lang=ar")
	if !strings.Contains(page, "خدمة وزارة النقل والمواصلات غير متاحة حالياً") {
		t.Errorf("network error (ar):\n%s", page)
	}
}

// TestCatalogueComplete: every key the templates use has both texts.
func TestCatalogueComplete(t *testing.T) {
	c := newCatalogue()
	for k, v := range c {
		if v[0] == "" || v[1] == "" {
			t.Errorf("%s lacks a text", k)
		}
	}
	re := regexp.MustCompile(`\{\{t(?:f)? (?:\$l|\.Lang|\$\.Lang) "([a-zA-Z.\-]+)"`)
	entries, err := templateFS.ReadDir("templates")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := templateFS.ReadFile("templates/" + e.Name())
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if _, ok := c[m[1]]; !ok {
				t.Errorf("%s uses unknown key %s", e.Name(), m[1])
			}
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("secret password", testArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := VerifyPassword("secret password", h); !ok || err != nil {
		t.Errorf("right password: %v %v", ok, err)
	}
	if ok, _ := VerifyPassword("secret passwore", h); ok {
		t.Error("wrong password accepted")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if _, err := VerifyPassword("x", bad); err == nil {
			t.Errorf("%q accepted as a hash", bad)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{"/services": "/services", "": "/", "//evil.example": "/", "https://evil.example": "/", "/\\evil": "/"} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q", in, got)
		}
	}
}
