package profile

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
)

var (
	member = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	server = xroad.ServerID{Owner: member, Code: "ss1"}
)

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue signs tmpl (public key pub) with a throwaway CA key and parses it back,
// so tests see certificates exactly as a relying party would.
func issue(t testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	caKey := ecKey(t)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	tmpl.SerialNumber = big.NewInt(2)
	tmpl.NotBefore, tmpl.NotAfter = ca.NotBefore, ca.NotAfter
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func applied(t testing.TB, kind Kind, id xroad.ID, pub crypto.PublicKey, mutate func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{PublicKey: pub}
	if kind == Auth {
		tmpl.DNSNames = []string{"ss1.moi.test"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("192.0.2.1")}
	}
	if err := Apply(tmpl, kind, id); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if mutate != nil {
		mutate(tmpl)
	}
	return issue(t, tmpl, pub)
}

func TestApplyAndRead(t *testing.T) {
	ec := ecKey(t)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		kind Kind
		id   xroad.ID
		pub  crypto.PublicKey
		ku   x509.KeyUsage
	}{
		{"auth EC", Auth, server, ec.Public(), x509.KeyUsageDigitalSignature},
		{"auth RSA", Auth, server, rk.Public(), x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment},
		{"sign EC", Sign, member, ec.Public(), x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment},
		{"sign RSA", Sign, member, rk.Public(), x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment},
		{"sign from member ClientID", Sign, member.Client(), ec.Public(), x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := applied(t, tc.kind, tc.id, tc.pub, nil)
			if err := Check(c, tc.kind); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if c.KeyUsage != tc.ku {
				t.Errorf("KeyUsage = %#x, want %#x", c.KeyUsage, tc.ku)
			}
			other := Sign
			if tc.kind == Sign {
				other = Auth
			}
			if err := Check(c, other); !errors.Is(err, ErrProfile) {
				t.Errorf("Check(%s) = %v, want ErrProfile", other, err)
			}
			k, id, err := IDFromCert(c)
			if err != nil || k != tc.kind {
				t.Fatalf("IDFromCert = %v, %v, %v", k, id, err)
			}
			switch tc.kind {
			case Auth:
				got, err := ServerIDFromCert(c)
				if err != nil || got != server {
					t.Errorf("ServerIDFromCert = %v, %v; want %v", got, err, server)
				}
				if _, err := MemberIDFromCert(c); err == nil {
					t.Error("MemberIDFromCert accepted an auth certificate")
				}
				if c.Subject.CommonName != "PS/GOV/MOI/ss1" || len(c.DNSNames) != 1 || len(c.IPAddresses) != 1 {
					t.Errorf("subject %v DNS %v IP %v", c.Subject, c.DNSNames, c.IPAddresses)
				}
			case Sign:
				got, err := MemberIDFromCert(c)
				if err != nil || got != member {
					t.Errorf("MemberIDFromCert = %v, %v; want %v", got, err, member)
				}
				if _, err := ServerIDFromCert(c); err == nil {
					t.Error("ServerIDFromCert accepted a sign certificate")
				}
				if len(c.ExtKeyUsage) != 0 || len(c.DNSNames) != 0 {
					t.Errorf("sign cert EKU %v DNS %v", c.ExtKeyUsage, c.DNSNames)
				}
			}
		})
	}
}

func TestApplyRefuses(t *testing.T) {
	ec := ecKey(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name string
		kind Kind
		id   xroad.ID
		pub  crypto.PublicKey
	}{
		{"auth naming member", Auth, member, ec.Public()},
		{"sign naming server", Sign, server, ec.Public()},
		{"subsystem", Sign, member.Subsystem("x"), ec.Public()},
		{"global group", Sign, xroad.GlobalGroupID{Instance: "PS", Code: "g"}, ec.Public()},
		{"invalid id", Auth, xroad.ServerID{Owner: member, Code: "a/b"}, ec.Public()},
		{"nil id", Auth, nil, ec.Public()},
		{"P-384", Auth, server, p384.Public()},
		{"RSA-1024", Auth, server, small.Public()},
		{"Ed25519", Sign, member, edPub},
		{"no key", Sign, member, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Apply(&x509.Certificate{PublicKey: tc.pub}, tc.kind, tc.id)
			if !errors.Is(err, ErrProfile) {
				t.Fatalf("Apply = %v, want ErrProfile", err)
			}
		})
	}
}

