package securityserver

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/tlsutil"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/enrol"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/peer"
)

// InitOptions configures Init.
type InitOptions struct {
	// ServerID is the security server, header form.
	ServerID xroad.ServerID
	// Dir is the directory to create.
	Dir string
	// Anchor is the configuration anchor file to copy in.
	Anchor string
	// Keys is the key store; a software store's Dir defaults to <Dir>/keys.
	Keys keys.Config
	// Addresses are the public SS↔SS addresses ("host:port").
	Addresses []string
	// Listen overrides the default listen addresses.
	Listen ListenConfig
	// Database, if postgres, holds conf and log in PostgreSQL.
	Database DatabaseConfig
	// Clock dates the self-signed client HTTPS certificate.
	Clock clock.Clock
}

// Init creates a security server directory: ss.yaml, the anchor, the auth
// key and the owner's sign key in the key store, the message-log body key,
// a self-signed HTTPS certificate for information systems, and the local
// configuration database. Certificates come next (Enrol).
func Init(ctx context.Context, o InitOptions) (string, error) {
	if err := o.ServerID.Validate(); err != nil {
		return "", fmt.Errorf("ss init: %w", err)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return "", err
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	if _, err := os.Stat(cfgPath); err == nil {
		return "", fmt.Errorf("ss init: %s already holds a security server", dir)
	}
	for _, d := range []string{dir, filepath.Join(dir, CertsDir), filepath.Join(dir, KeysDir), filepath.Join(dir, GlobalConfDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", fmt.Errorf("ss init: %w", err)
		}
	}
	anchor, err := os.ReadFile(o.Anchor)
	if err != nil {
		return "", fmt.Errorf("ss init: anchor: %w", err)
	}
	if _, err := globalconf.ParseAnchor(anchor); err != nil {
		return "", fmt.Errorf("ss init: anchor: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, AnchorFile), anchor, 0o644); err != nil {
		return "", fmt.Errorf("ss init: %w", err)
	}
	kc := o.Keys
	if kc.Type == "" {
		kc.Type = keys.TypeSoftware
	}
	if kc.Type == keys.TypeSoftware && kc.Dir == "" {
		kc.Dir = filepath.Join(dir, KeysDir)
	}
	st, err := keys.Open(kc)
	if err != nil {
		return "", fmt.Errorf("ss init: %w", err)
	}
	defer st.Close()
	for _, label := range []string{AuthKeyLabel, signLabel(o.ServerID.Owner)} {
		if _, err := st.Generate(ctx, label, keys.ECP256); err != nil {
			return "", fmt.Errorf("ss init: key %s: %w", label, err)
		}
	}
	if err := newBodyKey(filepath.Join(dir, KeysDir)); err != nil {
		return "", fmt.Errorf("ss init: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, AdminKeyFile), []byte(newSecret()+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("ss init: %w", err)
	}
	clk := o.Clock
	if clk == nil {
		clk = clock.System()
	}
	names := []string{"localhost", "127.0.0.1"}
	if err := tlsutil.WriteSelfSigned(filepath.Join(dir, CertsDir, ClientTLSCert), filepath.Join(dir, CertsDir, ClientTLSKey), names, clk.Now()); err != nil {
		return "", fmt.Errorf("ss init: %w", err)
	}
	cfg := Config{ServerID: o.ServerID.String(), Dir: ".", Anchor: AnchorFile, Keys: kc, Database: o.Database,
		Listen: o.Listen, Addresses: o.Addresses}
	if kc.Type == keys.TypeSoftware && kc.Dir == filepath.Join(dir, KeysDir) {
		cfg.Keys.Dir = KeysDir
	}
	check := cfg
	check.Resolve(dir)
	if err := check.Validate(); err != nil {
		return "", fmt.Errorf("ss init: %w", err)
	}
	cs, err := openConf(ctx, &check, clk)
	if err != nil {
		return "", err
	}
	_ = cs.Close()
	if err := config.Write(cfgPath, &cfg); err != nil {
		return "", fmt.Errorf("ss init: %w", err)
	}
	return cfgPath, nil
}

// EnrolOptions configures Enrol.
type EnrolOptions struct {
	// CAURL is the CA API's base URL; Roots the instance root(s) (PEM file).
	CAURL string
	Roots string
	// AuthToken and SignToken are one-time enrolment tokens for the auth
	// certificate and the owner's sign certificate (either may be empty).
	AuthToken, SignToken string
	// DNSNames go into the auth certificate (they must be the token's).
	DNSNames []string
}

// Enrol obtains the auth and/or sign certificate with one-time tokens and
// stores the chains in certs/.
func Enrol(ctx context.Context, cfg *Config, o EnrolOptions) error {
	rootsPEM, err := os.ReadFile(o.Roots)
	if err != nil {
		return fmt.Errorf("ss enrol: roots: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootsPEM) {
		return errors.New("ss enrol: no certificates in the roots file")
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	opts := enrol.Options{CAURL: o.CAURL, HTTPClient: hc, Roots: roots}
	st, err := keys.Open(cfg.Keys)
	if err != nil {
		return fmt.Errorf("ss enrol: %w", err)
	}
	defer st.Close()
	if o.AuthToken != "" {
		key, err := st.Signer(ctx, AuthKeyLabel)
		if err != nil {
			return fmt.Errorf("ss enrol: %w", err)
		}
		chain, err := enrol.WithToken(ctx, opts, o.AuthToken, key, profile.Auth, cfg.ID(), o.DNSNames)
		if err != nil {
			return fmt.Errorf("ss enrol: auth certificate: %w", err)
		}
		if err := writeChain(cfg.authCertPath(), chain); err != nil {
			return err
		}
	}
	if o.SignToken != "" {
		owner := cfg.ID().Owner
		key, err := st.Signer(ctx, signLabel(owner))
		if err != nil {
			return fmt.Errorf("ss enrol: %w", err)
		}
		chain, err := enrol.WithToken(ctx, opts, o.SignToken, key, profile.Sign, owner, nil)
		if err != nil {
			return fmt.Errorf("ss enrol: sign certificate: %w", err)
		}
		if err := writeChain(cfg.signCertPath(owner), chain); err != nil {
			return err
		}
	}
	return nil
}

// admin is what the management operations need: the current global
// configuration, the key store and fresh OCSP for this server's
// certificates.
type admin struct {
	cfg   *Config
	keys  keys.Store
	doc   *globalconf.Document
	cache *peer.OCSPCache
}

func openAdmin(ctx context.Context, cfg *Config) (*admin, error) {
	b, err := os.ReadFile(cfg.Anchor)
	if err != nil {
		return nil, err
	}
	anchor, err := globalconf.ParseAnchor(b)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, GlobalConfDir), 0o700); err != nil {
		return nil, err
	}
	gc, err := globalconf.NewClient(globalconf.ClientConfig{Anchor: anchor, Dir: filepath.Join(cfg.Dir, GlobalConfDir)})
	if err != nil {
		return nil, err
	}
	if err := gc.Load(); err != nil && !errors.Is(err, globalconf.ErrNoConfiguration) && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := gc.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("downloading the global configuration: %w", err)
	}
	doc, err := gc.Current()
	if err != nil {
		return nil, err
	}
	cache, err := peer.NewOCSPCache(peer.OCSPCacheConfig{Docs: gc})
	if err != nil {
		return nil, err
	}
	st, err := keys.Open(cfg.Keys)
	if err != nil {
		return nil, err
	}
	return &admin{cfg: cfg, keys: st, doc: doc, cache: cache}, nil
}

func (a *admin) close() { _ = a.keys.Close() }

// material returns key, chain and fresh OCSP for a certificate file.
func (a *admin) material(ctx context.Context, label, certPath string) (mgmtproto.Signer, error) {
	key, err := a.keys.Signer(ctx, label)
	if err != nil {
		return mgmtproto.Signer{}, err
	}
	chain, err := readChain(certPath)
	if err != nil {
		return mgmtproto.Signer{}, err
	}
	if len(chain) < 2 {
		return mgmtproto.Signer{}, fmt.Errorf("%s: the chain lacks the issuer", certPath)
	}
	_, der, err := a.cache.Status(ctx, chain[0], chain[1])
	if err != nil {
		return mgmtproto.Signer{}, fmt.Errorf("OCSP for %s: %w", certPath, err)
	}
	return mgmtproto.Signer{Key: key, Chain: chain, OCSP: der}, nil
}

func (a *admin) signMaterial(ctx context.Context, m xroad.MemberID) (mgmtproto.Signer, error) {
	return a.material(ctx, signLabel(m), a.cfg.signCertPath(m))
}

func (a *admin) client(ctx context.Context, withCert bool) (*mgmtproto.Client, error) {
	c := &mgmtproto.Client{URL: a.doc.CentralServer.ManagementURL, TrustedCerts: a.doc.CentralServer.ManagementTLSCertificates}
	if withCert {
		auth, err := a.material(ctx, AuthKeyLabel, a.cfg.authCertPath())
		if err != nil {
			return nil, err
		}
		tc := &tls.Certificate{PrivateKey: auth.Key, Leaf: auth.Chain[0], OCSPStaple: auth.OCSP}
		for _, x := range auth.Chain {
			tc.Certificate = append(tc.Certificate, x.Raw)
		}
		c.ClientCert = tc
	}
	return c, nil
}

func (a *admin) submit(ctx context.Context, req mgmtproto.Request, withCert bool, signers ...mgmtproto.Signer) (mgmtproto.Status, error) {
	signed, err := mgmtproto.Sign(req, signers)
	if err != nil {
		return mgmtproto.Status{}, err
	}
	c, err := a.client(ctx, withCert)
	if err != nil {
		return mgmtproto.Status{}, err
	}
	defer c.CloseIdleConnections()
	return c.Submit(ctx, signed)
}

// Register sends this server's auth certificate registration to the
// central server, signed by the owner's sign key and by the auth key.
func Register(ctx context.Context, cfg *Config) (mgmtproto.Status, error) {
	a, err := openAdmin(ctx, cfg)
	if err != nil {
		return mgmtproto.Status{}, fmt.Errorf("ss register: %w", err)
	}
	defer a.close()
	sign, err := a.signMaterial(ctx, cfg.ID().Owner)
	if err != nil {
		return mgmtproto.Status{}, fmt.Errorf("ss register: %w", err)
	}
	auth, err := a.material(ctx, AuthKeyLabel, cfg.authCertPath())
	if err != nil {
		return mgmtproto.Status{}, fmt.Errorf("ss register: %w", err)
	}
	return a.submit(ctx, mgmtproto.Request{ID: mgmtproto.NewRequestID(), Type: mgmtproto.TypeAuthCertRegistration,
		Server: cfg.ID(), CreatedAt: time.Now(), Addresses: cfg.Addresses, AuthCert: auth.Chain[0].Raw}, false, sign, auth)
}

// AddClient adds client to the local configuration and asks the central
// server to register it on this server (signed by the client's member,
// whose sign key this server must hold). bodies is FULL (the default when
// empty) or METADATA_ONLY: then none of the client's message bodies are
// stored in the message log or its archives.
func AddClient(ctx context.Context, cfg *Config, client xroad.ClientID, conn conf.ConnectionType, bodies conf.BodyLogging) (mgmtproto.Status, error) {
	cs, err := openConf(ctx, cfg, nil)
	if err != nil {
		return mgmtproto.Status{}, err
	}
	defer cs.Close()
	if conn == "" {
		conn = conf.ConnHTTP
	}
	if bodies == "" {
		bodies = conf.BodyLoggingFull
	}
	c := conf.Client{ID: client, Connection: conn, Status: conf.StatusRegistrationInProgress, BodyLogging: bodies}
	if err := cs.AddClient(ctx, c); err != nil && !errors.Is(err, conf.ErrConflict) {
		return mgmtproto.Status{}, fmt.Errorf("ss client add: %w", err)
	}
	a, err := openAdmin(ctx, cfg)
	if err != nil {
		return mgmtproto.Status{}, fmt.Errorf("ss client add: %w", err)
	}
	defer a.close()
	sign, err := a.signMaterial(ctx, client.Member())
	if err != nil {
		return mgmtproto.Status{}, fmt.Errorf("ss client add: %w", err)
	}
	return a.submit(ctx, mgmtproto.Request{ID: mgmtproto.NewRequestID(), Type: mgmtproto.TypeClientRegistration,
		Server: cfg.ID(), Client: client, CreatedAt: time.Now()}, true, sign)
}

// ServiceOptions describes a service to add.
type ServiceOptions struct {
	Provider xroad.ClientID
	Code     string
	Version  string
	URL      string
	Timeout  time.Duration
	// OpenAPI is the service's OpenAPI document; empty for a REST service.
	OpenAPI []byte
	// Title and Description are published to the central catalogue when
	// Publish is set.
	Title, Description string
	Publish            bool
}

// AddService adds a service (with its OpenAPI description, whose endpoints
// become the service's endpoints) to a provider subsystem hosted here, and
// optionally publishes the description to the central catalogue.
func AddService(ctx context.Context, cfg *Config, o ServiceOptions) (*mgmtproto.Status, error) {
	cs, err := openConf(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	d := conf.ServiceDescription{Client: o.Provider, Type: conf.DescriptionREST,
		Services: []conf.Service{{Code: o.Code, Version: o.Version, URL: o.URL, Timeout: o.Timeout, VerifyTLS: true}}}
	if len(o.OpenAPI) > 0 {
		d.Type, d.Document = conf.DescriptionOpenAPI, o.OpenAPI
	}
	if _, err := cs.AddServiceDescription(ctx, d); err != nil {
		return nil, fmt.Errorf("ss service add: %w", err)
	}
	if !o.Publish {
		return nil, nil
	}
	a, err := openAdmin(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ss service add: publishing: %w", err)
	}
	defer a.close()
	sign, err := a.signMaterial(ctx, o.Provider.Member())
	if err != nil {
		return nil, fmt.Errorf("ss service add: publishing: %w", err)
	}
	sd := &mgmtproto.ServiceDescription{Service: xroad.ServiceID{Provider: o.Provider, Code: o.Code, Version: o.Version},
		Type: mgmtproto.ServiceREST, Title: o.Title, Description: o.Description}
	if sd.Title == "" {
		sd.Title = o.Code
	}
	if len(o.OpenAPI) > 0 {
		sd.Type, sd.OpenAPI = mgmtproto.ServiceOpenAPI, string(o.OpenAPI)
	}
	st, err := a.submit(ctx, mgmtproto.Request{ID: mgmtproto.NewRequestID(), Type: mgmtproto.TypeServiceDescriptionPublish,
		Server: cfg.ID(), CreatedAt: time.Now(), ServiceDescription: sd}, true, sign)
	if err != nil {
		return nil, fmt.Errorf("ss service add: publishing: %w", err)
	}
	return &st, nil
}

// Grant gives subject (a client, "GLOBALGROUP:INST/CODE" or
// "LOCALGROUP:CODE" in typed form, or a client in header form) access to a
// provider's service, or to one endpoint of it.
func Grant(ctx context.Context, cfg *Config, provider xroad.ClientID, serviceCode, subject string, endpoint conf.EndpointSpec) error {
	subj, err := ParseSubject(subject)
	if err != nil {
		return fmt.Errorf("ss access grant: %w", err)
	}
	cs, err := openConf(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	if err := cs.AddAccessRight(ctx, conf.AccessRight{Provider: provider, ServiceCode: serviceCode, Endpoint: endpoint, Subject: subj}); err != nil {
		return fmt.Errorf("ss access grant: %w", err)
	}
	return nil
}

// ParseSubject reads an access-right subject: a typed identifier
// (SUBSYSTEM:…, MEMBER:…, GLOBALGROUP:…, LOCALGROUP:…) or a client in
// header form.
func ParseSubject(s string) (xroad.ID, error) {
	if id, err := xroad.ParseTyped(s); err == nil {
		if m, ok := id.(xroad.MemberID); ok {
			return m.Client(), nil
		}
		return id, nil
	}
	return xroad.ParseClient(s)
}

// newSecret returns 32 random bytes, base64url-encoded.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
