package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/message"
	"github.com/jisr-bus/jisr/securityserver/peer"
)

// ServerConfig configures the server proxy. Conf, Peers, Clients, Access,
// Signer, Log and Replay are required; zero values of the others mean the
// defaults of this package.
type ServerConfig struct {
	// Conf supplies the global configuration.
	Conf Configuration
	// Peers authenticates the consumer security server of each request.
	Peers PeerAuthenticator
	// Clients is the local configuration of hosted clients; a provider
	// must be hosted here.
	Clients LocalClients
	// Access decides access and supplies each service's configuration.
	Access Access
	// Metadata answers the REST metaservices; nil means they are not
	// offered (UnknownService).
	Metadata Metadata
	// Signer supplies the providers' members' sign keys.
	Signer Signer
	// Log is the message log.
	Log MessageLog
	// Replay remembers message ids; its window should be at least the
	// maximum skew. A guard shared by all nodes of this security server is
	// needed when several serve the same address.
	Replay message.ReplayGuard
	// Clock signs and verifies message times. Nil means the wall clock.
	Clock clock.Clock
	// Logger receives refused requests (with the internal cause) at error
	// level. Nil discards.
	Logger *slog.Logger
	// MaxSkew is how far a request's time may lie from Clock. Zero means
	// the configuration's maxClockSkewSeconds, or DefaultMaxSkew when that
	// is zero.
	MaxSkew time.Duration
	// MemoryLimit, MaxBodySize and TempDir are as in ClientConfig.
	MemoryLimit int64
	MaxBodySize int64
	TempDir     string
	// LogTimeout bounds one message log write. Zero means 30 s.
	LogTimeout time.Duration
	// ServiceTLS is the TLS configuration for https services (trusted
	// roots, the client certificate the security server presents to
	// services). Nil means the system roots and no client certificate. For
	// services with VerifyTLS false a copy with InsecureSkipVerify is used.
	ServiceTLS *tls.Config
	// DialTimeout bounds connecting to a service. Zero means 30 s (the
	// service's Timeout bounds it too).
	DialTimeout time.Duration
	// ServerID is this security server; it is only used to name the
	// provider's server in the events given to Observer.
	ServerID xroad.ServerID
	// Observer, if not nil, is told about every request on the SS↔SS
	// listener when it has ended (operational monitoring, metrics).
	Observer Observer
}

// ServerProxy is the server proxy: the http.Handler the SS↔SS listener
// serves (see the package documentation). It is safe for concurrent use.
type ServerProxy struct {
	cfg      ServerConfig
	clock    clock.Clock
	log      *slog.Logger
	verified *http.Client // services with VerifyTLS
	insecure *http.Client // services without
	// verifyCache remembers verified chains and OCSP responses of the
	// consumers' signatures.
	verifyCache *message.VerifyCache
}

var _ http.Handler = (*ServerProxy)(nil)

