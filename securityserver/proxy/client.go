package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/message"
	"github.com/jisr-bus/jisr/securityserver/peer"
)

// ClientConfig configures the client proxy. ServerID, Conf, Clients,
// Signer, Transport and Log are required; zero values of the others mean
// the defaults of this package.
type ClientConfig struct {
	// ServerID is this security server. A consumer must be listed as one
	// of its clients in the global configuration.
	ServerID xroad.ServerID
	// Conf supplies the global configuration.
	Conf Configuration
	// Clients is the local configuration of hosted clients.
	Clients LocalClients
	// Signer supplies the consumers' members' sign keys.
	Signer Signer
	// Transport sends exchanges to provider security servers.
	Transport PeerTransport
	// Log is the message log.
	Log MessageLog
	// Clock signs and verifies message times and times the health table.
	// Nil means the wall clock.
	Clock clock.Clock
	// Logger receives refused requests (with the internal cause) at error
	// level. Nil discards.
	Logger *slog.Logger
	// MaxSkew is how far a response's time may lie from Clock. Zero means
	// the configuration's maxClockSkewSeconds, or DefaultMaxSkew when that
	// is zero.
	MaxSkew time.Duration
	// MemoryLimit is how much of a body is held in memory before it is
	// spooled to TempDir. Zero means DefaultMemoryLimit.
	MemoryLimit int64
	// MaxBodySize bounds request and response bodies. Zero means
	// DefaultMaxBodySize.
	MaxBodySize int64
	// TempDir receives spooled bodies ("" means os.TempDir()); it should be
	// readable by the security server only.
	TempDir string
	// ExchangeTimeout bounds one exchange with the provider security
	// server, from connecting to the end of the response body. Zero means
	// DefaultExchangeTimeout.
	ExchangeTimeout time.Duration
	// DownFor is how long an address that failed to connect is tried only
	// after all others. Zero means DefaultDownFor.
	DownFor time.Duration
	// LogTimeout bounds one message log write (it runs detached from the
	// client's request). Zero means 30 s.
	LogTimeout time.Duration
	// Observer, if not nil, is told about every r1 exchange when it has
	// ended (operational monitoring, metrics).
	Observer Observer
}

// ClientProxy is the client proxy: the http.Handler information systems
// call (see the package documentation). It is safe for concurrent use.
type ClientProxy struct {
	cfg    ClientConfig
	clock  clock.Clock
	log    *slog.Logger
	health *health
	// verifyCache remembers verified chains and OCSP responses of the
	// providers' signatures.
	verifyCache *message.VerifyCache
}

