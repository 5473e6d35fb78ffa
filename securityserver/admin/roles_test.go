package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// fixture prepares one call of an operation that its allowed roles can
// make successfully: it may create what the call needs (n is unique per
// call) directly in the store, and returns the path under /api/v1 and the
// body.
type fixture func(e *testEnv, n int) (path string, body any)

func static(path string, body any) fixture {
	return func(*testEnv, int) (string, any) { return path, body }
}

const (
	civilID   = "PS:GOV:MOI:civil-registry"
	personsID = civilID + ":persons"
)

// addTestClient stores a client with the given code and status.
func (e *testEnv) addTestClient(code string, s conf.ClientStatus) xroad.ClientID {
	e.t.Helper()
	id := moi.Subsystem(code)
	e.must(e.store.AddClient(e.ctx, conf.Client{ID: id, Connection: conf.ConnHTTP, Status: s, BodyLogging: conf.BodyLoggingFull}))
	return id
}

// certPEM returns a fresh certificate (and its SHA-256) from the test PKI.
func (e *testEnv) certPEM(cn string) (string, string) {
	e.t.Helper()
	key, tmpl := e.backend.pki.LeafTemplate(e.t, profile.Sign, moi)
	tmpl.Subject.CommonName = cn
	c := e.backend.pki.Issue(e.t, tmpl, key.Public())
	sum := sha256.Sum256(c.Raw)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})), hex.EncodeToString(sum[:])
}

