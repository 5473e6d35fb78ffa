package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.yaml.in/yaml/v3"
)

// TestMetricsAndOperationalMonitoring runs the whole instance as processes,
// makes one exchange and one refused exchange, and then checks what
// operators see: /readyz of every daemon, /metrics of every daemon free of
// promlint problems and carrying the exchange, the operational monitoring
// records each client may read on both security servers, and that the
// alerting rules and dashboard in docs/alerting name only metrics that
// exist.
func TestMetricsAndOperationalMonitoring(t *testing.T) {
	var got seen
	p, c, provider, consumer, _ := exchangeWorld(t, &got)
	// A second client on the consumer's server that takes part in nothing,
	// and the owner member itself as a client (to read every record).
	approve(t, c, requestID(t, run(t, false, "ss", "client", "add", "--config", consumer.cfg, "--client", "PS/GOV/CAB/other")))
	approve(t, c, requestID(t, run(t, false, "ss", "client", "add", "--config", consumer.cfg, "--client", "PS/GOV/CAB")))
	run(t, false, "central", "config", "regenerate", "--config", c.cfg)
	provider.serve(t)
	consumer.serve(t)

	exchange := func(path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+consumer.clientAddr+"/r1/PS/GOV/MOI/civil-registry/"+path, nil)
		req.Header.Set("X-Road-Client", "PS/GOV/CAB/portal")
		req.Header.Set("X-Road-UserId", "PS4001234567")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	var resp *http.Response
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		if resp = exchange("persons/v1/persons/4001"); resp.StatusCode == http.StatusOK || time.Now().After(deadline) {
			break
		}
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %s", resp.StatusCode, resp.Header.Get("X-Road-Error"))
	}
	okID := resp.Header.Get("X-Road-Id")
	if r := exchange("nosuch/v1/x"); r.Header.Get("X-Road-Error") != "Server.ServerProxy.UnknownService" {
		t.Fatalf("refused exchange: %d %s", r.StatusCode, r.Header.Get("X-Road-Error"))
	}

	daemons := []struct{ name, admin string }{
		{"pki", p.adminAddr}, {"central", c.adminAddr}, {"ss-provider", provider.adminAddr}, {"ss-consumer", consumer.adminAddr},
	}
	t.Run("readyz", func(t *testing.T) {
		for _, d := range daemons {
			waitReady(t, d.name, "http://"+d.admin+"/readyz")
		}
	})

	families := map[string]string{} // every metric family of every daemon → type
	scrapes := map[string]string{}
	for _, d := range daemons {
		t.Run("promlint "+d.name, func(t *testing.T) {
			body := get(t, "http://"+d.admin+"/metrics")
			scrapes[d.name] = body
			problems, err := promlint.New(strings.NewReader(body)).Lint()
			if err != nil {
				t.Fatal(err)
			}
			for _, pr := range problems {
				t.Errorf("%s: %s", pr.Metric, pr.Text)
			}
			for name, typ := range metricFamilies(body) {
				families[name] = typ
			}
		})
	}

	t.Run("exchange metrics", func(t *testing.T) {
		for _, c := range []struct {
			daemon, side, service, outcome string
		}{
			{"ss-consumer", "client", "PS/GOV/MOI/civil-registry/persons", "ok"},
			{"ss-provider", "server", "PS/GOV/MOI/civil-registry/persons", "ok"},
			{"ss-consumer", "client", "PS/GOV/MOI/civil-registry/nosuch", "Server.ServerProxy.UnknownService"},
			{"ss-provider", "server", "PS/GOV/MOI/civil-registry/nosuch", "Server.ServerProxy.UnknownService"},
		} {
			want := []string{`client="PS/GOV/CAB/portal"`, `side="` + c.side + `"`, `service="` + c.service + `"`, `outcome="` + c.outcome + `"`}
			if !hasSample(scrapes[c.daemon], "jisr_ss_exchanges_total{", want, " 1") {
				t.Errorf("%s: no jisr_ss_exchanges_total %v = 1", c.daemon, want)
			}
		}
		for _, name := range []string{"jisr_ss_exchange_duration_seconds_bucket{", "jisr_ss_certificate_expires_in_seconds{",
			"jisr_ss_own_ocsp_age_seconds{", "jisr_globalconf_expires_in_seconds ", "jisr_ss_opmon_records_written_total "} {
			if !hasSample(scrapes["ss-consumer"], name, nil, "") {
				t.Errorf("the consumer's server exposes no %s…", name)
			}
		}
	})

	t.Run("operational monitoring", func(t *testing.T) {
		// The portal reads its two exchanges on its own server: the one
		// that succeeded and the one the provider refused.
		recs := waitRecords(t, consumer.clientAddr, "PS/GOV/CAB/portal", 2)
		byID := map[string]map[string]any{}
		for _, r := range recs {
			byID[r["messageId"].(string)] = r
			if r["clientSubsystemCode"] != "portal" || r["securityServerType"] != "Client" {
				t.Errorf("the portal reads a record of %v (%v)", r["clientSubsystemCode"], r["securityServerType"])
			}
			if _, ok := r["securityServerInternalIp"]; ok {
				t.Error("a client that is not the owner sees the internal address")
			}
		}
		ok := byID[okID]
		if ok == nil || ok["succeeded"] != true || ok["statusCode"] != float64(200) || ok["serviceCode"] != "persons" ||
			ok["messageUserId"] != "PS4001234567" || ok["restPath"] != "/v1/persons/4001" {
			t.Errorf("record of the exchange: %v", ok)
		}
		var refused map[string]any
		for _, r := range recs {
			if r["faultCode"] == "Server.ServerProxy.UnknownService" {
				refused = r
			}
		}
		if refused == nil || refused["succeeded"] != false {
			t.Errorf("no record of the refused exchange in %v", recs)
		}
		// Another client of the same server reads nothing of the portal's.
		if other := waitRecords(t, consumer.clientAddr, "PS/GOV/CAB/other", 0); len(other) != 0 {
			t.Errorf("PS/GOV/CAB/other reads %d records of other clients", len(other))
		}
		// The owner member reads every record, with the internal address.
		for _, r := range waitRecords(t, consumer.clientAddr, "PS/GOV/CAB", 2) {
			if r["securityServerInternalIp"] != "127.0.0.1" {
				t.Errorf("the owner sees internal address %v", r["securityServerInternalIp"])
			}
		}
		// A client the consumer's server does not host is refused.
		code, xe := opmonGet(t, consumer.clientAddr, "PS/GOV/MOI/civil-registry")
		if code != http.StatusInternalServerError || xe != "Server.ClientProxy.UnknownMember" {
			t.Errorf("unhosted client: %d %s", code, xe)
		}
		// The provider reads both exchanges on its server, as the
		// service provider.
		precs := waitRecords(t, provider.clientAddr, "PS/GOV/MOI/civil-registry", 2)
		for _, r := range precs {
			if r["securityServerType"] != "Producer" || r["serviceSubsystemCode"] != "civil-registry" || r["clientSubsystemCode"] != "portal" {
				t.Errorf("provider's record: %v", r)
			}
		}
	})

	t.Run("alerting rules and dashboard", func(t *testing.T) {
		root := filepath.Join("..", "..", "docs", "alerting")
		var rules struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []struct {
					Alert       string            `yaml:"alert"`
					Expr        string            `yaml:"expr"`
					For         string            `yaml:"for"`
					Labels      map[string]string `yaml:"labels"`
					Annotations map[string]string `yaml:"annotations"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		b, err := os.ReadFile(filepath.Join(root, "jisr-rules.yml"))
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&rules); err != nil {
			t.Fatalf("jisr-rules.yml: %v", err)
		}
		var exprs []string
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
					t.Errorf("rule %q in %s: alert, expr, severity and summary are required", r.Alert, g.Name)
				}
				if r.For != "" {
					if _, err := time.ParseDuration(r.For); err != nil {
						t.Errorf("rule %s: for: %v", r.Alert, err)
					}
				}
				exprs = append(exprs, r.Expr)
			}
		}
		if len(exprs) < 8 {
			t.Fatalf("only %d alerting rules", len(exprs))
		}
		dash, err := os.ReadFile(filepath.Join(root, "grafana-dashboard.json"))
		if err != nil {
			t.Fatal(err)
		}
		var d any
		if err := json.Unmarshal(dash, &d); err != nil {
			t.Fatalf("grafana-dashboard.json: %v", err)
		}
		panelExprs := collectExprs(d)
		if len(panelExprs) < 10 {
			t.Fatalf("only %d dashboard queries", len(panelExprs))
		}
		for _, e := range append(exprs, panelExprs...) {
			for _, name := range metricNames(e) {
				if !known(families, name) {
					t.Errorf("%q names %s, which no daemon exposes", strings.Join(strings.Fields(e), " "), name)
				}
			}
		}
	})
}

// waitReady polls url until it answers 200, failing with its last answer.
func waitReady(t *testing.T, name, url string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(url)
		if err != nil {
			last = err.Error()
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var h struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatalf("%s /readyz: %d %s: %v", name, resp.StatusCode, b, err)
		}
		if resp.StatusCode == http.StatusOK && h.Status == "ok" && len(h.Checks) > 0 {
			return
		}
		last = string(b)
	}
	t.Fatalf("%s is not ready: %s", name, last)
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// opmonQuery reads the operational monitoring records on the security
// server whose client listener is addr, as client; it returns the status,
// the X-Road error code and the records.
func opmonQuery(t *testing.T, addr, client string) (int, string, []map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/opmon/v1/records", nil)
	req.Header.Set("X-Road-Client", client)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, resp.Header.Get("X-Road-Error"), nil
	}
	var page struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, "", page.Records
}

func opmonGet(t *testing.T, addr, client string) (int, string) {
	t.Helper()
	code, xe, _ := opmonQuery(t, addr, client)
	return code, xe
}

// waitRecords polls until client may query (its registration has reached
// the server) and sees at least want records (written in the background).
func waitRecords(t *testing.T, addr, client string, want int) []map[string]any {
	t.Helper()
	var (
		code int
		xe   string
		recs []map[string]any
	)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if code, xe, recs = opmonQuery(t, addr, client); code == http.StatusOK && len(recs) >= want {
			return recs
		}
	}
	t.Fatalf("%s on %s: %d %s, %d records, want %d", client, addr, code, xe, len(recs), want)
	return nil
}

// metricFamilies returns the families of a text exposition with their
// types.
func metricFamilies(body string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	return out
}

// hasSample reports whether body has a sample line starting with prefix,
// containing every label pair and ending with suffix.
func hasSample(body, prefix string, labels []string, suffix string) bool {
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, suffix) {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(line, l)
		}
		if all {
			return true
		}
	}
	return false
}

// collectExprs returns every "expr" string in a Grafana dashboard.
func collectExprs(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "expr" {
				out = append(out, s)
			} else {
				out = append(out, collectExprs(e)...)
			}
		}
	case []any:
		for _, e := range x {
			out = append(out, collectExprs(e)...)
		}
	}
	return out
}

// metricRef matches the metric names jisr's daemons expose (their own and
// the Go and process collectors').
var metricRef = regexp.MustCompile(`\b(?:jisr|go|process)_[a-z0-9_]+\b`)

// metricNames returns the metric names a PromQL expression refers to.
func metricNames(expr string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range metricRef.FindAllString(expr, -1) {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// known reports whether name is a family, or a series of a histogram or
// summary family (_bucket, _sum, _count).
func known(families map[string]string, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if typ := families[base]; typ == "histogram" || (typ == "summary" && suffix != "_bucket") {
				return true
			}
		}
	}
	return false
}
