package securityserver

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/enrol"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/pki/profile"
	ssadmin "github.com/jisr-bus/jisr/securityserver/admin"
	"github.com/jisr-bus/jisr/securityserver/archive"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/peer"
)

// AdminKeyFile holds the secret of the first admin API key (mode 0600),
// written by Init. The key itself — its SHA-256, with every administrative
// role (ssadmin.FirstKeyRoles) — enters the configuration database the first
// time the server or `jisr ss apikey` opens it, if no API key was ever
// created there; after that the file is only a copy of that key's secret,
// useless once the key is revoked.
const AdminKeyFile = "admin-api-key"

// AuthPendingCertFile holds a new authentication certificate chain
// obtained through the admin API (enrolment, renewal, import) until it is
// registered with the central server and activated: auth.pem is the one
// in use until then.
const AuthPendingCertFile = "auth-pending.pem"

// firstKeyName names the API key made from AdminKeyFile.
const firstKeyName = "admin"

// adminAPI mounts the admin API (package admin) under /api/ on the admin
// listener's mux. If it cannot be built, /api/ answers 503 and the cause
// is logged: the rest of the server keeps running.
func (s *Service) adminAPI(mux *http.ServeMux) {
	h, err := s.newAdminAPI()
	if err != nil {
		s.log.Error("admin API unavailable", "err", err)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			xerr.Write(w, r, nil, &xerr.Error{Code: xerr.PrefixServer + "ServiceUnavailable", Message: "admin API unavailable",
				Detail: xerr.NewDetailID(), Status: http.StatusServiceUnavailable}, "")
		})
	}
	mux.Handle("/api/", h)
}

