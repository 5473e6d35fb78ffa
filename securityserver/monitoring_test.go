package securityserver

import (
	"crypto/x509"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// TestConfigMonitoring checks the opmon and readiness sections of ss.yaml:
// defaults and refusals.
func TestConfigMonitoring(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(*Config)
		wantErr string
		check   func(t *testing.T, c *Config)
	}{
		{"defaults", func(*Config) {}, "", func(t *testing.T, c *Config) {
			if c.Opmon.RetentionDays != 7 || c.Readiness.CertificateExpiryDays != 14 || c.Opmon.monitoringClient != (xroad.ClientID{}) {
				t.Errorf("defaults: %+v %+v", c.Opmon, c.Readiness)
			}
		}},
		{"monitoring client", func(c *Config) { c.Opmon.MonitoringClient = "PS/GOV/CAB/monitoring" }, "", func(t *testing.T, c *Config) {
			if want := (xroad.ClientID{Instance: "PS", Class: "GOV", Code: "CAB", Subsystem: "monitoring"}); c.Opmon.monitoringClient != want {
				t.Errorf("monitoring client %v", c.Opmon.monitoringClient)
			}
		}},
		{"retention set", func(c *Config) { c.Opmon.RetentionDays = 30 }, "", func(t *testing.T, c *Config) {
			if c.Opmon.RetentionDays != 30 {
				t.Errorf("retention %d", c.Opmon.RetentionDays)
			}
		}},
		{"malformed monitoring client", func(c *Config) { c.Opmon.MonitoringClient = "PS/GOV" }, "opmon.monitoringClient", nil},
		{"negative retention", func(c *Config) { c.Opmon.RetentionDays = -1 }, "opmon.retentionDays", nil},
		{"negative expiry days", func(c *Config) { c.Readiness.CertificateExpiryDays = -3 }, "readiness.certificateExpiryDays", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, &c)
		})
	}
}

// TestExpiring checks the readiness rule for certificates.
func TestExpiring(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, c := range []struct {
		notAfter time.Time
		fail     bool
	}{
		{now.Add(30 * day), false},
		{now.Add(14*day + time.Minute), false},
		{now.Add(13 * day), true},
		{now.Add(-day), true},
	} {
		err := expiring(&x509.Certificate{NotAfter: c.notAfter}, now, 14*day)
		if (err != nil) != c.fail {
			t.Errorf("notAfter %v: %v, want failure %v", c.notAfter, err, c.fail)
		}
	}
	if expiring(nil, now, day) == nil {
		t.Error("no certificate passes")
	}
}

// TestCertExpiryCollector checks jisr_ss_certificate_expires_in_seconds.
func TestCertExpiryCollector(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	moi := xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	c := &certExpiry{
		clk:    clock.NewFake(now),
		server: xroad.ServerID{Owner: moi, Code: "ss1"},
		auth:   func() *x509.Certificate { return &x509.Certificate{NotAfter: now.Add(time.Hour)} },
		sign:   map[xroad.MemberID]*x509.Certificate{moi: {NotAfter: now.Add(-time.Minute)}},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[labels(m)] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{"auth PS/GOV/MOI/ss1": 3600, "sign PS/GOV/MOI": -60}
	for k, v := range want {
		if math.Abs(got[k]-v) > 1e-9 {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func labels(m *dto.Metric) string {
	var kind, id string
	for _, l := range m.GetLabel() {
		switch l.GetName() {
		case "kind":
			kind = l.GetValue()
		case "id":
			id = l.GetValue()
		}
	}
	return kind + " " + id
}

// TestClientHandlerDispatch checks that /opmon/v1/ goes to the query API
// and everything else, r1 paths with dot segments or double slashes
// included, reaches the client proxy untouched.
func TestClientHandlerDispatch(t *testing.T) {
	var got []string
	rec := func(name string) http.Handler {
		return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = append(got, name+" "+r.URL.RawPath+r.URL.Path) })
	}
	s := &Service{mon: &monitoring{handler: rec("opmon")}}
	h := s.dispatch(rec("client"))
	for _, path := range []string{"/opmon/v1/records", "/r1/PS/GOV/MOI/civil-registry/persons/../x", "//r1/x", "/listClients", "/opmon/v2/x"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "http://ss"+path, nil))
	}
	want := []string{"opmon /opmon/v1/records", "client /r1/PS/GOV/MOI/civil-registry/persons/../x", "client //r1/x",
		"client /listClients", "client /opmon/v2/x"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("dispatched\n%v\nwant\n%v", got, want)
	}
}
