package mgmt_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/central/mgmt"
	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/mgmtproto/mgmttest"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// TestSubmitAndApply submits every request type, with and without
// auto-approval, and checks its effect on the registry.
func TestSubmitAndApply(t *testing.T) {
	tests := []struct {
		name string
		typ  mgmtproto.Type
		edit func(e *env, r *mgmtproto.Request)
		// check inspects the registry; applied says whether the request
		// should have taken effect yet.
		check func(e *env, applied bool)
	}{
		{"authCertRegistration of a new server", mgmtproto.TypeAuthCertRegistration, nil, func(e *env, applied bool) {
			srv, err := e.store.SecurityServer(e.ctx, ss2)
			if !applied {
				if !errors.Is(err, registry.ErrNotFound) {
					e.t.Errorf("ss2 exists before approval: %v", err)
				}
				return
			}
			e.must(err)
			if !slices.Equal(srv.Addresses, []string{"ss2.moi.ps:5500"}) || len(srv.AuthCerts) != 1 || string(srv.AuthCerts[0].DER) != string(e.authSS2.Cert.Raw) {
				e.t.Errorf("ss2 = %+v", srv)
			}
		}},
		{"authCertRegistration of a second certificate", mgmtproto.TypeAuthCertRegistration, func(e *env, r *mgmtproto.Request) {
			r.Server = ss1
			r.Addresses = []string{"ignored.example:5500"}
			r.AuthCert = e.issueAuth(ss1).Cert.Raw
		}, func(e *env, applied bool) {
			srv, err := e.store.SecurityServer(e.ctx, ss1)
			e.must(err)
			want := 1
			if applied {
				want = 2
			}
			if len(srv.AuthCerts) != want || srv.Addresses[0] != "ss1.moi.ps:5500" {
				e.t.Errorf("ss1 = %+v, want %d auth certs and the old address", srv, want)
			}
		}},
		{"clientRegistration of a new subsystem", mgmtproto.TypeClientRegistration, nil, func(e *env, applied bool) {
			m, err := e.store.Member(e.ctx, moi)
			e.must(err)
			srv, err := e.store.SecurityServer(e.ctx, ss1)
			e.must(err)
			if got := slices.Contains(m.Subsystems, "passports") && slices.Contains(srv.Clients, passports); got != applied {
				e.t.Errorf("passports created and registered = %v, want %v", got, applied)
			}
		}},
		{"clientRegistration of another member's subsystem", mgmtproto.TypeClientRegistration, func(e *env, r *mgmtproto.Request) {
			r.Client = tax
		}, func(e *env, applied bool) {
			hosts, err := e.store.ServersHosting(e.ctx, tax)
			e.must(err)
			if got := slices.Contains(hosts, ss1); got != applied {
				e.t.Errorf("tax on ss1 = %v, want %v", got, applied)
			}
		}},
		{"clientDeletion", mgmtproto.TypeClientDeletion, nil, func(e *env, applied bool) {
			hosts, err := e.store.ServersHosting(e.ctx, civil)
			e.must(err)
			if got := !slices.Contains(hosts, ss1); got != applied {
				e.t.Errorf("civil-registry removed from ss1 = %v, want %v", got, applied)
			}
		}},
		{"addressChange", mgmtproto.TypeAddressChange, nil, func(e *env, applied bool) {
			srv, err := e.store.SecurityServer(e.ctx, ss1)
			e.must(err)
			if got := slices.Equal(srv.Addresses, []string{"ss1.moi.ps:5501", "10.1.1.1:5500"}); got != applied {
				e.t.Errorf("addresses %v, applied %v", srv.Addresses, applied)
			}
		}},
		{"maintenanceOn", mgmtproto.TypeMaintenanceOn, nil, func(e *env, applied bool) {
			srv, err := e.store.SecurityServer(e.ctx, ss1)
			e.must(err)
			if srv.Maintenance != applied {
				e.t.Errorf("maintenance %v, want %v", srv.Maintenance, applied)
			}
		}},
		{"maintenanceOff", mgmtproto.TypeMaintenanceOff, func(e *env, r *mgmtproto.Request) {
			e.must(e.store.SetMaintenance(e.ctx, ss1, true))
		}, func(e *env, applied bool) {
			srv, err := e.store.SecurityServer(e.ctx, ss1)
			e.must(err)
			if srv.Maintenance == applied {
				e.t.Errorf("maintenance %v after applied=%v", srv.Maintenance, applied)
			}
		}},
		{"serviceDescriptionPublish", mgmtproto.TypeServiceDescriptionPublish, nil, func(e *env, applied bool) {
			d, err := e.store.ServiceDescription(e.ctx, persons)
			if !applied {
				if !errors.Is(err, registry.ErrNotFound) {
					e.t.Errorf("description exists before approval: %v", err)
				}
				return
			}
			e.must(err)
			if d.Type != registry.ServiceOpenAPI || d.Title != "Persons" || string(d.Document) != validOpenAPI {
				e.t.Errorf("description %+v", d)
			}
		}},
		{"serviceDescriptionPublish of a REST service", mgmtproto.TypeServiceDescriptionPublish, func(e *env, r *mgmtproto.Request) {
			r.ServiceDescription.Type = mgmtproto.ServiceREST
			r.ServiceDescription.OpenAPI = ""
		}, func(e *env, applied bool) {
			d, err := e.store.ServiceDescription(e.ctx, persons)
			if applied && (err != nil || d.Type != registry.ServiceREST || d.Document != nil) {
				e.t.Errorf("description %+v, %v", d, err)
			}
		}},
	}
	for _, auto := range []bool{false, true} {
		for _, tc := range tests {
			name := tc.name + "/manual"
			if auto {
				name = tc.name + "/auto"
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, auto)
				r := e.request(tc.typ)
				if tc.edit != nil {
					tc.edit(e, &r)
				}
				m, err := e.p.Submit(e.ctx, e.sign(r), peerFor(r))
				if err != nil {
					t.Fatalf("Submit: %v", err)
				}
				st := mgmt.StatusOf(m)
				if st.RequestID != r.ID || st.Type != tc.typ || m.Server != r.Server || m.Client != r.Client {
					t.Errorf("stored %+v for request %+v", st, r)
				}
				if e.metric(string(tc.typ), "submitted") != 1 {
					t.Error("submission not counted")
				}
				if !auto {
					if m.Status != registry.StatusPending {
						t.Fatalf("status %s, want PENDING", m.Status)
					}
					tc.check(e, false)
					if m, err = e.p.Approve(e.ctx, m.ID, "officer"); err != nil {
						t.Fatalf("Approve: %v", err)
					}
				}
				wantBy := "officer"
				if auto {
					wantBy = mgmt.AutoApprovalActor
				}
				if m.Status != registry.StatusApproved || m.DecidedBy != wantBy {
					t.Fatalf("after approval: %s by %q (%s)", m.Status, m.DecidedBy, m.Comment)
				}
				tc.check(e, true)
				if e.metric(string(tc.typ), "approved") != 1 {
					t.Error("approval not counted")
				}
			})
		}
	}
}

