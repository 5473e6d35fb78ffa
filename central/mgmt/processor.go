package mgmt

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// The error codes of refusals; see the package documentation.
const (
	// CodeInvalidRequest: malformed body, wrong Content-Type, too large,
	// unexpected signatures, auth certificate already registered.
	CodeInvalidRequest = xerr.PrefixClient + "InvalidRequest"
	// CodeInvalidRequestTime: createdAt outside the allowed clock skew.
	CodeInvalidRequestTime = xerr.PrefixClient + "InvalidRequestTime"
	// CodeInvalidSignature: a signature does not verify.
	CodeInvalidSignature = xerr.PrefixClient + "InvalidSignatureValue"
	// CodeMissingSignature: a required signature is missing.
	CodeMissingSignature = xerr.PrefixClient + "MissingSignature"
	// CodeCertValidation: a signer certificate is untrusted, does not fit
	// its profile, names the wrong party, is revoked, or its OCSP response
	// is unusable.
	CodeCertValidation = xerr.PrefixClient + "CertValidation"
	// CodeUnknownMember: the responsible member is not registered.
	CodeUnknownMember = xerr.PrefixClient + "UnknownMember"
	// CodeDuplicateRequest: the server already submitted this request id.
	CodeDuplicateRequest = xerr.PrefixClient + "DuplicateRequestId"
	// CodeInvalidServiceDescription: the OpenAPI document does not load or
	// validate.
	CodeInvalidServiceDescription = xerr.PrefixClient + "InvalidServiceDescription"
	// CodeAccessDenied: the sender is not (authenticated as) the request's
	// server, the provider is not on that server, or the status asked for
	// is not the sender's.
	CodeAccessDenied = xerr.PrefixServerProxy + "AccessDenied"
	// CodeDatabaseError: the registry failed.
	CodeDatabaseError = xerr.PrefixServer + "DatabaseError"
	// CodeInternalError: anything else went wrong on the central server.
	CodeInternalError = xerr.PrefixServer + "InternalError"
)

// DefaultMaxClockSkew is how far a request's createdAt may be from the
// central clock when Config.MaxClockSkew is zero.
const DefaultMaxClockSkew = 5 * time.Minute

// AutoApprovalActor is recorded as the decider of requests approved by
// Config.AutoApprove.
const AutoApprovalActor = "auto-approval"

// maxCommentSize bounds the reason recorded for a FAILED request.
const maxCommentSize = 1000

// Config configures a Processor.
type Config struct {
	// Store is the registry; required.
	Store registry.Store
	// Clock tells the time for createdAt, certificate and OCSP checks;
	// nil means the system clock. (The registry stamps its own times with
	// its own clock.)
	Clock clock.Clock
	// Logger receives one line per submission and decision and the causes
	// of refusals; nil discards.
	Logger *slog.Logger
	// AutoApprove approves every accepted request at once, as
	// AutoApprovalActor (for demos and test beds).
	AutoApprove bool
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// MaxClockSkew is how far createdAt may lie from the central clock, in
	// either direction; zero means DefaultMaxClockSkew.
	MaxClockSkew time.Duration
}

// Processor checks, stores and applies management requests. It is safe
// for concurrent use.
type Processor struct {
	store       registry.Store
	clk         clock.Clock
	log         *slog.Logger
	autoApprove bool
	maxSkew     time.Duration
	requests    *prometheus.CounterVec
}

// Metric outcomes.
const (
	outcomeSubmitted = "submitted"
	outcomeRefused   = "refused"
	outcomeError     = "error"
	outcomeApproved  = "approved"
	outcomeRejected  = "rejected"
	outcomeFailed    = "failed"
)

// NewProcessor returns a Processor for cfg. It fails if Store is missing,
// MaxClockSkew is negative, or the metrics cannot be registered.
func NewProcessor(cfg Config) (*Processor, error) {
	if cfg.Store == nil {
		return nil, errors.New("mgmt: Config.Store is required")
	}
	if cfg.MaxClockSkew < 0 {
		return nil, errors.New("mgmt: Config.MaxClockSkew must not be negative")
	}
	p := &Processor{
		store:       cfg.Store,
		clk:         cfg.Clock,
		log:         cfg.Logger,
		autoApprove: cfg.AutoApprove,
		maxSkew:     cfg.MaxClockSkew,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jisr_central_management_requests_total",
			Help: "Management requests by type and outcome: submitted, refused (checks failed), error " +
				"(the central server failed), approved, rejected, failed (approved but not applicable).",
		}, []string{"type", "outcome"}),
	}
	if p.clk == nil {
		p.clk = clock.System()
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.maxSkew == 0 {
		p.maxSkew = DefaultMaxClockSkew
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(p.requests); err != nil {
			return nil, fmt.Errorf("mgmt: registering metrics: %w", err)
		}
	}
	return p, nil
}

func (p *Processor) count(typ, outcome string) {
	p.requests.WithLabelValues(typ, outcome).Inc()
}

