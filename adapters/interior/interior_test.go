package interior

import (
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jisr-bus/jisr/adapters/document"
	"github.com/jisr-bus/jisr/adapters/internal/adaptertest"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

func moi() xroad.MemberID { return xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"} }

type env struct {
	svc *Service
	c   *adaptertest.Client
	w   *seed.World
	pki *testpki.PKI
	clk *clock.Fake
}

func newEnv(t *testing.T, db kit.Database) *env {
	t.Helper()
	clk := clock.NewFake(adaptertest.Reference())
	p := testpki.New(t, adaptertest.Reference())
	key, chain := p.Leaf(t, profile.Sign, moi())
	w, err := seed.Generate(seed.Options{Persons: 30, Reference: adaptertest.Reference()})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Database: db, Seed: w, SignKey: key, SignChain: chain, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return &env{svc: svc, c: adaptertest.NewClient(t, svc.Handler(), svc.OpenAPI()), w: w, pki: p, clk: clk}
}

func (e *env) as(id string) *adaptertest.Client { return e.c.With(kit.HeaderUserID, id) }

func TestOpenAPIAndRoutes(t *testing.T) {
	e := newEnv(t, kit.Database{Path: t.TempDir() + "/moi.db"})
	adaptertest.CheckRoutes(t, e.svc.Handler(), OpenAPI())
	if e.svc.Issuer() != "PS/GOV/MOI" {
		t.Fatalf("issuer %s", e.svc.Issuer())
	}
}

func TestNeedsSigningKey(t *testing.T) {
	if _, err := New(Config{Database: kit.Database{Path: t.TempDir() + "/moi.db"}}); err == nil {
		t.Fatal("started without a signing key")
	}
	p := testpki.New(t, adaptertest.Reference())
	key, chain := p.Leaf(t, profile.Auth, xroad.ServerID{Owner: moi(), Code: "ss1"}, "ss1.moi.ps")
	if _, err := New(Config{Database: kit.Database{Path: t.TempDir() + "/moi.db"}, SignKey: key, SignChain: chain}); err == nil {
		t.Fatal("started with an auth certificate as signing certificate")
	}
}

func TestRegistry(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db)
		d := e.w.Demo
		for _, tc := range []struct {
			name, path string
			status     int
			code       string
			check      func(t *testing.T, r *adaptertest.Response)
		}{
			{name: "person", path: "/v1/persons/" + d.Citizen.String(), status: 200, check: func(t *testing.T, r *adaptertest.Response) {
				var p PersonJSON
				r.JSON(t, &p)
				if p.Name.EN != "Khaled Yousef Ibrahim Haddad" || p.Name.AR != "خالد يوسف إبراهيم حداد" || p.SpouseNationalID != d.Spouse.String() || p.BirthDate != "1984-06-12" || p.MaritalStatus != "married" {
					t.Fatalf("person %+v", p)
				}
			}},
			{name: "child with parents", path: "/v1/persons/" + d.Newborn.String(), status: 200, check: func(t *testing.T, r *adaptertest.Response) {
				var p PersonJSON
				r.JSON(t, &p)
				if p.FatherNationalID != d.Citizen.String() || p.MotherNationalID != d.Spouse.String() || p.FamilyName.EN != "Haddad" || p.Phone != "" {
					t.Fatalf("newborn %+v", p)
				}
			}},
			{name: "check digit wrong", path: "/v1/persons/401234563", status: 400, code: kit.CodeBadRequest},
			{name: "eight digits", path: "/v1/persons/40123456", status: 400, code: kit.CodeBadRequest},
			{name: "injection attempt", path: "/v1/persons/1%27%20OR%201=1", status: 400, code: kit.CodeBadRequest},
			{name: "not registered", path: "/v1/persons/123456782", status: 404, code: kit.CodeNotFound},
			{name: "children", path: "/v1/persons/" + d.Citizen.String() + "/children", status: 200, check: func(t *testing.T, r *adaptertest.Response) {
				var v struct{ Children []PersonSummary }
				r.JSON(t, &v)
				if len(v.Children) != 2 || v.Children[0].NationalID != d.Child.String() || v.Children[1].NationalID != d.Newborn.String() {
					t.Fatalf("children %+v", v.Children)
				}
			}},
			{name: "no children", path: "/v1/persons/" + d.BlockedDriver.String() + "/children", status: 200, check: func(t *testing.T, r *adaptertest.Response) {
				var v struct{ Children []PersonSummary }
				r.JSON(t, &v)
				if len(v.Children) != 0 {
					t.Fatalf("children %+v", v.Children)
				}
			}},
			{name: "newborn's birth record", path: "/v1/persons/" + d.Newborn.String() + "/birth-record", status: 200, check: func(t *testing.T, r *adaptertest.Response) {
				var b BirthRecordJSON
				r.JSON(t, &b)
				if b.Certificates.Next != "new" || b.Certificates.IssuedOnPaper != 0 || b.Mother.NationalID != d.Spouse.String() || b.Facility.EN != "Palestine Medical Complex" || b.RegistrationNumber == "" {
					t.Fatalf("birth record %+v", b)
				}
			}},
			{name: "older child's birth record", path: "/v1/persons/" + d.Child.String() + "/birth-record", status: 200, check: func(t *testing.T, r *adaptertest.Response) {
				var b BirthRecordJSON
				r.JSON(t, &b)
				if b.Certificates.Next != "copy" || b.Certificates.IssuedOnPaper != 1 {
					t.Fatalf("birth record %+v", b)
				}
			}},
			{name: "first generation's parents by name only", path: "/v1/persons/" + d.Citizen.String() + "/birth-record", status: 200, check: func(t *testing.T, r *adaptertest.Response) {
				var b BirthRecordJSON
				r.JSON(t, &b)
				if b.Mother.NationalID != "" || b.Mother.Name.EN != "Maryam Saeed Ali Khoury" {
					t.Fatalf("birth record %+v", b)
				}
			}},
			{name: "unknown path", path: "/v1/people", status: 404, code: kit.CodeNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.c.Do("GET", tc.path, nil)
				if tc.code != "" {
					r.WantProblem(t, tc.status, tc.code)
					return
				}
				r.Want(t, tc.status)
				tc.check(t, r)
			})
		}
		e.c.Do("DELETE", "/v1/persons/"+d.Citizen.String(), nil).WantProblem(t, 405, kit.CodeMethodNotAllowed)
	})
}

