package ca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/ca"
	"github.com/jisr-bus/jisr/pki/enrol"
	"github.com/jisr-bus/jisr/pki/profile"
)

// glog (a step-ca dependency) starts a flush goroutine in its init.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"))
}

var (
	moi    = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	moh    = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOH"}
	ss1    = xroad.ServerID{Owner: moi, Code: "ss1"}
	ss2    = xroad.ServerID{Owner: moi, Code: "ss2"}
	mohSS1 = xroad.ServerID{Owner: moh, Code: "ss1"}
)

// keyStore is an in-memory stand-in for pki/keys.Store.
type keyStore struct {
	mu   sync.Mutex
	keys map[string]crypto.Signer
}

func (s *keyStore) newKey(label string) (crypto.Signer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[label]; ok {
		return nil, errors.New("exists")
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	s.keys[label] = k
	return k, nil
}

func (s *keyStore) signer(label string) (crypto.Signer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[label]
	if !ok {
		return nil, errors.New("not found")
	}
	return k, nil
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// env is one instance PKI with its CA served on loopback HTTPS.
type env struct {
	t       *testing.T
	dir     string
	dataDir string
	keys    *keyStore
	clock   *clock.Fake
	reg     *prometheus.Registry
	bundle  *ca.Bundle
	auth    *ca.Authority
	srv     *httptest.Server
	client  *http.Client
	solver  *enrol.HTTP01Solver
	http01  *httptest.Server

	mu      sync.Mutex
	revoked []*big.Int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{
		t: t, dir: filepath.Join(t.TempDir(), "pki"), dataDir: filepath.Join(t.TempDir(), "data"),
		keys:   &keyStore{keys: map[string]crypto.Signer{}},
		clock:  clock.NewFake(time.Now().Truncate(time.Second)),
		solver: &enrol.HTTP01Solver{},
	}
	var err error
	e.bundle, err = ca.Init(ca.InitOptions{Instance: "PS", Dir: e.dir, NewKey: e.keys.newKey, Clock: e.clock})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	e.http01 = httptest.NewServer(e.solver)
	t.Cleanup(e.http01.Close)
	e.open()
	t.Cleanup(e.close)
	return e
}

// open starts the Authority and its HTTPS server.
func (e *env) open() {
	t := e.t
	t.Helper()
	solverAddr := e.http01.Listener.Addr().String()
	e.reg = prometheus.NewRegistry()
	a, err := ca.New(ca.Config{
		Dir: e.dir, DataDir: e.dataDir, Signer: e.keys.signer, Clock: e.clock,
		OCSPURL:    "http://127.0.0.1:4480/",
		Registerer: e.reg,
		OnRevoke: func(s *big.Int) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.revoked = append(e.revoked, s)
		},
		// Every *.moi.test / *.moh.test name resolves to the test's http-01
		// listener.
		ChallengeDialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil || port != "80" || !(strings.HasSuffix(host, ".moi.test") || strings.HasSuffix(host, ".moh.test")) {
				return nil, errors.New("test dialer: unexpected address " + addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, solverAddr)
		},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.auth = a
	cfg, err := a.TLSConfig()
	if err != nil {
		t.Fatalf("TLSConfig: %v", err)
	}
	e.srv = httptest.NewUnstartedServer(a.Handler())
	e.srv.TLS = cfg
	e.srv.StartTLS()
	e.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.bundle.Roots()}}}
}

func (e *env) close() {
	if e.auth == nil {
		return
	}
	e.client.CloseIdleConnections()
	e.srv.Close()
	if err := e.auth.Close(); err != nil {
		e.t.Errorf("Close: %v", err)
	}
	e.auth = nil
}

func (e *env) opts() enrol.Options {
	return enrol.Options{CAURL: e.srv.URL, HTTPClient: e.client, Roots: e.bundle.Roots(), Clock: e.clock}
}

