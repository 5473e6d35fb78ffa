package proxy

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/message"
	"github.com/jisr-bus/jisr/securityserver/peer"
)

// Configuration hands out the global configuration in use. Current fails
// (with any error) when there is no usable document, for example because it
// has expired; the proxies then refuse every exchange with
// OutdatedGlobalConf. *globalconf.Client satisfies it.
type Configuration interface {
	Current() (*globalconf.Document, error)
}

// LocalClients is this security server's view of the members and
// subsystems it hosts (its local configuration). Both proxies use it: the
// client proxy for the consumers that call it, the server proxy for the
// providers it answers for.
type LocalClients interface {
	// Hosted reports whether client is a client of this security server in
	// the registered state.
	Hosted(client xroad.ClientID) bool
	// AuthorizeIS reports whether the information system that sent r may act
	// as client: for connection type HTTP anything is accepted, for HTTPS r
	// must have arrived over TLS, for HTTPS_CERT the hash of r's TLS client
	// certificate must be registered for client. It returns nil when r is
	// authorised. An error that is (or wraps) an *xerr.Error is reported
	// with its code; any other error is reported as
	// Server.ClientProxy.SslAuthenticationFailed.
	AuthorizeIS(client xroad.ClientID, r *http.Request) error
}

// ErrUnknownService is returned (wrapped) by Access.Service and
// Metadata.OpenAPI when the provider has no service of that code.
var ErrUnknownService = errors.New("proxy: unknown service")

// Service is what the server proxy needs to know about one service of a
// provider subsystem hosted here.
type Service struct {
	// URL is the service's base URL (http or https). The r1 path after the
	// service code and the query are appended to it.
	URL *url.URL
	// Timeout bounds the whole call to the service: connecting, sending the
	// request and reading the response. Zero means DefaultServiceTimeout.
	Timeout time.Duration
	// VerifyTLS enables verification of the service's TLS certificate
	// (against ServerConfig.ServiceTLS's roots). When false an https
	// service is called without verifying its certificate, as X-Road's
	// "Verify TLS certificate" switch does.
	VerifyTLS bool
	// Disabled is true while the service is disabled; DisabledNotice is the
	// text shown to callers then.
	Disabled       bool
	DisabledNotice string
}

// Access is the provider side's access-control view of its local
// configuration.
type Access interface {
	// Service returns the configuration of service. It returns an error
	// wrapping ErrUnknownService when the provider has no service of that
	// code (access rights and services ignore the version).
	Service(service xroad.ServiceID) (Service, error)
	// Allowed reports whether client may call method on path (the escaped
	// r1 path after the service code, "" or starting with "/") of service.
	// Access is denied unless granted to client, to a global group of doc
	// it is a member of, or to a local group containing it, for the service
	// as a whole or for an endpoint matching method and path. An error
	// means the decision could not be made; the request is refused.
	Allowed(doc *globalconf.Document, client xroad.ClientID, service xroad.ServiceID, method, path string) (bool, error)
}

// Endpoint is one method and path pattern of a REST service, as the
// metaservices list it ("*" as method or in a path segment matches any).
type Endpoint struct {
	Method string
	Path   string
}

// ServiceDescription describes one REST service for listMethods and
// allowedMethods.
type ServiceDescription struct {
	// Service identifies the service.
	Service xroad.ServiceID
	// Type is X-Road's service type: "OPENAPI" for services described by an
	// OpenAPI document, "REST" otherwise.
	Type string
	// Endpoints are the service's endpoints, in the order to list them.
	Endpoints []Endpoint
}

// Metadata answers the REST metaservices (PR-MREST) on the provider side,
// from the local configuration.
type Metadata interface {
	// ListMethods returns every REST service of provider with its
	// endpoints.
	ListMethods(provider xroad.ClientID) ([]ServiceDescription, error)
	// AllowedMethods returns the REST services and endpoints of provider
	// that client may call (doc resolves global group membership).
	AllowedMethods(doc *globalconf.Document, client, provider xroad.ClientID) ([]ServiceDescription, error)
	// OpenAPI returns the OpenAPI description of service and its media
	// type ("application/json" or "text/yaml"). It returns an error
	// wrapping ErrUnknownService when there is no such service or it has
	// no description.
	OpenAPI(service xroad.ServiceID) (content []byte, mediaType string, err error)
}

