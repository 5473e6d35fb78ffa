package admin

import (
	"context"
	"crypto/x509"
	"errors"
	"time"

	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// Errors a Backend returns (wrapped with %w and context) so that the API
// answers with the right status. A Backend may also return conf's
// sentinels (conf.ErrNotFound, conf.ErrConflict, conf.ErrInvalid) and
// xroad.ErrInvalid, which map the same way, or an *xerr.Error, which is
// sent as it is. Anything else is an internal error: logged, and answered
// with 500 and no detail.
var (
	// ErrInvalid: the request is malformed or not possible for what it
	// names (400).
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound: what the request names does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request contradicts the current state (409).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: a service the operation needs (the central server,
	// the CA, a valid global configuration) cannot be used now (503).
	ErrUnavailable = errors.New("unavailable")
)

// Backend is what the admin API administers: package securityserver's
// Service implements it. Its methods are called after authentication,
// authorisation and validation of identifiers; they validate the rest.
// Writes to the local configuration take effect on this node before the
// method returns. Errors: see ErrInvalid and the other sentinels.
type Backend interface {
	ClientBackend
	ServiceBackend
	KeyBackend
	MessageLogBackend
}

// ClientBackend manages the clients of the security server, the TLS
// certificates of their information systems and their local groups.
type ClientBackend interface {
	// Clients lists the clients (conf.Reader.Clients' order).
	Clients(ctx context.Context) ([]conf.Client, error)
	// Client returns one client.
	Client(ctx context.Context, id xroad.ClientID) (conf.Client, error)
	// AddClient adds c (its Status ignored) and, when register is set,
	// asks the central server to register it on this server with a
	// management request signed by the client's member. The client is
	// stored SAVED, and REGISTRATION_IN_PROGRESS once the request was
	// accepted; if submitting fails it stays SAVED and the error wraps
	// ErrUnavailable (RegisterClient retries).
	AddClient(ctx context.Context, c conf.Client, register bool) (conf.Client, *mgmtproto.Status, error)
	// RegisterClient (re)submits the registration request of a client.
	RegisterClient(ctx context.Context, id xroad.ClientID) (conf.Client, mgmtproto.Status, error)
	// UnregisterClient asks the central server to delete the client from
	// this server; the client becomes DELETION_IN_PROGRESS.
	UnregisterClient(ctx context.Context, id xroad.ClientID) (conf.Client, mgmtproto.Status, error)
	// UpdateClient changes a client's connection type and body logging
	// (empty values are kept).
	UpdateClient(ctx context.Context, id xroad.ClientID, conn conf.ConnectionType, bodies conf.BodyLogging) (conf.Client, error)
	// DeleteClient removes a client from the local configuration, with
	// everything it owns. Only a SAVED or DELETION_IN_PROGRESS client may
	// be deleted (ErrConflict otherwise): unregister it first.
	DeleteClient(ctx context.Context, id xroad.ClientID) error

	// ISCertificates lists the registered TLS certificates of a client's
	// information systems (conf.ISCertStore).
	ISCertificates(ctx context.Context, client xroad.ClientID) ([]conf.ISCertificate, error)
	// AddISCertificate registers one (DER).
	AddISCertificate(ctx context.Context, client xroad.ClientID, der []byte) (conf.ISCertificate, error)
	// RemoveISCertificate removes one by its SHA-256 (hex).
	RemoveISCertificate(ctx context.Context, client xroad.ClientID, hash string) error

	// LocalGroups lists a client's local groups.
	LocalGroups(ctx context.Context, client xroad.ClientID) ([]conf.LocalGroup, error)
	// LocalGroup returns one.
	LocalGroup(ctx context.Context, client xroad.ClientID, code string) (conf.LocalGroup, error)
	// AddLocalGroup adds a local group (Client, Code, Description).
	AddLocalGroup(ctx context.Context, g conf.LocalGroup) (conf.LocalGroup, error)
	// DeleteLocalGroup deletes a group, its members and the access rights
	// granted to it.
	DeleteLocalGroup(ctx context.Context, client xroad.ClientID, code string) error
	// AddLocalGroupMember adds a member and returns the group.
	AddLocalGroupMember(ctx context.Context, client xroad.ClientID, code string, member xroad.ClientID) (conf.LocalGroup, error)
	// RemoveLocalGroupMember removes a member.
	RemoveLocalGroupMember(ctx context.Context, client xroad.ClientID, code string, member xroad.ClientID) error
}

// NewService is a service to add: one service description (OpenAPI when
// OpenAPI is set, REST otherwise) with one service.
type NewService struct {
	Provider xroad.ClientID
	Code     string
	Version  string
	// URL is the backend's base URL.
	URL string
	// Timeout bounds a backend call (default 30 s).
	Timeout time.Duration
	// VerifyTLS checks the backend's certificate on https URLs.
	VerifyTLS bool
	// OpenAPI is the OpenAPI 3 document; DescriptionURL where it came from
	// ("" when uploaded), kept for refreshing.
	OpenAPI        []byte
	DescriptionURL string
	// Publish sends the description to the central catalogue with Title
	// and Description.
	Publish            bool
	Title, Description string
}

// ServiceBackend manages services and access rights.
type ServiceBackend interface {
	// ServiceDescriptions lists a client's service descriptions with their
	// services and endpoints (conf.Reader.ServiceDescriptions).
	ServiceDescriptions(ctx context.Context, client xroad.ClientID) ([]conf.ServiceDescription, error)
	// AddService adds a service and returns its description as stored,
	// and the catalogue publication's status when Publish was set. When
	// publishing fails the service stays added and the error wraps
	// ErrUnavailable.
	AddService(ctx context.Context, s NewService) (conf.ServiceDescription, *mgmtproto.Status, error)
	// RefreshService replaces the OpenAPI document of the description that
	// holds the provider's service code, and the URL it came from ("" when
	// uploaded); endpoints follow the document (conf.Writer.
	// RefreshServiceDescription).
	RefreshService(ctx context.Context, provider xroad.ClientID, code, url string, document []byte) (conf.ServiceDescription, error)
	// UpdateService replaces a service's version, URL, timeout, TLS
	// verification and disabled state (s.Code names it).
	UpdateService(ctx context.Context, provider xroad.ClientID, s conf.Service) error
	// DeleteService deletes a service with its endpoints and access
	// rights, and its description when no other service is left in it.
	DeleteService(ctx context.Context, provider xroad.ClientID, code string) error
	// AccessRights lists the access rights a provider granted.
	AccessRights(ctx context.Context, provider xroad.ClientID) ([]conf.AccessRight, error)
	// GrantAccess adds an access right.
	GrantAccess(ctx context.Context, r conf.AccessRight) error
	// RevokeAccess removes an access right.
	RevokeAccess(ctx context.Context, r conf.AccessRight) error
}

// KeyUsage says what a key is for.
type KeyUsage string

// The key usages.
const (
	// UsageAuth is the security server's authentication key (TLS between
	// security servers).
	UsageAuth KeyUsage = "AUTH"
	// UsageSign is a member's signing key.
	UsageSign KeyUsage = "SIGN"
)

// KeyInfo is a key of the key store with its certificate.
type KeyInfo struct {
	// ID is the key's label in the key store ("auth", "sign-GOV-MOI").
	ID    string
	Usage KeyUsage
	// Member is the member a sign key signs for, when known.
	Member xroad.MemberID
	// Certificate is the certificate in use, nil when there is none.
	Certificate *CertInfo
	// Pending is an authentication certificate obtained but not yet in
	// use: it waits for its registration (RegisterAuthCertificate) and
	// activation (ActivateAuthCertificate).
	Pending *CertInfo
}

// CertInfo is a key's certificate chain and what is known of its
// status.
type CertInfo struct {
	// Chain is leaf first.
	Chain []*x509.Certificate
	// OCSPStatus is GOOD, REVOKED or UNKNOWN (with OCSPError saying why).
	OCSPStatus string
	OCSPError  string
	// Registered (authentication certificates only) reports that the
	// current global configuration lists the certificate for this server.
	Registered *bool
}

// The OCSP statuses of CertInfo.
const (
	OCSPGood    = "GOOD"
	OCSPRevoked = "REVOKED"
	OCSPUnknown = "UNKNOWN"
)

// CAOptions says how to reach the CA for enrolment and renewal.
type CAOptions struct {
	// URL is the CA's base URL.
	URL string
	// Roots are the trust anchors of the CA's TLS certificate and of the
	// issued chain; the approved CAs of the global configuration when nil.
	Roots []*x509.Certificate
}

// KeyBackend manages the key store's keys and their certificates.
type KeyBackend interface {
	// Keys lists the keys: the authentication key first, then sign keys
	// by id.
	Keys(ctx context.Context) ([]KeyInfo, error)
	// GenerateSignKey generates a sign key for member (ErrConflict when it
	// has one).
	GenerateSignKey(ctx context.Context, member xroad.MemberID) (KeyInfo, error)
	// CertificateRequest returns a certificate signing request (DER) for
	// key id, in the certificate profile of its usage: the server's
	// identifier and dnsNames for the authentication key; member's for a
	// sign key (member may be zero when the key's member is known).
	CertificateRequest(ctx context.Context, id string, member xroad.MemberID, dnsNames []string) ([]byte, error)
	// Enrol obtains a certificate for key id from the CA with a one-time
	// token. A sign certificate is used at once; an authentication
	// certificate becomes Pending.
	Enrol(ctx context.Context, id string, ca CAOptions, token string, member xroad.MemberID, dnsNames []string) (KeyInfo, error)
	// Renew renews key id's certificate at the CA (same key, same
	// identifier); like Enrol, an authentication certificate becomes
	// Pending.
	Renew(ctx context.Context, id string, ca CAOptions) (KeyInfo, error)
	// ImportCertificate takes a certificate chain (leaf first) issued for
	// one of the keys, checked against the global configuration's approved
	// CAs; like Enrol it is used at once or becomes Pending.
	ImportCertificate(ctx context.Context, chain []*x509.Certificate) (KeyInfo, error)
	// RegisterAuthCertificate asks the central server to register the
	// pending authentication certificate of key id (the current one when
	// none is pending); ErrInvalid when id is not the authentication key.
	RegisterAuthCertificate(ctx context.Context, id string) (mgmtproto.Status, error)
	// ActivateAuthCertificate puts the pending authentication certificate
	// of key id in use, once the global configuration lists it for this
	// server (ErrConflict before, and when none is pending).
	ActivateAuthCertificate(ctx context.Context, id string) (KeyInfo, error)
	// InternalTLSCertificate returns the certificate chain the server
	// presents to its information systems over HTTPS.
	InternalTLSCertificate(ctx context.Context) ([]*x509.Certificate, error)
}

// MessageLogQuery selects message-log records; zero fields select
// everything.
type MessageLogQuery struct {
	MessageID string
	// Client selects exchanges of this client (exactly).
	Client xroad.ClientID
	// Service selects exchanges with this service; without a version, any.
	Service       xroad.ServiceID
	UserID, Issue string
	// From and To select records logged in [From, To).
	From, To time.Time
	// After selects records with greater ids (the cursor).
	After int64
	// Limit is the page size (the backend's default when 0).
	Limit int
}

// MessageRecord is one message-log record's metadata: everything but the
// body.
type MessageRecord struct {
	ID               int64
	LoggedAt         time.Time
	Direction        string // REQUEST or RESPONSE
	Side             string // CONSUMER or PROVIDER
	MessageID        string
	RequestDigest    []byte
	Client           xroad.ClientID
	Service          xroad.ServiceID
	UserID, Issue    string
	RepresentedParty string
	// Time is the message's signed time.
	Time                time.Time
	Method, Path, Query string
	Status              int
	Signer              xroad.MemberID
	SignerCertSHA256    []byte
	BodySHA256          []byte
	BodySize            int64
	BodyLogged          bool
	// PrevHash and Hash are the record's links in the hash chain.
	PrevHash, Hash []byte
	// Timestamp is the time-stamp that covers the record, nil until one
	// does.
	Timestamp *RecordTimestamp
}

// RecordTimestamp names the time-stamp that covers a record.
type RecordTimestamp struct {
	// ID is the token's position; From and To the records it covers.
	ID, From, To int64
	StampedAt    time.Time
	TSA          string
}

// LogSettings are the message log's settings as in force.
type LogSettings struct {
	// TimestampingInterval comes from the global configuration.
	TimestampingInterval time.Duration
	// TimestampingGrace is how long exchanges go on while time-stamping
	// fails.
	TimestampingGrace time.Duration
	// DefaultBodyLogging is what a client added without a choice gets.
	DefaultBodyLogging conf.BodyLogging
	// MaxLoggedBody is the largest body kept in the log; larger ones are
	// logged by digest.
	MaxLoggedBody int64
	// BodyKeyID names the key logged bodies are encrypted under.
	BodyKeyID string
}

// MessageLogBackend reads the message log.
type MessageLogBackend interface {
	// MessageLogSettings returns the settings in force (read-only: they
	// come from the global configuration and the server's defaults).
	MessageLogSettings(ctx context.Context) (LogSettings, error)
	// SearchMessageLog returns the records q selects, by id, without
	// bodies.
	SearchMessageLog(ctx context.Context, q MessageLogQuery) ([]MessageRecord, error)
	// ExportEvidence returns the evidence file of one exchange (see
	// securityserver/archive.ExportExchange), the one with requestDigest
	// when the message id names several (nil: the only one): ErrNotFound
	// when the log has no record of it, ErrConflict when it is not
	// time-stamped yet or the message id is ambiguous.
	ExportEvidence(ctx context.Context, messageID string, requestDigest []byte) ([]byte, error)
}