// NewClientProxy returns the client proxy. It panics if a required field of
// cfg is missing, as http.Handle does for a nil handler: that is a
// programming error, not a run-time condition.
func NewClientProxy(cfg ClientConfig) *ClientProxy {
	if cfg.Conf == nil || cfg.Clients == nil || cfg.Signer == nil || cfg.Transport == nil || cfg.Log == nil {
		panic("proxy: NewClientProxy: Conf, Clients, Signer, Transport and Log are required")
	}
	if err := cfg.ServerID.Validate(); err != nil {
		panic("proxy: NewClientProxy: ServerID: " + err.Error())
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
	if cfg.ExchangeTimeout <= 0 {
		cfg.ExchangeTimeout = DefaultExchangeTimeout
	}
	if cfg.DownFor <= 0 {
		cfg.DownFor = DefaultDownFor
	}
	if cfg.LogTimeout <= 0 {
		cfg.LogTimeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ClientProxy{cfg: cfg, clock: cfg.Clock, log: log, health: newHealth(cfg.Clock, cfg.DownFor),
		verifyCache: message.NewVerifyCache(0)}
}

var _ http.Handler = (*ClientProxy)(nil)

// ServeHTTP implements http.Handler.
func (p *ClientProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var err error
	switch path := r.URL.EscapedPath(); {
	case path == "/listClients":
		err = p.listClients(w, r)
	case strings.HasPrefix(path, "/r1/"):
		p.serveExchange(w, r)
		return
	default:
		err = clientErr(CodeBadRequest, "not an X-Road REST request: the path must start with /r1/ or be /listClients", nil)
	}
	if err != nil {
		xerr.Write(w, r, p.log, err, xerr.PrefixClientProxy+CodeInternalError)
	}
}

// serveExchange runs one r1 exchange, writes the boundary error if it
// failed before anything was written, and reports it to the Observer.
func (p *ClientProxy) serveExchange(w http.ResponseWriter, r *http.Request) {
	ev := newEvent(ClientSide, p.clock.Now(), r)
	ev.ClientServer = p.cfg.ServerID
	if err := p.exchange(w, r, &ev); err != nil {
		e := xerr.As(err, xerr.PrefixClientProxy+CodeInternalError)
		ev.fail(e, p.clock.Now())
		xerr.Write(w, r, p.log, e, xerr.PrefixClientProxy+CodeInternalError)
	} else {
		ev.Succeeded = true
	}
	if p.cfg.Observer != nil {
		p.cfg.Observer.ObserveExchange(ev)
	}
}

// current returns the configuration or OutdatedGlobalConf.
func current(c Configuration, prefix string) (*globalconf.Document, error) {
	doc, err := c.Current()
	if err == nil && doc == nil {
		err = errors.New("no configuration")
	}
	if err != nil {
		return nil, xerr.New(prefix+CodeOutdatedGlobalConf, "global configuration is expired or missing", err)
	}
	return doc, nil
}

// exchangeRequest is what the client proxy learned from the request of the
// information system before it reads the body.
type exchangeRequest struct {
	header    message.RequestHeader
	requestID string
	targets   []target
}

// parseRequest checks the information system's request and everything the
// exchange depends on, in X-Road's order: configuration, r1 path, client
// (present, well formed, registered and hosted here, authorised), the
// optional headers, then the provider's servers.
func (p *ClientProxy) parseRequest(r *http.Request, doc *globalconf.Document, ev *ExchangeEvent) (*exchangeRequest, error) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/r1/")
	svc, path, err := xroad.ParseServicePath(rest)
	if err != nil {
		return nil, clientErr(CodeBadRequest, "invalid r1 service path: "+err.Error(), err)
	}
	ev.Service, ev.Path = svc, path
	if hasDotSegment(path) {
		return nil, clientErr(CodeBadRequest, "the service path must not contain \".\" or \"..\" segments", nil)
	}
	if isMetaservice(svc.Code) {
		if err := checkMetaRequest(r, svc, path); err != nil {
			return nil, err
		}
	}
	rawClient, ok := lastHeader(r.Header, HeaderClient)
	if !ok {
		return nil, clientErr(CodeMissingHeaderField, "required header "+HeaderClient+" is missing", nil)
	}
	client, err := xroad.ParseClient(rawClient)
	if err != nil {
		return nil, clientErr(CodeBadRequest, "invalid "+HeaderClient+" header: "+err.Error(), err)
	}
	ev.Client = client
	if !p.hostsClient(doc, client) {
		return nil, cpErr(CodeUnknownMember, "client \""+client.String()+"\" not found", nil)
	}
	if err := p.cfg.Clients.AuthorizeIS(client, r); err != nil {
		var xe *xerr.Error
		if errors.As(err, &xe) {
			return nil, xe
		}
		return nil, cpErr(CodeSslAuthenticationFail, "the information system is not authorised to act as \""+client.String()+"\"", err)
	}
	var pin *xroad.ServerID
	if s, ok := lastHeader(r.Header, HeaderSecurityServer); ok {
		id, err := xroad.ParseServer(s)
		if err != nil {
			return nil, clientErr(CodeBadRequest, "invalid "+HeaderSecurityServer+" header: "+err.Error(), err)
		}
		pin = &id
	}
	id, ok := lastHeader(r.Header, HeaderID)
	if !ok || id == "" {
		id = newUUID()
	}
	userID, _ := lastHeader(r.Header, HeaderUserID)
	issue, _ := lastHeader(r.Header, HeaderIssue)
	party, _ := lastHeader(r.Header, HeaderRepresentedParty)
	h := message.RequestHeader{
		Version:          message.Version,
		ID:               id,
		Client:           client,
		Service:          svc,
		UserID:           userID,
		Issue:            issue,
		RepresentedParty: party,
		Time:             signedTime(p.clock),
		Method:           r.Method,
		Path:             path,
		RawQuery:         r.URL.RawQuery,
		Headers:          message.FilterHeaders(r.Header),
		BodyDigest:       make([]byte, 32), // placeholder until the body is read
	}
	if err := h.Validate(); err != nil {
		return nil, clientErr(CodeBadRequest, "invalid request: "+err.Error(), err)
	}
	targets, xe := selectTargets(doc, svc.Provider, pin)
	if xe != nil {
		return nil, xe
	}
	return &exchangeRequest{header: h, requestID: newUUID(), targets: targets}, nil
}

// hostsClient reports whether client is registered in doc, listed there as
// a client of this security server, and hosted per the local
// configuration.
func (p *ClientProxy) hostsClient(doc *globalconf.Document, client xroad.ClientID) bool {
	if !doc.IsRegistered(client) || !p.cfg.Clients.Hosted(client) {
		return false
	}
	for _, s := range doc.ServersFor(client) {
		if s.ID == p.cfg.ServerID {
			return true
		}
	}
	return false
}

// checkMetaRequest checks the form of a metaservice request: GET, no path
// after the service code, and for getOpenAPI a well-formed serviceCode
// query parameter.
func checkMetaRequest(r *http.Request, svc xroad.ServiceID, path string) error {
	if r.Method != http.MethodGet || path != "" {
		return clientErr(CodeBadRequest, "metaservice "+svc.Code+" takes GET without a path", nil)
	}
	if svc.Code == MetaGetOpenAPI {
		code := r.URL.Query().Get("serviceCode")
		if err := xroad.ValidatePart(code); err != nil {
			return clientErr(CodeBadRequest, "getOpenAPI needs a valid serviceCode query parameter", err)
		}
	}
	return nil
}

// exchange serves one r1 request: check, spool, sign, log, send, verify,
// log, answer. It returns a boundary error when nothing was written yet.
// It records in ev what it learns of the exchange.
func (p *ClientProxy) exchange(w http.ResponseWriter, r *http.Request, ev *ExchangeEvent) error {
	doc, err := current(p.cfg.Conf, xerr.PrefixClientProxy)
	if err != nil {
		return err
	}
	x, err := p.parseRequest(r, doc, ev)
	if err != nil {
		return err
	}
	h := &x.header
	ev.setRequest(h)
	ev.RequestID = x.requestID

	body, err := message.NewSpool(r.Body, p.cfg.MemoryLimit, p.cfg.MaxBodySize, p.cfg.TempDir)
	if err != nil {
		return bodyErr(err, func() *xerr.Error {
			return clientErr(CodeBadRequest, fmt.Sprintf("request body larger than %d bytes", p.cfg.MaxBodySize), err)
		}, xerr.PrefixClientProxy)
	}
	defer body.Close()
	h.BodyDigest, h.BodySize = body.Digest(), body.Size()
	ev.RequestSize = body.Size()

	key, chain, staple, err := p.cfg.Signer.SignMaterial(h.Client.Member())
	if err != nil {
		return signErr(err, peer.ClientProxy)
	}
	sig, err := message.SignRequest(*h, message.Signer{Key: key, Chain: chain, OCSP: staple})
	if err != nil {
		return signErr(err, peer.ClientProxy)
	}
	rec := requestRecord(ClientSide, h, x.requestID, sig, chain, staple, body)
	rec.LoggedAt = p.clock.Now()
	if err := p.logWith(r.Context(), p.cfg.Log.LogRequest, rec); err != nil {
		return logErr(peer.ClientProxy, "cannot write the request to the message log", err)
	}

	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.ExchangeTimeout)
	defer cancel()
	hop := message.EncodeRequest(*h, sig)
	hop.Set(HeaderRequestID, x.requestID)
	ev.RequestOut = p.clock.Now()
	resp, tgt, err := p.send(ctx, x.targets, hop, body)
	ev.ServiceServer, ev.ServiceServerAddress = tgt.server, tgt.addr
	if err != nil {
		return peer.ToXRoad(err, peer.ClientProxy)
	}
	defer resp.Body.Close()
	ev.ResponseIn = p.clock.Now()

	if resp.Header.Get(message.HeaderSignature) == "" {
		return providerFault(resp, tgt)
	}
	rh, rsig, err := message.DecodeResponse(resp.Header)
	if err != nil {
		return message.ToXRoad(err, message.ClientProxy)
	}
	rbody, err := message.NewSpool(resp.Body, p.cfg.MemoryLimit, p.cfg.MaxBodySize, p.cfg.TempDir, message.SHA256Only())
	if err != nil {
		return bodyErr(err, func() *xerr.Error {
			return cpErr(CodeInvalidResponse, fmt.Sprintf("response body larger than %d bytes", p.cfg.MaxBodySize), err)
		}, xerr.PrefixClientProxy)
	}
	defer rbody.Close()
	ev.ResponseSize = rbody.Size()
	v := verifierFor(doc, p.clock, p.maxSkew(doc), nil, p.verifyCache)
	vd, err := v.VerifyResponse(rsig, rh, rbody.Sum(), *h)
	if err != nil {
		return message.ToXRoad(err, message.ClientProxy)
	}
	rrec := responseRecord(ClientSide, h, x.requestID, rh, vd, rbody)
	rrec.LoggedAt = p.clock.Now()
	if err := p.logWith(r.Context(), p.cfg.Log.LogResponse, rrec); err != nil {
		return logErr(peer.ClientProxy, "cannot write the response to the message log", err)
	}

	out := w.Header()
	setEndToEnd(out, rh.Headers)
	out.Set(HeaderClient, h.Client.String())
	out.Set(HeaderService, h.Service.String())
	out.Set(HeaderID, h.ID)
	out.Set(HeaderRequestID, x.requestID)
	out.Set(HeaderRequestHash, h.RequestHash(body.Sum()))
	if rh.BodySize > 0 {
		out.Set("Content-Length", strconv.FormatInt(rh.BodySize, 10))
	}
	ev.Status, ev.ResponseOut = rh.Status, p.clock.Now()
	w.WriteHeader(rh.Status)
	if err := copyBody(w, rbody); err != nil {
		p.log.Warn("sending response body to the information system failed", "id", h.ID, "err", err)
	}
	return nil
}

