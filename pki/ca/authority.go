package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/smallstep/certificates/acme"
	acmeAPI "github.com/smallstep/certificates/acme/api"
	acmeNoSQL "github.com/smallstep/certificates/acme/db/nosql"
	"github.com/smallstep/certificates/api"
	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/authority/config"
	"github.com/smallstep/certificates/authority/provisioner"
	stepdb "github.com/smallstep/certificates/db"
	"github.com/smallstep/nosql"
	"go.step.sm/crypto/jose"

	"github.com/jisr-bus/jisr/internal/clock"
)

// Provisioner names, as they appear in URLs (/acme/acme/directory) and in
// the step provisioner extension of issued certificates.
const (
	ProvisionerEnrol = "enrol"
	ProvisionerACME  = "acme"
)

// DefaultCertLifetime is the validity of auth and sign certificates unless
// Config.CertLifetime says otherwise.
const DefaultCertLifetime = 365 * 24 * time.Hour

// DBFile is the name of the bbolt database inside Config.DataDir.
const DBFile = "ca.db"

// Config configures New. Dir, DataDir and Signer are required.
type Config struct {
	// Dir is the PKI directory Init wrote.
	Dir string
	// DataDir holds the database (created if missing).
	DataDir string
	// Signer returns the key store's key for a label (LabelIntermediate,
	// LabelEnrolToken and, for TLSConfig, LabelTLS are used).
	Signer func(label string) (crypto.Signer, error)
	// Clock is used for validity periods, revocation times and tokens;
	// clock.System() if nil.
	Clock clock.Clock
	// DNSNames are the names the CA's API is reached at; tokens are addressed
	// to the first. Default: the DNS names and IP addresses of the ca-tls
	// certificate.
	DNSNames []string
	// CertLifetime is the validity of issued auth and sign certificates;
	// DefaultCertLifetime if zero.
	CertLifetime time.Duration
	// OCSPURL, if set, is written into issued certificates' Authority
	// Information Access extension.
	OCSPURL string
	// ChallengeDialer, if set, dials the connections of ACME http-01
	// validation ("host:80"); it lets tests and split-horizon deployments map
	// a security server's name to an address. Default: a net.Dialer.
	ChallengeDialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// Registerer, if set, receives the CA's metrics.
	Registerer prometheus.Registerer
	// OnRevoke, if set, is called after a revocation has been recorded,
	// whichever path it came through (the OCSP responder drops its cache).
	// It must not block.
	OnRevoke func(serial *big.Int)
}

// Authority is a running instance CA. Its methods are safe for concurrent
// use. Close it to release the database.
type Authority struct {
	cfg      Config
	clock    clock.Clock
	bundle   *Bundle
	auth     *authority.Authority
	db       *authDB
	acmeDB   acme.DB
	linker   acme.Linker
	client   acme.Client
	jwk      *jose.JSONWebKey
	tokenKey crypto.Signer
	dnsNames []string
	lifetime time.Duration
	metrics  *metrics

	closeOnce sync.Once
	closeErr  error
}