// fixtures has one entry per operation id.
func fixtures() map[string]fixture {
	return map[string]fixture{
		"listClients": static("/clients", nil),
		"addClient": func(_ *testEnv, n int) (string, any) {
			return "/clients", NewClient{Client: fmt.Sprintf("PS/GOV/MOI/c%d", n), BodyLogging: "METADATA_ONLY"}
		},
		"getClient":    static("/clients/"+civilID, nil),
		"updateClient": static("/clients/"+civilID, ClientUpdate{BodyLogging: "METADATA_ONLY"}),
		"deleteClient": func(e *testEnv, n int) (string, any) {
			return "/clients/" + FormatClientID(e.addTestClient(fmt.Sprintf("d%d", n), conf.StatusSaved)), nil
		},
		"registerClient": func(e *testEnv, n int) (string, any) {
			return "/clients/" + FormatClientID(e.addTestClient(fmt.Sprintf("r%d", n), conf.StatusSaved)) + "/register", nil
		},
		"unregisterClient": func(e *testEnv, n int) (string, any) {
			return "/clients/" + FormatClientID(e.addTestClient(fmt.Sprintf("u%d", n), conf.StatusRegistered)) + "/unregister", nil
		},
		"listTLSCertificates": static("/clients/"+civilID+"/tls-certificates", nil),
		"addTLSCertificate": func(e *testEnv, n int) (string, any) {
			p, _ := e.certPEM(fmt.Sprintf("is-%d", n))
			return "/clients/" + civilID + "/tls-certificates", NewCertificate{PEM: p}
		},
		"deleteTLSCertificate": func(e *testEnv, n int) (string, any) {
			p, h := e.certPEM(fmt.Sprintf("del-is-%d", n))
			b, _ := pem.Decode([]byte(p))
			_, err := e.store.(conf.ISCertStore).AddISCertificate(e.ctx, moiSub, b.Bytes)
			e.must(err)
			return "/clients/" + civilID + "/tls-certificates/" + h, nil
		},
		"getInternalTLSCertificate": static("/internal-tls-certificate", nil),

		"listLocalGroups": static("/clients/"+civilID+"/local-groups", nil),
		"addLocalGroup": func(_ *testEnv, n int) (string, any) {
			return "/clients/" + civilID + "/local-groups", NewLocalGroup{Code: fmt.Sprintf("g%d", n), Description: "group"}
		},
		"getLocalGroup": static("/clients/"+civilID+"/local-groups/ministries", nil),
		"deleteLocalGroup": func(e *testEnv, n int) (string, any) {
			code := fmt.Sprintf("dg%d", n)
			e.must(e.store.AddLocalGroup(e.ctx, conf.LocalGroup{Client: moiSub, Code: code}))
			return "/clients/" + civilID + "/local-groups/" + code, nil
		},
		"addLocalGroupMember": func(_ *testEnv, n int) (string, any) {
			return "/clients/" + civilID + "/local-groups/ministries/members", GroupMember{Member: fmt.Sprintf("PS/GOV/M%d/sub", n)}
		},
		"removeLocalGroupMember": func(e *testEnv, n int) (string, any) {
			m := xroad.MemberID{Instance: "PS", Class: "GOV", Code: fmt.Sprintf("R%d", n)}.Subsystem("sub")
			e.must(e.store.AddLocalGroupMember(e.ctx, moiSub, "ministries", m))
			return "/clients/" + civilID + "/local-groups/ministries/members/" + FormatClientID(m), nil
		},

		"listServices": static("/clients/"+civilID+"/services", nil),
		"addService": func(e *testEnv, n int) (string, any) {
			return "/services", NewServiceRequest{Provider: "PS/GOV/MOI/civil-registry", Code: fmt.Sprintf("s%d", n),
				URL: "http://backend.moi.test/", OpenAPIURL: e.docs.URL + "/persons.yaml"}
		},
		"getService": static("/services/"+personsID, nil),
		"updateService": func(_ *testEnv, n int) (string, any) {
			t := 10 + n
			return "/services/" + personsID, ServiceUpdate{TimeoutSeconds: &t}
		},
		"deleteService": func(e *testEnv, n int) (string, any) {
			code := fmt.Sprintf("del%d", n)
			_, err := e.store.AddServiceDescription(e.ctx, conf.ServiceDescription{Client: moiSub, Type: conf.DescriptionREST,
				Services: []conf.Service{{Code: code, URL: "http://backend.moi.test/", Timeout: time.Second}}})
			e.must(err)
			return "/services/" + civilID + ":" + code, nil
		},
		"refreshService":    static("/services/"+personsID+"/refresh", nil),
		"getServiceOpenAPI": static("/services/"+personsID+"/openapi", nil),

		"listAccessRights": static("/services/"+personsID+"/access-rights", nil),
		"grantAccessRight": func(_ *testEnv, n int) (string, any) {
			return "/access-rights", AccessRequest{Provider: "PS/GOV/MOI/civil-registry", Service: "persons",
				Subject: fmt.Sprintf("SUBSYSTEM:PS/GOV/CAB/p%d", n)}
		},
		"revokeAccessRight": func(e *testEnv, n int) (string, any) {
			subj := xroad.MemberID{Instance: "PS", Class: "GOV", Code: "CAB"}.Subsystem(fmt.Sprintf("r%d", n))
			e.must(e.store.AddAccessRight(e.ctx, conf.AccessRight{Provider: moiSub, ServiceCode: "persons", Subject: subj}))
			return "/services/" + personsID + "/access-rights?subject=" + subj.Typed(), nil
		},

		"listKeys": static("/keys", nil),
		"generateSignKey": func(_ *testEnv, n int) (string, any) {
			return "/keys", NewSignKey{Member: fmt.Sprintf("PS:GOV:K%d", n)}
		},
		"createCSR":               static("/keys/auth/csr", CSRRequest{DNSNames: []string{"ss1.moi.ps"}}),
		"enrolCertificate":        static("/keys/sign-GOV-MOI/enrol", EnrolRequest{CAURL: "https://ca.ps.test:4443", Token: "one-time"}),
		"renewCertificate":        static("/keys/auth/renew", RenewRequest{CAURL: "https://ca.ps.test:4443"}),
		"registerAuthCertificate": static("/keys/auth/register", nil),
		"activateAuthCertificate": func(e *testEnv, _ int) (string, any) {
			if _, err := e.backend.reissue("auth"); err != nil {
				e.t.Fatal(err)
			}
			return "/keys/auth/activate", nil
		},
		"importCertificate": func(e *testEnv, _ int) (string, any) {
			key := e.backend.signers["sign-GOV-MOI"]
			_, tmpl := e.backend.pki.LeafTemplate(e.t, profile.Sign, moi)
			c := e.backend.pki.Issue(e.t, tmpl, key.Public())
			return "/certificates", NewCertificate{PEM: chainPEM(append(slicesOf(c), e.backend.pki.Issuer))}
		},

		"getMessageLogSettings": static("/message-log/settings", nil),
		"searchMessageLog":      static("/message-log/records?messageId=msg-1&limit=2", nil),
		"exportEvidence":        static("/message-log/exchanges/msg-1/evidence", nil),

		"listAPIKeys": static("/api-keys", nil),
		"createAPIKey": func(_ *testEnv, n int) (string, any) {
			return "/api-keys", NewAPIKey{Name: fmt.Sprintf("key%d", n), Roles: []string{string(RoleObserver)}}
		},
		"revokeAPIKey": func(e *testEnv, n int) (string, any) {
			_, k := e.newKey(fmt.Sprintf("victim%d", n), time.Time{}, RoleObserver)
			return "/api-keys/" + strconv.FormatInt(k.ID, 10), nil
		},
		"listAuditEvents": static("/audit?order=desc&limit=10", nil),
	}
}

