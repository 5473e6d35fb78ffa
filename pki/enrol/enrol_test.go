package enrol

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

var (
	moi = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	ss1 = xroad.ServerID{Owner: moi, Code: "ss1"}
)

func key(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCSR(t *testing.T) {
	k := key(t)
	for _, tc := range []struct {
		name    string
		kind    profile.Kind
		id      xroad.ID
		dns     []string
		wantErr bool
	}{
		{"auth", profile.Auth, ss1, []string{"SS1.moi.test", "192.0.2.1"}, false},
		{"sign", profile.Sign, moi, nil, false},
		{"sign with DNS", profile.Sign, moi, []string{"moi.test"}, true},
		{"kind mismatch", profile.Auth, moi, nil, true},
		{"subsystem", profile.Sign, moi.Subsystem("x"), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der, err := CSR(k, tc.kind, tc.id, tc.dns)
			if tc.wantErr {
				if err == nil {
					t.Fatal("CSR succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			csr, err := x509.ParseCertificateRequest(der)
			if err != nil {
				t.Fatal(err)
			}
			if csr.Subject.CommonName != tc.id.Typed() || len(csr.URIs) != 1 || csr.URIs[0].String() != tc.id.URI() {
				t.Errorf("subject %v URIs %v", csr.Subject, csr.URIs)
			}
			if tc.kind == profile.Auth && (len(csr.DNSNames) != 1 || csr.DNSNames[0] != "ss1.moi.test" || len(csr.IPAddresses) != 1) {
				t.Errorf("DNS %v IP %v", csr.DNSNames, csr.IPAddresses)
			}
		})
	}
	der, err := ACMECSR(k, ss1, "ss1.moi.test")
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(der)
	if csr.Subject.SerialNumber != ss1.Typed() || csr.Subject.CommonName != "" || len(csr.URIs) != 0 {
		t.Errorf("ACME CSR subject %v URIs %v", csr.Subject, csr.URIs)
	}
}

func TestNeedsRenewal(t *testing.T) {
	nb := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &x509.Certificate{NotBefore: nb, NotAfter: nb.Add(300 * time.Hour)}
	for _, tc := range []struct {
		at       time.Duration
		fraction float64
		want     bool
	}{
		{0, 2.0 / 3, false},
		{199 * time.Hour, 2.0 / 3, false},
		{200 * time.Hour, 2.0 / 3, true},
		{149 * time.Hour, 0.5, false},
		{150 * time.Hour, 0.5, true},
		{200 * time.Hour, 0, true}, // default 2/3
		{400 * time.Hour, 0.9, true},
	} {
		if got := NeedsRenewal(c, nb.Add(tc.at), tc.fraction); got != tc.want {
			t.Errorf("NeedsRenewal(+%s, %v) = %v", tc.at, tc.fraction, got)
		}
	}
}

func TestHTTP01Solver(t *testing.T) {
	s := &HTTP01Solver{}
	s.set("tok", "tok.thumb")
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/.well-known/acme-challenge/tok", 200, "tok.thumb"},
		{"GET", "/.well-known/acme-challenge/other", 404, ""},
		{"POST", "/.well-known/acme-challenge/tok", 404, ""},
		{"GET", "/tok", 404, ""},
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.code || (tc.body != "" && rec.Body.String() != tc.body) {
			t.Errorf("%s %s = %d %q", tc.method, tc.path, rec.Code, rec.Body.String())
		}
	}
	s.remove("tok")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/acme-challenge/tok", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("after remove: %d", rec.Code)
	}
}

// testPKI issues a leaf of the given profile from a throwaway root.
func testPKI(t *testing.T, kind profile.Kind, id xroad.ID, leafKey *ecdsa.PrivateKey) (*x509.Certificate, *x509.CertPool) {
	t.Helper()
	rk := key(t)
	now := time.Now()
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rd, err := x509.CreateCertificate(rand.Reader, rootT, rootT, rk.Public(), rk)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rd)
	lt := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: rootT.NotBefore, NotAfter: rootT.NotAfter, PublicKey: leafKey.Public()}
	if err := profile.Apply(lt, kind, id); err != nil {
		t.Fatal(err)
	}
	ld, err := x509.CreateCertificate(rand.Reader, lt, root, leafKey.Public(), rk)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(ld)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return leaf, pool
}

func TestVerify(t *testing.T) {
	k := key(t)
	leaf, roots := testPKI(t, profile.Auth, ss1, k)
	_, otherRoots := testPKI(t, profile.Auth, ss1, k)
	now := time.Now()
	if err := Verify([]*x509.Certificate{leaf}, roots, profile.Auth, ss1, k.Public(), now); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for _, tc := range []struct {
		name  string
		roots *x509.CertPool
		kind  profile.Kind
		id    xroad.ID
		pub   any
		now   time.Time
	}{
		{"other root", otherRoots, profile.Auth, ss1, k.Public(), now},
		{"no roots", nil, profile.Auth, ss1, k.Public(), now},
		{"other id", roots, profile.Auth, xroad.ServerID{Owner: moi, Code: "ss2"}, k.Public(), now},
		{"other kind", roots, profile.Sign, moi, k.Public(), now},
		{"other key", roots, profile.Auth, ss1, key(t).Public(), now},
		{"expired", roots, profile.Auth, ss1, k.Public(), now.Add(2 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify([]*x509.Certificate{leaf}, tc.roots, tc.kind, tc.id, tc.pub, tc.now)
			if !errors.Is(err, ErrVerify) {
				t.Fatalf("Verify = %v, want ErrVerify", err)
			}
		})
	}
}

func TestRenewToken(t *testing.T) {
	k := key(t)
	leaf, _ := testPKI(t, profile.Sign, moi, k)
	tok, err := renewToken(Options{CAURL: "https://ca.test:4443/"}, []*x509.Certificate{leaf}, k)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	var hdr struct {
		Alg string   `json:"alg"`
		X5C []string `json:"x5cInsecure"`
	}
	var claims struct {
		Sub string   `json:"sub"`
		Aud []string `json:"aud"`
		Iss string   `json:"iss"`
	}
	for i, dst := range []any{&hdr, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	if hdr.Alg != "ES256" || len(hdr.X5C) != 1 || claims.Sub != "PS/GOV/MOI" ||
		claims.Iss != "step-ca-client/1.0" || claims.Aud[0] != "https://ca.test:4443/1.0/renew" {
		t.Errorf("header %+v claims %+v", hdr, claims)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	digest := sha256Sum(parts[0] + "." + parts[1])
	if len(sig) != 64 || !ecdsa.Verify(&k.PublicKey, digest, r, s) {
		t.Error("signature does not verify")
	}
	if _, err := renewToken(Options{}, []*x509.Certificate{leaf}, key(t)); err == nil {
		t.Error("renew token with a foreign key")
	}
}

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