// TestSubmitRefuses checks every refusal and its code, and that nothing is
// stored.
func TestSubmitRefuses(t *testing.T) {
	type prep struct {
		r       mgmtproto.Request
		signers []mgmtproto.Signer
		peer    xroad.ServerID
		signed  []byte // overrides signing when set
	}
	tests := []struct {
		name string
		typ  mgmtproto.Type
		edit func(e *env, p *prep)
		want string
	}{
		{"not JSON", mgmtproto.TypeMaintenanceOn, func(e *env, p *prep) { p.signed = []byte("hello") }, mgmt.CodeInvalidRequest},
		{"bad signature", mgmtproto.TypeMaintenanceOn, func(e *env, p *prep) {
			p.signed = swapPayload(e, e.sign(p.r), mgmtproto.TypeMaintenanceOff)
		}, mgmt.CodeInvalidSignature},
		{"sign cert of another member", mgmtproto.TypeMaintenanceOn, func(e *env, p *prep) {
			p.signers = []mgmtproto.Signer{e.pki.Signer(e.signMOF, now)}
		}, mgmt.CodeCertValidation},
		{"revoked sign cert", mgmtproto.TypeMaintenanceOn, func(e *env, p *prep) {
			p.signers[0].OCSP = e.pki.OCSP(e.signMOI.Cert, ocsp.Revoked, now)
		}, mgmt.CodeCertValidation},
		{"stale OCSP", mgmtproto.TypeMaintenanceOn, func(e *env, p *prep) {
			p.signers[0].OCSP = e.pki.OCSP(e.signMOI.Cert, ocsp.Good, now.Add(-59*time.Minute))
			e.must(e.store.SetSetting(e.ctx, registry.SettingOCSPFreshness, 30*time.Minute))
		}, mgmt.CodeCertValidation},
		{"revoked auth cert on registration", mgmtproto.TypeAuthCertRegistration, func(e *env, p *prep) {
			p.signers[1].OCSP = e.pki.OCSP(e.authSS2.Cert, ocsp.Revoked, now)
		}, mgmt.CodeCertValidation},
		{"chain to an unapproved CA", mgmtproto.TypeMaintenanceOn, func(e *env, p *prep) {
			other := mgmttest.NewPKI(e.t, "XX", now)
			p.signers = []mgmtproto.Signer{other.Signer(other.Issue(profile.Sign, moi, now), now)}
		}, mgmt.CodeCertValidation},
		{"CA approval withdrawn", mgmtproto.TypeMaintenanceOn, func(e *env, p *prep) {
			e.must(e.store.DeleteApprovedCA(e.ctx, "PS CA"))
		}, mgmt.CodeCertValidation},
		{"auth cert of another server", mgmtproto.TypeAuthCertRegistration, func(e *env, p *prep) {
			other := e.issueAuth(xroad.ServerID{Owner: moi, Code: "ss3"})
			p.r.AuthCert = other.Cert.Raw
			p.signers[1] = e.pki.Signer(other, now)
		}, mgmt.CodeCertValidation},
		{"missing second signature", mgmtproto.TypeAuthCertRegistration, func(e *env, p *prep) {
			p.signers = p.signers[:1]
		}, mgmt.CodeMissingSignature},
		{"auth cert already registered", mgmtproto.TypeAuthCertRegistration, func(e *env, p *prep) {
			p.r.Server = ss1
			p.r.AuthCert = e.authSS1.Cert.Raw
			p.signers[1] = e.pki.Signer(e.authSS1, now)
		}, mgmt.CodeInvalidRequest},
		{"createdAt too old", mgmtproto.TypeMaintenanceOn, func(e *env, p *prep) {
			p.r.CreatedAt = now.Add(-6 * time.Minute)
		}, mgmt.CodeInvalidRequestTime},
		{"createdAt in the future", mgmtproto.TypeMaintenanceOn, func(e *env, p *prep) {
			p.r.CreatedAt = now.Add(6 * time.Minute)
		}, mgmt.CodeInvalidRequestTime},
		{"no TLS peer for a non-registration request", mgmtproto.TypeAddressChange, func(e *env, p *prep) {
			p.peer = xroad.ServerID{}
		}, mgmt.CodeAccessDenied},
		{"TLS peer is another server", mgmtproto.TypeAddressChange, func(e *env, p *prep) {
			p.peer = ss2
		}, mgmt.CodeAccessDenied},
		{"TLS peer is another server on registration", mgmtproto.TypeAuthCertRegistration, func(e *env, p *prep) {
			p.peer = ss1
		}, mgmt.CodeAccessDenied},
		{"unknown member", mgmtproto.TypeClientRegistration, func(e *env, p *prep) {
			p.r.Client = moh.Subsystem("insurance")
			p.signers = []mgmtproto.Signer{e.pki.Signer(e.pki.Issue(profile.Sign, moh, now), now)}
		}, mgmt.CodeUnknownMember},
		{"invalid OpenAPI", mgmtproto.TypeServiceDescriptionPublish, func(e *env, p *prep) {
			p.r.ServiceDescription.OpenAPI = `{"openapi":"3.0.3","info":{"title":"x"},"paths":{"/a":{"get":{}}}}`
		}, mgmt.CodeInvalidServiceDescription},
		{"OpenAPI with an external reference", mgmtproto.TypeServiceDescriptionPublish, func(e *env, p *prep) {
			p.r.ServiceDescription.OpenAPI = `{"openapi":"3.0.3","info":{"title":"x","version":"1"},"paths":{"/a":{"$ref":"http://127.0.0.1:1/x.json#/a"}}}`
		}, mgmt.CodeInvalidServiceDescription},
		{"not OpenAPI at all", mgmtproto.TypeServiceDescriptionPublish, func(e *env, p *prep) {
			p.r.ServiceDescription.OpenAPI = `{{{`
		}, mgmt.CodeInvalidServiceDescription},
		{"service of a subsystem not on that server", mgmtproto.TypeServiceDescriptionPublish, func(e *env, p *prep) {
			p.r.ServiceDescription.Service.Provider = births
		}, mgmt.CodeAccessDenied},
		{"service of another member's subsystem signed by the server owner", mgmtproto.TypeServiceDescriptionPublish, func(e *env, p *prep) {
			p.r.ServiceDescription.Service.Provider = tax
			p.signers = []mgmtproto.Signer{e.pki.Signer(e.signMOI, now)}
		}, mgmt.CodeCertValidation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true)
			p := &prep{r: e.request(tc.typ)}
			p.peer = peerFor(p.r)
			p.signers = e.signers(p.r)
			tc.edit(e, p)
			signed := p.signed
			if signed == nil {
				signed = e.sign(p.r, p.signers...)
			}
			_, err := e.p.Submit(e.ctx, signed, p.peer)
			if got := code(err); got != tc.want {
				t.Fatalf("got %v (code %q), want code %q", err, got, tc.want)
			}
			t.Log(err)
			if all, err := e.store.ManagementRequests(e.ctx, registry.RequestFilter{}); err != nil || len(all) != 0 {
				t.Errorf("stored %d requests (%v)", len(all), err)
			}
		})
	}
}