// Side says on which security server a log record was written.
type Side string

// The two sides of an exchange, as X-Road's message log names them.
const (
	// ClientSide is the consumer's security server (client proxy).
	ClientSide Side = "client"
	// ServerSide is the provider's security server (server proxy).
	ServerSide Side = "server"
)

// Kind says whether a log record holds a request or a response.
type Kind string

// The two kinds of log records.
const (
	KindRequest  Kind = "request"
	KindResponse Kind = "response"
)

// Body gives access to a message body for the message log (a
// *message.Spool). The body is valid only during the MessageLog call.
type Body interface {
	Open() (io.ReadCloser, error)
	Size() int64
}

// Record is one signed message for the message log: everything needed to
// prove later who sent what to whom, when, under which signature.
type Record struct {
	// Side and Kind say which security server logs which message.
	Side Side
	Kind Kind
	// MessageID is the X-Road message id (X-Road-Id); RequestID is the
	// X-Road-Request-Id that correlates the records of one exchange on
	// both sides.
	MessageID string
	RequestID string
	// Client and Service identify the exchange.
	Client  xroad.ClientID
	Service xroad.ServiceID
	// UserID, Issue and RepresentedParty are the optional X-Road fields of
	// the request (repeated in the response record).
	UserID           string
	Issue            string
	RepresentedParty string
	// Method, Path and Query are those of the request.
	Method string
	Path   string
	Query  string
	// Status is the service's HTTP status (responses only).
	Status int
	// SignedAt is the time in the signed header; LoggedAt is when the
	// record was handed to the log.
	SignedAt time.Time
	LoggedAt time.Time
	// Header is the signed canonical header (the JWS payload), Digest its
	// SHA-256 digest, RequestDigest (responses) the digest of the request
	// answered.
	Header        []byte
	Digest        []byte
	RequestDigest []byte
	// BodyDigest and BodySize describe the body (SHA-256).
	BodyDigest []byte
	BodySize   int64
	// Signature is the compact JWS as sent or received; SignerChain the
	// signer's certificate chain (leaf first) and SignerOCSP the stapled
	// DER OCSP response.
	Signature   string
	SignerChain []*x509.Certificate
	SignerOCSP  []byte
	// Body is the message body, for logs that keep bodies. May be nil when
	// the body is empty.
	Body Body
}

// ErrTimestampingFailed is wrapped by a MessageLog error when the log
// refuses new records because time-stamping has failed for longer than its
// grace period; the exchange then fails with TimestampingFailed instead of
// LoggingFailed.
var ErrTimestampingFailed = errors.New("proxy: message log time-stamping failed beyond the grace period")

// MessageLog is the durable message log. Both methods must return only
// after the record is committed (a crash afterwards must not lose it). An
// error means the record was not committed: the proxies then refuse the
// exchange with LoggingFailed and forward nothing.
type MessageLog interface {
	LogRequest(ctx context.Context, rec *Record) error
	LogResponse(ctx context.Context, rec *Record) error
}

// Signer hands out the sign key, certificate chain (leaf first) and a
// fresh DER OCSP response for a member this security server signs for.
// Errors should wrap the sentinels of securityserver/peer (peer.ToXRoad
// maps them). *peer.Identity satisfies it.
type Signer interface {
	SignMaterial(member xroad.MemberID) (crypto.Signer, []*x509.Certificate, []byte, error)
}

// PeerTransport sends a request to another security server, admitting only
// the server target (see peer.Transport.Do). *peer.Transport satisfies it.
type PeerTransport interface {
	Do(req *http.Request, target xroad.ServerID) (*http.Response, error)
}

// PeerAuthenticator tells which security server sent a request over the
// SS↔SS listener. *peer.Server satisfies it.
type PeerAuthenticator interface {
	PeerServer(r *http.Request) (xroad.ServerID, error)
}

// Compile-time guards: the real implementations satisfy the interfaces.
var (
	_ Configuration     = (*globalconf.Client)(nil)
	_ Signer            = (*peer.Identity)(nil)
	_ PeerTransport     = (*peer.Transport)(nil)
	_ PeerAuthenticator = (*peer.Server)(nil)
	_ Body              = (*message.Spool)(nil)
)