func TestIssueDocuments(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db)
		d := e.w.Demo
		bc := func(id, kind string) map[string]any { return map[string]any{"nationalId": id, "kind": kind} }
		for _, tc := range []struct {
			name, requester, path string
			body                  any
			status                int
			code                  string
		}{
			{"new certificate by a stranger", d.BlockedDriver.String(), "/v1/birth-certificates", bc(d.Newborn.String(), "new"), 403, kit.CodeForbidden},
			{"copy before any certificate", d.Citizen.String(), "/v1/birth-certificates", bc(d.Newborn.String(), "copy"), 409, codeNoneIssued},
			{"new certificate by the father", d.Citizen.String(), "/v1/birth-certificates", bc(d.Newborn.String(), "new"), 201, ""},
			{"second new certificate", d.Spouse.String(), "/v1/birth-certificates", bc(d.Newborn.String(), "new"), 409, codeAlreadyIssued},
			{"copy by the mother", d.Spouse.String(), "/v1/birth-certificates", bc(d.Newborn.String(), "copy"), 201, ""},
			{"new for a child with a paper certificate", d.Citizen.String(), "/v1/birth-certificates", bc(d.Child.String(), "new"), 409, codeAlreadyIssued},
			{"copy of one's own", d.Citizen.String(), "/v1/birth-certificates", bc(d.Citizen.String(), "copy"), 201, ""},
			{"copy of the spouse's", d.Citizen.String(), "/v1/birth-certificates", bc(d.Spouse.String(), "copy"), 403, kit.CodeForbidden},
			{"unknown person", d.Citizen.String(), "/v1/birth-certificates", bc("123456782", "copy"), 404, kit.CodeNotFound},
			{"bad kind", d.Citizen.String(), "/v1/birth-certificates", bc(d.Child.String(), "original"), 400, kit.CodeBadRequest},
			{"bad national ID", d.Citizen.String(), "/v1/birth-certificates", bc("401234563", "copy"), 400, kit.CodeBadRequest},
			{"no requester", "", "/v1/birth-certificates", bc(d.Child.String(), "copy"), 400, kit.CodeBadRequest},
			{"malformed requester", "someone", "/v1/birth-certificates", bc(d.Child.String(), "copy"), 400, kit.CodeBadRequest},
			{"extract of oneself", d.Citizen.String(), "/v1/civil-registry-extracts", map[string]any{"nationalId": d.Citizen.String()}, 201, ""},
			{"extract of the spouse", d.Citizen.String(), "/v1/civil-registry-extracts", map[string]any{"nationalId": d.Spouse.String()}, 403, kit.CodeForbidden},
			{"extract with an extra member", d.Citizen.String(), "/v1/civil-registry-extracts", map[string]any{"nationalId": d.Citizen.String(), "copies": 2}, 400, kit.CodeBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := e.c
				if tc.requester != "" {
					c = e.as(tc.requester)
				}
				r := c.Do("POST", tc.path, tc.body)
				if tc.status != 201 {
					r.WantProblem(t, tc.status, tc.code)
					return
				}
				r.Want(t, 201)
				var doc DocumentJSON
				r.JSON(t, &doc)
				if r.Header.Get("Location") != "/v1/documents/"+doc.Number || doc.Status != document.StatusValid || doc.Issuer.Member != "PS/GOV/MOI" || doc.CodeSHA256 != document.Digest(doc.Code) {
					t.Fatalf("document %+v", doc)
				}
				p, err := document.Parse(doc.Code)
				if err != nil {
					t.Fatal(err)
				}
				if p.Claims.Number != doc.Number || p.Claims.NationalID != doc.Subject.NationalID || p.Claims.Name.EN != doc.Subject.Name.EN || p.Claims.Type != doc.Type || p.Claims.Kind != doc.Kind || p.Claims.IssuedAt != adaptertest.Reference().Unix() {
					t.Fatalf("claims %+v do not match %+v", p.Claims, doc)
				}
				var again DocumentJSON
				e.c.Do("GET", "/v1/documents/"+doc.Number, nil).Want(t, 200).JSON(t, &again)
				if again.Code != doc.Code || string(again.Content) != string(doc.Content) {
					t.Fatalf("read back %+v", again)
				}
				if doc.Type == document.TypeCivilRegistryExtract {
					var c ExtractContent
					if err := json.Unmarshal(doc.Content, &c); err != nil {
						t.Fatal(err)
					}
					if c.Spouse == nil || c.Spouse.NationalID != d.Spouse.String() || len(c.Children) != 2 || c.Person.NationalID != d.Citizen.String() {
						t.Fatalf("extract %+v", c)
					}
				}
			})
		}
		var b BirthRecordJSON
		e.c.Do("GET", "/v1/persons/"+d.Newborn.String()+"/birth-record", nil).Want(t, 200).JSON(t, &b)
		if b.Certificates.IssuedOnline != 2 || b.Certificates.Next != "copy" {
			t.Fatalf("after issuing: %+v", b.Certificates)
		}
	})
}

