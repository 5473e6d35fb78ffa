package central

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// fixture prepares one call of an operation that its allowed roles can make
// successfully: it may create what the call needs (n is unique per call)
// and returns the path under /api/v1 and the body.
type fixture func(e *testEnv, n int) (path string, body any)

func static(path string, body any) fixture {
	return func(*testEnv, int) (string, any) { return path, body }
}

// fixtures has one entry per operation id.
func fixtures() map[string]fixture {
	mid := FormatMemberID(moi)
	return map[string]fixture{
		"getInstance":       static("/instance", nil),
		"listMemberClasses": static("/member-classes", nil),
		"addMemberClass": func(_ *testEnv, n int) (string, any) {
			return "/member-classes", MemberClass{Code: fmt.Sprintf("C%d", n), Description: "class"}
		},
		"listMembers": static("/members", nil),
		"addMember": func(_ *testEnv, n int) (string, any) {
			return "/members", NewMember{MemberClass: "GOV", MemberCode: fmt.Sprintf("M%d", n), Name: "member"}
		},
		"getMember":    static("/members/"+mid, nil),
		"updateMember": static("/members/"+mid, MemberUpdate{Name: "Ministry of the Interior"}),
		"deleteMember": func(e *testEnv, n int) (string, any) {
			id := xroad.MemberID{Instance: testInstance, Class: "GOV", Code: fmt.Sprintf("D%d", n)}
			e.must(e.store.AddMember(e.ctx, id, "to delete"))
			return "/members/" + FormatMemberID(id), nil
		},
		"addSubsystem": func(_ *testEnv, n int) (string, any) {
			return "/members/" + mid + "/subsystems", NewSubsystem{SubsystemCode: fmt.Sprintf("s%d", n)}
		},
		"deleteSubsystem": func(e *testEnv, n int) (string, any) {
			code := fmt.Sprintf("d%d", n)
			e.must(e.store.AddSubsystem(e.ctx, moi.Subsystem(code)))
			return "/members/" + mid + "/subsystems/" + code, nil
		},
		"listSecurityServers": static("/security-servers", nil),
		"getSecurityServer":   static("/security-servers/"+FormatServerID(ss1), nil),
		"deleteSecurityServer": func(e *testEnv, n int) (string, any) {
			id := xroad.ServerID{Owner: moi, Code: fmt.Sprintf("del%d", n)}
			e.must(e.store.AddSecurityServer(e.ctx, id, []string{"del.example:5500"}))
			return "/security-servers/" + FormatServerID(id), nil
		},
		"listGlobalGroups": static("/global-groups", nil),
		"addGlobalGroup": func(_ *testEnv, n int) (string, any) {
			return "/global-groups", NewGlobalGroup{Code: fmt.Sprintf("g%d", n), Description: "group"}
		},
		"getGlobalGroup": static("/global-groups/ministries", nil),
		"deleteGlobalGroup": func(e *testEnv, n int) (string, any) {
			code := fmt.Sprintf("dg%d", n)
			e.must(e.store.AddGlobalGroup(e.ctx, registry.GlobalGroup{ID: xroad.GlobalGroupID{Instance: testInstance, Code: code}}))
			return "/global-groups/" + code, nil
		},
		"addGlobalGroupMember": func(e *testEnv, n int) (string, any) {
			sub := moi.Subsystem(fmt.Sprintf("gm%d", n))
			e.must(e.store.AddSubsystem(e.ctx, sub))
			return "/global-groups/ministries/members", GroupMemberRef{Client: FormatClientID(sub)}
		},
		"removeGlobalGroupMember": func(e *testEnv, n int) (string, any) {
			code := fmt.Sprintf("rg%d", n)
			gid := xroad.GlobalGroupID{Instance: testInstance, Code: code}
			e.must(e.store.AddGlobalGroup(e.ctx, registry.GlobalGroup{ID: gid}))
			e.must(e.store.AddGroupMember(e.ctx, gid, moiSub))
			return "/global-groups/" + code + "/members/" + FormatClientID(moiSub), nil
		},
		"listApprovedCAs": static("/approved-cas", nil),
		"addApprovedCA": func(e *testEnv, n int) (string, any) {
			return "/approved-cas", NewApprovedCA{Name: fmt.Sprintf("CA %d", n), Roots: e.caPEM,
				OCSPResponders: []NewOCSPResponder{{URL: "http://ocsp.example/"}}}
		},
		"deleteApprovedCA": func(e *testEnv, n int) (string, any) {
			name := fmt.Sprintf("delca%d", n)
			e.must(e.store.AddApprovedCA(e.ctx, registry.ApprovedCA{Name: name, Roots: [][]byte{certDER(e.t, e.caPEM)}, Profile: DefaultProfile}))
			return "/approved-cas/" + name, nil
		},
		"listApprovedTSAs": static("/approved-tsas", nil),
		"addApprovedTSA": func(e *testEnv, n int) (string, any) {
			return "/approved-tsas", NewApprovedTSA{Name: fmt.Sprintf("TSA %d", n), URL: "http://tsa.example/", Certificate: e.tsaPEM}
		},
		"deleteApprovedTSA": func(e *testEnv, n int) (string, any) {
			name := fmt.Sprintf("deltsa%d", n)
			e.must(e.store.AddApprovedTSA(e.ctx, registry.ApprovedTSA{Name: name, URL: "http://tsa.example/", Cert: certDER(e.t, e.tsaPEM)}))
			return "/approved-tsas/" + name, nil
		},
		"getSettings": static("/settings", nil),
		"updateSettings": func(_ *testEnv, n int) (string, any) {
			v := int64(3600 + n)
			return "/settings", SettingsUpdate{OCSPFreshnessSeconds: &v}
		},
		"listManagementRequests": static("/management-requests?status=PENDING", nil),
		"getManagementRequest": func(e *testEnv, _ int) (string, any) {
			return "/management-requests/" + strconv.FormatInt(e.submit(), 10), nil
		},
		"approveManagementRequest": func(e *testEnv, _ int) (string, any) {
			return "/management-requests/" + strconv.FormatInt(e.submit(), 10) + "/approve", nil
		},
		"rejectManagementRequest": func(e *testEnv, _ int) (string, any) {
			return "/management-requests/" + strconv.FormatInt(e.submit(), 10) + "/reject", Rejection{Comment: "no"}
		},
		"searchCatalogue":   static("/catalogue?member="+mid+"&q=person", nil),
		"getServiceOpenAPI": static("/catalogue/"+FormatClientID(moiSub)+":persons:v1/openapi", nil),
		"listAPIKeys":       static("/api-keys", nil),
		"createAPIKey": func(_ *testEnv, n int) (string, any) {
			return "/api-keys", NewAPIKey{Name: fmt.Sprintf("key%d", n), Roles: []string{string(RoleObserver)}}
		},
		"revokeAPIKey": func(e *testEnv, n int) (string, any) {
			_, k := e.newKey(fmt.Sprintf("victim%d", n), time.Time{}, RoleObserver)
			return "/api-keys/" + strconv.FormatInt(k.ID, 10), nil
		},
		"listAuditEvents":         static("/audit?order=desc&limit=10", nil),
		"getConfigurationStatus":  static("/configuration", nil),
		"regenerateConfiguration": static("/configuration/regenerate", nil),
	}
}

