package testpki_test

import (
	"crypto/x509"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

var now = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func TestLeafChainAndOCSP(t *testing.T) {
	p := testpki.New(t, now, testpki.Name("PS"))
	moi := xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	ss1 := xroad.ServerID{Owner: moi, Code: "ss1"}
	for _, tc := range []struct {
		kind profile.Kind
		id   xroad.ID
		eku  x509.ExtKeyUsage
	}{
		{profile.Auth, ss1, x509.ExtKeyUsageClientAuth},
		{profile.Sign, moi, x509.ExtKeyUsageAny},
	} {
		key, chain := p.Leaf(t, tc.kind, tc.id, "localhost", "127.0.0.1")
		if len(chain) != 2 || chain[1] != p.Issuer || !key.PublicKey.Equal(chain[0].PublicKey) {
			t.Fatalf("%s: chain %v", tc.kind, chain)
		}
		leaf := chain[0]
		if err := profile.Check(leaf, tc.kind); err != nil {
			t.Errorf("%s: %v", tc.kind, err)
		}
		if leaf.SerialNumber.Int64() <= 1000 {
			t.Errorf("%s: serial %v, want > 1000", tc.kind, leaf.SerialNumber)
		}
		inter := x509.NewCertPool()
		inter.AddCert(p.Issuer)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: p.Roots(), Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{tc.eku}}); err != nil {
			t.Errorf("%s: Verify: %v", tc.kind, err)
		}
		if tc.kind == profile.Auth && (len(leaf.DNSNames) != 1 || len(leaf.IPAddresses) != 1) {
			t.Errorf("auth: DNS %v IP %v", leaf.DNSNames, leaf.IPAddresses)
		}
		for _, status := range []int{ocsp.Good, ocsp.Revoked, ocsp.Unknown} {
			resp, err := ocsp.ParseResponseForCert(p.OCSP(t, leaf, status, now), leaf, p.Issuer)
			if err != nil || resp.Status != status || !resp.ThisUpdate.Equal(now) || !resp.Certificate.Equal(p.Responder) {
				t.Errorf("%s: OCSP %d: %+v, %v", tc.kind, status, resp, err)
			}
		}
	}
}

func TestRandomSerials(t *testing.T) {
	a := testpki.New(t, now, testpki.RandomSerials())
	b := testpki.New(t, now, testpki.RandomSerials())
	if a.Root.SerialNumber.Cmp(b.Root.SerialNumber) == 0 {
		t.Error("two hierarchies share the root serial")
	}
	if a.NextSerial(t).Cmp(a.NextSerial(t)) == 0 {
		t.Error("leaf serials repeat")
	}
}