func (s *Service) newAdminAPI() (http.Handler, error) {
	st, ok := s.confStore.(conf.AdminStore)
	if !ok {
		return nil, fmt.Errorf("the local configuration store %T keeps no API keys", s.confStore)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bootstrapAdminKey(ctx, s.cfg, st); err != nil {
		return nil, err
	}
	api, err := ssadmin.New(ssadmin.Config{Backend: &adminBackend{s: s}, Store: st, Clock: s.clk,
		Logger: s.log.With("component", "admin-api"), Registerer: s.registry,
		Fetcher: &ssadmin.Fetcher{Client: &http.Client{Timeout: ssadmin.DefaultFetchTimeout}}})
	if err != nil {
		return nil, err
	}
	return api.Handler(), nil
}

// bootstrapAdminKey stores the key of AdminKeyFile (if there is one) as
// the first API key, unless some key was ever created in st.
func bootstrapAdminKey(ctx context.Context, cfg *Config, st conf.AdminStore) error {
	b, err := os.ReadFile(filepath.Join(cfg.Dir, AdminKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin API key: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return fmt.Errorf("admin API key: %s is empty", AdminKeyFile)
	}
	roles := make([]string, 0, len(ssadmin.FirstKeyRoles()))
	for _, r := range ssadmin.FirstKeyRoles() {
		roles = append(roles, string(r))
	}
	k, created, err := st.CreateFirstAPIKey(ctx, conf.APIKey{Name: firstKeyName, Hash: conf.HashAPIKeySecret([]byte(secret)),
		Roles: roles, CreatedBy: "ss-init"})
	if err != nil {
		return fmt.Errorf("admin API key: %w", err)
	}
	if created {
		detail, _ := json.Marshal(map[string]any{"name": k.Name, "roles": k.Roles, "file": AdminKeyFile})
		if _, err := st.AppendAudit(ctx, conf.AuditEvent{Actor: "ss-init", Action: "apiKey.create",
			Target: "apikey:" + strconv.FormatInt(k.ID, 10), Detail: detail, Outcome: conf.AuditSuccess}); err != nil {
			return fmt.Errorf("admin API key: %w", err)
		}
	}
	return nil
}

// openAdminStore opens the configuration database as the CLI's API key
// commands need it, with the first key in place.
func openAdminStore(ctx context.Context, cfg *Config) (conf.AdminStore, func(), error) {
	cs, err := openConf(ctx, cfg, nil)
	if err != nil {
		return nil, nil, err
	}
	st, ok := cs.(conf.AdminStore)
	if !ok {
		_ = cs.Close()
		return nil, nil, fmt.Errorf("the local configuration store %T keeps no API keys", cs)
	}
	if err := bootstrapAdminKey(ctx, cfg, st); err != nil {
		_ = cs.Close()
		return nil, nil, err
	}
	return st, func() { _ = cs.Close() }, nil
}

// CreateAPIKey creates an admin API key directly in the configuration
// database (`jisr ss apikey create`: whoever can read ss.yaml and the
// database is the root of trust) and returns it with its secret, shown
// once. The creation is audited with actor "cli".
func CreateAPIKey(ctx context.Context, cfg *Config, name string, roles []string, expiresAt *time.Time) (conf.APIKey, string, error) {
	st, closeFn, err := openAdminStore(ctx, cfg)
	if err != nil {
		return conf.APIKey{}, "", err
	}
	defer closeFn()
	k, secret, err := ssadmin.CreateAPIKey(ctx, st, name, roles, expiresAt, "cli")
	if err != nil {
		return conf.APIKey{}, "", err
	}
	detail, _ := json.Marshal(map[string]any{"name": k.Name, "roles": k.Roles, "expiresAt": k.ExpiresAt})
	if _, err := st.AppendAudit(ctx, conf.AuditEvent{Actor: "cli", Action: "apiKey.create",
		Target: "apikey:" + strconv.FormatInt(k.ID, 10), Detail: detail, Outcome: conf.AuditSuccess}); err != nil {
		return conf.APIKey{}, "", err
	}
	return k, secret, nil
}

// APIKeys lists the admin API keys (`jisr ss apikey list`).
func APIKeys(ctx context.Context, cfg *Config) ([]conf.APIKey, error) {
	st, closeFn, err := openAdminStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	return st.APIKeys(ctx)
}

// RevokeAPIKey revokes an admin API key (`jisr ss apikey revoke`),
// audited with actor "cli".
func RevokeAPIKey(ctx context.Context, cfg *Config, id int64) (conf.APIKey, error) {
	st, closeFn, err := openAdminStore(ctx, cfg)
	if err != nil {
		return conf.APIKey{}, err
	}
	defer closeFn()
	k, err := st.RevokeAPIKey(ctx, id)
	if err != nil {
		return conf.APIKey{}, err
	}
	if _, err := st.AppendAudit(ctx, conf.AuditEvent{Actor: "cli", Action: "apiKey.revoke",
		Target: "apikey:" + strconv.FormatInt(id, 10), Outcome: conf.AuditSuccess}); err != nil {
		return conf.APIKey{}, err
	}
	return k, nil
}

// adminBackend is the Service as the admin API administers it.
type adminBackend struct {
	s *Service
	// keysMu serialises the operations on keys and certificate files.
	keysMu sync.Mutex
}

var _ ssadmin.Backend = (*adminBackend)(nil)

// reload makes a configuration write visible to this node's proxies now
// (other nodes notice within a second). The write is done: a failure is
// only logged, and the next poll retries.
func (b *adminBackend) reload(ctx context.Context) {
	if err := b.s.local.Reload(ctx); err != nil {
		b.s.log.Warn("admin API: reloading the local configuration", "err", err)
	}
}

// document returns the current global configuration, or ErrUnavailable.
func (b *adminBackend) document() (*globalconf.Document, error) {
	doc, err := b.s.gc.Current()
	if err != nil {
		return nil, fmt.Errorf("%w: no valid global configuration: %v", ssadmin.ErrUnavailable, err)
	}
	return doc, nil
}

// signer returns member's sign key, chain and fresh OCSP for a management
// request.
func (b *adminBackend) signer(member xroad.MemberID) (mgmtproto.Signer, error) {
	key, chain, der, err := b.s.identity.SignMaterial(member)
	if errors.Is(err, peer.ErrNoSignKey) {
		return mgmtproto.Signer{}, fmt.Errorf("%w: this server holds no sign key and certificate of %s", ssadmin.ErrInvalid, member)
	}
	if err != nil {
		return mgmtproto.Signer{}, fmt.Errorf("%w: sign key of %s not usable now: %v", ssadmin.ErrUnavailable, member, err)
	}
	return mgmtproto.Signer{Key: key, Chain: chain, OCSP: der}, nil
}

// submit signs req and sends it to the central server's management
// endpoint, presenting the auth certificate when withCert is set.
func (b *adminBackend) submit(ctx context.Context, req mgmtproto.Request, withCert bool, signers ...mgmtproto.Signer) (mgmtproto.Status, error) {
	doc, err := b.document()
	if err != nil {
		return mgmtproto.Status{}, err
	}
	req.ID, req.Server, req.CreatedAt = mgmtproto.NewRequestID(), b.s.cfg.ID(), b.s.clk.Now()
	signed, err := mgmtproto.Sign(req, signers)
	if err != nil {
		return mgmtproto.Status{}, fmt.Errorf("management request: %w", err)
	}
	c := &mgmtproto.Client{URL: doc.CentralServer.ManagementURL, TrustedCerts: doc.CentralServer.ManagementTLSCertificates, Clock: b.s.clk}
	if withCert {
		c.ClientCert = b.s.identity.TLSCertificate()
	}
	defer c.CloseIdleConnections()
	st, err := c.Submit(ctx, signed)
	if xe, ok := errors.AsType[*xerr.Error](err); ok {
		return mgmtproto.Status{}, xerr.New(xe.Code, "the central server refused the request: "+xe.Message, err)
	}
	if err != nil {
		return mgmtproto.Status{}, fmt.Errorf("%w: central server: %v", ssadmin.ErrUnavailable, err)
	}
	return st, nil
}

// Clients.

func (b *adminBackend) Clients(ctx context.Context) ([]conf.Client, error) {
	return b.s.confStore.Clients(ctx)
}

func (b *adminBackend) Client(ctx context.Context, id xroad.ClientID) (conf.Client, error) {
	return b.s.confStore.Client(ctx, id)
}

// setStatus moves a client to status if it is in one of from.
func (b *adminBackend) setStatus(ctx context.Context, id xroad.ClientID, to conf.ClientStatus, from ...conf.ClientStatus) (conf.Client, error) {
	var out conf.Client
	err := b.s.confStore.Update(ctx, func(tx conf.Tx) error {
		c, err := tx.Client(ctx, id)
		if err != nil {
			return err
		}
		if len(from) > 0 && !slices.Contains(from, c.Status) {
			return fmt.Errorf("%w: client %s is %s", ssadmin.ErrConflict, id, c.Status)
		}
		c.Status = to
		if err := tx.UpdateClient(ctx, c); err != nil {
			return err
		}
		out, err = tx.Client(ctx, id)
		return err
	})
	return out, err
}

func (b *adminBackend) AddClient(ctx context.Context, c conf.Client, register bool) (conf.Client, *mgmtproto.Status, error) {
	if err := c.ID.Validate(); err != nil {
		return conf.Client{}, nil, err
	}
	if c.ID.Instance != b.s.cfg.ID().Owner.Instance {
		return conf.Client{}, nil, fmt.Errorf("%w: client %s is not of instance %s", ssadmin.ErrInvalid, c.ID, b.s.cfg.ID().Owner.Instance)
	}
	c.Status = conf.StatusSaved
	if err := b.s.confStore.AddClient(ctx, c); err != nil {
		return conf.Client{}, nil, err
	}
	b.reload(ctx)
	saved, err := b.s.confStore.Client(ctx, c.ID)
	if err != nil || !register {
		return saved, nil, err
	}
	cl, st, err := b.RegisterClient(ctx, c.ID)
	if err != nil {
		return saved, nil, fmt.Errorf("client %s saved; registration: %w", c.ID, err)
	}
	return cl, &st, nil
}

func (b *adminBackend) RegisterClient(ctx context.Context, id xroad.ClientID) (conf.Client, mgmtproto.Status, error) {
	c, err := b.s.confStore.Client(ctx, id)
	if err != nil {
		return conf.Client{}, mgmtproto.Status{}, err
	}
	if c.Status != conf.StatusSaved && c.Status != conf.StatusRegistrationInProgress {
		return conf.Client{}, mgmtproto.Status{}, fmt.Errorf("%w: client %s is %s", ssadmin.ErrConflict, id, c.Status)
	}
	sign, err := b.signer(id.Member())
	if err != nil {
		return conf.Client{}, mgmtproto.Status{}, err
	}
	st, err := b.submit(ctx, mgmtproto.Request{Type: mgmtproto.TypeClientRegistration, Client: id}, true, sign)
	if err != nil {
		return conf.Client{}, mgmtproto.Status{}, err
	}
	c, err = b.setStatus(ctx, id, conf.StatusRegistrationInProgress, conf.StatusSaved, conf.StatusRegistrationInProgress)
	b.reload(ctx)
	return c, st, err
}

func (b *adminBackend) UnregisterClient(ctx context.Context, id xroad.ClientID) (conf.Client, mgmtproto.Status, error) {
	c, err := b.s.confStore.Client(ctx, id)
	if err != nil {
		return conf.Client{}, mgmtproto.Status{}, err
	}
	if c.Status != conf.StatusRegistered && c.Status != conf.StatusRegistrationInProgress {
		return conf.Client{}, mgmtproto.Status{}, fmt.Errorf("%w: client %s is %s", ssadmin.ErrConflict, id, c.Status)
	}
	sign, err := b.signer(id.Member())
	if err != nil {
		return conf.Client{}, mgmtproto.Status{}, err
	}
	st, err := b.submit(ctx, mgmtproto.Request{Type: mgmtproto.TypeClientDeletion, Client: id}, true, sign)
	if err != nil {
		return conf.Client{}, mgmtproto.Status{}, err
	}
	c, err = b.setStatus(ctx, id, conf.StatusDeletionInProgress)
	b.reload(ctx)
	return c, st, err
}

func (b *adminBackend) UpdateClient(ctx context.Context, id xroad.ClientID, conn conf.ConnectionType, bodies conf.BodyLogging) (conf.Client, error) {
	var out conf.Client
	err := b.s.confStore.Update(ctx, func(tx conf.Tx) error {
		c, err := tx.Client(ctx, id)
		if err != nil {
			return err
		}
		if conn != "" {
			c.Connection = conn
		}
		if bodies != "" {
			c.BodyLogging = bodies
		}
		if err := tx.UpdateClient(ctx, c); err != nil {
			return err
		}
		out, err = tx.Client(ctx, id)
		return err
	})
	b.reload(ctx)
	return out, err
}

func (b *adminBackend) DeleteClient(ctx context.Context, id xroad.ClientID) error {
	err := b.s.confStore.Update(ctx, func(tx conf.Tx) error {
		c, err := tx.Client(ctx, id)
		if err != nil {
			return err
		}
		if c.Status != conf.StatusSaved && c.Status != conf.StatusDeletionInProgress {
			return fmt.Errorf("%w: client %s is %s: unregister it first", ssadmin.ErrConflict, id, c.Status)
		}
		return tx.DeleteClient(ctx, id)
	})
	b.reload(ctx)
	return err
}

func (b *adminBackend) isCerts() (conf.ISCertStore, error) {
	st, ok := b.s.confStore.(conf.ISCertStore)
	if !ok {
		return nil, fmt.Errorf("the local configuration store %T keeps no IS certificates", b.s.confStore)
	}
	return st, nil
}

func (b *adminBackend) ISCertificates(ctx context.Context, id xroad.ClientID) ([]conf.ISCertificate, error) {
	st, err := b.isCerts()
	if err != nil {
		return nil, err
	}
	return st.ISCertificates(ctx, id)
}

func (b *adminBackend) AddISCertificate(ctx context.Context, id xroad.ClientID, der []byte) (conf.ISCertificate, error) {
	st, err := b.isCerts()
	if err != nil {
		return conf.ISCertificate{}, err
	}
	out, err := st.AddISCertificate(ctx, id, der)
	b.reload(ctx)
	return out, err
}

func (b *adminBackend) RemoveISCertificate(ctx context.Context, id xroad.ClientID, hash string) error {
	st, err := b.isCerts()
	if err != nil {
		return err
	}
	err = st.RemoveISCertificate(ctx, id, hash)
	b.reload(ctx)
	return err
}

func (b *adminBackend) LocalGroups(ctx context.Context, id xroad.ClientID) ([]conf.LocalGroup, error) {
	return b.s.confStore.LocalGroups(ctx, id)
}

func (b *adminBackend) LocalGroup(ctx context.Context, id xroad.ClientID, code string) (conf.LocalGroup, error) {
	return b.s.confStore.LocalGroup(ctx, id, code)
}

func (b *adminBackend) AddLocalGroup(ctx context.Context, g conf.LocalGroup) (conf.LocalGroup, error) {
	if err := b.s.confStore.AddLocalGroup(ctx, g); err != nil {
		return conf.LocalGroup{}, err
	}
	b.reload(ctx)
	return b.s.confStore.LocalGroup(ctx, g.Client, g.Code)
}

func (b *adminBackend) DeleteLocalGroup(ctx context.Context, id xroad.ClientID, code string) error {
	err := b.s.confStore.DeleteLocalGroup(ctx, id, code)
	b.reload(ctx)
	return err
}

func (b *adminBackend) AddLocalGroupMember(ctx context.Context, id xroad.ClientID, code string, m xroad.ClientID) (conf.LocalGroup, error) {
	if err := b.s.confStore.AddLocalGroupMember(ctx, id, code, m); err != nil {
		return conf.LocalGroup{}, err
	}
	b.reload(ctx)
	return b.s.confStore.LocalGroup(ctx, id, code)
}

func (b *adminBackend) RemoveLocalGroupMember(ctx context.Context, id xroad.ClientID, code string, m xroad.ClientID) error {
	err := b.s.confStore.RemoveLocalGroupMember(ctx, id, code, m)
	b.reload(ctx)
	return err
}

// Services and access rights.

func (b *adminBackend) ServiceDescriptions(ctx context.Context, id xroad.ClientID) ([]conf.ServiceDescription, error) {
	return b.s.confStore.ServiceDescriptions(ctx, id)
}

func (b *adminBackend) AddService(ctx context.Context, ns ssadmin.NewService) (conf.ServiceDescription, *mgmtproto.Status, error) {
	d := conf.ServiceDescription{Client: ns.Provider, Type: conf.DescriptionREST, URL: ns.DescriptionURL,
		Services: []conf.Service{{Code: ns.Code, Version: ns.Version, URL: ns.URL, Timeout: ns.Timeout, VerifyTLS: ns.VerifyTLS}}}
	if len(ns.OpenAPI) > 0 {
		d.Type, d.Document = conf.DescriptionOpenAPI, ns.OpenAPI
	}
	out, err := b.s.confStore.AddServiceDescription(ctx, d)
	if err != nil {
		return conf.ServiceDescription{}, nil, err
	}
	b.reload(ctx)
	if !ns.Publish {
		return out, nil, nil
	}
	sd := &mgmtproto.ServiceDescription{Service: xroad.ServiceID{Provider: ns.Provider, Code: ns.Code, Version: ns.Version},
		Type: mgmtproto.ServiceREST, Title: ns.Title, Description: ns.Description}
	if sd.Title == "" {
		sd.Title = ns.Code
	}
	if len(ns.OpenAPI) > 0 {
		sd.Type, sd.OpenAPI = mgmtproto.ServiceOpenAPI, string(ns.OpenAPI)
	}
	sign, err := b.signer(ns.Provider.Member())
	if err != nil {
		return out, nil, fmt.Errorf("service %s added; publishing: %w", ns.Code, err)
	}
	st, err := b.submit(ctx, mgmtproto.Request{Type: mgmtproto.TypeServiceDescriptionPublish, ServiceDescription: sd}, true, sign)
	if err != nil {
		return out, nil, fmt.Errorf("service %s added; publishing: %w", ns.Code, err)
	}
	return out, &st, nil
}

// descriptionOf returns the description that holds the provider's service
// code.
func descriptionOf(ctx context.Context, r conf.Reader, provider xroad.ClientID, code string) (conf.ServiceDescription, error) {
	ds, err := r.ServiceDescriptions(ctx, provider)
	if err != nil {
		return conf.ServiceDescription{}, err
	}
	for _, d := range ds {
		for _, s := range d.Services {
			if s.Code == code {
				return d, nil
			}
		}
	}
	return conf.ServiceDescription{}, fmt.Errorf("%w: service %s of %s", conf.ErrNotFound, code, provider)
}

func (b *adminBackend) RefreshService(ctx context.Context, provider xroad.ClientID, code, url string, document []byte) (conf.ServiceDescription, error) {
	var out conf.ServiceDescription
	err := b.s.confStore.Update(ctx, func(tx conf.Tx) error {
		d, err := descriptionOf(ctx, tx, provider, code)
		if err != nil {
			return err
		}
		out, err = tx.RefreshServiceDescription(ctx, d.ID, url, document)
		return err
	})
	b.reload(ctx)
	return out, err
}

func (b *adminBackend) UpdateService(ctx context.Context, provider xroad.ClientID, s conf.Service) error {
	err := b.s.confStore.UpdateService(ctx, provider, s)
	b.reload(ctx)
	return err
}

func (b *adminBackend) DeleteService(ctx context.Context, provider xroad.ClientID, code string) error {
	err := b.s.confStore.Update(ctx, func(tx conf.Tx) error {
		d, err := descriptionOf(ctx, tx, provider, code)
		if err != nil {
			return err
		}
		if len(d.Services) == 1 {
			return tx.DeleteServiceDescription(ctx, d.ID)
		}
		return tx.DeleteService(ctx, provider, code)
	})
	b.reload(ctx)
	return err
}

func (b *adminBackend) AccessRights(ctx context.Context, provider xroad.ClientID) ([]conf.AccessRight, error) {
	return b.s.confStore.AccessRights(ctx, provider)
}

func (b *adminBackend) GrantAccess(ctx context.Context, r conf.AccessRight) error {
	err := b.s.confStore.AddAccessRight(ctx, r)
	b.reload(ctx)
	return err
}

func (b *adminBackend) RevokeAccess(ctx context.Context, r conf.AccessRight) error {
	err := b.s.confStore.RemoveAccessRight(ctx, r)
	b.reload(ctx)
	return err
}

// Keys and certificates.

// ocspTimeout bounds the OCSP lookups of a key listing.
const ocspTimeout = 5 * time.Second

func (b *adminBackend) pendingAuthPath() string {
	return filepath.Join(b.s.cfg.Dir, CertsDir, AuthPendingCertFile)
}

// certPath is where key label's certificate chain is kept.
func (b *adminBackend) certPath(label string) string {
	if label == AuthKeyLabel {
		return b.s.cfg.authCertPath()
	}
	return filepath.Join(b.s.cfg.Dir, CertsDir, label+certFileSuffix)
}

// certInfo reads a chain and what is known of its status; nil when the
// file does not exist.
func (b *adminBackend) certInfo(ctx context.Context, path string, auth bool) (*ssadmin.CertInfo, error) {
	chain, err := readChain(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ci := &ssadmin.CertInfo{Chain: chain, OCSPStatus: ssadmin.OCSPUnknown}
	if len(chain) < 2 {
		ci.OCSPError = "the chain lacks the issuer"
	} else {
		octx, cancel := context.WithTimeout(ctx, ocspTimeout)
		resp, _, err := b.s.ocsp.Status(octx, chain[0], chain[1])
		cancel()
		switch {
		case errors.Is(err, peer.ErrRevoked):
			ci.OCSPStatus = ssadmin.OCSPRevoked
		case err != nil:
			ci.OCSPError = err.Error()
		case resp.Status == ocsp.Good:
			ci.OCSPStatus = ssadmin.OCSPGood
		}
	}
	if auth {
		registered := false
		if doc, err := b.s.gc.Current(); err == nil {
			if srv, ok := doc.ServerByID(b.s.cfg.ID()); ok {
				registered = slices.Contains(srv.AuthCertHashes, certHash(chain[0]))
			}
		}
		ci.Registered = &registered
	}
	return ci, nil
}

func certHash(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// keyInfo describes key label.
func (b *adminBackend) keyInfo(ctx context.Context, label string) (ssadmin.KeyInfo, error) {
	k := ssadmin.KeyInfo{ID: label, Usage: ssadmin.UsageSign}
	var err error
	if label == AuthKeyLabel {
		k.Usage = ssadmin.UsageAuth
		if k.Pending, err = b.certInfo(ctx, b.pendingAuthPath(), true); err != nil {
			return ssadmin.KeyInfo{}, err
		}
	}
	if k.Certificate, err = b.certInfo(ctx, b.certPath(label), k.Usage == ssadmin.UsageAuth); err != nil {
		return ssadmin.KeyInfo{}, err
	}
	if k.Certificate != nil && k.Usage == ssadmin.UsageSign {
		if m, err := profile.MemberIDFromCert(k.Certificate.Chain[0]); err == nil {
			k.Member = m
		}
	}
	return k, nil
}

// isKeyLabel reports whether label is one of the server's keys: the auth
// key or a member's sign key.
func isKeyLabel(label string) bool {
	return label == AuthKeyLabel || strings.HasPrefix(label, signLabelPrefix)
}

// requireKey fails with ErrNotFound unless label is a key of the store.
func (b *adminBackend) requireKey(ctx context.Context, label string) (crypto.Signer, error) {
	if !isKeyLabel(label) {
		return nil, fmt.Errorf("%w: key %q", ssadmin.ErrNotFound, label)
	}
	key, err := b.s.store.Signer(ctx, label)
	if errors.Is(err, keys.ErrNotFound) {
		return nil, fmt.Errorf("%w: key %q", ssadmin.ErrNotFound, label)
	}
	if err != nil {
		return nil, err
	}
	return key, nil
}

func (b *adminBackend) Keys(ctx context.Context) ([]ssadmin.KeyInfo, error) {
	b.keysMu.Lock()
	defer b.keysMu.Unlock()
	labels, err := b.s.store.Labels(ctx)
	if err != nil {
		return nil, err
	}
	slices.Sort(labels)
	labels = slices.DeleteFunc(labels, func(l string) bool { return !isKeyLabel(l) || l == AuthKeyLabel })
	out := make([]ssadmin.KeyInfo, 0, len(labels)+1)
	for _, l := range append([]string{AuthKeyLabel}, labels...) {
		k, err := b.keyInfo(ctx, l)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func (b *adminBackend) GenerateSignKey(ctx context.Context, m xroad.MemberID) (ssadmin.KeyInfo, error) {
	if err := m.Validate(); err != nil {
		return ssadmin.KeyInfo{}, err
	}
	if m.Instance != b.s.cfg.ID().Owner.Instance {
		return ssadmin.KeyInfo{}, fmt.Errorf("%w: member %s is not of instance %s", ssadmin.ErrInvalid, m, b.s.cfg.ID().Owner.Instance)
	}
	b.keysMu.Lock()
	defer b.keysMu.Unlock()
	label := signLabel(m)
	if _, err := b.s.store.Generate(ctx, label, keys.ECP256); errors.Is(err, keys.ErrExists) {
		return ssadmin.KeyInfo{}, fmt.Errorf("%w: %s already has a sign key (%s)", ssadmin.ErrConflict, m, label)
	} else if err != nil {
		return ssadmin.KeyInfo{}, err
	}
	k, err := b.keyInfo(ctx, label)
	k.Member = m
	return k, err
}

// subject returns the identifier a certificate for key label names:
// the server for the auth key, the member for a sign key (m, or the
// member of its current certificate when m is zero).
func (b *adminBackend) subject(label string, m xroad.MemberID) (profile.Kind, xroad.ID, error) {
	if label == AuthKeyLabel {
		return profile.Auth, b.s.cfg.ID(), nil
	}
	if m == (xroad.MemberID{}) {
		chain, err := readChain(b.certPath(label))
		if err != nil {
			return 0, nil, fmt.Errorf("%w: key %s has no certificate: name its member", ssadmin.ErrInvalid, label)
		}
		if m, err = profile.MemberIDFromCert(chain[0]); err != nil {
			return 0, nil, err
		}
	}
	if signLabel(m) != label {
		return 0, nil, fmt.Errorf("%w: key %s is not the sign key of %s (%s)", ssadmin.ErrInvalid, label, m, signLabel(m))
	}
	return profile.Sign, m, nil
}

func (b *adminBackend) CertificateRequest(ctx context.Context, label string, m xroad.MemberID, dnsNames []string) ([]byte, error) {
	key, err := b.requireKey(ctx, label)
	if err != nil {
		return nil, err
	}
	kind, id, err := b.subject(label, m)
	if err != nil {
		return nil, err
	}
	der, err := enrol.CSR(key, kind, id, dnsNames)
	if errors.Is(err, profile.ErrProfile) {
		return nil, fmt.Errorf("%w: %v", ssadmin.ErrInvalid, err)
	}
	return der, err
}

// enrolOptions builds the enrolment client for a CA.
func (b *adminBackend) enrolOptions(ca ssadmin.CAOptions) (enrol.Options, error) {
	roots := x509.NewCertPool()
	if len(ca.Roots) > 0 {
		for _, c := range ca.Roots {
			roots.AddCert(c)
		}
	} else {
		doc, err := b.document()
		if err != nil {
			return enrol.Options{}, err
		}
		roots = doc.ApprovedCAPool()
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	return enrol.Options{CAURL: ca.URL, HTTPClient: hc, Roots: roots, Clock: b.s.clk}, nil
}

// caError maps an enrolment failure: the CA's refusal (a bad token) and a
// certificate that fails verification are the request's fault; anything
// else (the network) is the CA being unavailable.
func caError(err error) error {
	switch {
	case errors.Is(err, enrol.ErrRefused), errors.Is(err, enrol.ErrVerify), errors.Is(err, profile.ErrProfile):
		return fmt.Errorf("%w: %v", ssadmin.ErrInvalid, err)
	}
	return fmt.Errorf("%w: CA: %v", ssadmin.ErrUnavailable, err)
}

func (b *adminBackend) Enrol(ctx context.Context, label string, ca ssadmin.CAOptions, token string, m xroad.MemberID, dnsNames []string) (ssadmin.KeyInfo, error) {
	b.keysMu.Lock()
	defer b.keysMu.Unlock()
	key, err := b.requireKey(ctx, label)
	if err != nil {
		return ssadmin.KeyInfo{}, err
	}
	kind, id, err := b.subject(label, m)
	if err != nil {
		return ssadmin.KeyInfo{}, err
	}
	opts, err := b.enrolOptions(ca)
	if err != nil {
		return ssadmin.KeyInfo{}, err
	}
	defer opts.HTTPClient.CloseIdleConnections()
	chain, err := enrol.WithToken(ctx, opts, token, key, kind, id, dnsNames)
	if err != nil {
		return ssadmin.KeyInfo{}, caError(err)
	}
	return b.install(ctx, label, key, chain)
}

func (b *adminBackend) Renew(ctx context.Context, label string, ca ssadmin.CAOptions) (ssadmin.KeyInfo, error) {
	b.keysMu.Lock()
	defer b.keysMu.Unlock()
	key, err := b.requireKey(ctx, label)
	if err != nil {
		return ssadmin.KeyInfo{}, err
	}
	chain, err := readChain(b.certPath(label))
	if err != nil {
		return ssadmin.KeyInfo{}, fmt.Errorf("%w: key %s has no certificate to renew", ssadmin.ErrConflict, label)
	}
	opts, err := b.enrolOptions(ca)
	if err != nil {
		return ssadmin.KeyInfo{}, err
	}
	defer opts.HTTPClient.CloseIdleConnections()
	renewed, err := enrol.Renew(ctx, opts, chain, key)
	if err != nil {
		return ssadmin.KeyInfo{}, caError(err)
	}
	return b.install(ctx, label, key, renewed)
}

func (b *adminBackend) ImportCertificate(ctx context.Context, chain []*x509.Certificate) (ssadmin.KeyInfo, error) {
	b.keysMu.Lock()
	defer b.keysMu.Unlock()
	doc, err := b.document()
	if err != nil {
		return ssadmin.KeyInfo{}, err
	}
	inter := doc.IntermediatePool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: doc.ApprovedCAPool(), Intermediates: inter, CurrentTime: b.s.clk.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return ssadmin.KeyInfo{}, fmt.Errorf("%w: the certificate does not chain to an approved CA: %v", ssadmin.ErrInvalid, err)
	}
	kind, id, err := profile.IDFromCert(chain[0])
	if err != nil {
		return ssadmin.KeyInfo{}, fmt.Errorf("%w: %v", ssadmin.ErrInvalid, err)
	}
	var label string
	switch kind {
	case profile.Auth:
		if id != b.s.cfg.ID() {
			return ssadmin.KeyInfo{}, fmt.Errorf("%w: the certificate names %s, not this server", ssadmin.ErrInvalid, id)
		}
		label = AuthKeyLabel
	default:
		m, ok := id.(xroad.MemberID)
		if !ok {
			return ssadmin.KeyInfo{}, fmt.Errorf("%w: a sign certificate naming %s", ssadmin.ErrInvalid, id)
		}
		label = signLabel(m)
	}
	key, err := b.s.store.Signer(ctx, label)
	if errors.Is(err, keys.ErrNotFound) {
		return ssadmin.KeyInfo{}, fmt.Errorf("%w: no key %s for this certificate", ssadmin.ErrNotFound, label)
	}
	if err != nil {
		return ssadmin.KeyInfo{}, err
	}
	// Keep the chain up to (not including) a self-signed root, as TLS and
	// x5c carry it.
	if n := len(chain); n > 1 && chain[n-1].CheckSignatureFrom(chain[n-1]) == nil {
		chain = chain[:n-1]
	}
	return b.install(ctx, label, key, chain)
}

// install puts a new chain for key label in place: a sign certificate at
// once (file and running identity); an authentication certificate as
// pending (it must be registered with the central server first).
func (b *adminBackend) install(ctx context.Context, label string, key crypto.Signer, chain []*x509.Certificate) (ssadmin.KeyInfo, error) {
	pub, ok := chain[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return ssadmin.KeyInfo{}, fmt.Errorf("%w: the certificate does not certify key %s", ssadmin.ErrInvalid, label)
	}
	if label == AuthKeyLabel {
		if cur, err := readChain(b.certPath(label)); err == nil && cur[0].Equal(chain[0]) {
			return ssadmin.KeyInfo{}, fmt.Errorf("%w: this certificate is already in use", ssadmin.ErrConflict)
		}
		if err := writeChainAtomic(b.pendingAuthPath(), chain); err != nil {
			return ssadmin.KeyInfo{}, err
		}
		return b.keyInfo(ctx, label)
	}
	m, err := profile.MemberIDFromCert(chain[0])
	if err != nil {
		return ssadmin.KeyInfo{}, fmt.Errorf("%w: %v", ssadmin.ErrInvalid, err)
	}
	if err := b.s.identity.AddSignKey(m, key, chain); err != nil {
		return ssadmin.KeyInfo{}, fmt.Errorf("%w: %v", ssadmin.ErrInvalid, err)
	}
	if err := writeChainAtomic(b.certPath(label), chain); err != nil {
		return ssadmin.KeyInfo{}, err
	}
	if err := b.s.identity.Refresh(ctx); err != nil {
		b.s.log.Warn("admin API: OCSP for the new sign certificate not available yet", "member", m.String(), "err", err)
	}
	return b.keyInfo(ctx, label)
}

func (b *adminBackend) RegisterAuthCertificate(ctx context.Context, label string) (mgmtproto.Status, error) {
	if label != AuthKeyLabel {
		return mgmtproto.Status{}, fmt.Errorf("%w: only the authentication key (%s) is registered", ssadmin.ErrInvalid, AuthKeyLabel)
	}
	b.keysMu.Lock()
	defer b.keysMu.Unlock()
	chain, err := readChain(b.pendingAuthPath())
	if errors.Is(err, fs.ErrNotExist) {
		chain, err = readChain(b.certPath(label))
	}
	if err != nil {
		return mgmtproto.Status{}, err
	}
	if len(chain) < 2 {
		return mgmtproto.Status{}, fmt.Errorf("%w: the authentication certificate chain lacks its issuer", ssadmin.ErrConflict)
	}
	key, err := b.requireKey(ctx, label)
	if err != nil {
		return mgmtproto.Status{}, err
	}
	_, der, err := b.s.ocsp.Status(ctx, chain[0], chain[1])
	if err != nil {
		return mgmtproto.Status{}, fmt.Errorf("%w: OCSP for the authentication certificate: %v", ssadmin.ErrUnavailable, err)
	}
	sign, err := b.signer(b.s.cfg.ID().Owner)
	if err != nil {
		return mgmtproto.Status{}, err
	}
	auth := mgmtproto.Signer{Key: key, Chain: chain, OCSP: der}
	return b.submit(ctx, mgmtproto.Request{Type: mgmtproto.TypeAuthCertRegistration, Addresses: b.s.cfg.Addresses,
		AuthCert: chain[0].Raw}, false, sign, auth)
}

func (b *adminBackend) ActivateAuthCertificate(ctx context.Context, label string) (ssadmin.KeyInfo, error) {
	if label != AuthKeyLabel {
		return ssadmin.KeyInfo{}, fmt.Errorf("%w: only the authentication key (%s) has certificates to activate", ssadmin.ErrInvalid, AuthKeyLabel)
	}
	b.keysMu.Lock()
	defer b.keysMu.Unlock()
	chain, err := readChain(b.pendingAuthPath())
	if errors.Is(err, fs.ErrNotExist) {
		return ssadmin.KeyInfo{}, fmt.Errorf("%w: no pending authentication certificate", ssadmin.ErrConflict)
	}
	if err != nil {
		return ssadmin.KeyInfo{}, err
	}
	doc, err := b.document()
	if err != nil {
		return ssadmin.KeyInfo{}, err
	}
	srv, ok := doc.ServerByID(b.s.cfg.ID())
	if !ok || !slices.Contains(srv.AuthCertHashes, certHash(chain[0])) {
		return ssadmin.KeyInfo{}, fmt.Errorf("%w: the global configuration does not list the pending certificate for this server yet: register it and wait for its approval", ssadmin.ErrConflict)
	}
	key, err := b.requireKey(ctx, label)
	if err != nil {
		return ssadmin.KeyInfo{}, err
	}
	if err := b.s.identity.SetAuth(key, chain); err != nil {
		return ssadmin.KeyInfo{}, fmt.Errorf("%w: %v", ssadmin.ErrInvalid, err)
	}
	if err := os.Rename(b.pendingAuthPath(), b.certPath(label)); err != nil {
		return ssadmin.KeyInfo{}, err
	}
	if err := b.s.identity.Refresh(ctx); err != nil {
		b.s.log.Warn("admin API: OCSP for the new authentication certificate not available yet", "err", err)
	}
	return b.keyInfo(ctx, label)
}

func (b *adminBackend) InternalTLSCertificate(context.Context) ([]*x509.Certificate, error) {
	return readChain(filepath.Join(b.s.cfg.Dir, CertsDir, ClientTLSCert))
}

// writeChainAtomic writes a PEM chain through a temporary file renamed
// into place, so that readers never see half a chain.
func writeChainAtomic(path string, chain []*x509.Certificate) error {
	tmp := path + ".tmp"
	if err := writeChain(tmp, chain); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// Message log.

func (b *adminBackend) MessageLogSettings(context.Context) (ssadmin.LogSettings, error) {
	interval := msglog.DefaultTimestampInterval
	if doc, err := b.s.gc.Current(); err == nil && doc.Settings.TimestampingInterval() > 0 {
		interval = doc.Settings.TimestampingInterval()
	}
	return ssadmin.LogSettings{TimestampingInterval: interval, TimestampingGrace: msglog.DefaultTimestampGrace,
		DefaultBodyLogging: conf.BodyLoggingFull, MaxLoggedBody: b.s.cfg.MaxLoggedBody, BodyKeyID: bodyKeyID}, nil
}

func (b *adminBackend) SearchMessageLog(ctx context.Context, q ssadmin.MessageLogQuery) ([]ssadmin.MessageRecord, error) {
	recs, err := b.s.msglog.log.FindMetadata(ctx, msglog.Query{MessageID: q.MessageID, Client: q.Client, Service: q.Service,
		UserID: q.UserID, Issue: q.Issue, From: q.From, To: q.To, After: q.After, Limit: q.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]ssadmin.MessageRecord, 0, len(recs))
	if len(recs) == 0 {
		return out, nil
	}
	stamps, err := b.s.msglog.log.TimestampsCovering(ctx, recs[0].ID, recs[len(recs)-1].ID)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		mr := ssadmin.MessageRecord{ID: r.ID, LoggedAt: r.LoggedAt, Direction: string(r.Direction), Side: string(r.Side),
			MessageID: r.MessageID, RequestDigest: r.RequestDigest, Client: r.Client, Service: r.Service, UserID: r.UserID,
			Issue: r.Issue, RepresentedParty: r.RepresentedParty, Time: r.Time, Method: r.Method, Path: r.Path, Query: r.Query,
			Status: r.Status, Signer: r.Signer, SignerCertSHA256: r.SignerCertHash, BodySHA256: r.BodySHA256, BodySize: r.BodySize,
			BodyLogged: r.BodyLogged, PrevHash: r.PrevHash, Hash: r.Hash}
		for _, ts := range stamps {
			if ts.From <= r.ID && r.ID <= ts.To {
				mr.Timestamp = &ssadmin.RecordTimestamp{ID: ts.ID, From: ts.From, To: ts.To, StampedAt: ts.StampedAt, TSA: ts.TSA}
				break
			}
		}
		out = append(out, mr)
	}
	return out, nil
}

func (b *adminBackend) ExportEvidence(ctx context.Context, messageID string, requestDigest []byte) ([]byte, error) {
	if requestDigest == nil {
		// A message id may name several exchanges (ids are unique per
		// client only): then the caller must say which.
		recs, err := b.s.msglog.log.FindMetadata(ctx, msglog.Query{MessageID: messageID, Limit: msglog.MaxLimit})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if !bytes.Equal(r.RequestDigest, recs[0].RequestDigest) {
				return nil, fmt.Errorf("%w: message id %q names several exchanges: give requestDigest", ssadmin.ErrConflict, messageID)
			}
		}
	}
	owner := b.s.cfg.ID().Owner
	key, err := b.s.store.Signer(ctx, signLabel(owner))
	if err != nil {
		return nil, fmt.Errorf("the owner's sign key: %w", err)
	}
	chain, err := readChain(b.s.cfg.signCertPath(owner))
	if err != nil {
		return nil, fmt.Errorf("%w: the owner's sign certificate: %v", ssadmin.ErrUnavailable, err)
	}
	out, err := archive.ExportExchange(ctx, b.s.msglog.log, messageID, requestDigest, archive.WriteOptions{Server: b.s.cfg.ID(),
		Signer: archive.ManifestSigner{Key: key, Chain: chain}, Clock: b.s.clk})
	switch {
	case errors.Is(err, msglog.ErrNotFound):
		return nil, fmt.Errorf("%w: the message log has no exchange %q", ssadmin.ErrNotFound, messageID)
	case errors.Is(err, archive.ErrNotStamped):
		return nil, fmt.Errorf("%w: exchange %q is not time-stamped yet: try again after the next time-stamp", ssadmin.ErrConflict, messageID)
	}
	return out, err
}