func (p *ClientProxy) maxSkew(doc *globalconf.Document) time.Duration {
	switch {
	case p.cfg.MaxSkew > 0:
		return p.cfg.MaxSkew
	case doc.Settings.MaxClockSkew() > 0:
		return doc.Settings.MaxClockSkew()
	}
	return DefaultMaxSkew
}

// logWith writes rec with a context detached from the client's request
// (a client that goes away must not abort a commit half way) and bounded
// by LogTimeout.
func (p *ClientProxy) logWith(parent context.Context, f func(context.Context, *Record) error, rec *Record) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), p.cfg.LogTimeout)
	defer cancel()
	return f(ctx, rec)
}

// send sends the signed request to the first target that accepts a
// connection: targets are tried in health order, and the next one is tried
// only when nothing of the request was sent to the previous one (it could
// not be dialled, its TLS handshake failed, or it is not the server the
// configuration names). Every attempt sends the same signed message.
func (p *ClientProxy) send(ctx context.Context, targets []target, hop http.Header, body *message.Spool) (*http.Response, target, error) {
	var lastErr error
	for _, t := range p.health.order(targets) {
		if err := ctx.Err(); err != nil {
			return nil, t, err
		}
		var sent atomic.Bool
		tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			WroteHeaders: func() { sent.Store(true) },
		})
		rc, err := body.Open()
		if err != nil {
			return nil, t, err
		}
		req, err := http.NewRequestWithContext(tctx, http.MethodPost, "https://"+t.addr+HopPath, rc)
		if err != nil {
			_ = rc.Close()
			return nil, t, err
		}
		req.ContentLength = body.Size()
		if body.Size() == 0 {
			_ = rc.Close()
			req.Body = http.NoBody
		}
		req.GetBody = body.Open
		req.Header = hop.Clone()
		resp, err := p.cfg.Transport.Do(req, t.server)
		if err == nil {
			p.health.markUp(t.addr)
			return resp, t, nil
		}
		// Do may fail before its RoundTrip took ownership of the body (an
		// unknown or wrong peer); close it so that a spooled file is not
		// left open. Closing twice is harmless.
		_ = rc.Close()
		lastErr = fmt.Errorf("exchange with %s at %s: %w", t.server, t.addr, err)
		if sent.Load() || ctx.Err() != nil {
			return nil, t, lastErr
		}
		p.health.markDown(t.addr)
		p.log.Info("provider security server address unusable, trying the next", "server", t.server.String(), "addr", t.addr, "err", err)
	}
	return nil, target{}, lastErr
}

