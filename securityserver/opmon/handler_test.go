package opmon

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/proxy"
)

var (
	mot       = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOT"}
	licensing = mot.Subsystem("licensing")
	monitor   = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "CAB"}.Subsystem("monitoring")
)

// TestAccessScope is X-Road's rule as a table: the owner member and the
// monitoring client see everything; anyone else, the owner's subsystems
// included, sees only the records it takes part in.
func TestAccessScope(t *testing.T) {
	a := Access{Owner: cab, MonitoringClient: monitor}
	rec := func(client, provider xroad.ClientID) *Record {
		return &Record{Client: client, Service: xroad.ServiceID{Provider: provider, Code: "persons"}}
	}
	refused := &Record{} // refused before client and service were known
	for _, c := range []struct {
		name    string
		access  Access
		caller  xroad.ClientID
		all     bool
		visible map[*Record]bool
	}{
		{"owner member reads all", a, cab.Client(), true,
			map[*Record]bool{rec(portal, civil): true, rec(licensing, civil): true, refused: true}},
		{"monitoring client reads all", a, monitor, true,
			map[*Record]bool{rec(licensing, civil): true, refused: true}},
		{"owner's subsystem is not the owner", a, portal, false,
			map[*Record]bool{rec(portal, civil): true, rec(licensing, civil): false, refused: false}},
		{"client reads its own requests", a, portal, false,
			map[*Record]bool{rec(portal, civil): true, rec(other, civil): false}},
		{"provider reads requests to its services", a, civil, false,
			map[*Record]bool{rec(portal, civil): true, rec(licensing, civil): true, rec(portal, licensing): false}},
		{"a member does not read its subsystems' records", a, moi.Client(), false,
			map[*Record]bool{rec(portal, civil): false, rec(moi.Client(), licensing): true}},
		{"another client reads nothing of others", a, other, false,
			map[*Record]bool{rec(portal, civil): false, rec(licensing, civil): false, refused: false}},
		{"monitoring client's member is not the monitoring client", Access{Owner: moi, MonitoringClient: monitor}, monitor.Member().Client(), false,
			map[*Record]bool{rec(portal, civil): false}},
		{"no monitoring client configured", Access{Owner: moi}, monitor, false,
			map[*Record]bool{rec(portal, civil): false, rec(monitor, civil): true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := c.access.Scope(c.caller)
			if s.All != c.all {
				t.Fatalf("All = %v, want %v", s.All, c.all)
			}
			for r, want := range c.visible {
				if got := s.Visible(r); got != want {
					t.Errorf("record %v → %v: visible %v, want %v", r.Client, r.Service.Provider, got, want)
				}
			}
		})
	}
}

// isClients is proxy.LocalClients: hosted clients, some of whose
// information systems are refused.
type isClients struct {
	hosted map[xroad.ClientID]bool
	refuse map[xroad.ClientID]error
}

func (c isClients) Hosted(id xroad.ClientID) bool { return c.hosted[id] }
func (c isClients) AuthorizeIS(id xroad.ClientID, _ *http.Request) error {
	return c.refuse[id]
}

// apiWorld is a query API over a SQLite store holding the exchanges of a
// provider security server of MOI (owner) and a consumer's view.
type apiWorld struct {
	t   *testing.T
	srv *httptest.Server
	ids map[string]int64
}

