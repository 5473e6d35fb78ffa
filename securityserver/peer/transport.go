package peer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// Defaults of a Transport.
const (
	DefaultMaxIdleConnsPerHost = 2
	DefaultIdleConnTimeout     = 90 * time.Second
	DefaultDialTimeout         = 10 * time.Second
	DefaultTLSHandshakeTimeout = 10 * time.Second
)

// TransportConfig configures a Transport. Docs, Identity and OCSP are
// required; zero durations and counts mean the defaults above.
type TransportConfig struct {
	// Docs supplies the configuration current at each request and
	// handshake.
	Docs DocSource
	// Identity supplies the client certificate presented to providers.
	Identity *Identity
	// OCSP supplies the OCSP status of provider certificates that arrive
	// without a usable staple.
	OCSP *OCSPCache
	// Clock is used for certificate validity and OCSP freshness. Nil means
	// the wall clock.
	Clock clock.Clock
	// MaxIdleConnsPerHost bounds idle (HTTP/1.1) connections per provider
	// address; an HTTP/2 connection carries many exchanges at once.
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes connections idle for that long.
	IdleConnTimeout time.Duration
	// DialTimeout bounds the TCP connect.
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake including the peer's
	// OCSP lookup.
	TLSHandshakeTimeout time.Duration
	// Logger receives refused handshakes and configuration switches. Nil
	// discards.
	Logger *slog.Logger
	// Registerer, when set, receives the counter
	// jisr_ss_peer_handshakes_total{side="client",outcome}: the consumer's
	// verdict on the provider. (A provider's refusal of the consumer's
	// certificate arrives after the client's side of a TLS 1.3 handshake
	// is complete, and shows as a failed request.)
	Registerer prometheus.Registerer
}

// Transport is the consumer side of SS↔SS trust: an http.RoundTripper for
// https URLs of other security servers that presents the Identity's auth
// certificate and admits only providers that pass every check of the
// package documentation. Connections are pooled and reused (HTTP/2 when the
// provider offers it), so a handshake happens per provider address, not per
// exchange.
//
// Connections are bound to the configuration they were admitted under: when
// the current document's serial changes, the next request switches to a
// fresh pool (its connections admitted under the new document) and the old
// pool's idle connections are closed; its busy ones finish their exchanges
// and close after IdleConnTimeout. Without a usable configuration every
// request fails with ErrNoConfiguration before anything is dialled.
//
// It is safe for concurrent use.
type Transport struct {
	v          verifier
	identity   *Identity
	cfg        TransportConfig
	log        *slog.Logger
	handshakes *prometheus.CounterVec

	mu  sync.Mutex
	gen *generation
}