func (e *env) token(t *testing.T, kind profile.Kind, id xroad.ID, dns []string) string {
	t.Helper()
	tok, err := e.auth.NewEnrolmentToken(kind, id, dns, 10*time.Minute)
	if err != nil {
		t.Fatalf("NewEnrolmentToken: %v", err)
	}
	return tok
}

func (e *env) enrolToken(t *testing.T, kind profile.Kind, id xroad.ID, dns []string) ([]*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := newKey(t)
	chain, err := enrol.WithToken(context.Background(), e.opts(), e.token(t, kind, id, dns), key, kind, id, dns)
	if err != nil {
		t.Fatalf("WithToken(%s %s): %v", kind, id.Typed(), err)
	}
	return chain, key
}

func TestInit(t *testing.T) {
	e := newEnv(t)
	b, err := ca.LoadBundle(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Instance != "PS" || !b.Root.Equal(e.bundle.Root) {
		t.Fatalf("LoadBundle: instance %q", b.Instance)
	}
	for _, f := range []string{ca.FileRoot, ca.FileIntermediate, ca.FileOCSP, ca.FileTSA, ca.FileTLS, ca.FileEnrolTokenKey} {
		if _, err := os.Stat(filepath.Join(e.dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	now := e.clock.Now()
	years := func(c *x509.Certificate) int { return int(c.NotAfter.Sub(now).Hours() / 24 / 365) }
	inter := x509.NewCertPool()
	inter.AddCert(b.Intermediate)
	verify := func(c *x509.Certificate, eku x509.ExtKeyUsage) error {
		_, err := c.Verify(x509.VerifyOptions{Roots: b.Roots(), Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{eku}})
		return err
	}
	critical := func(c *x509.Certificate, oid asn1.ObjectIdentifier) (found, crit bool) {
		for _, x := range c.Extensions {
			if x.Id.Equal(oid) {
				return true, x.Critical
			}
		}
		return false, false
	}
	t.Run("root", func(t *testing.T) {
		if !b.Root.IsCA || b.Root.CheckSignatureFrom(b.Root) != nil || years(b.Root) != 20 {
			t.Errorf("root: CA %v, %d years", b.Root.IsCA, years(b.Root))
		}
	})
	t.Run("intermediate", func(t *testing.T) {
		if !b.Intermediate.IsCA || !b.Intermediate.MaxPathLenZero || b.Intermediate.MaxPathLen != 0 || years(b.Intermediate) != 10 {
			t.Errorf("intermediate: pathlen %d zero %v, %d years", b.Intermediate.MaxPathLen, b.Intermediate.MaxPathLenZero, years(b.Intermediate))
		}
		if err := b.Intermediate.CheckSignatureFrom(b.Root); err != nil {
			t.Error(err)
		}
	})
	t.Run("ocsp", func(t *testing.T) {
		if err := verify(b.OCSP, x509.ExtKeyUsageOCSPSigning); err != nil {
			t.Error(err)
		}
		if found, _ := critical(b.OCSP, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}); !found {
			t.Error("no id-pkix-ocsp-nocheck")
		}
		if years(b.OCSP) != 2 {
			t.Errorf("%d years", years(b.OCSP))
		}
	})
	t.Run("tsa", func(t *testing.T) {
		if err := verify(b.TSA, x509.ExtKeyUsageTimeStamping); err != nil {
			t.Error(err)
		}
		if found, crit := critical(b.TSA, asn1.ObjectIdentifier{2, 5, 29, 37}); !found || !crit {
			t.Errorf("EKU found %v critical %v", found, crit)
		}
		if len(b.TSA.ExtKeyUsage) != 1 || b.TSA.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || years(b.TSA) != 5 {
			t.Errorf("EKU %v, %d years", b.TSA.ExtKeyUsage, years(b.TSA))
		}
	})
	t.Run("tls", func(t *testing.T) {
		if err := verify(b.TLS, x509.ExtKeyUsageServerAuth); err != nil {
			t.Error(err)
		}
		if err := b.TLS.VerifyHostname("localhost"); err != nil {
			t.Error(err)
		}
		if err := b.TLS.VerifyHostname("127.0.0.1"); err != nil {
			t.Error(err)
		}
	})
	t.Run("again", func(t *testing.T) {
		_, err := ca.Init(ca.InitOptions{Instance: "PS", Dir: e.dir, NewKey: (&keyStore{keys: map[string]crypto.Signer{}}).newKey})
		if !errors.Is(err, ca.ErrExists) {
			t.Errorf("second Init = %v, want ErrExists", err)
		}
	})
	t.Run("health", func(t *testing.T) {
		for _, p := range []string{"/health", "/1.0/health", "/roots.pem", "/1.0/roots"} {
			resp, err := e.client.Get(e.srv.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Errorf("GET %s: %s", p, resp.Status)
			}
		}
		resp, err := e.client.Get(e.srv.URL + "/1.0/provisioners")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /1.0/provisioners: %s, want 404 (not exposed)", resp.Status)
		}
	})
}

func TestTokenEnrolment(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		kind profile.Kind
		id   xroad.ID
		dns  []string
	}{
		{"auth", profile.Auth, ss1, []string{"ss1.moi.test", "127.0.0.1"}},
		{"auth without names", profile.Auth, ss2, nil},
		{"sign", profile.Sign, moi, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chain, key := e.enrolToken(t, tc.kind, tc.id, tc.dns)
			leaf := chain[0]
			k, id, err := profile.IDFromCert(leaf)
			if err != nil || k != tc.kind || id != tc.id {
				t.Fatalf("IDFromCert = %v %v %v", k, id, err)
			}
			if !leaf.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
				t.Error("public key differs")
			}
			if got := leaf.NotAfter.Sub(e.clock.Now()); got != ca.DefaultCertLifetime {
				t.Errorf("lifetime %s", got)
			}
			if len(leaf.OCSPServer) != 1 {
				t.Errorf("OCSP server %v", leaf.OCSPServer)
			}
			if tc.kind == profile.Auth && len(leaf.DNSNames)+len(leaf.IPAddresses) != len(tc.dns) {
				t.Errorf("names %v %v", leaf.DNSNames, leaf.IPAddresses)
			}
			st, err := e.auth.CertStatus(ctx, leaf.SerialNumber)
			if err != nil || !st.Known || st.Revoked {
				t.Errorf("CertStatus = %+v, %v", st, err)
			}
		})
	}

	t.Run("token used twice", func(t *testing.T) {
		tok := e.token(t, profile.Auth, ss1, nil)
		if _, err := enrol.WithToken(ctx, e.opts(), tok, newKey(t), profile.Auth, ss1, nil); err != nil {
			t.Fatal(err)
		}
		_, err := enrol.WithToken(ctx, e.opts(), tok, newKey(t), profile.Auth, ss1, nil)
		if !errors.Is(err, enrol.ErrRefused) {
			t.Fatalf("reuse = %v, want ErrRefused", err)
		}
	})

	refused := []struct {
		name    string
		tokKind profile.Kind
		tokID   xroad.ID
		tokDNS  []string
		kind    profile.Kind
		id      xroad.ID
		dns     []string
	}{
		{"other server", profile.Auth, ss1, nil, profile.Auth, ss2, nil},
		{"other member's server", profile.Auth, ss1, nil, profile.Auth, mohSS1, nil},
		{"extra DNS name", profile.Auth, ss1, []string{"ss1.moi.test"}, profile.Auth, ss1, []string{"ss1.moi.test", "evil.test"}},
		{"other DNS name", profile.Auth, ss1, []string{"ss1.moi.test"}, profile.Auth, ss1, []string{"evil.test"}},
		{"sign with auth token", profile.Auth, ss1, nil, profile.Sign, moi, nil},
		{"other member", profile.Sign, moi, nil, profile.Sign, moh, nil},
	}
	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			tok := e.token(t, tc.tokKind, tc.tokID, tc.tokDNS)
			_, err := enrol.WithToken(ctx, e.opts(), tok, newKey(t), tc.kind, tc.id, tc.dns)
			if !errors.Is(err, enrol.ErrRefused) {
				t.Fatalf("WithToken = %v, want ErrRefused", err)
			}
		})
	}

	t.Run("refused/expired token", func(t *testing.T) {
		// step-ca checks token expiry against the wall clock, so the token
		// is minted in the past.
		now := e.clock.Now()
		e.clock.Set(now.Add(-3 * time.Hour))
		tok, err := e.auth.NewEnrolmentToken(profile.Auth, ss1, nil, time.Hour)
		e.clock.Set(now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := enrol.WithToken(ctx, e.opts(), tok, newKey(t), profile.Auth, ss1, nil); !errors.Is(err, enrol.ErrRefused) {
			t.Fatalf("WithToken = %v, want ErrRefused", err)
		}
	})

	t.Run("refused/forged token", func(t *testing.T) {
		tok := e.token(t, profile.Auth, ss1, nil)
		parts := strings.Split(tok, ".")
		forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
		if _, err := enrol.WithToken(ctx, e.opts(), forged, newKey(t), profile.Auth, ss1, nil); !errors.Is(err, enrol.ErrRefused) {
			t.Fatalf("WithToken = %v, want ErrRefused", err)
		}
	})

	for _, tc := range []struct {
		name string
		kind profile.Kind
		id   xroad.ID
		dns  []string
		ttl  time.Duration
	}{
		{"sign with DNS", profile.Sign, moi, []string{"moi.test"}, 0},
		{"kind mismatch", profile.Sign, ss1, nil, 0},
		{"subsystem", profile.Sign, moi.Subsystem("x"), nil, 0},
		{"other instance", profile.Sign, xroad.MemberID{Instance: "XX", Class: "GOV", Code: "MOI"}, nil, 0},
		{"wildcard", profile.Auth, ss1, []string{"*.moi.test"}, 0},
		{"ttl too long", profile.Auth, ss1, nil, 30 * 24 * time.Hour},
	} {
		t.Run("no token/"+tc.name, func(t *testing.T) {
			if _, err := e.auth.NewEnrolmentToken(tc.kind, tc.id, tc.dns, tc.ttl); err == nil {
				t.Fatal("NewEnrolmentToken succeeded")
			}
		})
	}

	if got := counter(t, e.reg, "jisr_pki_certificates_issued_total", "auth"); got < 3 {
		t.Errorf("issued{auth} = %v", got)
	}
}