// swapPayload replaces the payload of signed by that of another valid
// request of type typ, keeping the signatures.
func swapPayload(e *env, signed []byte, typ mgmtproto.Type) []byte {
	e.t.Helper()
	var env struct {
		Payload    string            `json:"payload"`
		Signatures []json.RawMessage `json:"signatures"`
	}
	e.must(json.Unmarshal(signed, &env))
	r := e.request(typ)
	b, err := mgmtproto.MarshalPayload(&r)
	e.must(err)
	env.Payload = base64.RawURLEncoding.EncodeToString(b)
	out, err := json.Marshal(env)
	e.must(err)
	return out
}

func TestReplay(t *testing.T) {
	e := newEnv(t, false)
	r := e.request(mgmtproto.TypeMaintenanceOn)
	signed := e.sign(r)
	if _, err := e.p.Submit(e.ctx, signed, ss1); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Minute)
	if _, err := e.p.Submit(e.ctx, signed, ss1); code(err) != mgmt.CodeDuplicateRequest {
		t.Fatalf("replay: %v", err)
	}
	// A new signature over a request with the same id is a replay too.
	r.CreatedAt = e.clk.Now()
	if _, err := e.p.Submit(e.ctx, e.sign(r), ss1); code(err) != mgmt.CodeDuplicateRequest {
		t.Fatalf("same id, new signature: %v", err)
	}
	// Later than the clock skew it is refused for its age.
	e.clk.Add(10 * time.Minute)
	if _, err := e.p.Submit(e.ctx, signed, ss1); code(err) != mgmt.CodeInvalidRequestTime {
		t.Fatalf("late replay: %v", err)
	}
	if got := e.metric(string(mgmtproto.TypeMaintenanceOn), "refused"); got != 3 {
		t.Errorf("refused counter %v, want 3", got)
	}
}

