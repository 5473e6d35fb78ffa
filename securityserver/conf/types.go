package conf

import (
	"errors"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// Errors every Store implementation (and ImportOpenAPI) returns, wrapped
// with %w and context; test with errors.Is.
var (
	// ErrNotFound: the client, service description, service, endpoint,
	// access right or local group named does not exist, or a write refers to
	// something missing (a service of an unknown client, a right on an
	// unknown endpoint or naming an unknown local group).
	ErrNotFound = errors.New("ss conf: not found")
	// ErrConflict: the write contradicts the configuration's state: a
	// duplicate (client, service code, endpoint, access right, local group,
	// group member), or an edit the configuration forbids (deleting an
	// endpoint derived from an OpenAPI document).
	ErrConflict = errors.New("ss conf: conflict")
	// ErrInvalid: the argument is malformed whatever the configuration
	// holds: a malformed identifier, an unknown enumeration value, a bad URL
	// or path pattern, an OpenAPI document that does not load or validate.
	ErrInvalid = errors.New("ss conf: invalid argument")
)

// ConnectionType is how a client's information systems connect to the
// security server (X-Road's "connection type" of a client, UG-SS §9).
type ConnectionType string

// The connection types.
const (
	// ConnHTTP accepts plain HTTP (and HTTPS without checking the
	// information system's certificate): only for a private network
	// segment.
	ConnHTTP ConnectionType = "HTTP"
	// ConnHTTPS requires TLS; the information system's certificate is not
	// checked (X-Road's HTTPS NOAUTH).
	ConnHTTPS ConnectionType = "HTTPS"
	// ConnHTTPSCert requires TLS with a client certificate whose SHA-256
	// is one of the client's registered IS certificate hashes (X-Road's
	// HTTPS, the default for new clients).
	ConnHTTPSCert ConnectionType = "HTTPS_CERT"
)

// Valid reports whether t is one of the connection types.
func (t ConnectionType) Valid() bool {
	return t == ConnHTTP || t == ConnHTTPS || t == ConnHTTPSCert
}

// ClientStatus is a client's registration status on this security server
// (UG-SS §4.1).
type ClientStatus string

// The registration statuses.
const (
	// StatusSaved: added locally, no registration request sent yet.
	StatusSaved ClientStatus = "SAVED"
	// StatusRegistrationInProgress: a registration request was sent to the
	// central server and is not decided yet.
	StatusRegistrationInProgress ClientStatus = "REGISTRATION_IN_PROGRESS"
	// StatusRegistered: the central server registered the client on this
	// security server.
	StatusRegistered ClientStatus = "REGISTERED"
	// StatusDeletionInProgress: a deletion request was sent.
	StatusDeletionInProgress ClientStatus = "DELETION_IN_PROGRESS"
)

// Valid reports whether s is one of the statuses.
func (s ClientStatus) Valid() bool {
	switch s {
	case StatusSaved, StatusRegistrationInProgress, StatusRegistered, StatusDeletionInProgress:
		return true
	}
	return false
}

// BodyLogging says whether the message log keeps message bodies of a
// client's exchanges.
type BodyLogging string

// The body logging modes (X-Road's message log modes "full" and
// "metadata-only"; "off" is a server-wide setting, not a client's).
const (
	// BodyLoggingFull logs bodies with the signed headers.
	BodyLoggingFull BodyLogging = "FULL"
	// BodyLoggingMetadataOnly logs the signed headers and the body digests,
	// not the bodies.
	BodyLoggingMetadataOnly BodyLogging = "METADATA_ONLY"
)

// Valid reports whether b is one of the modes.
func (b BodyLogging) Valid() bool { return b == BodyLoggingFull || b == BodyLoggingMetadataOnly }

// Client is a member or subsystem hosted on this security server.
type Client struct {
	// ID is the client's identifier; only subsystems may provide services.
	ID xroad.ClientID
	// Connection is how the client's information systems connect.
	Connection ConnectionType
	// ISCertHashes are the lower-case hex SHA-256 digests of the DER of the
	// information systems' TLS certificates (for ConnHTTPSCert), sorted.
	// Upper-case input is accepted and stored lower-case.
	ISCertHashes []string
	// Status is the registration status.
	Status ClientStatus
	// BodyLogging says whether message bodies are logged.
	BodyLogging BodyLogging
	// CreatedAt is set by the store.
	CreatedAt time.Time
}

// DescriptionType is the kind of a service description.
type DescriptionType string

// The service description types, spelt as X-Road's metaservices spell the
// service type.
const (
	// DescriptionOpenAPI is an OpenAPI 3 document: its endpoints are derived
	// from the document's paths and operations.
	DescriptionOpenAPI DescriptionType = "OPENAPI"
	// DescriptionREST is a REST API base path: its endpoints are added by
	// hand.
	DescriptionREST DescriptionType = "REST"
)

// Valid reports whether t is one of the types.
func (t DescriptionType) Valid() bool { return t == DescriptionOpenAPI || t == DescriptionREST }

// ServiceDescription groups the services a provider client publishes from
// one source: an OpenAPI document or a REST base path.
type ServiceDescription struct {
	// ID is assigned by AddServiceDescription.
	ID int64
	// Client is the provider; it must be a subsystem hosted here.
	Client xroad.ClientID
	Type   DescriptionType
	// URL is where the description was (or is to be) fetched from;
	// optional.
	URL string
	// Document is the OpenAPI document (JSON or YAML) for
	// DescriptionOpenAPI; it must be empty for DescriptionREST.
	Document []byte
	// RefreshedAt is set by the store when the description is added or its
	// document refreshed.
	RefreshedAt time.Time
	// Services are the description's services, by code.
	Services []Service
}

// Service is one service of a service description.
type Service struct {
	// Code is the service code, unique among the provider's services.
	Code string
	// Version is the optional service version. Access rights apply to the
	// code whatever the version.
	Version string
	// URL is the backend's base URL (http or https); the request's path and
	// query are appended to it.
	URL string
	// Timeout bounds one request to the backend (whole milliseconds,
	// positive, at most MaxTimeout).
	Timeout time.Duration
	// VerifyTLS checks the backend's certificate on https URLs.
	VerifyTLS bool
	// Disabled makes the service refuse every request with DisabledNotice.
	Disabled       bool
	DisabledNotice string
	// Endpoints are the service's endpoints, by path then method. On write,
	// only endpoints with Generated false are taken (they are added by
	// hand); the store derives the generated ones from the description's
	// OpenAPI document.
	Endpoints []Endpoint
}

// MaxTimeout bounds Service.Timeout.
const MaxTimeout = 24 * time.Hour

// Endpoint is an operation of a service, as a method and a path pattern
// (see MatchEndpoint).
type Endpoint struct {
	// Method is an upper-case HTTP method, or "*" for any.
	Method string
	// Path is a path pattern starting with "/".
	Path string
	// Generated reports an endpoint derived from the OpenAPI document; such
	// endpoints change only by refreshing the document.
	Generated bool
}

// Spec returns the endpoint's method and path.
func (e Endpoint) Spec() EndpointSpec { return EndpointSpec{Method: e.Method, Path: e.Path} }

// EndpointSpec is a method and a path pattern. In an AccessRight its zero
// value means the whole service (X-Road's "service level" right, stored as
// the base endpoint AnyMethod, AnyPath).
type EndpointSpec struct {
	Method string
	Path   string
}

// IsService reports whether e is the zero value: the whole service.
func (e EndpointSpec) IsService() bool { return e == EndpointSpec{} }

// AnyMethod and AnyPath form X-Road's base endpoint, which stands for the
// whole service.
const (
	AnyMethod = "*"
	AnyPath   = "**"
)

// AccessRight lets a subject call a provider's service, or one endpoint of
// it.
type AccessRight struct {
	// Provider is the subsystem offering the service.
	Provider xroad.ClientID
	// ServiceCode names the service; the right holds for every version.
	ServiceCode string
	// Endpoint is one of the service's endpoints, or the zero value for the
	// whole service.
	Endpoint EndpointSpec
	// Subject is an xroad.ClientID (the exact member or subsystem named), an
	// xroad.GlobalGroupID, or an xroad.LocalGroupID of the provider.
	Subject xroad.ID
	// GrantedAt is set by the store.
	GrantedAt time.Time
}

// LocalGroup is a group of clients a security server client defines to
// grant access rights to them together.
type LocalGroup struct {
	// Client owns the group.
	Client xroad.ClientID
	// Code is unique within the client.
	Code        string
	Description string
	// Members are the group's members, sorted by their header form; set by
	// the store on read.
	Members []xroad.ClientID
	// UpdatedAt is set by the store when the group or its membership
	// changes.
	UpdatedAt time.Time
}
