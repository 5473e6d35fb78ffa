package registry

import (
	"crypto/sha256"
	"encoding/json"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// MemberClass is a class of members, such as GOV or COM.
type MemberClass struct {
	Code        string
	Description string
}

// Member is a member organisation.
type Member struct {
	ID   xroad.MemberID
	Name string
	// Subsystems are the member's subsystem codes, sorted.
	Subsystems []string
	CreatedAt  time.Time
}

// SecurityServer is a registered security server.
type SecurityServer struct {
	ID xroad.ServerID
	// Addresses are host or host:port, in the order they were given; the
	// first is the preferred one.
	Addresses []string
	// AuthCerts are the registered authentication certificates, by
	// registration time.
	AuthCerts []AuthCert
	// Clients are the members and subsystems registered on the server,
	// sorted by identifier.
	Clients     []xroad.ClientID
	Maintenance bool
	CreatedAt   time.Time
}

// AuthCert is a security server's registered authentication certificate.
type AuthCert struct {
	// Hash is the lowercase hex SHA-256 of DER.
	Hash         string
	DER          []byte
	RegisteredAt time.Time
}

// GlobalGroup is a centrally defined group of clients.
type GlobalGroup struct {
	ID          xroad.GlobalGroupID
	Description string
	// Members are the group's clients sorted by identifier; filled by
	// reads, ignored by AddGlobalGroup.
	Members []xroad.ClientID
}

// ApprovedCA is a certification authority whose certificates the instance
// trusts for authentication and signing certificates.
type ApprovedCA struct {
	// Name identifies the CA in the registry.
	Name string
	// Roots are the CA's trust-anchor certificates (DER), at least one.
	Roots [][]byte
	// Intermediates are intermediate CA certificates (DER).
	Intermediates [][]byte
	// OCSPResponders are where certificate status is asked, in order.
	OCSPResponders []OCSPResponder
	// Profile names the certificate profile that maps certificates to
	// identifiers, e.g. "jisr-v1".
	Profile string
}

// OCSPResponder is an OCSP responder of an approved CA.
type OCSPResponder struct {
	URL string
	// Cert is the responder's certificate (DER) when it is not the CA
	// itself or delegated by it; nil otherwise.
	Cert []byte
}

// ApprovedTSA is an approved RFC 3161 time-stamping authority.
type ApprovedTSA struct {
	Name string
	URL  string
	// Cert is the TSA's certificate (DER).
	Cert []byte
}

// Setting names a registry setting. Settings are stored as text in a
// key/value table; every setting defined so far is a duration.
type Setting string

// The settings, with their defaults in DefaultSettings.
const (
	// SettingOCSPFreshness is how old an OCSP response may be (3600 s).
	SettingOCSPFreshness Setting = "ocsp-freshness"
	// SettingTimestampingInterval is how often security servers time-stamp
	// their message log (60 s).
	SettingTimestampingInterval Setting = "timestamping-interval"
	// SettingConfigurationLifetime is how long a published configuration is
	// valid after its generation (600 s).
	SettingConfigurationLifetime Setting = "configuration-lifetime"
	// SettingConfigurationRefresh is how often security servers download
	// the configuration (60 s).
	SettingConfigurationRefresh Setting = "configuration-refresh-interval"
	// SettingTimestampingGrace is how long traffic continues while the TSA
	// fails (4 h).
	SettingTimestampingGrace Setting = "timestamping-grace-period"
)

// Settings are the registry settings with typed values.
type Settings struct {
	OCSPFreshness                time.Duration
	TimestampingInterval         time.Duration
	ConfigurationLifetime        time.Duration
	ConfigurationRefreshInterval time.Duration
	TimestampingGracePeriod      time.Duration
}

// DefaultSettings returns the value of every setting that was never set.
func DefaultSettings() Settings {
	return Settings{
		OCSPFreshness:                3600 * time.Second,
		TimestampingInterval:         60 * time.Second,
		ConfigurationLifetime:        600 * time.Second,
		ConfigurationRefreshInterval: 60 * time.Second,
		TimestampingGracePeriod:      4 * time.Hour,
	}
}

// field returns the Settings field a setting is stored in, or nil for an
// unknown setting.
func (s *Settings) field(key Setting) *time.Duration {
	switch key {
	case SettingOCSPFreshness:
		return &s.OCSPFreshness
	case SettingTimestampingInterval:
		return &s.TimestampingInterval
	case SettingConfigurationLifetime:
		return &s.ConfigurationLifetime
	case SettingConfigurationRefresh:
		return &s.ConfigurationRefreshInterval
	case SettingTimestampingGrace:
		return &s.TimestampingGracePeriod
	}
	return nil
}

// RequestType is the kind of a management request (X-Road's names).
type RequestType string

// The management request types.
const (
	RequestAuthCertRegistration      RequestType = "authCertRegistration"
	RequestClientRegistration        RequestType = "clientRegistration"
	RequestClientDeletion            RequestType = "clientDeletion"
	RequestAddressChange             RequestType = "addressChange"
	RequestMaintenanceOn             RequestType = "maintenanceOn"
	RequestMaintenanceOff            RequestType = "maintenanceOff"
	RequestServiceDescriptionPublish RequestType = "serviceDescriptionPublish"
)

// Valid reports whether t is one of the defined request types.
func (t RequestType) Valid() bool {
	switch t {
	case RequestAuthCertRegistration, RequestClientRegistration, RequestClientDeletion,
		RequestAddressChange, RequestMaintenanceOn, RequestMaintenanceOff,
		RequestServiceDescriptionPublish:
		return true
	}
	return false
}

// needsClient reports whether requests of type t name a client.
func (t RequestType) needsClient() bool {
	return t == RequestClientRegistration || t == RequestClientDeletion
}

// RequestStatus is where a management request is in its life.
type RequestStatus string

// The request statuses. A request is submitted PENDING and decided once.
const (
	StatusPending  RequestStatus = "PENDING"
	StatusApproved RequestStatus = "APPROVED"
	StatusRejected RequestStatus = "REJECTED"
	// StatusFailed: approved, but applying it to the registry failed.
	StatusFailed RequestStatus = "FAILED"
)

// ManagementRequest is a request a security server submitted, signed by its
// owner, for a registration officer to decide.
type ManagementRequest struct {
	// ID is assigned by SubmitRequest, increasing in submission order.
	ID     int64
	Type   RequestType
	Server xroad.ServerID
	// Client is the client the request is about (clientRegistration,
	// clientDeletion); the zero value for the other types.
	Client xroad.ClientID
	// Payload is the request's content as JSON (an object).
	Payload json.RawMessage
	// Signed is the signed request (JWS) exactly as received.
	Signed      []byte
	Status      RequestStatus
	SubmittedAt time.Time
	// DecidedAt, DecidedBy and Comment are set by DecideRequest.
	DecidedAt time.Time
	DecidedBy string
	Comment   string
}

// Decision is how a management request was decided.
type Decision struct {
	// Status is APPROVED, REJECTED or FAILED.
	Status RequestStatus
	// By names who decided (a registration officer, or the system).
	By      string
	Comment string
}

// RequestFilter selects management requests; zero fields match anything.
type RequestFilter struct {
	Status RequestStatus
	Server xroad.ServerID
	// AfterID returns only requests with a greater id (paging).
	AfterID int64
	// Limit caps the result (default DefaultPageSize, at most MaxPageSize).
	Limit int
}

// Paging limits of the list methods.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// ServiceType is the kind of a REST service description.
type ServiceType string

// The service description types.
const (
	ServiceOpenAPI ServiceType = "OPENAPI"
	ServiceREST    ServiceType = "REST"
)

// ServiceDescription is a service a provider subsystem publishes in the
// catalogue.
type ServiceDescription struct {
	// Service is the provider subsystem, service code and (optional)
	// version; it is the description's key.
	Service     xroad.ServiceID
	Type        ServiceType
	Title       string
	Description string
	// Document is the OpenAPI document; nil in search results.
	Document  []byte
	UpdatedAt time.Time
}

// CatalogueQuery selects service descriptions; zero fields match anything.
type CatalogueQuery struct {
	// Provider restricts the search to one member (Subsystem empty: all
	// its subsystems) or one subsystem.
	Provider xroad.ClientID
	// Text matches a case-insensitive substring of the service code, title
	// or description (ASCII case folding on SQLite, Unicode on PostgreSQL).
	Text string
	// Limit caps the result (default DefaultPageSize, at most MaxPageSize).
	Limit int
}

// APIKey is an admin API key. The registry never sees the secret, only its
// SHA-256.
type APIKey struct {
	// ID is assigned by CreateAPIKey.
	ID   int64
	Name string
	// Hash is the SHA-256 of the secret (HashAPIKeySecret).
	Hash [sha256.Size]byte
	// Roles are the X-Road roles the key grants, sorted.
	Roles     []string
	CreatedAt time.Time
	// ExpiresAt is when the key stops working; zero for never.
	ExpiresAt time.Time
	// RevokedAt is when the key was revoked; zero if it was not.
	RevokedAt time.Time
}

// HashAPIKeySecret returns the hash under which an API key secret is stored
// and looked up.
func HashAPIKeySecret(secret []byte) [sha256.Size]byte { return sha256.Sum256(secret) }

// Usable reports whether the key may be used at time now: not revoked, and
// not expired.
func (k APIKey) Usable(now time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// AuditOutcome says whether an audited action succeeded.
type AuditOutcome string

// The audit outcomes.
const (
	OutcomeSuccess AuditOutcome = "success"
	OutcomeFailure AuditOutcome = "failure"
)

// AuditEvent is one entry of the admin audit trail.
type AuditEvent struct {
	// ID is assigned by AppendAudit, increasing in commit order.
	ID int64
	// At is set by AppendAudit from the store's clock.
	At time.Time
	// Actor is who acted (an API key name, a user).
	Actor string
	// Action is what was done, e.g. "member.add".
	Action string
	// Target is what it was done to, e.g. an identifier's typed form.
	Target string
	// Detail is a JSON value; nil is stored as {}.
	Detail  json.RawMessage
	Outcome AuditOutcome
}

// AuditQuery selects a page of the audit trail by id cursor.
type AuditQuery struct {
	// AfterID returns events with a greater id; BeforeID (if non-zero)
	// events with a smaller one.
	AfterID, BeforeID int64
	// NewestFirst orders the page by descending id (ascending otherwise).
	// With BeforeID it pages backwards from the newest.
	NewestFirst bool
	// Limit caps the page (default DefaultPageSize, at most MaxPageSize).
	Limit int
}

// PublishedConfig is a signed global configuration document as published.
type PublishedConfig struct {
	// Serial is assigned by PublishNext: 1, 2, 3, … without gaps.
	Serial      int64
	GeneratedAt time.Time
	ExpiresAt   time.Time
	// Document is the signed document, as served to security servers.
	Document []byte
	// ContentHash identifies the content; when empty PublishNext stores
	// the lowercase hex SHA-256 of Document.
	ContentHash string
	// RegistryVersion is the registry version the content was generated
	// from, so a publisher can tell whether anything changed since.
	RegistryVersion int64
}