// maxFaultSize bounds the error body read from a provider security server.
const maxFaultSize = 64 << 10

// providerFault turns an unsigned response of the provider's security
// server, which is how it reports errors raised inside the bus, into the
// same boundary error for the information system. Only codes the provider
// side may raise (Server.ServerProxy.*, Signer.*) are passed on; anything
// else is an invalid response.
func providerFault(resp *http.Response, t target) error {
	invalid := func(cause error) error {
		return cpErr(CodeInvalidResponse, "invalid response from the provider's security server", cause)
	}
	code := resp.Header.Get(xerr.HeaderError)
	if !strings.HasPrefix(code, xerr.PrefixServerProxy) && !strings.HasPrefix(code, xerr.PrefixSigner) {
		return invalid(fmt.Errorf("unsigned response from %s with status %d and X-Road-Error %q", t.server, resp.StatusCode, code))
	}
	var body struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Detail  string `json:"detail"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxFaultSize)).Decode(&body); err != nil {
		return invalid(fmt.Errorf("fault from %s: %w", t.server, err))
	}
	if body.Type != code {
		return invalid(fmt.Errorf("fault from %s: type %q differs from X-Road-Error %q", t.server, body.Type, code))
	}
	detail := body.Detail
	if detail == "" {
		detail = xerr.NewDetailID()
	}
	return &xerr.Error{Code: code, Message: body.Message, Detail: detail,
		Err: fmt.Errorf("fault reported by %s at %s", t.server, t.addr)}
}

// requestRecord builds the log record of a signed request.
func requestRecord(side Side, h *message.RequestHeader, requestID, sig string, chain []*x509.Certificate, staple []byte, body *message.Spool) *Record {
	hdr := h.Canonical()
	digest := sha256.Sum256(hdr)
	rec := &Record{
		Side: side, Kind: KindRequest,
		MessageID: h.ID, RequestID: requestID,
		Client: h.Client, Service: h.Service,
		UserID: h.UserID, Issue: h.Issue, RepresentedParty: h.RepresentedParty,
		Method: h.Method, Path: h.Path, Query: h.RawQuery,
		SignedAt: h.Time, Header: hdr, Digest: digest[:],
		BodyDigest: h.BodyDigest, BodySize: h.BodySize,
		Signature: sig, SignerChain: chain, SignerOCSP: staple,
	}
	if body.Size() > 0 {
		rec.Body = body
	}
	return rec
}

// responseRecord builds the log record of a verified or signed response.
func responseRecord(side Side, req *message.RequestHeader, requestID string, h message.ResponseHeader, vd *message.Verified, body *message.Spool) *Record {
	rec := &Record{
		Side: side, Kind: KindResponse,
		MessageID: req.ID, RequestID: requestID,
		Client: req.Client, Service: req.Service,
		UserID: req.UserID, Issue: req.Issue, RepresentedParty: req.RepresentedParty,
		Method: req.Method, Path: req.Path, Query: req.RawQuery,
		Status: h.Status, SignedAt: h.Time,
		Header: vd.Payload, Digest: vd.Digest, RequestDigest: h.RequestDigest,
		BodyDigest: h.BodyDigest, BodySize: h.BodySize,
		Signature: vd.Signature, SignerChain: vd.Chain, SignerOCSP: vd.OCSPDER,
	}
	if body.Size() > 0 {
		rec.Body = body
	}
	return rec
}