// generation is the connection pool of one configuration serial.
type generation struct {
	serial uint64
	tls    *tls.Config
	rt     *http.Transport
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport checks cfg and returns a Transport.
func NewTransport(cfg TransportConfig) (*Transport, error) {
	if cfg.Docs == nil || cfg.Identity == nil || cfg.OCSP == nil {
		return nil, errors.New("peer: transport: Docs, Identity and OCSP are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if cfg.IdleConnTimeout <= 0 {
		cfg.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.TLSHandshakeTimeout <= 0 {
		cfg.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	t := &Transport{
		v:        verifier{docs: cfg.Docs, ocsp: cfg.OCSP, clock: cfg.Clock},
		identity: cfg.Identity,
		cfg:      cfg,
		log:      cfg.Logger,
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer != nil {
		cv, err := handshakeCounter(cfg.Registerer)
		if err != nil {
			return nil, fmt.Errorf("peer: transport: registering metrics: %w", err)
		}
		t.handshakes = cv
	}
	return t, nil
}

// RoundTrip sends req (an https URL of another security server's SS↔SS
// listener) over a pooled connection, dialling and admitting a new one when
// none is available. Refusals wrap the sentinels of this package; note that
// in TLS 1.3 the provider judges the client certificate after the client
// has finished its side of the handshake, so a provider's refusal surfaces
// as a TLS alert ("remote error") on the first exchange.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.Scheme != "https" {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, errors.New("peer: transport: only https URLs are supported")
	}
	doc, err := currentDoc(t.v.docs)
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return t.generationFor(doc).rt.RoundTrip(req)
}

// Do sends req like RoundTrip, to want: it fails with ErrUnknownPeer before
// sending when want is not registered, and with ErrWrongPeer when req's host
// is not one of want's registered addresses (so nothing is sent to an
// address the configuration does not give for want), and checks the
// response with CheckPeer. On a CheckPeer failure the response body is
// closed and only the error is returned.
func (t *Transport) Do(req *http.Request, want xroad.ServerID) (*http.Response, error) {
	doc, err := currentDoc(t.v.docs)
	if err != nil {
		return nil, err
	}
	srv, ok := doc.ServerByID(want)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not registered in configuration serial %d", ErrUnknownPeer, want, doc.Serial)
	}
	if !addressListed(srv, canonicalAddr(req)) {
		return nil, fmt.Errorf("%w: %s is not a registered address of %s", ErrWrongPeer, canonicalAddr(req), want)
	}
	resp, err := t.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if err := t.CheckPeer(resp, want); err != nil {
		_ = resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// CheckPeer confirms that resp came, over TLS, from the security server
// want: the certificate the connection was admitted with must be registered
// for want in the current configuration. Errors wrap ErrWrongPeer (another
// registered server), ErrUnknownPeer (no TLS or no longer registered) or
// ErrNoConfiguration.
func (t *Transport) CheckPeer(resp *http.Response, want xroad.ServerID) error {
	if resp == nil || resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		return fmt.Errorf("%w: response did not arrive over TLS", ErrUnknownPeer)
	}
	doc, err := currentDoc(t.v.docs)
	if err != nil {
		return err
	}
	leaf := resp.TLS.PeerCertificates[0]
	srv, ok := doc.ServerByAuthCertHash(globalconf.AuthCertHash(leaf))
	if !ok {
		return fmt.Errorf("%w: the responding server's certificate is not registered", ErrUnknownPeer)
	}
	if srv.ID != want {
		return fmt.Errorf("%w: response came from %s, not %s", ErrWrongPeer, srv.ID, want)
	}
	return nil
}

// CloseIdleConnections closes the idle connections of the current pool.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	g := t.gen
	t.mu.Unlock()
	if g != nil {
		g.rt.CloseIdleConnections()
	}
}

// generationFor returns the pool for doc's serial, replacing the current one
// when the serial differs.
func (t *Transport) generationFor(doc *globalconf.Document) *generation {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gen != nil && t.gen.serial == doc.Serial {
		return t.gen
	}
	old := t.gen
	g := &generation{
		serial: doc.Serial,
		tls: &tls.Config{
			MinVersion:           tls.VersionTLS13,
			MaxVersion:           tls.VersionTLS13,
			RootCAs:              doc.ApprovedCAPool(),
			NextProtos:           nextProtos,
			Time:                 t.cfg.Clock.Now,
			GetClientCertificate: t.getClientCertificate,
		},
	}
	g.rt = &http.Transport{
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return t.dialTLS(ctx, g, network, addr)
		},
		ForceAttemptHTTP2: true,
		// The hop carries signed messages: Go must not add an unsigned
		// Accept-Encoding or decompress bodies behind the signature.
		DisableCompression:  true,
		MaxIdleConnsPerHost: t.cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:     t.cfg.IdleConnTimeout,
		// The handshake timeout is enforced by dialTLS; SS↔SS traffic
		// never goes through an HTTP proxy.
		Proxy: nil,
	}
	t.gen = g
	if old != nil {
		old.rt.CloseIdleConnections()
		t.log.Info("global configuration changed: new SS↔SS connection pool", "old_serial", old.serial, "serial", g.serial)
	}
	return g
}

func (t *Transport) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return t.identity.TLSCertificate(), nil
}

// dialTLS connects to addr and completes a TLS handshake in which the
// provider is verified: standard chain and host name verification by
// crypto/tls against the generation's pool, then VerifyConnection with the
// checks of verifyPeer plus the address binding (the server registered for
// the certificate lists addr).
func (t *Transport) dialTLS(ctx context.Context, g *generation, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("peer: dialling %q: %w", addr, err)
	}
	d := net.Dialer{Timeout: t.cfg.DialTimeout}
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("peer: dialling %s: %w", addr, err)
	}
	hctx, cancel := context.WithTimeout(ctx, t.cfg.TLSHandshakeTimeout)
	defer cancel()
	conf := g.tls.Clone()
	conf.ServerName = host
	var verifyErr error
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		p, err := t.v.verifyPeer(hctx, &cs, x509.ExtKeyUsageServerAuth)
		if err == nil && !addressListed(p.server, addr) {
			err = fmt.Errorf("%w: %s is not registered at %s", ErrWrongPeer, p.server.ID, addr)
		}
		verifyErr = err
		return err
	}
	conn := tls.Client(raw, conf)
	if err := conn.HandshakeContext(hctx); err != nil {
		_ = raw.Close()
		err = classifyHandshakeError(err, verifyErr)
		t.count(err)
		t.log.Info("refused SS↔SS connection", "addr", addr, "err", err)
		return nil, fmt.Errorf("peer: TLS handshake with %s: %w", addr, err)
	}
	t.count(nil)
	return conn, nil
}

// classifyHandshakeError maps a failed client handshake to the sentinels:
// the VerifyConnection error when that ran, ErrWrongPeer for a host name
// mismatch, ErrUntrustedChain for any other verification failure of
// crypto/tls.
func classifyHandshakeError(err, verifyErr error) error {
	if verifyErr != nil {
		return verifyErr
	}
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) {
		return fmt.Errorf("%w: %w", ErrWrongPeer, err)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return fmt.Errorf("%w: %w", ErrUntrustedChain, err)
	}
	return err
}

func (t *Transport) count(err error) {
	if t.handshakes != nil {
		t.handshakes.WithLabelValues("client", outcome(err)).Inc()
	}
}

// canonicalAddr returns req's host:port, the port defaulting to 443.
func canonicalAddr(req *http.Request) string {
	port := req.URL.Port()
	if port == "" {
		port = "443"
	}
	return net.JoinHostPort(req.URL.Hostname(), port)
}