// TestOneNewCertificateUnderConcurrency: the unique index, not only the
// read-then-write check, keeps a second "new" certificate out.
func TestOneNewCertificateUnderConcurrency(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db)
		c := e.as(e.w.Demo.Citizen.String())
		statuses := make([]int, 6)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Go(func() {
				statuses[i] = c.Do("POST", "/v1/birth-certificates", map[string]any{"nationalId": e.w.Demo.Newborn.String(), "kind": "new"}).Status
			})
		}
		wg.Wait()
		created := 0
		for _, s := range statuses {
			switch s {
			case 201:
				created++
			case 409:
			default:
				t.Fatalf("status %d", s)
			}
		}
		if created != 1 {
			t.Fatalf("%d new certificates, want 1 (%v)", created, statuses)
		}
	})
}

// TestVerification runs adapters/document.Verify against this adapter's
// status endpoint over HTTP: a genuine certificate is valid, an altered one
// forged, and after revocation the genuine one is revoked.
func TestVerification(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db)
		srv := httptest.NewServer(e.svc.Handler())
		defer srv.Close()
		opts := document.VerifyOptions{
			Roots:   e.pki.Roots(),
			Issuers: map[string][]xroad.MemberID{document.TypeBirthCertificate: {moi()}, document.TypeCivilRegistryExtract: {moi()}},
			Status: &document.StatusClient{
				BaseURL: func(m xroad.MemberID) (string, bool) { return srv.URL, m == moi() },
				HTTP:    srv.Client(),
			},
			Now: adaptertest.Reference(),
		}
		var doc DocumentJSON
		e.as(e.w.Demo.Citizen.String()).Do("POST", "/v1/birth-certificates",
			map[string]any{"nationalId": e.w.Demo.Newborn.String(), "kind": "new"}).Want(t, 201).JSON(t, &doc)

		verify := func(code string) document.Result {
			t.Helper()
			res, err := document.Verify(t.Context(), code, opts)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		if res := verify(doc.Code); res.Verdict != document.Valid || res.Claims.Number != doc.Number {
			t.Fatalf("genuine: %+v", res)
		}
		parts := strings.Split(doc.Code, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		altered := strings.Replace(string(payload), "Salma", "Selma", 1)
		if altered == string(payload) {
			t.Fatal("test did not alter the payload")
		}
		parts[1] = base64.RawURLEncoding.EncodeToString([]byte(altered))
		if res := verify(strings.Join(parts, ".")); res.Verdict != document.Forged {
			t.Fatalf("altered: %+v", res)
		}

		var st document.StatusJSON
		e.c.Do("GET", "/v1/documents/"+doc.Number+"/status", nil).Want(t, 200).JSON(t, &st)
		if st.Status != document.StatusValid || st.CodeSHA256 != doc.CodeSHA256 {
			t.Fatalf("status %+v", st)
		}
		e.clk.Add(3600e9)
		e.c.Do("POST", "/v1/documents/"+doc.Number+"/revocation", map[string]any{"reason": "registered in error"}).Want(t, 200).JSON(t, &st)
		if st.Status != document.StatusRevoked || st.Reason != "registered in error" || st.RevokedAt == nil {
			t.Fatalf("after revocation %+v", st)
		}
		if res := verify(doc.Code); res.Verdict != document.Revoked || !strings.Contains(res.Reason, "registered in error") {
			t.Fatalf("revoked: %+v", res)
		}
		e.c.Do("POST", "/v1/documents/"+doc.Number+"/revocation", map[string]any{"reason": "again"}).WantProblem(t, 409, "Client.AlreadyRevoked")
		e.c.Do("POST", "/v1/documents/BC-2026-999999/revocation", map[string]any{"reason": "x"}).WantProblem(t, 404, document.CodeUnknownDocument)
		e.c.Do("GET", "/v1/documents/BC-2026-999999/status", nil).WantProblem(t, 404, document.CodeUnknownDocument)
		e.c.Do("GET", "/v1/documents/XX-1/status", nil).WantProblem(t, 400, kit.CodeBadRequest)
		var got DocumentJSON
		e.c.Do("GET", "/v1/documents/"+doc.Number, nil).Want(t, 200).JSON(t, &got)
		if got.Status != document.StatusRevoked || got.RevocationReason != "registered in error" {
			t.Fatalf("document after revocation %+v", got)
		}
	})
}

func TestSigningCertificateExpired(t *testing.T) {
	e := newEnv(t, kit.Database{Path: t.TempDir() + "/moi.db"})
	e.clk.Set(e.svc.issuer.NotAfter().AddDate(0, 0, 1))
	e.as(e.w.Demo.Citizen.String()).Do("POST", "/v1/birth-certificates",
		map[string]any{"nationalId": e.w.Demo.Newborn.String(), "kind": "new"}).WantProblem(t, 503, kit.CodeUnavailable)
}
