package document

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/cert"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

var (
	moi = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	mot = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOT"}
)

func now() time.Time { return time.Date(2026, time.March, 15, 9, 30, 0, 0, time.UTC) }

// registry is a StatusSource over a map, as the issuer's database would
// answer.
type registry struct {
	m   map[string]StatusReport
	err error
}

func (r *registry) DocumentStatus(_ context.Context, issuer xroad.MemberID, number string) (StatusReport, error) {
	if r.err != nil {
		return StatusReport{}, r.err
	}
	rep, ok := r.m[issuer.String()+"|"+number]
	if !ok {
		return StatusReport{}, ErrUnknownDocument
	}
	return rep, nil
}

func (r *registry) register(issuer xroad.MemberID, code string, c Claims) {
	r.m[issuer.String()+"|"+c.Number] = StatusReport{Number: c.Number, Type: c.Type, Status: StatusValid, CodeSHA256: Digest(code)}
}

type fixture struct {
	pki    *testpki.PKI
	issuer *Issuer
	reg    *registry
	opts   VerifyOptions
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	p := testpki.New(t, now())
	key, chain := p.Leaf(t, profile.Sign, moi)
	is, err := NewIssuer(key, chain)
	if err != nil {
		t.Fatal(err)
	}
	reg := &registry{m: map[string]StatusReport{}}
	return &fixture{pki: p, issuer: is, reg: reg, opts: VerifyOptions{
		Roots: p.Roots(),
		Issuers: map[string][]xroad.MemberID{
			TypeBirthCertificate:     {moi},
			TypeCivilRegistryExtract: {moi},
		},
		Status: reg,
		Now:    now(),
	}}
}

func birthCert(number string) Claims {
	return Claims{
		Type: TypeBirthCertificate, Number: number, Kind: KindNew, NationalID: "401234562",
		Name: Name{AR: "سلمى خالد يوسف حداد", EN: "Salma Khaled Yousef Haddad"}, IssuedAt: now().Add(-time.Hour).Unix(),
	}
}

// issue signs and registers a document.
func (f *fixture) issue(t *testing.T, c Claims) string {
	t.Helper()
	code, err := f.issuer.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Issuer = f.issuer.Member().String()
	f.reg.register(f.issuer.Member(), code, c)
	return code
}

