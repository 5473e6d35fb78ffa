package globalconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// t0 is the generation time of the test documents.
var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// fixtures holds certificates shared by the tests (made once: key
// generation is the slow part).
type fixtures struct {
	caKey   *ecdsa.PrivateKey
	ca      *x509.Certificate
	tsa     *x509.Certificate
	ocsp    *x509.Certificate
	leaf    *x509.Certificate // an authentication certificate issued by ca
	leafKey *ecdsa.PrivateKey
}

var fixturesOnce = sync.OnceValues(makeFixtures)

func testFixtures(t testing.TB) *fixtures {
	t.Helper()
	f, err := fixturesOnce()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func makeFixtures() (*fixtures, error) {
	f := &fixtures{}
	var err error
	if f.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "jisr test CA"},
		NotBefore:             t0.Add(-time.Hour),
		NotAfter:              t0.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	if f.ca, err = createCert(caTmpl, caTmpl, f.caKey.Public(), f.caKey); err != nil {
		return nil, err
	}
	issue := func(serial int64, cn string, eku x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey, error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    t0.Add(-time.Hour),
			NotAfter:     t0.Add(365 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{eku},
		}
		c, err := createCert(tmpl, f.ca, k.Public(), f.caKey)
		return c, k, err
	}
	if f.tsa, _, err = issue(2, "jisr test TSA", x509.ExtKeyUsageTimeStamping); err != nil {
		return nil, err
	}
	if f.ocsp, _, err = issue(3, "jisr test OCSP", x509.ExtKeyUsageOCSPSigning); err != nil {
		return nil, err
	}
	if f.leaf, f.leafKey, err = issue(4, "ss1.moi", x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	return f, nil
}

func createCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, priv crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// testDoc returns a valid document of instance PS generated at t0 and
// valid for ten minutes.
func testDoc(t testing.TB) *Document {
	t.Helper()
	f := testFixtures(t)
	return &Document{
		Schema:      Schema,
		Instance:    "PS",
		Serial:      1,
		GeneratedAt: t0,
		ExpiresAt:   t0.Add(10 * time.Minute),
		CentralServer: CentralServer{
			ManagementURL:             "https://central.ps.example:4402/managementservice",
			ConfigurationURLs:         []string{"https://central1.ps.example:4401/globalconf", "https://central2.ps.example:4401/globalconf"},
			ManagementTLSCertificates: [][]byte{f.leaf.Raw, f.ca.Raw},
		},
		MemberClasses: []MemberClass{{Code: "GOV", Description: "Government"}, {Code: "COM", Description: "Commercial"}},
		Members: []Member{
			{Class: "GOV", Code: "MOI", Name: "Ministry of Interior", Subsystems: []Subsystem{{Code: "portal"}, {Code: "civil-registry"}}},
			{Class: "GOV", Code: "MOH", Name: "Ministry of Health", Subsystems: []Subsystem{{Code: "health"}}},
			{Class: "COM", Code: "ACME", Name: "Acme Ltd"},
		},
		SecurityServers: []SecurityServer{
			{
				Owner: "PS/GOV/MOI", ServerCode: "ss1",
				Addresses:      []string{"ss1.moi.ps.example:5500", "10.0.0.1:5500"},
				AuthCertHashes: []string{AuthCertHash(f.leaf)},
				Clients:        []string{"PS/GOV/MOI/civil-registry", "PS/GOV/MOI", "PS/GOV/MOI/portal"},
			},
			{
				Owner: "PS/GOV/MOH", ServerCode: "ss1",
				Addresses:      []string{"ss1.moh.ps.example:5500"},
				AuthCertHashes: []string{"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"},
				Clients:        []string{"PS/GOV/MOH/health", "PS/GOV/MOI/portal"},
				Maintenance:    true,
			},
		},
		GlobalGroups: []GlobalGroup{
			{Code: "ministries", Description: "All ministries", Members: []string{"PS/GOV/MOI", "PS/GOV/MOH/health"}},
		},
		ApprovedCAs: []ApprovedCA{{
			Name: "jisr-ca", Profile: "jisr/v1",
			Certificates:   [][]byte{f.ca.Raw},
			OCSPResponders: []OCSPResponder{{URL: "http://ocsp.ps.example:4480"}, {URL: "http://ocsp2.ps.example:4480", Certificate: f.ocsp.Raw}},
		}},
		ApprovedTSAs: []ApprovedTSA{{Name: "jisr-tsa", URL: "http://tsa.ps.example:4318", Certificate: f.tsa.Raw}},
		Settings: Settings{
			OCSPFreshnessSeconds:         3600,
			TimestampingIntervalSeconds:  60,
			ConfigurationLifetimeSeconds: 600,
			RefreshIntervalSeconds:       60,
			MaxClockSkewSeconds:          30,
		},
	}
}

// newKey returns a P-256 signing key with kid.
func newKey(t testing.TB, kid string) SigningKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return SigningKey{KeyID: kid, Signer: k}
}

// anchorFor returns an anchor of instance PS listing the public keys of ks.
func anchorFor(t testing.TB, urls []string, ks ...SigningKey) *Anchor {
	t.Helper()
	pubs := make(map[string]crypto.PublicKey)
	for _, k := range ks {
		pubs[k.KeyID] = k.Signer.Public()
	}
	if urls == nil {
		urls = []string{"https://central1.ps.example:4401/globalconf"}
	}
	a, err := NewAnchor("PS", t0, urls, pubs)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustSign(t testing.TB, d *Document, ks ...SigningKey) []byte {
	t.Helper()
	b, err := Sign(d, ks)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signRaw signs arbitrary payload bytes with an arbitrary protected header
// (for documents Sign would refuse to produce) and returns a general
// serialization with one signature.
func signRaw(t testing.TB, payload []byte, k SigningKey, hdrs map[string]any) []byte {
	t.Helper()
	h := jws.NewHeaders()
	for name, v := range hdrs {
		if err := h.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	compact, err := jws.Sign(payload, jws.WithKey(jwa.ES256(), k.Signer, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(compact), ".")
	if len(parts) != 3 {
		t.Fatalf("compact JWS with %d parts", len(parts))
	}
	return []byte(`{"payload":"` + parts[1] + `","signatures":[{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"}]}`)
}