// TestCheckMalicious feeds Check certificates that almost fit a profile.
func TestCheckMalicious(t *testing.T) {
	ec := ecKey(t)
	serverB := xroad.ServerID{Owner: member, Code: "ss2"}
	for _, tc := range []struct {
		name   string
		kind   Kind
		id     xroad.ID
		mutate func(*x509.Certificate)
	}{
		{"two URIs", Auth, server, func(c *x509.Certificate) {
			c.URIs = append(c.URIs, mustURL(t, serverB.URI()))
		}},
		{"two URIs same", Auth, server, func(c *x509.Certificate) { c.URIs = append(c.URIs, c.URIs[0]) }},
		{"extra https URI", Auth, server, func(c *x509.Certificate) {
			c.URIs = append(c.URIs, mustURL(t, "https://evil.test/"))
		}},
		{"no URI", Auth, server, func(c *x509.Certificate) { c.URIs = nil }},
		{"wrong type URI", Auth, server, func(c *x509.Certificate) { c.URIs = []*url.URL{mustURL(t, member.URI())} }},
		{"subsystem URI", Sign, member, func(c *x509.Certificate) {
			c.URIs = []*url.URL{mustURL(t, member.Subsystem("s").URI())}
		}},
		{"non-canonical URI", Auth, server, func(c *x509.Certificate) {
			c.URIs = []*url.URL{mustURL(t, "xroad:SERVER:PS/GOV/MOI/ss%31")}
		}},
		{"other scheme", Sign, member, func(c *x509.Certificate) {
			c.URIs = []*url.URL{mustURL(t, "urn:MEMBER:PS/GOV/MOI")}
		}},
		{"missing EKU", Auth, server, func(c *x509.Certificate) { c.ExtKeyUsage = nil }},
		{"only serverAuth", Auth, server, func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}},
		{"extra EKU", Auth, server, func(c *x509.Certificate) {
			c.ExtKeyUsage = append(c.ExtKeyUsage, x509.ExtKeyUsageCodeSigning)
		}},
		{"auth with contentCommitment", Auth, server, func(c *x509.Certificate) {
			c.KeyUsage |= x509.KeyUsageContentCommitment
		}},
		{"auth CA", Auth, server, func(c *x509.Certificate) { c.IsCA = true; c.KeyUsage |= x509.KeyUsageCertSign }},
		{"auth email", Auth, server, func(c *x509.Certificate) { c.EmailAddresses = []string{"a@b.test"} }},
		{"auth CN of other server", Auth, server, func(c *x509.Certificate) { c.Subject.CommonName = serverB.String() }},
		{"DNS on sign", Sign, member, func(c *x509.Certificate) { c.DNSNames = []string{"moi.test"} }},
		{"IP on sign", Sign, member, func(c *x509.Certificate) { c.IPAddresses = []net.IP{net.IPv4(192, 0, 2, 1)} }},
		{"TLS EKU on sign", Sign, member, func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}},
		{"unknown EKU on sign", Sign, member, func(c *x509.Certificate) {
			c.UnknownExtKeyUsage = append(c.UnknownExtKeyUsage, []int{1, 3, 6, 1, 5, 5, 7, 3, 36})
		}},
		{"sign without non-repudiation", Sign, member, func(c *x509.Certificate) {
			c.KeyUsage = x509.KeyUsageDigitalSignature
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := applied(t, tc.kind, tc.id, ec.Public(), tc.mutate)
			if err := Check(c, tc.kind); !errors.Is(err, ErrProfile) {
				t.Fatalf("Check = %v, want ErrProfile", err)
			}
			if _, _, err := IDFromCert(c); err == nil {
				t.Fatal("IDFromCert accepted the certificate")
			}
		})
	}
}

func TestKindStrings(t *testing.T) {
	for _, k := range []Kind{Auth, Sign} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseKind("tls"); err == nil {
		t.Error("ParseKind accepted tls")
	}
	if Auth.ObjectType() != xroad.TypeServer || Sign.ObjectType() != xroad.TypeMember {
		t.Error("ObjectType mapping")
	}
}

// FuzzIDFromURIs checks that whatever URI a certificate carries, an accepted
// identity is canonical: formatting it gives back the bytes that were read.
func FuzzIDFromURIs(f *testing.F) {
	f.Add(server.URI())
	f.Add(member.URI())
	f.Add("xroad:SERVER:PS/GOV/MOI/ss%3F")
	f.Add("xroad:MEMBER:PS/GOV/MO%2FI")
	f.Add("xroad:SUBSYSTEM:PS/GOV/MOI/x")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		k, id, err := IDFromURIs([]*url.URL{u})
		if err != nil {
			return
		}
		if id.URI() != u.String() {
			t.Fatalf("accepted %q as %q", u.String(), id.URI())
		}
		if k.ObjectType() != id.Type() {
			t.Fatalf("kind %v for %s", k, id.Typed())
		}
		again, err := xroad.ParseURI(id.URI())
		if err != nil || again != id {
			t.Fatalf("round trip %q: %v, %v", id.URI(), again, err)
		}
	})
}
