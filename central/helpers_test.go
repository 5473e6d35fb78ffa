package central

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/mgmtproto/mgmttest"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// t0 is when every fake clock starts.
var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

const testInstance = "PS"

var (
	moi    = xroad.MemberID{Instance: testInstance, Class: "GOV", Code: "MOI"}
	moiSub = moi.Subsystem("civil-registry")
	ss1    = xroad.ServerID{Owner: moi, Code: "ss1"}
)

// testEnv is a registry seeded with one of everything, a publisher and an
// admin API served on a loopback listener.
type testEnv struct {
	t     *testing.T
	ctx   context.Context
	clk   *clock.Fake
	store registry.Store
	keys  []globalconf.SigningKey
	pub   *Publisher
	api   *API
	srv   *httptest.Server
	// caPEM and tsaPEM are a CA and a TSA certificate for request bodies.
	caPEM, tsaPEM string
	central       globalconf.CentralServer
}

func testCentral(t testing.TB) globalconf.CentralServer {
	t.Helper()
	mgmtCert, _ := mgmttest.ServerTLS(t, time.Now())
	return globalconf.CentralServer{
		ManagementURL:             "https://central.ps.example:4402",
		ManagementTLSCertificates: [][]byte{mgmtCert.Leaf.Raw},
		ConfigurationURLs:         []string{"http://central1.ps.example:4401/globalconf", "http://central2.ps.example:4401/globalconf"},
	}
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	clk := clock.NewFake(t0)
	st, err := registry.OpenSQLite(t.Context(), storetest.SQLitePath(t), registry.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return newTestEnvOn(t, st, clk, true)
}

func newTestEnvOn(t *testing.T, st registry.Store, clk *clock.Fake, seedIt bool) *testEnv {
	t.Helper()
	e := &testEnv{t: t, ctx: t.Context(), clk: clk, store: st, keys: []globalconf.SigningKey{newSigningKey(t, "k1")}, central: testCentral(t)}
	e.caPEM = pemCert(newCert(t, "Test Root CA", true))
	e.tsaPEM = pemCert(newCert(t, "Test TSA", false))
	if seedIt {
		e.seed()
	}
	var err error
	e.pub, err = NewPublisher(PublisherConfig{Store: st, Keys: e.keys, Central: e.central, MaxClockSkew: 30 * time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	e.api, err = NewAPI(APIConfig{Store: st, Publisher: e.pub, Decider: storeDecider{st}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.api.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// seed fills the registry with one of everything.
func (e *testEnv) seed() {
	t, ctx := e.t, e.ctx
	t.Helper()
	caDER := certDER(t, e.caPEM)
	tsaDER := certDER(t, e.tsaPEM)
	authDER := newCert(t, "ss1 auth", false)
	err := e.store.Update(ctx, func(tx registry.Tx) error {
		steps := []func() error{
			func() error { return tx.SetInstance(ctx, testInstance) },
			func() error {
				return tx.AddMemberClass(ctx, registry.MemberClass{Code: "GOV", Description: "Government"})
			},
			func() error {
				return tx.AddMemberClass(ctx, registry.MemberClass{Code: "COM", Description: "Commercial"})
			},
			func() error { return tx.AddMember(ctx, moi, "Ministry of Interior") },
			func() error { return tx.AddSubsystem(ctx, moiSub) },
			func() error { return tx.AddSecurityServer(ctx, ss1, []string{"ss1.moi.ps.example:5500", "10.0.0.1"}) },
			func() error { _, err := tx.AddAuthCert(ctx, ss1, authDER); return err },
			func() error { return tx.AddServerClient(ctx, ss1, moiSub) },
			func() error {
				return tx.AddGlobalGroup(ctx, registry.GlobalGroup{ID: xroad.GlobalGroupID{Instance: testInstance, Code: "ministries"}, Description: "Ministries"})
			},
			func() error {
				return tx.AddGroupMember(ctx, xroad.GlobalGroupID{Instance: testInstance, Code: "ministries"}, moiSub)
			},
			func() error {
				return tx.AddApprovedCA(ctx, registry.ApprovedCA{Name: "Test CA", Roots: [][]byte{caDER}, Profile: DefaultProfile,
					OCSPResponders: []registry.OCSPResponder{{URL: "http://ocsp.ps.example/"}}})
			},
			func() error {
				return tx.AddApprovedTSA(ctx, registry.ApprovedTSA{Name: "Test TSA", URL: "http://tsa.ps.example/", Cert: tsaDER})
			},
			func() error {
				_, err := tx.PutServiceDescription(ctx, registry.ServiceDescription{
					Service: xroad.ServiceID{Provider: moiSub, Code: "persons", Version: "v1"}, Type: registry.ServiceOpenAPI,
					Title: "Persons", Description: "Population register", Document: []byte(`{"openapi":"3.0.3"}`)})
				return err
			},
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
}

// storeDecider decides management requests directly in the registry (the
// real decider is central/mgmt's Processor).
type storeDecider struct{ st registry.Store }

func (d storeDecider) Approve(ctx context.Context, id int64, actor string) (registry.ManagementRequest, error) {
	return d.st.DecideRequest(ctx, id, registry.Decision{Status: registry.StatusApproved, By: actor})
}

func (d storeDecider) Reject(ctx context.Context, id int64, actor, comment string) (registry.ManagementRequest, error) {
	return d.st.DecideRequest(ctx, id, registry.Decision{Status: registry.StatusRejected, By: actor, Comment: comment})
}

// newKey creates an API key with roles (expiring at exp unless zero) and
// returns its secret.
func (e *testEnv) newKey(name string, exp time.Time, roles ...Role) (string, registry.APIKey) {
	e.t.Helper()
	secret := NewAPIKeySecret()
	rs := make([]string, 0, len(roles))
	for _, r := range roles {
		rs = append(rs, string(r))
	}
	k, err := e.store.CreateAPIKey(e.ctx, registry.APIKey{Name: name, Hash: registry.HashAPIKeySecret([]byte(secret)), Roles: rs, ExpiresAt: exp})
	if err != nil {
		e.t.Fatal(err)
	}
	return secret, k
}

// do sends a request to the admin API and returns the status and body.
func (e *testEnv) do(method, path, secret string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if secret != "" {
		req.Header.Set("Authorization", APIKeyScheme+" token="+secret)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

func (e *testEnv) anchor(keys ...globalconf.SigningKey) *globalconf.Anchor {
	e.t.Helper()
	if len(keys) == 0 {
		keys = e.keys
	}
	return anchorFor(e.t, e.central.ConfigurationURLs, keys...)
}

func anchorFor(t *testing.T, urls []string, keys ...globalconf.SigningKey) *globalconf.Anchor {
	t.Helper()
	pubs := map[string]crypto.PublicKey{}
	for _, k := range keys {
		pubs[k.KeyID] = k.Signer.Public()
	}
	a, err := globalconf.NewAnchor(testInstance, t0, urls, pubs)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newSigningKey(t *testing.T, kid string) globalconf.SigningKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return globalconf.SigningKey{KeyID: kid, Signer: k}
}

// newCert returns a self-signed certificate (a CA certificate if ca).
func newCert(t *testing.T, cn string, ca bool) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(24 * 365 * time.Hour),
		BasicConstraintsValid: true, IsCA: ca}
	if ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pemCert(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func certDER(t *testing.T, p string) []byte {
	t.Helper()
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		t.Fatal("no PEM block")
	}
	return b.Bytes
}