// resign signs an arbitrary payload with key and chain, bypassing Sign's
// checks, as a forger holding a key would.
func resign(t *testing.T, payload []byte, key any, chain []*x509.Certificate) string {
	t.Helper()
	var x5c cert.Chain
	for _, c := range chain {
		if err := x5c.AddString(base64.StdEncoding.EncodeToString(c.Raw)); err != nil {
			t.Fatal(err)
		}
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, JOSEType)
	_ = hdr.Set(jws.X509CertChainKey, &x5c)
	out, err := jws.Sign(payload, jws.WithKey(jwa.ES256(), key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func withPayload(t *testing.T, code string, edit func(*Claims)) string {
	t.Helper()
	parts := strings.Split(code, ".")
	p, err := Parse(code)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Claims
	edit(&c)
	b, _ := json.Marshal(c)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	genuine := f.issue(t, birthCert("BC-2026-000001"))
	revoked := f.issue(t, birthCert("BC-2026-000002"))
	rep := f.reg.m["PS/GOV/MOI|BC-2026-000002"]
	rep.Status, rep.RevokedAt, rep.Reason = StatusRevoked, now().Add(-time.Minute), "issued in error"
	f.reg.m["PS/GOV/MOI|BC-2026-000002"] = rep
	unregistered, err := f.issuer.Sign(birthCert("BC-2026-000003"))
	if err != nil {
		t.Fatal(err)
	}
	// Registered under its number, but the registry holds another code.
	replaced := f.issue(t, birthCert("BC-2026-000004"))
	other := birthCert("BC-2026-000004")
	other.NationalID = "123456782"
	otherCode, _ := f.issuer.Sign(other)
	f.reg.register(moi, otherCode, Claims{Type: other.Type, Number: other.Number})

	// Another instance's CA, a Transport signing key, an auth key.
	rogue := testpki.New(t, now(), testpki.Name("Rogue"))
	rogueKey, rogueChain := rogue.Leaf(t, profile.Sign, moi)
	motKey, motChain := f.pki.Leaf(t, profile.Sign, mot)
	authKey, authChain := f.pki.Leaf(t, profile.Auth, xroad.ServerID{Owner: moi, Code: "ss1"}, "ss1.moi.ps")
	genuineParsed, _ := Parse(genuine)
	payload, _ := json.Marshal(genuineParsed.Claims)
	motIssuer, err := NewIssuer(motKey, motChain)
	if err != nil {
		t.Fatal(err)
	}
	motCode, _ := motIssuer.Sign(birthCert("BC-2026-000001"))
	f.reg.register(mot, motCode, Claims{Type: TypeBirthCertificate, Number: "BC-2026-000001"})
	future := birthCert("BC-2026-000009")
	future.IssuedAt = now().Add(time.Hour).Unix()
	futureCode := f.issue(t, future)

	for _, tc := range []struct {
		name   string
		code   string
		want   Verdict
		claims bool
	}{
		{"genuine", genuine, Valid, true},
		{"genuine with surrounding white space", "\n " + genuine + " \n", Valid, true},
		{"revoked", revoked, Revoked, true},
		{"name altered", withPayload(t, genuine, func(c *Claims) { c.Name.EN = "Someone Else" }), Forged, false},
		{"national ID altered", withPayload(t, genuine, func(c *Claims) { c.NationalID = "123456782" }), Forged, false},
		{"kind altered", withPayload(t, genuine, func(c *Claims) { c.Kind = KindCopy }), Forged, false},
		{"signature altered", genuine[:len(genuine)-4] + flip(genuine[len(genuine)-4:]), Forged, false},
		{"truncated", genuine[:len(genuine)/2], Forged, false},
		{"garbage", "not a code at all", Forged, false},
		{"empty", "", Forged, false},
		{"signed by an untrusted CA", resign(t, payload, rogueKey, rogueChain), Forged, true},
		{"signed with an auth certificate", resign(t, payload, authKey, authChain), Forged, true},
		{"issuer claim names another member", resign(t, payload, motKey, motChain), Forged, true},
		{"member not allowed to issue the type", motCode, Forged, true},
		{"never registered", unregistered, Forged, true},
		{"registry holds another code", replaced, Forged, true},
		{"issued in the future", futureCode, Forged, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Verify(t.Context(), tc.code, f.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.want {
				t.Fatalf("verdict %s (%s), want %s", res.Verdict, res.Reason, tc.want)
			}
			if (res.Reason == "") != (tc.want == Valid) {
				t.Errorf("reason %q for %s", res.Reason, res.Verdict)
			}
			if (res.Claims != nil) != tc.claims {
				t.Errorf("claims %v, want present=%v", res.Claims, tc.claims)
			}
			if tc.want != Forged && res.Issuer != moi {
				t.Errorf("issuer %v", res.Issuer)
			}
			if tc.want == Revoked && !res.RevokedAt.Equal(now().Add(-time.Minute)) {
				t.Errorf("revokedAt %v", res.RevokedAt)
			}
		})
	}

	t.Run("issuer cannot be asked", func(t *testing.T) {
		opts := f.opts
		opts.Status = &registry{err: errors.New("connection refused")}
		if res, err := Verify(t.Context(), genuine, opts); err == nil {
			t.Fatalf("verdict %s without asking the issuer", res.Verdict)
		}
		// A forgery is still recognised without the issuer.
		res, err := Verify(t.Context(), withPayload(t, genuine, func(c *Claims) { c.Name.EN = "X" }), opts)
		if err != nil || res.Verdict != Forged {
			t.Fatalf("%v %v", res.Verdict, err)
		}
	})
	t.Run("incomplete options", func(t *testing.T) {
		if _, err := Verify(t.Context(), genuine, VerifyOptions{Roots: f.opts.Roots}); err == nil {
			t.Fatal("verified without a status source and a time")
		}
	})
}

// TestDocumentOutlivesCertificate: the chain is checked at the time of
// issue, so a document stays valid after the signing certificate expired.
func TestDocumentOutlivesCertificate(t *testing.T) {
	f := newFixture(t)
	code := f.issue(t, birthCert("BC-2026-000010"))
	opts := f.opts
	opts.Now = f.issuer.NotAfter().AddDate(3, 0, 0)
	res, err := Verify(t.Context(), code, opts)
	if err != nil || res.Verdict != Valid {
		t.Fatalf("%v (%s) %v", res.Verdict, res.Reason, err)
	}
	late := birthCert("BC-2026-000011")
	late.IssuedAt = f.issuer.NotAfter().Add(time.Hour).Unix()
	if _, err := f.issuer.Sign(late); err == nil {
		t.Fatal("signed a document dated after the certificate expired")
	}
}

func TestNewIssuer(t *testing.T) {
	p := testpki.New(t, now())
	key, chain := p.Leaf(t, profile.Sign, moi)
	otherKey, _ := p.Leaf(t, profile.Sign, moi)
	authKey, authChain := p.Leaf(t, profile.Auth, xroad.ServerID{Owner: moi, Code: "ss1"}, "ss1.moi.ps")
	for name, tc := range map[string]struct {
		key   *ecdsa.PrivateKey
		chain []*x509.Certificate
	}{
		"no chain":         {key, nil},
		"key mismatch":     {otherKey, chain},
		"auth certificate": {authKey, authChain},
	} {
		if _, err := NewIssuer(tc.key, tc.chain); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	is, err := NewIssuer(key, chain)
	if err != nil {
		t.Fatal(err)
	}
	if is.Member() != moi {
		t.Fatalf("member %v", is.Member())
	}
}

func TestSignRefusesBadClaims(t *testing.T) {
	f := newFixture(t)
	for name, edit := range map[string]func(*Claims){
		"unknown type":        func(c *Claims) { c.Type = "passport" },
		"birth without kind":  func(c *Claims) { c.Kind = "" },
		"extract with kind":   func(c *Claims) { c.Type = TypeCivilRegistryExtract },
		"bad national ID":     func(c *Claims) { c.NationalID = "123456789" },
		"no number":           func(c *Claims) { c.Number = "" },
		"number with a space": func(c *Claims) { c.Number = "BC 1" },
		"no Arabic name":      func(c *Claims) { c.Name.AR = "" },
		"no time of issue":    func(c *Claims) { c.IssuedAt = 0 },
	} {
		c := birthCert("BC-1")
		edit(&c)
		if _, err := f.issuer.Sign(c); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}

func TestStatusClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Road-Client") != "PS/GOV/CAB/portal" {
			http.Error(w, "no client", http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/v1/documents/BC-1/status":
			_, _ = w.Write([]byte(`{"number":"BC-1","type":"birth-certificate","status":"revoked","revokedAt":"2026-03-15T09:00:00Z","reason":"error","codeSha256":"ab"}`))
		case "/v1/documents/BC-2/status":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":"Client.UnknownDocument","status":404}`))
		case "/v1/documents/BC-3/status":
			w.WriteHeader(http.StatusNotFound) // not the issuer's answer
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	c := &StatusClient{
		BaseURL: func(m xroad.MemberID) (string, bool) { return srv.URL, m == moi },
		HTTP:    srv.Client(),
		Header:  http.Header{"X-Road-Client": {"PS/GOV/CAB/portal"}},
	}
	rep, err := c.DocumentStatus(t.Context(), moi, "BC-1")
	if err != nil || rep.Status != StatusRevoked || rep.Reason != "error" || rep.CodeSHA256 != "ab" || rep.RevokedAt.IsZero() {
		t.Fatalf("%+v %v", rep, err)
	}
	if _, err := c.DocumentStatus(t.Context(), moi, "BC-2"); !errors.Is(err, ErrUnknownDocument) {
		t.Fatalf("unknown document: %v", err)
	}
	for _, n := range []string{"BC-3", "BC-4"} {
		if _, err := c.DocumentStatus(t.Context(), moi, n); err == nil || errors.Is(err, ErrUnknownDocument) {
			t.Fatalf("%s: %v", n, err)
		}
	}
	if _, err := c.DocumentStatus(t.Context(), mot, "BC-1"); err == nil {
		t.Fatal("asked an issuer without a base URL")
	}
}

// FuzzParse: Parse never panics, and what it accepts re-encodes to itself.
func FuzzParse(f *testing.F) {
	p := testpki.New(f, now())
	key, chain := p.Leaf(f, profile.Sign, moi)
	is, err := NewIssuer(key, chain)
	if err != nil {
		f.Fatal(err)
	}
	code, err := is.Sign(birthCert("BC-2026-000001"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(code)
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		parsed, err := Parse(s)
		if err != nil {
			return
		}
		if parsed.Code() != strings.TrimSpace(s) {
			t.Fatalf("Code() = %q for %q", parsed.Code(), s)
		}
		parts := strings.Split(parsed.Code(), ".")
		b, _ := json.Marshal(parsed.Claims)
		if base64.RawURLEncoding.EncodeToString(b) != parts[1] {
			t.Fatal("accepted a payload that is not canonical")
		}
	})
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}