func newAPIWorld(t *testing.T) *apiWorld {
	t.Helper()
	s := storetest.Open(t, func() (Store, error) { return OpenSQLite(t.Context(), storetest.SQLitePath(t)) })
	mk := func(id string, at time.Time, client, provider xroad.ClientID, side proxy.Side) Record {
		ev := event(side, id)
		ev.Client, ev.Service = client, xroad.ServiceID{Provider: provider, Code: "persons"}
		return FromEvent(ev, at, nil)
	}
	recs := []Record{
		mk("p1", t0, portal, civil, proxy.ServerSide),
		mk("l1", t0.Add(10*time.Second), licensing, civil, proxy.ServerSide),
		mk("p2", t0.Add(20*time.Second), portal, civil, proxy.ServerSide),
		mk("c1", t0.Add(30*time.Second), civil, licensing, proxy.ClientSide),
		mk("p3", t0.Add(40*time.Second), portal, civil, proxy.ServerSide),
	}
	if err := s.Insert(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	w := &apiWorld{t: t, ids: map[string]int64{}}
	for _, r := range recs {
		w.ids[r.MessageID] = r.ID
	}
	clients := isClients{
		hosted: map[xroad.ClientID]bool{portal: true, civil: true, licensing: true, other: true, moi.Client(): true,
			monitor: true, cab.Client(): true},
		refuse: map[xroad.ClientID]error{cab.Client(): xerr.New("Server.ClientProxy.SslAuthenticationFailed", "must connect over HTTPS", nil)},
	}
	h, err := NewHandler(HandlerConfig{Records: s, Clients: clients, Access: Access{Owner: moi, MonitoringClient: monitor},
		Clock: clock.NewFake(t0.Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewServer(h)
	t.Cleanup(w.srv.Close)
	return w
}

type answer struct {
	status int
	code   string
	page   struct {
		Records    []map[string]any `json:"records"`
		NextCursor string           `json:"nextCursor"`
	}
}

func (w *apiWorld) get(client, query string) answer {
	w.t.Helper()
	req, err := http.NewRequestWithContext(w.t.Context(), http.MethodGet, w.srv.URL+RecordsPath+query, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if client != "" {
		req.Header.Set(proxy.HeaderClient, client)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, code: resp.Header.Get(xerr.HeaderError)}
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&a.page); err != nil {
			w.t.Fatal(err)
		}
	}
	return a
}

func messageIDs(a answer) string {
	var out []string
	for _, r := range a.page.Records {
		out = append(out, r["messageId"].(string))
	}
	return strings.Join(out, ",")
}

// TestHandlerAccess runs the access rule over HTTP: a client never reads
// another client's records.
func TestHandlerAccess(t *testing.T) {
	w := newAPIWorld(t)
	for _, c := range []struct {
		caller, want string
		internalIP   bool
	}{
		{"PS/GOV/MOI", "p1,l1,p2,c1,p3", true},                 // owner
		{"PS/GOV/CAB/monitoring", "p1,l1,p2,c1,p3", true},      // monitoring client
		{"PS/GOV/CAB/portal", "p1,p2,p3", false},               // client of its requests
		{"PS/GOV/MOI/civil-registry", "p1,l1,p2,c1,p3", false}, // provider of p*, l1; client of c1
		{"PS/GOV/MOT/licensing", "l1,c1", false},               // client of l1, provider of c1
		{"PS/GOV/CAB/other", "", false},                        // takes part in nothing
	} {
		t.Run(c.caller, func(t *testing.T) {
			a := w.get(c.caller, "")
			if a.status != http.StatusOK {
				t.Fatalf("status %d %s", a.status, a.code)
			}
			if got := messageIDs(a); got != c.want {
				t.Errorf("read %q, want %q", got, c.want)
			}
			for _, r := range a.page.Records {
				if _, ok := r["securityServerInternalIp"]; ok != c.internalIP {
					t.Errorf("internal IP shown: %v, want %v", ok, c.internalIP)
				}
			}
		})
	}
}

// TestHandlerRecordFields checks the PR-OPMON names and units of one
// record.
func TestHandlerRecordFields(t *testing.T) {
	w := newAPIWorld(t)
	a := w.get("PS/GOV/MOI", "?limit=1")
	if a.status != http.StatusOK || len(a.page.Records) != 1 {
		t.Fatalf("status %d, %d records", a.status, len(a.page.Records))
	}
	r := a.page.Records[0]
	for k, want := range map[string]any{
		"monitoringDataTs": float64(t0.Unix()), "securityServerType": "Producer", "securityServerInternalIp": "10.0.0.7",
		"requestInTs": float64(t0.UnixMilli()), "responseInTs": float64(t0.Add(30 * time.Millisecond).UnixMilli()),
		"clientXRoadInstance": "PS", "clientMemberClass": "GOV", "clientMemberCode": "CAB", "clientSubsystemCode": "portal",
		"serviceMemberCode": "MOI", "serviceSubsystemCode": "civil-registry", "serviceCode": "persons",
		"restMethod": "GET", "restPath": "/v1/persons/4001", "representedPartyClass": "GOV", "representedPartyCode": "MOH",
		"messageId": "p1", "messageUserId": "PS4001", "messageIssue": "ticket-17", "messageProtocolVersion": "jisr/1",
		"requestSize": float64(0), "responseSize": float64(77), "succeeded": true, "statusCode": float64(200), "xRequestId": "req-p1",
	} {
		if r[k] != want {
			t.Errorf("%s = %v (%T), want %v", k, r[k], r[k], want)
		}
	}
	for _, k := range []string{"faultCode", "faultString", "serviceVersion"} {
		if _, ok := r[k]; ok {
			t.Errorf("%s present for a successful unversioned exchange", k)
		}
	}
}

// TestHandlerPaging pages through with the opaque cursor.
func TestHandlerPaging(t *testing.T) {
	w := newAPIWorld(t)
	var got []string
	query := "?limit=2"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		a := w.get("PS/GOV/MOI", query)
		if a.status != http.StatusOK {
			t.Fatalf("status %d %s", a.status, a.code)
		}
		if ids := messageIDs(a); ids != "" {
			got = append(got, ids)
		}
		if a.page.NextCursor == "" {
			break
		}
		query = "?limit=2&cursor=" + a.page.NextCursor
	}
	if strings.Join(got, "|") != "p1,l1|p2,c1|p3" {
		t.Errorf("pages %v", got)
	}
	// The portal's pages skip what it may not see.
	a := w.get("PS/GOV/CAB/portal", "?limit=1")
	b := w.get("PS/GOV/CAB/portal", "?limit=5&cursor="+a.page.NextCursor)
	if messageIDs(a) != "p1" || messageIDs(b) != "p2,p3" || b.page.NextCursor != "" {
		t.Errorf("portal pages %q %q (next %q)", messageIDs(a), messageIDs(b), b.page.NextCursor)
	}
}

// TestHandlerQuery checks the time range and the service provider filter.
func TestHandlerQuery(t *testing.T) {
	w := newAPIWorld(t)
	s := func(d time.Duration) string { return strconv.FormatInt(t0.Add(d).Unix(), 10) }
	for _, c := range []struct{ query, want string }{
		{"?from=" + s(10*time.Second), "l1,p2,c1,p3"},
		{"?to=" + s(20*time.Second), "p1,l1,p2"}, // to is inclusive
		{"?from=" + s(10*time.Second) + "&to=" + s(30*time.Second), "l1,p2,c1"},
		{"?client=PS/GOV/MOT/licensing", "c1"},
		{"?client=PS/GOV/MOI/civil-registry&from=" + s(time.Second), "l1,p2,p3"},
	} {
		t.Run(c.query, func(t *testing.T) {
			a := w.get("PS/GOV/MOI", c.query)
			if a.status != http.StatusOK || messageIDs(a) != c.want {
				t.Errorf("status %d %s, read %q, want %q", a.status, a.code, messageIDs(a), c.want)
			}
		})
	}
}

// TestHandlerRefusals checks the X-Road errors of the query API.
func TestHandlerRefusals(t *testing.T) {
	w := newAPIWorld(t)
	for _, c := range []struct {
		name, client, query, code string
		status                    int
	}{
		{"no X-Road-Client", "", "", "Client.MissingHeaderField", 400},
		{"malformed client", "PS/GOV", "", "Client.BadRequest", 400},
		{"client not hosted here", "PS/GOV/MOH/insurance", "", "Server.ClientProxy.UnknownMember", 500},
		{"information system not authorised", "PS/GOV/CAB", "", "Server.ClientProxy.SslAuthenticationFailed", 500},
		{"from not a number", "PS/GOV/MOI", "?from=yesterday", "Client.BadRequest", 400},
		{"to before from", "PS/GOV/MOI", "?from=100&to=50", "Client.BadRequest", 400},
		{"limit zero", "PS/GOV/MOI", "?limit=0", "Client.BadRequest", 400},
		{"limit too large", "PS/GOV/MOI", "?limit=1001", "Client.BadRequest", 400},
		{"forged cursor", "PS/GOV/MOI", "?cursor=AAAA", "Client.BadRequest", 400},
		{"unknown parameter", "PS/GOV/MOI", "?party=PS/GOV/CAB/portal", "Client.BadRequest", 400},
		{"repeated parameter", "PS/GOV/MOI", "?limit=1&limit=2", "Client.BadRequest", 400},
		{"malformed client filter", "PS/GOV/MOI", "?client=PS", "Client.BadRequest", 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := w.get(c.client, c.query)
			if a.status != c.status || a.code != c.code {
				t.Errorf("got %d %s, want %d %s", a.status, a.code, c.status, c.code)
			}
		})
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{{http.MethodPost, RecordsPath, http.StatusMethodNotAllowed}, {http.MethodGet, "/opmon/v1/health", http.StatusNotFound}} {
		req, _ := http.NewRequestWithContext(t.Context(), c.method, w.srv.URL+c.path, nil)
		req.Header.Set(proxy.HeaderClient, "PS/GOV/MOI")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.status)
		}
	}
}