// Submit checks a signed request as the package documentation describes
// and stores it as PENDING; with AutoApprove it then approves it and
// returns the decided request (still PENDING if approving failed for a
// reason other than the request itself, which is logged). peer is the
// security server the caller authenticated the sender as (Handler: by TLS
// client certificate), or the zero ServerID when the sender is anonymous.
//
// Every error is an *xerr.Error with one of the codes of the package
// documentation.
func (p *Processor) Submit(ctx context.Context, signed []byte, peer xroad.ServerID) (registry.ManagementRequest, error) {
	typ := "unknown"
	m, err := p.submit(ctx, signed, peer, &typ)
	if err != nil {
		e := xerr.As(err, CodeInternalError)
		outcome := outcomeRefused
		if e.Code == CodeDatabaseError || e.Code == CodeInternalError {
			outcome = outcomeError
		}
		p.count(typ, outcome)
		return registry.ManagementRequest{}, e
	}
	p.count(typ, outcomeSubmitted)
	p.log.Info("management request submitted", "id", m.ID, "type", m.Type, "server", m.Server.String())
	if !p.autoApprove {
		return m, nil
	}
	decided, err := p.Approve(ctx, m.ID, AutoApprovalActor)
	if err != nil {
		p.log.Error("auto-approval failed; the request stays pending", "id", m.ID, "err", err)
		return m, nil
	}
	return decided, nil
}

// submit does Submit's checks; *typ is set once the type is known.
func (p *Processor) submit(ctx context.Context, signed []byte, peer xroad.ServerID, typ *string) (registry.ManagementRequest, error) {
	parsed, err := mgmtproto.Parse(signed)
	if err != nil {
		return registry.ManagementRequest{}, xerr.New(CodeInvalidRequest, err.Error(), nil)
	}
	req := parsed.Request
	*typ = string(req.Type)
	now := p.clk.Now()
	if d := req.CreatedAt.Sub(now); d > p.maxSkew || d < -p.maxSkew {
		return registry.ManagementRequest{}, xerr.Newf(CodeInvalidRequestTime, nil,
			"createdAt %s is more than %v away from the central server's time %s",
			req.CreatedAt.UTC().Format(time.RFC3339), p.maxSkew, now.UTC().Format(time.RFC3339))
	}
	if err := checkPeer(req, peer); err != nil {
		return registry.ManagementRequest{}, err
	}
	trust, err := p.loadTrust(ctx)
	if err != nil {
		return registry.ManagementRequest{}, err
	}
	if _, err := parsed.Verify(trust, now); err != nil {
		return registry.ManagementRequest{}, verifyError(err)
	}
	if sd := req.ServiceDescription; sd != nil && sd.Type == mgmtproto.ServiceOpenAPI {
		if err := validateOpenAPI(ctx, sd.OpenAPI); err != nil {
			return registry.ManagementRequest{}, xerr.New(CodeInvalidServiceDescription, err.Error(), nil)
		}
	}
	var stored registry.ManagementRequest
	err = p.store.Update(ctx, func(tx registry.Tx) error {
		if err := checkRegistry(ctx, tx, req); err != nil {
			return err
		}
		stored, err = tx.SubmitRequest(ctx, registry.ManagementRequest{
			Type:    registry.RequestType(req.Type),
			Server:  req.Server,
			Client:  req.Client,
			Payload: parsed.Payload,
			Signed:  signed,
		})
		if err != nil {
			return fmt.Errorf("storing the request: %w", err)
		}
		return nil
	})
	if err != nil {
		return registry.ManagementRequest{}, dbError(err)
	}
	return stored, nil
}

// checkPeer applies the TLS rule: an authenticated peer must be the
// request's server, and only authCertRegistration may come without one.
func checkPeer(req *mgmtproto.Request, peer xroad.ServerID) error {
	switch {
	case peer != (xroad.ServerID{}) && peer != req.Server:
		return xerr.Newf(CodeAccessDenied, nil, "authenticated as security server %s, the request is for %s", peer, req.Server)
	case peer == (xroad.ServerID{}) && req.Type != mgmtproto.TypeAuthCertRegistration:
		return xerr.Newf(CodeAccessDenied, nil,
			"%s requests must come over TLS authenticated with a registered authentication certificate of %s", req.Type, req.Server)
	}
	return nil
}

