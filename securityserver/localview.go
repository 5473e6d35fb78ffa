package securityserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/proxy"
)

// LocalView serves the proxies from the security server's local
// configuration (securityserver/conf): an immutable conf.View swapped
// atomically whenever the store's version moves. It implements
// proxy.LocalClients, proxy.Access and proxy.Metadata.
type LocalView struct {
	store conf.Store
	view  atomic.Pointer[conf.View]
	mu    sync.Mutex // serialises reloads
}

// Compile-time guards.
var (
	_ proxy.LocalClients = (*LocalView)(nil)
	_ proxy.Access       = (*LocalView)(nil)
	_ proxy.Metadata     = (*LocalView)(nil)
)

// NewLocalView loads the first view from store.
func NewLocalView(ctx context.Context, store conf.Store) (*LocalView, error) {
	lv := &LocalView{store: store}
	if err := lv.Reload(ctx); err != nil {
		return nil, err
	}
	return lv, nil
}

// Reload loads a new view if the store's version differs from the current
// view's. The admin API calls it after every write; a timer calls it too,
// for writes by other nodes sharing the database.
func (lv *LocalView) Reload(ctx context.Context) error {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	v, err := lv.store.Version(ctx)
	if err != nil {
		return fmt.Errorf("local configuration: %w", err)
	}
	if cur := lv.view.Load(); cur != nil && cur.Version() == v {
		return nil
	}
	view, err := conf.LoadView(ctx, lv.store)
	if err != nil {
		return fmt.Errorf("local configuration: %w", err)
	}
	lv.view.Store(view)
	return nil
}

// View returns the current view.
func (lv *LocalView) View() *conf.View { return lv.view.Load() }

// Hosted reports whether client is registered on this security server.
func (lv *LocalView) Hosted(client xroad.ClientID) bool {
	c, ok := lv.View().Client(client)
	return ok && c.Status == conf.StatusRegistered
}

// AuthorizeIS applies the client's connection type to the information
// system's request: HTTP accepts anything, HTTPS requires TLS, HTTPS_CERT
// requires a TLS client certificate whose SHA-256 is registered.
func (lv *LocalView) AuthorizeIS(client xroad.ClientID, r *http.Request) error {
	c, ok := lv.View().Client(client)
	if !ok {
		return xerr.New("Server.ClientProxy.UnknownMember", "client "+client.String()+" is not a client of this security server", nil)
	}
	switch c.Connection {
	case conf.ConnHTTP:
		return nil
	case conf.ConnHTTPS:
		if r.TLS == nil {
			return xerr.New("Server.ClientProxy.SslAuthenticationFailed", "client "+client.String()+" must connect over HTTPS", nil)
		}
		return nil
	case conf.ConnHTTPSCert:
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return xerr.New("Server.ClientProxy.SslAuthenticationFailed", "client "+client.String()+" must present its registered TLS certificate", nil)
		}
		sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
		if !slices.Contains(c.ISCertHashes, hex.EncodeToString(sum[:])) {
			return xerr.New("Server.ClientProxy.SslAuthenticationFailed", "the TLS certificate is not registered for client "+client.String(), nil)
		}
		return nil
	}
	return xerr.New("Server.ClientProxy.SslAuthenticationFailed", "unknown connection type", nil)
}

// Service returns the backend settings of service.
func (lv *LocalView) Service(service xroad.ServiceID) (proxy.Service, error) {
	s, _, ok := lv.View().Service(service.Provider, service.Code)
	if !ok || (service.Version != "" && s.Version != service.Version) {
		return proxy.Service{}, fmt.Errorf("%w: %s", proxy.ErrUnknownService, service)
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return proxy.Service{}, fmt.Errorf("service %s: backend URL: %w", service, err)
	}
	return proxy.Service{URL: u, Timeout: s.Timeout, VerifyTLS: s.VerifyTLS, Disabled: s.Disabled, DisabledNotice: s.DisabledNotice}, nil
}

// Allowed decides access with the local access rights and the global
// configuration's groups. A disabled service counts as allowed here: the
// proxy answers it with the notice.
func (lv *LocalView) Allowed(doc *globalconf.Document, client xroad.ClientID, service xroad.ServiceID, method, path string) (bool, error) {
	d, err := lv.View().Allowed(service.Provider, service, method, path, client, doc)
	if err != nil {
		if errors.Is(err, conf.ErrInvalid) {
			return false, nil
		}
		return false, err
	}
	switch d.Outcome {
	case conf.AccessGranted, conf.ServiceDisabled:
		return true, nil
	case conf.UnknownService:
		return false, fmt.Errorf("%w: %s", proxy.ErrUnknownService, service)
	}
	return false, nil
}

// ListMethods lists provider's REST services for the listMethods metaservice.
func (lv *LocalView) ListMethods(provider xroad.ClientID) ([]proxy.ServiceDescription, error) {
	return toDescriptions(provider, lv.View().ListMethods(provider)), nil
}

// AllowedMethods lists what client may call for the allowedMethods
// metaservice.
func (lv *LocalView) AllowedMethods(doc *globalconf.Document, client, provider xroad.ClientID) ([]proxy.ServiceDescription, error) {
	return toDescriptions(provider, lv.View().AllowedMethods(provider, client, doc)), nil
}

// OpenAPI returns the stored OpenAPI description of service.
func (lv *LocalView) OpenAPI(service xroad.ServiceID) ([]byte, string, error) {
	doc, err := lv.View().OpenAPI(service.Provider, service.Code)
	if err != nil {
		if errors.Is(err, conf.ErrNotFound) {
			return nil, "", fmt.Errorf("%w: %s", proxy.ErrUnknownService, service)
		}
		return nil, "", err
	}
	mt := "text/yaml"
	for _, c := range doc {
		if c == ' ' || c == '\n' || c == '\r' || c == '\t' {
			continue
		}
		if c == '{' {
			mt = "application/json"
		}
		break
	}
	return doc, mt, nil
}

func toDescriptions(provider xroad.ClientID, entries []conf.ServiceEntry) []proxy.ServiceDescription {
	out := make([]proxy.ServiceDescription, 0, len(entries))
	for _, e := range entries {
		d := proxy.ServiceDescription{
			Service: xroad.ServiceID{Provider: provider, Code: e.ServiceCode, Version: e.ServiceVersion},
			Type:    string(e.ServiceType),
		}
		for _, ep := range e.EndpointList {
			d.Endpoints = append(d.Endpoints, proxy.Endpoint{Method: ep.Method, Path: ep.Path})
		}
		out = append(out, d)
	}
	return out
}