// NewServerProxy returns the server proxy. It panics if a required field
// of cfg is missing (a programming error).
func NewServerProxy(cfg ServerConfig) *ServerProxy {
	if cfg.Conf == nil || cfg.Peers == nil || cfg.Clients == nil || cfg.Access == nil ||
		cfg.Signer == nil || cfg.Log == nil || cfg.Replay == nil {
		panic("proxy: NewServerProxy: Conf, Peers, Clients, Access, Signer, Log and Replay are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	if cfg.MemoryLimit <= 0 {
		cfg.MemoryLimit = DefaultMemoryLimit
	}
	if cfg.MaxBodySize <= 0 {
		cfg.MaxBodySize = DefaultMaxBodySize
	}
	if cfg.LogTimeout <= 0 {
		cfg.LogTimeout = 30 * time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.ServiceTLS != nil {
		base = cfg.ServiceTLS.Clone()
	}
	insecure := base.Clone()
	insecure.InsecureSkipVerify = true
	return &ServerProxy{
		cfg: cfg, clock: cfg.Clock, log: log,
		verified:    serviceClient(base, cfg.DialTimeout),
		insecure:    serviceClient(insecure, cfg.DialTimeout),
		verifyCache: message.NewVerifyCache(0),
	}
}

// serviceClient returns the HTTP client for services: no proxy, no
// transparent decompression (bodies are signed as the service sent them),
// redirects passed back rather than followed.
func serviceClient(tc *tls.Config, dialTimeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: dialTimeout}).DialContext,
			TLSClientConfig:     tc,
			DisableCompression:  true,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// CloseIdleConnections closes idle connections to services.
func (s *ServerProxy) CloseIdleConnections() {
	s.verified.CloseIdleConnections()
	s.insecure.CloseIdleConnections()
}

// ServeHTTP implements http.Handler.
func (s *ServerProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ev := newEvent(ServerSide, s.clock.Now(), r)
	ev.ServiceServer = s.cfg.ServerID
	if err := s.serve(w, r, &ev); err != nil {
		e := xerr.As(err, xerr.PrefixServerProxy+CodeInternalError)
		ev.fail(e, s.clock.Now())
		// Always JSON on the hop (the client's Accept travels end to end and
		// is not ours to honour here); the client proxy re-encodes the fault
		// for the information system.
		xerr.Write(w, nil, s.log, e, xerr.PrefixServerProxy+CodeInternalError)
	} else {
		ev.Succeeded = true
	}
	if s.cfg.Observer != nil {
		s.cfg.Observer.ObserveExchange(ev)
	}
}

// serve handles one exchange: authenticate the peer, decode, verify,
// authorise, log, call the service, sign, log, answer. It returns a
// boundary error when nothing was written yet. It records in ev what it
// learns of the exchange.
func (s *ServerProxy) serve(w http.ResponseWriter, r *http.Request, ev *ExchangeEvent) error {
	if r.Method != http.MethodPost || r.URL.Path != HopPath {
		return spErr("InvalidRequest", "not a jisr/1 exchange", nil)
	}
	peerID, err := s.cfg.Peers.PeerServer(r)
	if err != nil {
		return peer.ToXRoad(err, peer.ServerProxy)
	}
	ev.ClientServer = peerID
	doc, err := current(s.cfg.Conf, xerr.PrefixServerProxy)
	if err != nil {
		return err
	}
	h, sig, err := message.DecodeRequest(r.Header)
	if err != nil {
		return message.ToXRoad(err, message.ServerProxy)
	}
	ev.setRequest(&h)
	if srv, ok := doc.ServerByID(peerID); !ok || !slices.Contains(srv.Clients, h.Client) {
		return spErr(CodeSslAuthenticationFail,
			fmt.Sprintf("client %q is not hosted by security server %q", h.Client, peerID), nil)
	}
	if !s.cfg.Clients.Hosted(h.Service.Provider) {
		return spErr(CodeUnknownMember, "client \""+h.Service.Provider.String()+"\" not found", nil)
	}
	body, err := message.NewSpool(r.Body, s.cfg.MemoryLimit, s.cfg.MaxBodySize, s.cfg.TempDir, message.SHA256Only())
	if err != nil {
		return bodyErr(err, func() *xerr.Error { return message.ToXRoad(err, message.ServerProxy) }, xerr.PrefixServerProxy)
	}
	defer body.Close()
	ev.RequestSize = body.Size()
	vd, err := verifierFor(doc, s.clock, s.maxSkew(doc), s.cfg.Replay, s.verifyCache).VerifyRequest(sig, h, body.Sum())
	if err != nil {
		return message.ToXRoad(err, message.ServerProxy)
	}
	requestID := sanitizeRequestID(r.Header.Get(HeaderRequestID))
	ev.RequestID = requestID

	var svc Service
	meta := isMetaservice(h.Service.Code)
	if !meta {
		if svc, err = s.authorize(doc, &h); err != nil {
			return err
		}
	}
	key, chain, staple, err := s.cfg.Signer.SignMaterial(h.Service.Provider.Member())
	if err != nil {
		return signErr(err, peer.ServerProxy)
	}
	rec := requestRecord(ServerSide, &h, requestID, sig, vd.Chain, vd.OCSPDER, body)
	rec.LoggedAt = s.clock.Now()
	if err := s.logWith(r.Context(), s.cfg.Log.LogRequest, rec); err != nil {
		return logErr(peer.ServerProxy, "cannot write the request to the message log", err)
	}

	var status int
	var hdr http.Header
	var rbody *message.Spool
	if meta {
		a, err := s.metaservice(doc, &h)
		if err != nil {
			return err
		}
		status, hdr = http.StatusOK, a.header
		if rbody, err = message.NewSpool(bytes.NewReader(a.body), s.cfg.MemoryLimit, s.cfg.MaxBodySize, s.cfg.TempDir, message.SHA256Only()); err != nil {
			return spErr(CodeInternalError, "cannot hold the metaservice answer", err)
		}
	} else {
		ev.RequestOut = s.clock.Now()
		status, hdr, rbody, err = s.callService(r.Context(), svc, &h, requestID, body)
		ev.ResponseIn = s.clock.Now()
		if err != nil {
			return err
		}
	}
	defer rbody.Close()
	ev.ResponseSize = rbody.Size()

	rh := message.ResponseHeader{
		Version:       message.Version,
		RequestDigest: vd.Digest,
		Status:        status,
		Headers:       hdr,
		BodyDigest:    rbody.Digest(),
		BodySize:      rbody.Size(),
		Time:          signedTime(s.clock),
	}
	if err := rh.Validate(); err != nil {
		return spErr(CodeServiceFailed, "the service's response cannot be carried", err)
	}
	rsig, err := message.SignResponse(rh, message.Signer{Key: key, Chain: chain, OCSP: staple})
	if err != nil {
		return signErr(err, peer.ServerProxy)
	}
	rrec := responseRecord(ServerSide, &h, requestID, rh,
		&message.Verified{Chain: chain, OCSPDER: staple, Payload: rh.Canonical(), Digest: digest(rh.Canonical()), Signature: rsig},
		rbody)
	rrec.LoggedAt = s.clock.Now()
	if err := s.logWith(r.Context(), s.cfg.Log.LogResponse, rrec); err != nil {
		return logErr(peer.ServerProxy, "cannot write the response to the message log", err)
	}
	out := w.Header()
	for k, vv := range message.EncodeResponse(rh, rsig) {
		out[k] = vv
	}
	ev.Status, ev.ResponseOut = rh.Status, s.clock.Now()
	w.WriteHeader(rh.Status)
	if err := copyBody(w, rbody); err != nil {
		s.log.Warn("sending response to the consumer security server failed", "id", h.ID, "err", err)
	}
	return nil
}

// authorize applies the access decision in X-Road's order: the service
// exists, the client may call it (and the endpoint), it is not disabled.
func (s *ServerProxy) authorize(doc *globalconf.Document, h *message.RequestHeader) (Service, error) {
	svc, err := s.cfg.Access.Service(h.Service)
	if errors.Is(err, ErrUnknownService) {
		return Service{}, spErr(CodeUnknownService, "unknown service: "+h.Service.String(), err)
	}
	if err != nil {
		return Service{}, spErr(CodeInternalError, "cannot read the service configuration", err)
	}
	ok, err := s.cfg.Access.Allowed(doc, h.Client, h.Service, h.Method, h.Path)
	if err != nil {
		return Service{}, spErr(CodeInternalError, "cannot decide access", err)
	}
	if !ok {
		return Service{}, spErr(CodeAccessDenied, "request is not allowed: "+h.Service.String(), nil)
	}
	if svc.Disabled {
		return Service{}, spErr(CodeServiceDisabled, "service "+h.Service.String()+" is disabled: "+svc.DisabledNotice, nil)
	}
	if svc.URL == nil || (svc.URL.Scheme != "http" && svc.URL.Scheme != "https") || svc.URL.Host == "" {
		return Service{}, spErr("ServiceMissingUrl", "service address not specified for "+h.Service.String(), nil)
	}
	return svc, nil
}

// callService sends the verified request to the service and spools its
// answer. Connection failures are NetworkError; a service that does not
// answer in time or whose answer cannot be read is ServiceFailed.
func (s *ServerProxy) callService(ctx context.Context, svc Service, h *message.RequestHeader, requestID string, body *message.Spool) (int, http.Header, *message.Spool, error) {
	timeout := svc.Timeout
	if timeout <= 0 {
		timeout = DefaultServiceTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target, err := serviceURL(svc.URL, h.Path)
	if err != nil {
		return 0, nil, nil, spErr("ServiceMalformedUrl", "malformed service address for "+h.Service.String(), err)
	}
	target.RawQuery = h.RawQuery
	req, err := http.NewRequestWithContext(ctx, h.Method, target.String(), http.NoBody)
	if err != nil {
		return 0, nil, nil, spErr("ServiceMalformedUrl", "malformed service address for "+h.Service.String(), err)
	}
	req.URL = target
	if body.Size() > 0 {
		rc, err := body.Open()
		if err != nil {
			return 0, nil, nil, spErr(CodeIOError, "cannot read the spooled request", err)
		}
		req.Body, req.GetBody, req.ContentLength = rc, body.Open, body.Size()
	}
	req.Header = h.Headers.Clone()
	req.Header.Set(HeaderClient, h.Client.String())
	req.Header.Set(HeaderService, h.Service.String())
	req.Header.Set(HeaderID, h.ID)
	for name, v := range map[string]string{HeaderUserID: h.UserID, HeaderIssue: h.Issue,
		HeaderRepresentedParty: h.RepresentedParty, HeaderRequestID: requestID} {
		if v != "" {
			req.Header.Set(name, v)
		}
	}
	req.Header.Set("User-Agent", "jisr-securityserver")
	client := s.insecure
	if svc.VerifyTLS {
		client = s.verified
	}
	resp, err := client.Do(req)
	if err != nil {
		if isDialError(err) {
			return 0, nil, nil, spErr(CodeNetworkError, "cannot connect to the service "+h.Service.String(), err)
		}
		msg := "the service " + h.Service.String() + " failed to answer"
		if isTimeout(err) {
			msg = "the service " + h.Service.String() + " did not answer within " + timeout.String()
		}
		return 0, nil, nil, spErr(CodeServiceFailed, msg, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 599 {
		return 0, nil, nil, spErr(CodeServiceFailed, fmt.Sprintf("the service answered with status %d", resp.StatusCode), nil)
	}
	rbody, err := message.NewSpool(resp.Body, s.cfg.MemoryLimit, s.cfg.MaxBodySize, s.cfg.TempDir, message.SHA256Only())
	if err != nil {
		msg := "cannot read the service's response"
		if errors.Is(err, message.ErrBodyTooLarge) {
			msg = fmt.Sprintf("the service's response is larger than %d bytes", s.cfg.MaxBodySize)
		} else if isTimeout(err) {
			msg = "the service " + h.Service.String() + " did not answer within " + timeout.String()
		}
		return 0, nil, nil, spErr(CodeServiceFailed, msg, err)
	}
	return resp.StatusCode, message.FilterHeaders(resp.Header), rbody, nil
}

// serviceURL appends the escaped r1 path to the service's base URL, as
// X-Road does (one '/' between them). The result's EscapedPath is exactly
// the base path followed by path.
func serviceURL(base *url.URL, path string) (*url.URL, error) {
	b := *base
	b.RawQuery, b.Fragment, b.RawFragment = "", "", ""
	prefix := b.EscapedPath()
	if strings.HasSuffix(prefix, "/") && strings.HasPrefix(path, "/") {
		path = path[1:]
	}
	b.Path, b.RawPath = "", ""
	u, err := url.Parse(b.String() + prefix + path)
	if err != nil {
		return nil, err
	}
	if got := u.EscapedPath(); got != prefix+path && !(got == "/" && prefix+path == "") {
		return nil, fmt.Errorf("path %q does not survive URL parsing (got %q)", prefix+path, got)
	}
	return u, nil
}

func (s *ServerProxy) maxSkew(doc *globalconf.Document) time.Duration {
	switch {
	case s.cfg.MaxSkew > 0:
		return s.cfg.MaxSkew
	case doc.Settings.MaxClockSkew() > 0:
		return doc.Settings.MaxClockSkew()
	}
	return DefaultMaxSkew
}

func (s *ServerProxy) logWith(parent context.Context, f func(context.Context, *Record) error, rec *Record) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), s.cfg.LogTimeout)
	defer cancel()
	return f(ctx, rec)
}

// sanitizeRequestID keeps an X-Road-Request-Id of at most 255 bytes of
// printable ASCII and drops anything else (it is an unsigned correlation
// id, passed to the service and the log only).
func sanitizeRequestID(s string) string {
	if len(s) > 255 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return ""
		}
	}
	return s
}