func TestDecisions(t *testing.T) {
	e := newEnv(t, false)
	submit := func(typ mgmtproto.Type, edit func(*mgmtproto.Request)) registry.ManagementRequest {
		t.Helper()
		r := e.request(typ)
		if edit != nil {
			edit(&r)
		}
		m, err := e.p.Submit(e.ctx, e.sign(r), peerFor(r))
		e.must(err)
		return m
	}

	t.Run("reject", func(t *testing.T) {
		m := submit(mgmtproto.TypeMaintenanceOn, nil)
		got, err := e.p.Reject(e.ctx, m.ID, "officer", "not now")
		if err != nil || got.Status != registry.StatusRejected || got.Comment != "not now" || got.DecidedBy != "officer" {
			t.Fatalf("Reject: %+v, %v", got, err)
		}
		srv, _ := e.store.SecurityServer(e.ctx, ss1)
		if srv.Maintenance {
			t.Error("a rejected request was applied")
		}
		if _, err := e.p.Approve(e.ctx, m.ID, "officer"); !errors.Is(err, registry.ErrConflict) {
			t.Errorf("approving a rejected request: %v, want ErrConflict", err)
		}
		if _, err := e.p.Reject(e.ctx, m.ID, "officer", ""); !errors.Is(err, registry.ErrConflict) {
			t.Errorf("rejecting twice: %v, want ErrConflict", err)
		}
	})
	t.Run("approve twice", func(t *testing.T) {
		m := submit(mgmtproto.TypeAddressChange, nil)
		if _, err := e.p.Approve(e.ctx, m.ID, "officer"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.p.Approve(e.ctx, m.ID, "officer"); !errors.Is(err, registry.ErrConflict) {
			t.Errorf("second Approve: %v, want ErrConflict", err)
		}
	})
	t.Run("unknown id and no actor", func(t *testing.T) {
		if _, err := e.p.Approve(e.ctx, 9999, "officer"); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("Approve unknown: %v", err)
		}
		if _, err := e.p.Reject(e.ctx, 9999, "officer", ""); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("Reject unknown: %v", err)
		}
		m := submit(mgmtproto.TypeMaintenanceOff, nil)
		if _, err := e.p.Approve(e.ctx, m.ID, " "); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("Approve without actor: %v", err)
		}
	})
	t.Run("preconditions no longer hold", func(t *testing.T) {
		// Two registrations of the same client: the second fails.
		first := submit(mgmtproto.TypeClientRegistration, nil)
		second := submit(mgmtproto.TypeClientRegistration, nil)
		// A deletion of a client that the first deletion removes.
		del1 := submit(mgmtproto.TypeClientDeletion, nil)
		del2 := submit(mgmtproto.TypeClientDeletion, nil)
		// A service of a subsystem that is gone by approval time.
		pub := submit(mgmtproto.TypeServiceDescriptionPublish, nil)
		for _, id := range []int64{first.ID, del1.ID} {
			if m, err := e.p.Approve(e.ctx, id, "officer"); err != nil || m.Status != registry.StatusApproved {
				t.Fatalf("Approve %d: %+v %v", id, m, err)
			}
		}
		before, _ := e.store.Version(e.ctx)
		for _, id := range []int64{second.ID, del2.ID, pub.ID} {
			m, err := e.p.Approve(e.ctx, id, "officer")
			if err != nil {
				t.Fatalf("Approve %d: %v", id, err)
			}
			if m.Status != registry.StatusFailed || !strings.HasPrefix(m.Comment, "cannot be applied: ") || m.DecidedBy != "officer" {
				t.Errorf("request %d: %s %q", id, m.Status, m.Comment)
			}
			t.Logf("%s: %s", m.Type, m.Comment)
		}
		if after, _ := e.store.Version(e.ctx); after != before+3 {
			// Only the three decisions changed the registry.
			t.Errorf("registry version moved from %d to %d", before, after)
		}
		if _, err := e.store.ServiceDescription(e.ctx, persons); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("failed publish left a description: %v", err)
		}
		if e.metric(string(mgmtproto.TypeClientRegistration), "failed") != 1 {
			t.Error("failure not counted")
		}
	})
}

func TestNewProcessor(t *testing.T) {
	e := newEnv(t, false)
	if _, err := mgmt.NewProcessor(mgmt.Config{}); err == nil {
		t.Error("NewProcessor without a store succeeded")
	}
	if _, err := mgmt.NewProcessor(mgmt.Config{Store: e.store, MaxClockSkew: -time.Second}); err == nil {
		t.Error("negative skew accepted")
	}
	// The metrics are already registered by newEnv.
	if _, err := mgmt.NewProcessor(mgmt.Config{Store: e.store, Registerer: e.reg}); err == nil {
		t.Error("registering the metrics twice succeeded")
	}
	p, err := mgmt.NewProcessor(mgmt.Config{Store: e.store, Clock: e.clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxClockSkew: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := e.request(mgmtproto.TypeMaintenanceOn)
	r.CreatedAt = now.Add(-30 * time.Minute)
	if _, err := p.Submit(e.ctx, e.sign(r), ss1); err != nil {
		t.Errorf("a configured skew of 1h refused a request 30 min old: %v", err)
	}
}