// counter returns a counter's value by name and label value ("" for none).
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" && len(m.GetLabel()) == 0 {
				return m.GetCounter().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestRevokeAndStatus(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	chain, _ := e.enrolToken(t, profile.Auth, ss1, []string{"ss1.moi.test"})
	serial := chain[0].SerialNumber
	usedTok := e.token(t, profile.Sign, moi, nil)
	if _, err := enrol.WithToken(ctx, e.opts(), usedTok, newKey(t), profile.Sign, moi, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.auth.AllowACME(ss1, "ss1.moi.test"); err != nil {
		t.Fatal(err)
	}
	unusedTok := e.token(t, profile.Auth, ss2, nil)

	// Revocation time comes from the injected clock. (The clock is put
	// back afterwards: step-ca checks token times against the wall clock.)
	now := e.clock.Now()
	e.clock.Add(time.Hour)
	revokedAt := e.clock.Now()
	if err := e.auth.Revoke(ctx, serial, 1, "key compromise"); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	e.clock.Set(now)
	check := func(t *testing.T) {
		st, err := e.auth.CertStatus(ctx, serial)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Known || !st.Revoked || !st.RevokedAt.Equal(revokedAt) || st.Reason != 1 {
			t.Errorf("CertStatus = %+v, want revoked at %s reason 1", st, revokedAt)
		}
		st, err = e.auth.CertStatus(ctx, big.NewInt(12345))
		if err != nil || st.Known {
			t.Errorf("unknown serial: %+v, %v", st, err)
		}
		st, err = e.auth.CertStatus(ctx, e.bundle.TSA.SerialNumber)
		if err != nil || !st.Known || st.Revoked {
			t.Errorf("TSA: %+v, %v", st, err)
		}
	}
	check(t)
	e.mu.Lock()
	if len(e.revoked) != 1 || e.revoked[0].Cmp(serial) != 0 {
		t.Errorf("OnRevoke calls: %v", e.revoked)
	}
	e.mu.Unlock()
	if got := counter(t, e.reg, "jisr_pki_certificates_revoked_total", ""); got != 1 {
		t.Errorf("revoked = %v", got)
	}
	if got := counter(t, e.reg, "jisr_pki_certificates_issued_total", "sign"); got != 1 {
		t.Errorf("issued{sign} = %v", got)
	}

	t.Run("errors", func(t *testing.T) {
		if err := e.auth.Revoke(ctx, serial, 1, ""); !errors.Is(err, ca.ErrAlreadyRevoked) {
			t.Errorf("second Revoke = %v", err)
		}
		if err := e.auth.Revoke(ctx, big.NewInt(12345), 0, ""); !errors.Is(err, ca.ErrUnknownCertificate) {
			t.Errorf("Revoke unknown = %v", err)
		}
		if err := e.auth.Revoke(ctx, serial, 7, ""); err == nil {
			t.Error("reason 7 accepted")
		}
	})

	t.Run("after reopen", func(t *testing.T) {
		e.close()
		e.open()
		check(t)
		if _, err := enrol.WithToken(ctx, e.opts(), usedTok, newKey(t), profile.Sign, moi, nil); !errors.Is(err, enrol.ErrRefused) {
			t.Errorf("token reused after restart: %v", err)
		}
		if _, err := enrol.WithToken(ctx, e.opts(), unusedTok, newKey(t), profile.Auth, ss2, nil); err != nil {
			t.Errorf("token minted before restart: %v", err)
		}
		if s, err := e.auth.ACMEServer("SS1.moi.test"); err != nil || s != ss1 {
			t.Errorf("ACME registration after restart: %v %v", s, err)
		}
	})

	t.Run("renewal of revoked certificate refused", func(t *testing.T) {
		chain2, key2 := e.enrolToken(t, profile.Auth, ss2, nil)
		if err := e.auth.Revoke(ctx, chain2[0].SerialNumber, 4, "superseded"); err != nil {
			t.Fatal(err)
		}
		if _, err := enrol.Renew(ctx, e.opts(), chain2, key2); !errors.Is(err, enrol.ErrRefused) {
			t.Errorf("Renew of revoked = %v, want ErrRefused", err)
		}
	})
}

func TestRenew(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		kind profile.Kind
		id   xroad.ID
		dns  []string
	}{
		{"auth", profile.Auth, ss1, []string{"ss1.moi.test"}},
		{"sign", profile.Sign, moi, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chain, key := e.enrolToken(t, tc.kind, tc.id, tc.dns)
			if enrol.NeedsRenewal(chain[0], e.clock.Now(), 2.0/3) {
				t.Error("NeedsRenewal on a fresh certificate")
			}
			if !enrol.NeedsRenewal(chain[0], chain[0].NotBefore.Add(300*24*time.Hour), 2.0/3) {
				t.Error("no NeedsRenewal after 300 of 365 days")
			}
			renewed, err := enrol.Renew(ctx, e.opts(), chain, key)
			if err != nil {
				t.Fatalf("Renew: %v", err)
			}
			if renewed[0].SerialNumber.Cmp(chain[0].SerialNumber) == 0 {
				t.Error("same serial")
			}
			_, id, err := profile.IDFromCert(renewed[0])
			if err != nil || id != tc.id {
				t.Errorf("renewed names %v (%v)", id, err)
			}
			if err := profile.Check(renewed[0], tc.kind); err != nil {
				t.Error(err)
			}
			st, err := e.auth.CertStatus(ctx, renewed[0].SerialNumber)
			if err != nil || !st.Known {
				t.Errorf("renewed status %+v %v", st, err)
			}
			// A renewal token is one-time too: renewing the old chain again
			// works (new token), but with a foreign key it does not.
			if _, err := enrol.Renew(ctx, e.opts(), chain, newKey(t)); err == nil {
				t.Error("Renew with a foreign key succeeded")
			}
		})
	}
}