// New opens the CA over the PKI in cfg.Dir and the database in cfg.DataDir.
func New(cfg Config) (*Authority, error) {
	if cfg.Dir == "" || cfg.DataDir == "" || cfg.Signer == nil {
		return nil, errors.New("ca: Config.Dir, DataDir and Signer are required")
	}
	b, err := LoadBundle(cfg.Dir)
	if err != nil {
		return nil, err
	}
	a := &Authority{cfg: cfg, bundle: b, clock: cfg.Clock, lifetime: cfg.CertLifetime}
	if a.clock == nil {
		a.clock = clock.System()
	}
	if a.lifetime <= 0 {
		a.lifetime = DefaultCertLifetime
	}
	a.dnsNames = slices.Clone(cfg.DNSNames)
	if len(a.dnsNames) == 0 {
		a.dnsNames = append(a.dnsNames, b.TLS.DNSNames...)
		for _, ip := range b.TLS.IPAddresses {
			a.dnsNames = append(a.dnsNames, ip.String())
		}
	}
	if len(a.dnsNames) == 0 {
		return nil, errors.New("ca: no DNS name for the CA API")
	}

	interKey, err := cfg.Signer(LabelIntermediate)
	if err != nil {
		return nil, fmt.Errorf("ca: intermediate key: %w", err)
	}
	if !samePublicKey(interKey.Public(), b.Intermediate.PublicKey) {
		return nil, errors.New("ca: intermediate key does not match the intermediate certificate")
	}
	if a.tokenKey, err = cfg.Signer(LabelEnrolToken); err != nil {
		return nil, fmt.Errorf("ca: enrolment token key: %w", err)
	}
	if !samePublicKey(a.tokenKey.Public(), b.EnrolTokenKey) {
		return nil, errors.New("ca: enrolment token key does not match " + FileEnrolTokenKey)
	}
	a.jwk, err = newJWK(b.EnrolTokenKey)
	if err != nil {
		return nil, err
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	dbConf := &stepdb.Config{Type: nosql.BBoltDriver, DataSource: filepath.Join(cfg.DataDir, DBFile)}
	raw, err := stepdb.New(dbConf)
	if err != nil {
		return nil, fmt.Errorf("ca: open database: %w", err)
	}
	sdb, ok := raw.(*stepdb.DB)
	if !ok {
		_ = raw.Shutdown()
		return nil, fmt.Errorf("ca: unexpected database type %T", raw)
	}
	a.db = &authDB{DB: sdb, a: a}
	fail := func(err error) (*Authority, error) {
		_ = sdb.Shutdown()
		return nil, err
	}
	if err := sdb.CreateTable([]byte(acmeNamesTable)); err != nil {
		return fail(fmt.Errorf("ca: create table: %w", err))
	}
	if a.acmeDB, err = acmeNoSQL.New(sdb.DB); err != nil {
		return fail(fmt.Errorf("ca: ACME database: %w", err))
	}
	a.linker = acme.NewLinker(a.dnsNames[0], "acme")
	a.client = newChallengeClient(cfg.ChallengeDialer)

	if cfg.Registerer != nil {
		if a.metrics, err = newMetrics(cfg.Registerer); err != nil {
			return fail(err)
		}
	}

	provs, err := a.provisioners()
	if err != nil {
		return fail(err)
	}
	conf := &config.Config{
		DNSNames: a.dnsNames,
		DB:       dbConf,
		AuthorityConfig: &config.AuthConfig{
			Provisioners: provs,
			// Validity comes from the enforcer (injected clock); step-ca's
			// backdate is only used for renewals.
			Backdate: &provisioner.Duration{Duration: notBeforeBackdating},
			// step-ca refuses tokens issued before it started, a stopgap
			// for in-memory databases that forget used tokens. Ours
			// persists them, so an enrolment token stays usable (once)
			// across restarts.
			DisableIssuedAtCheck: true,
		},
		CommonName: b.Instance + " CA",
	}
	a.auth, err = authority.NewEmbedded(
		authority.WithConfig(conf),
		authority.WithDatabase(a.db),
		authority.WithX509RootCerts(b.Root),
		authority.WithX509Signer(b.Intermediate, interKey),
		authority.WithX509Enforcers(&enforcer{a: a}),
		authority.WithAuthorizeRenewFunc(a.authorizeRenew),
		authority.WithQuietInit(),
	)
	if err != nil {
		a.unregister()
		return fail(fmt.Errorf("ca: step-ca authority: %w", err))
	}
	// Record the certificates Init issued so that OCSP knows them.
	for _, c := range []*x509.Certificate{b.OCSP, b.TSA, b.TLS} {
		if _, err := sdb.GetCertificate(c.SerialNumber.String()); err == nil {
			continue
		}
		if err := sdb.StoreCertificate(c); err != nil {
			_ = a.Close()
			return nil, fmt.Errorf("ca: record %s: %w", c.Subject.CommonName, err)
		}
	}
	return a, nil
}

// provisioners returns the JWK and ACME provisioner definitions.
func (a *Authority) provisioners() (provisioner.List, error) {
	lifetime := &provisioner.Duration{Duration: a.lifetime}
	minDur := &provisioner.Duration{Duration: 5 * time.Minute}
	if a.lifetime < minDur.Duration {
		minDur = lifetime
	}
	falseV := false
	claims := func(renew bool) *provisioner.Claims {
		disable := !renew
		return &provisioner.Claims{
			MinTLSDur: minDur, MaxTLSDur: lifetime, DefaultTLSDur: lifetime,
			DisableRenewal: &disable, AllowRenewalAfterExpiry: &falseV,
			EnableSSHCA: &falseV,
		}
	}
	return provisioner.List{
		&provisioner.JWK{
			Type:   provisioner.TypeJWK.String(),
			Name:   ProvisionerEnrol,
			Key:    a.jwk,
			Claims: claims(true),
		},
		&provisioner.ACME{
			Type:       provisioner.TypeACME.String(),
			Name:       ProvisionerACME,
			Challenges: []provisioner.ACMEChallenge{provisioner.HTTP_01},
			// ACME certificates are renewed by a new order, which proves
			// control of the name again.
			Claims: claims(false),
			Options: &provisioner.Options{X509: &provisioner.X509Options{
				Template: acmeTemplate,
			}},
		},
	}, nil
}

// acmeTemplate passes the CSR subject's serialNumber (where a security
// server puts the typed identifier it asks for) and the validated DNS names
// to the enforcer, which replaces the subject and applies the profile.
const acmeTemplate = `{
	"subject": {"serialNumber": {{ toJson .Insecure.CR.Subject.SerialNumber }}},
	"sans": {{ toJson .SANs }}
}`

// Bundle returns the public part of the PKI.
func (a *Authority) Bundle() *Bundle { return a.bundle }

// Close releases the database. The Handler must no longer be serving.
func (a *Authority) Close() error {
	a.closeOnce.Do(func() {
		a.unregister()
		if err := a.auth.Shutdown(); err != nil {
			a.closeErr = fmt.Errorf("ca: close: %w", err)
		}
	})
	return a.closeErr
}

// Handler serves step-ca's API (under "/" and "/1.0/": health, roots, root,
// intermediates, sign, renew, revoke, version) and the ACME server under
// "/acme/{provisioner}/…" (the directory is /acme/acme/directory). Serve it
// over HTTPS, with the configuration TLSConfig returns.
func (a *Authority) Handler() http.Handler {
	mux := chi.NewRouter()
	apiRoutes := func(r chi.Router) { api.Route(&routeFilter{r: r}) }
	apiRoutes(mux)
	mux.Route("/1.0", apiRoutes)
	mux.Route("/acme", func(r chi.Router) { acmeAPI.Route(r) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := authority.NewContext(r.Context(), a.auth)
		ctx = stepdb.NewContext(ctx, a.db)
		ctx = acme.NewContext(ctx, a.acmeDB, a.client, a.linker, nil)
		mux.ServeHTTP(w, r.WithContext(ctx))
	})
}

// routeFilter registers only the step-ca API routes the Handler exposes.
type routeFilter struct{ r chi.Router }

// MethodFunc implements api.Router.
func (f *routeFilter) MethodFunc(method, pattern string, h http.HandlerFunc) {
	switch method + " " + pattern {
	case "GET /version", "GET /health", "GET /root/{sha}",
		"POST /sign", "POST /renew", "POST /revoke",
		"GET /roots", "GET /roots.pem", "GET /intermediates", "GET /intermediates.pem":
		f.r.MethodFunc(method, pattern, h)
	}
}

// TLSConfig returns the server configuration for the CA's HTTPS API: the
// ca-tls certificate and key, TLS 1.2 or later, and client certificates
// (for mTLS renewal and revocation) verified against the instance root when
// presented. Certificates are never trusted without this verification: the
// renewal check also requires the presented certificate to be in the
// database.
func (a *Authority) TLSConfig() (*tls.Config, error) {
	key, err := a.cfg.Signer(LabelTLS)
	if err != nil {
		return nil, fmt.Errorf("ca: TLS key: %w", err)
	}
	if !samePublicKey(key.Public(), a.bundle.TLS.PublicKey) {
		return nil, errors.New("ca: TLS key does not match " + FileTLS)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{
			Certificate: [][]byte{a.bundle.TLS.Raw, a.bundle.Intermediate.Raw},
			PrivateKey:  key,
			Leaf:        a.bundle.TLS,
		}},
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  a.bundle.Roots(),
	}, nil
}

// samePublicKey compares two public keys.
func samePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// newJWK wraps the enrolment-token public key for the JWK provisioner.
func newJWK(pub crypto.PublicKey) (*jose.JSONWebKey, error) {
	alg, err := jwsAlgorithm(pub)
	if err != nil {
		return nil, err
	}
	k := &jose.JSONWebKey{Key: pub, Algorithm: alg, Use: "sig"}
	kid, err := jose.Thumbprint(k)
	if err != nil {
		return nil, fmt.Errorf("ca: enrolment token key: %w", err)
	}
	k.KeyID = kid
	return k, nil
}

func jwsAlgorithm(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve.Params().Name {
		case "P-256":
			return jose.ES256, nil
		case "P-384":
			return jose.ES384, nil
		}
	case *rsa.PublicKey:
		return jose.RS256, nil
	}
	return "", fmt.Errorf("ca: enrolment token key type %T not supported", pub)
}
