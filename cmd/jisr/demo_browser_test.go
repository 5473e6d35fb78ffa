package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// portalInBrowser is issue 6's acceptance 2, in headless Chromium against
// the running demo world w: the demo citizen signs in to the Hukumati
// portal with the credentials the demo printed, renews his driving
// licence paying by test card, and sees the receipt on the application
// and among his receipts; then the message logs of the Ministry of
// Transport, the Monetary Authority and the Cabinet Secretariat hold those
// exchanges with his user id and the application number, found by an
// auditor through each server's admin API.
func portalInBrowser(t *testing.T, w *demoWorld) {
	m := regexp.MustCompile(`demo citizen \(DEMO DATA\)\s+national ID ([0-9]{9}) \(([^)]*)\)\s+password (\S+)`).FindStringSubmatch(w.printed)
	if m == nil {
		t.Fatalf("the demo did not print the demo citizen's credentials:\n%s", w.printed)
	}
	nid, name, password := m[1], m[2], m[3]
	ctx := browserContext(t, 3*time.Minute)
	portal := "http://" + w.addr["portal"]
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	do("signing in",
		chromedp.Navigate(portal+"/login"),
		chromedp.WaitVisible(css("#login-form")),
		screenshot("portal-login"),
		chromedp.SendKeys(css("#login-nid"), nid),
		chromedp.SendKeys(css("#login-password"), password),
		chromedp.Click(css("#login-submit")),
		chromedp.WaitVisible(css("#signed-in-user")),
		chromedp.WaitVisible(css("#svc-licence-renewal")))
	if who := textOf(t, ctx, "#signed-in-user"); !strings.Contains(who, strings.Fields(name)[0]) && !strings.Contains(who, nid) {
		t.Errorf("signed in as %q, want %s (%s)", who, name, nid)
	}

	do("opening the licence renewal",
		chromedp.Click(css("#svc-licence-renewal")),
		chromedp.WaitVisible(css("#licence-renewal-form")),
		screenshot("portal-licence"))
	app := strings.TrimSpace(textOf(t, ctx, "#application-number"))
	if app == "" {
		t.Fatal("the licence renewal page shows no application number")
	}
	t.Logf("licence %s, fee %s, application %s", textOf(t, ctx, "#licence-number"), textOf(t, ctx, "#renewal-fee"), app)

	do("paying by test card",
		chromedp.SendKeys(css("#card-number"), "4111111111111111"),
		chromedp.SendKeys(css("#card-expiry-month"), "12"),
		chromedp.SendKeys(css("#card-expiry-year"), "2099"),
		chromedp.SendKeys(css("#card-cvv"), "123"),
		chromedp.SendKeys(css("#card-holder"), name),
		chromedp.Click(css("#licence-renewal-submit")),
		chromedp.WaitVisible(css("#application-status")),
		screenshot("portal-application"))
	status, err := chromedp.Run(ctx, chromedp.AttributeValue(css("#application-status"), "data-status"))
	if err != nil {
		t.Fatal(err)
	}
	if status.Value != "completed" {
		msg, _ := chromedp.Run(ctx, chromedp.Text(css("main")))
		t.Fatalf("application %s is %q, want completed:\n%s", app, status.Value, msg)
	}
	do("seeing the receipt", chromedp.WaitVisible(css("#receipt")))
	receipt := strings.TrimSpace(textOf(t, ctx, "#receipt .receipt-number"))
	if receipt == "" || textOf(t, ctx, "#new-expiry") == "" {
		t.Fatalf("no receipt number or new expiry on application %s", app)
	}
	do("listing the receipts",
		chromedp.Navigate(portal+"/receipts"),
		chromedp.WaitVisible(css("#receipts")),
		screenshot("portal-receipts"))
	if rows := textOf(t, ctx, "#receipts"); !strings.Contains(rows, receipt) {
		t.Errorf("the receipts page lacks %s:\n%s", receipt, rows)
	}

	// The auditor's view: the exchanges of this application, with the
	// citizen's user id, on both sides of the bus.
	for _, s := range []struct{ prefix, side string }{{"mot", "PROVIDER"}, {"pma", "PROVIDER"}, {"cab", "CONSUMER"}} {
		recs := w.auditorSearch(t, s.prefix, "--issue", app)
		got := sides(recs)
		if got[s.side+" REQUEST"] == 0 || got[s.side+" RESPONSE"] == 0 {
			t.Errorf("ss-%s: the message log lacks application %s's exchanges: %v", s.prefix, app, got)
		}
		for _, r := range recs {
			if r.UserID != nid && r.UserID != "PS"+nid {
				t.Errorf("ss-%s: record of %s carries user id %q, want the citizen's %s", s.prefix, app, r.UserID, nid)
			}
		}
	}
	if got := sides(w.auditorSearch(t, "cab", "--user-id", nid, "--issue", app)); got["CONSUMER REQUEST"] < 4 {
		t.Errorf("the Cabinet Secretariat's log holds %v for application %s; the renewal composes at least four ministries", got, app)
	}
}