// checkRegistry applies step 6 of the package documentation inside the
// storing transaction.
func checkRegistry(ctx context.Context, tx registry.Tx, req *mgmtproto.Request) error {
	member := req.ResponsibleMember()
	if _, err := tx.Member(ctx, member); errors.Is(err, registry.ErrNotFound) {
		return xerr.Newf(CodeUnknownMember, err, "member %s is not registered", member)
	} else if err != nil {
		return fmt.Errorf("reading member %s: %w", member, err)
	}
	switch req.Type {
	case mgmtproto.TypeAuthCertRegistration:
		hash := certHash(req.AuthCert)
		if srv, err := tx.ServerByAuthCert(ctx, hash); err == nil {
			return xerr.Newf(CodeInvalidRequest, nil, "authentication certificate %s is already registered for %s", hash, srv.ID)
		} else if !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("looking up authentication certificate: %w", err)
		}
	case mgmtproto.TypeServiceDescriptionPublish:
		provider := req.ServiceDescription.Service.Provider
		ok, err := hosts(ctx, tx, req.Server, provider)
		if err != nil {
			return err
		}
		if !ok {
			return xerr.Newf(CodeAccessDenied, nil, "subsystem %s is not registered on security server %s", provider, req.Server)
		}
	}
	dup, err := submittedBefore(ctx, tx, req.Server, req.ID)
	if err != nil {
		return err
	}
	if dup {
		return xerr.Newf(CodeDuplicateRequest, nil, "security server %s already submitted a request with id %s", req.Server, req.ID)
	}
	return nil
}

// hosts reports whether client is registered on server.
func hosts(ctx context.Context, r registry.Reader, server xroad.ServerID, client xroad.ClientID) (bool, error) {
	servers, err := r.ServersHosting(ctx, client)
	if err != nil {
		return false, fmt.Errorf("listing servers hosting %s: %w", client, err)
	}
	return slices.Contains(servers, server), nil
}

// submittedBefore reports whether server submitted a request with payload
// id before, by scanning its requests (see the package documentation).
func submittedBefore(ctx context.Context, r registry.Reader, server xroad.ServerID, id string) (bool, error) {
	var after int64
	for {
		page, err := r.ManagementRequests(ctx, registry.RequestFilter{Server: server, AfterID: after, Limit: registry.MaxPageSize})
		if err != nil {
			return false, fmt.Errorf("listing requests of %s: %w", server, err)
		}
		for _, m := range page {
			if payloadID(m.Payload) == id {
				return true, nil
			}
		}
		if len(page) < registry.MaxPageSize {
			return false, nil
		}
		after = page[len(page)-1].ID
	}
}

// payloadID reads the request id from a stored payload ("" if absent).
func payloadID(payload json.RawMessage) string {
	var probe struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(payload, &probe)
	return probe.ID
}

func certHash(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// loadTrust builds the verification trust from the registry's approved CAs
// and OCSP freshness setting.
func (p *Processor) loadTrust(ctx context.Context) (mgmtproto.Trust, error) {
	cas, err := p.store.ApprovedCAs(ctx)
	if err != nil {
		return mgmtproto.Trust{}, dbError(fmt.Errorf("reading approved CAs: %w", err))
	}
	settings, err := p.store.Settings(ctx)
	if err != nil {
		return mgmtproto.Trust{}, dbError(fmt.Errorf("reading settings: %w", err))
	}
	t := mgmtproto.Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(), OCSPMaxAge: settings.OCSPFreshness}
	for _, ca := range cas {
		for _, set := range []struct {
			ders [][]byte
			pool *x509.CertPool
		}{{ca.Roots, t.Roots}, {ca.Intermediates, t.Intermediates}} {
			for _, der := range set.ders {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					// The registry parses certificates before storing them;
					// fail closed if one no longer parses.
					return mgmtproto.Trust{}, xerr.New(CodeInternalError, "internal error",
						fmt.Errorf("approved CA %s: certificate does not parse: %w", ca.Name, err))
				}
				set.pool.AddCert(c)
			}
		}
	}
	return t, nil
}

// verifyError maps a mgmtproto verification error to its code. The message
// is the error itself: it names what failed about the caller's own request
// and certificates, so there is no internal cause to keep apart.
func verifyError(err error) *xerr.Error {
	code := CodeCertValidation
	switch {
	case errors.Is(err, mgmtproto.ErrBadSignature):
		code = CodeInvalidSignature
	case errors.Is(err, mgmtproto.ErrMissingSignature):
		code = CodeMissingSignature
	case errors.Is(err, mgmtproto.ErrMalformed):
		code = CodeInvalidRequest
	}
	return xerr.New(code, err.Error(), nil)
}

// dbError passes an *xerr.Error through and reports anything else as a
// registry failure.
func dbError(err error) error {
	var e *xerr.Error
	if errors.As(err, &e) {
		return e
	}
	return xerr.New(CodeDatabaseError, "the registry is not available", err)
}

// validateOpenAPI loads and validates an OpenAPI 3 document (JSON or
// YAML). External references are refused, so nothing is fetched.
func validateOpenAPI(ctx context.Context, doc string) error {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	loader.Context = ctx
	d, err := loader.LoadFromData([]byte(doc))
	if err != nil {
		return fmt.Errorf("the OpenAPI document does not load: %w", err)
	}
	if err := d.Validate(ctx); err != nil {
		return fmt.Errorf("the OpenAPI document is not valid: %w", err)
	}
	return nil
}
