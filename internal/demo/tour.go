package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// call is one request of the tour, printed as the curl command that makes
// it.
type call struct {
	title, method, path string
	headers             [][2]string
	wantStatus          int
}

func (c call) curl(base string) string {
	var b strings.Builder
	b.WriteString("curl -s")
	if c.method != http.MethodGet {
		b.WriteString(" -X " + c.method)
	}
	for _, h := range c.headers {
		fmt.Fprintf(&b, " -H '%s: %s'", h[0], h[1])
	}
	fmt.Fprintf(&b, " '%s%s'", base, c.path)
	return b.String()
}

// TourIssue is the X-Road-Issue the tour's calls carry.
const TourIssue = "DEMO-TOUR-0001"

// ministryCalls are the tour's calls to each ministry, made as the portal
// for the demo citizen through the Cabinet Secretariat's security server.
func (d *world) ministryCalls() []call {
	citizen := d.seed.Demo.Citizen.String()
	as := [][2]string{{"X-Road-Client", Cabinet().Client().String()}, {"X-Road-UserId", "PS" + citizen}, {"X-Road-Issue", TourIssue}}
	path := func(prefix, p string) string { return "/r1/" + provider(prefix).ServiceID().URLPath() + p }
	return []call{
		{"Interior: the demo citizen in the civil registry", http.MethodGet, path("moi", "/v1/persons/"+citizen), as, http.StatusOK},
		{"Transport: his driving licence", http.MethodGet, path("mot", "/v1/persons/"+citizen+"/driving-licence"), as, http.StatusOK},
		{"Health: his health-insurance policies", http.MethodGet, path("moh", "/v1/persons/"+citizen+"/policies"), as, http.StatusOK},
		{"Monetary Authority: a deposit voucher a bank issued", http.MethodGet, path("pma", "/v1/deposit-vouchers/"+d.seed.Vouchers[0].Number), as, http.StatusOK},
		{"Finance: the fee schedule", http.MethodGet, path("mof", "/v1/fees"), as, http.StatusOK},
		{"Post: post offices and registration centres", http.MethodGet, path("post", "/v1/offices"), as, http.StatusOK},
	}
}

// tour waits until the bus carries traffic to every ministry, then makes
// the calls and prints them as curl commands with what came back.
func (d *world) tour(ctx context.Context, began time.Time) error {
	base := "http://" + d.addr["cab-http"]
	client := [2]string{"X-Road-Client", Cabinet().Client().String()}
	moi := "/r1/" + provider("moi").Client().URLPath()
	calls := append(d.ministryCalls(),
		call{"listClients (who is on the bus)", http.MethodGet, "/listClients", [][2]string{{"Accept", "application/json"}}, http.StatusOK},
		call{"allowedMethods: what the portal may call at Interior", http.MethodGet, moi + "/allowedMethods", [][2]string{client}, http.StatusOK},
		call{"getOpenAPI of Interior's service", http.MethodGet, moi + "/getOpenAPI?serviceCode=" + provider("moi").Service, [][2]string{client}, http.StatusOK},
		call{"refused: the portal may not list the Monetary Authority's paid orders", http.MethodGet,
			"/r1/" + provider("pma").ServiceID().URLPath() + "/v1/payment-orders", [][2]string{client}, http.StatusInternalServerError},
	)
	// The security servers know each other once they have downloaded the
	// configuration that registered them all; wait for an exchange with
	// every ministry to go through.
	deadline := time.Now().Add(90 * time.Second)
	for _, c := range d.ministryCalls() {
		for {
			status, body, err := d.do(ctx, base, c)
			if err == nil && status == c.wantStatus {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("demo: the bus did not carry %q in time (last status %d, %v): %s", c.title, status, err, summary(body))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	up := time.Since(began)

	fmt.Fprintf(d.out, "\n== the demo world of %s is up (%.1f s) ==\n", Instance, up.Seconds())
	fmt.Fprintf(d.out, "  instance PKI      CA %s  OCSP %s  TSA %s\n", d.addr["pki-ca"], d.addr["pki-ocsp"], d.addr["pki-tsa"])
	fmt.Fprintf(d.out, "  central server    admin %s  configuration http://%s/globalconf  management %s\n", d.addr["central-admin"], d.addr["central-conf"], d.addr["central-mgmt"])
	fmt.Fprintf(d.out, "  security servers  (information systems call http://…; admin API on the last port)\n")
	for _, o := range orgs() {
		what := "consumer: the Hukumati portal"
		if o.Service != "" {
			what = "provides " + o.ServiceID().String() + ", adapter http://" + d.addr[o.Prefix+"-adapter"]
		}
		fmt.Fprintf(d.out, "    %-20s %-30s http://%s  admin %s  (%s)\n", o.Server(), o.Name, d.addr[o.Prefix+"-http"], d.addr[o.Prefix+"-admin"], what)
	}
	fmt.Fprintf(d.out, "  central catalogue: every ministry's service with its OpenAPI description (jisr central catalogue search --config %s/central/central.yaml)\n", d.dir)
	d.printPortal()
	fmt.Fprintf(d.out, "\ntry these (each was just run and answered as shown):\n")
	for _, c := range calls {
		status, body, err := d.do(ctx, base, c)
		if err != nil {
			return fmt.Errorf("demo: %s: %w", c.title, err)
		}
		if status != c.wantStatus {
			return fmt.Errorf("demo: %s: status %d, want %d: %s", c.title, status, c.wantStatus, body)
		}
		fmt.Fprintf(d.out, "\n# %s\n%s\n  → %d %s\n", c.title, c.curl(base), status, summary(body))
	}
	return nil
}

func (d *world) do(ctx context.Context, base string, c call) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, c.method, base+c.path, nil)
	if err != nil {
		return 0, nil, err
	}
	for _, h := range c.headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

func summary(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