// TestRoleMatrix calls every operation as every role, without a key, and
// with an unknown, an expired and a revoked key. Allowed roles succeed
// (2xx); others get 403, bad keys 401. Every answer fits openapi.yaml. A
// refused call changes nothing (the backend sees no write) and, for an
// audited operation, leaves one failure event; an allowed audited call
// leaves one completed success event naming the key; reads other than the
// message log's leave none.
func TestRoleMatrix(t *testing.T) {
	e := newTestEnv(t)
	spec := newSpecValidator(t)
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
	if _, err := e.admin.RevokeAPIKey(e.ctx, rk.ID); err != nil {
		t.Fatal(err)
	}
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
					writes := e.backend.writes.Load()
					lastAudit := e.lastAuditID()
					var reqBody []byte
					if body != nil {
						reqBody, _ = json.Marshal(body)
					}
					resp, got := e.do(op.method, APIPrefix+path, c.secret, body)
					switch {
					case want == 0 && (resp.StatusCode < 200 || resp.StatusCode > 299):
						t.Fatalf("%s %s: got %d %s, want 2xx", op.method, path, resp.StatusCode, got)
					case want != 0 && resp.StatusCode != want:
						t.Fatalf("%s %s: got %d %s, want %d", op.method, path, resp.StatusCode, got, want)
					}
					spec.check(t, op.method, APIPrefix+path, reqBody, resp, got)
					evs := e.auditAfter(lastAudit)
					if want != 0 {
						if w := e.backend.writes.Load(); w != writes {
							t.Errorf("refused call reached the backend (%d writes)", w-writes)
						}
						if resp.Header.Get("X-Road-Error") == "" {
							t.Error("refusal without X-Road-Error")
						}
						if op.action == "" {
							if len(evs) != 0 {
								t.Errorf("refused unaudited read left audit events %+v", evs)
							}
							return
						}
						if len(evs) != 1 || evs[0].Outcome != conf.AuditFailure || evs[0].Action != op.action {
							t.Fatalf("refused call: audit events %+v, want one failure of %s", evs, op.action)
						}
						var d struct{ Status int }
						if err := json.Unmarshal(evs[0].Detail, &d); err != nil || d.Status != want {
							t.Errorf("refused call: audit detail %s, want status %d", evs[0].Detail, want)
						}
						return
					}
					if op.action == "" {
						if len(evs) != 0 {
							t.Errorf("unaudited read left audit events %+v", evs)
						}
						return
					}
					if len(evs) != 1 {
						t.Fatalf("allowed call: %d audit events %+v, want 1", len(evs), evs)
					}
					ev := evs[0]
					if ev.Outcome != conf.AuditSuccess || ev.Action != op.action || ev.Actor != "key-"+string(c.role) ||
						ev.CompletedAt.IsZero() || ev.KeyID == 0 || ev.Target == "" {
						t.Fatalf("allowed call: audit event %+v, want a completed success of %s by key-%s", ev, op.action, c.role)
					}
				})
			}
		})
	}
}

func slicesOf[T any](v ...T) []T { return v }