func TestACME(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.auth.AllowACME(ss1, "ss1.moi.test"); err != nil {
		t.Fatal(err)
	}
	if err := e.auth.AllowACME(ss2, "ss1.moi.test"); err == nil {
		t.Error("a name registered for two servers")
	}
	if err := e.auth.AllowACME(ss1, "ss1.moi.test"); err != nil {
		t.Errorf("re-registering the same mapping: %v", err)
	}
	if err := e.auth.AllowACME(ss1, "10.0.0.1"); err == nil {
		t.Error("an IP address registered")
	}
	opts := func() enrol.ACMEOptions {
		return enrol.ACMEOptions{
			DirectoryURL: e.srv.URL + "/acme/" + ca.ProvisionerACME + "/directory",
			HTTPClient:   e.client, AccountKey: newKey(t), Solver: e.solver,
			Roots: e.bundle.Roots(), Clock: e.clock,
		}
	}
	for _, tc := range []struct {
		name string
		kind profile.Kind
		id   xroad.ID
	}{
		{"auth", profile.Auth, ss1},
		{"owner sign", profile.Sign, moi},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := newKey(t)
			chain, err := enrol.WithACME(ctx, opts(), key, tc.kind, tc.id, "ss1.moi.test")
			if err != nil {
				t.Fatalf("WithACME: %v", err)
			}
			leaf := chain[0]
			_, id, err := profile.IDFromCert(leaf)
			if err != nil || id != tc.id {
				t.Fatalf("names %v (%v)", id, err)
			}
			if tc.kind == profile.Auth && (len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "ss1.moi.test") {
				t.Errorf("DNS %v", leaf.DNSNames)
			}
			if leaf.Subject.SerialNumber != "" {
				t.Errorf("subject %v", leaf.Subject)
			}
			// ACME certificates are renewed by a new order.
			if _, err := enrol.Renew(ctx, e.opts(), chain, key); !errors.Is(err, enrol.ErrRefused) {
				t.Errorf("Renew of ACME certificate = %v, want ErrRefused", err)
			}
		})
	}
	for _, tc := range []struct {
		name string
		kind profile.Kind
		id   xroad.ID
		dns  string
	}{
		{"unregistered name", profile.Auth, ss1, "ss9.moi.test"},
		{"other server", profile.Auth, ss2, "ss1.moi.test"},
		{"member not owner", profile.Sign, moh, "ss1.moi.test"},
		{"foreign server on registered name", profile.Auth, mohSS1, "ss1.moi.test"},
	} {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			_, err := enrol.WithACME(ctx, opts(), newKey(t), tc.kind, tc.id, tc.dns)
			if !errors.Is(err, enrol.ErrRefused) {
				t.Fatalf("WithACME = %v, want ErrRefused", err)
			}
		})
	}
	t.Run("refused/solver silent", func(t *testing.T) {
		if err := e.auth.AllowACME(mohSS1, "ss1.moh.test"); err != nil {
			t.Fatal(err)
		}
		o := opts()
		o.Solver = &enrol.HTTP01Solver{} // answers nothing on the CA's dial target
		o.ValidationTimeout = 2 * time.Second
		if _, err := enrol.WithACME(ctx, o, newKey(t), profile.Auth, mohSS1, "ss1.moh.test"); err == nil {
			t.Fatal("WithACME succeeded without a challenge answer")
		}
	})
}