// with returns a copy of e that reports to t.
func (e *testEnv) with(t *testing.T) *testEnv {
	c := *e
	c.t = t
	return &c
}

func (e *testEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// submit records a pending management request and returns its id.
func (e *testEnv) submit() int64 {
	e.t.Helper()
	r, err := e.store.SubmitRequest(e.ctx, registry.ManagementRequest{Type: registry.RequestMaintenanceOn, Server: ss1, Payload: json.RawMessage(`{}`), Signed: []byte("signed")})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.ID
}

// TestRoleMatrix calls every operation as every role, without a key, with
// an unknown, an expired and a revoked key. Allowed roles succeed (2xx);
// others get 403, bad keys 401. A refused write changes nothing (the
// registry version stays) and leaves a failure event in the audit trail; an
// allowed write leaves a success event.
func TestRoleMatrix(t *testing.T) {
	e := newTestEnv(t)
	if _, _, err := e.pub.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	type caller struct {
		name, secret string
		role         Role // "" for the bad keys
		want         int  // for bad keys
	}
	var callers []caller
	for _, r := range AllRoles() {
		s, _ := e.newKey("key-"+string(r), time.Time{}, r)
		callers = append(callers, caller{name: string(r), secret: s, role: r})
	}
	expired, _ := e.newKey("expired", t0.Add(time.Minute), AllRoles()...)
	revoked, rk := e.newKey("revoked", time.Time{}, AllRoles()...)
	e.must(e.store.RevokeAPIKey(e.ctx, rk.ID))
	e.clk.Add(2 * time.Minute)
	callers = append(callers,
		caller{name: "no key", want: http.StatusUnauthorized},
		caller{name: "unknown key", secret: NewAPIKeySecret(), want: http.StatusUnauthorized},
		caller{name: "expired key", secret: expired, want: http.StatusUnauthorized},
		caller{name: "revoked key", secret: revoked, want: http.StatusUnauthorized},
	)

	fx := fixtures()
	n := 0
	for _, op := range e.api.ops {
		f, ok := fx[op.id]
		if !ok {
			t.Errorf("no fixture for %s", op.id)
			continue
		}
		t.Run(op.id, func(t *testing.T) {
			for _, c := range callers {
				t.Run(c.name, func(t *testing.T) {
					e := e.with(t)
					n++
					path, body := f(e, n)
					want := c.want
					if c.role != "" {
						want = http.StatusForbidden
						if slices.Contains(op.roles, c.role) {
							want = 0 // any 2xx
						}
					}
					before := e.version()
					lastAudit := e.lastAuditID()
					code, resp := e.do(op.method, APIPrefix+path, c.secret, body)
					switch {
					case want == 0 && (code < 200 || code > 299):
						t.Fatalf("%s %s: got %d %s, want 2xx", op.method, path, code, resp)
					case want != 0 && code != want:
						t.Fatalf("%s %s: got %d %s, want %d", op.method, path, code, resp, want)
					}
					if op.action == "" {
						return
					}
					ev := e.auditAfter(lastAudit)
					if want != 0 {
						if v := e.version(); v != before {
							t.Errorf("refused write changed the registry version %d → %d", before, v)
						}
						if ev == nil || ev.Outcome != registry.OutcomeFailure || ev.Action != op.action {
							t.Fatalf("refused write: audit event %+v, want a failure of %s", ev, op.action)
						}
						var d struct{ Status int }
						if err := json.Unmarshal(ev.Detail, &d); err != nil || d.Status != want {
							t.Errorf("refused write: audit detail %s, want status %d", ev.Detail, want)
						}
						return
					}
					if ev == nil || ev.Outcome != registry.OutcomeSuccess || ev.Action != op.action || ev.Actor != "key-"+string(c.role) {
						t.Fatalf("allowed write: audit event %+v, want a success of %s by key-%s", ev, op.action, c.role)
					}
				})
			}
		})
	}
}

func (e *testEnv) version() int64 {
	e.t.Helper()
	v, err := e.store.Version(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *testEnv) lastAuditID() int64 {
	e.t.Helper()
	evs, err := e.store.AuditEvents(e.ctx, registry.AuditQuery{NewestFirst: true, Limit: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(evs) == 0 {
		return 0
	}
	return evs[0].ID
}

// auditAfter returns the only audit event after id, or nil.
func (e *testEnv) auditAfter(id int64) *registry.AuditEvent {
	e.t.Helper()
	evs, err := e.store.AuditEvents(e.ctx, registry.AuditQuery{AfterID: id})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(evs) != 1 {
		e.t.Errorf("%d audit events after %d, want 1: %+v", len(evs), id, evs)
		if len(evs) == 0 {
			return nil
		}
	}
	return &evs[len(evs)-1]
}
