package admin

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// The admin API's JSON bodies. Identifiers in answers use the admin form
// ("PS:GOV:MOI:civil-registry", see ParseClientID); times are RFC 3339 UTC;
// digests lower-case hex. Lists are arrays, never null. openapi.yaml
// describes the same shapes.

// Client is a client of the security server.
type Client struct {
	// ID is "INST:CLASS:CODE[:SUBSYSTEM]".
	ID            string `json:"id"`
	Instance      string `json:"instance"`
	MemberClass   string `json:"memberClass"`
	MemberCode    string `json:"memberCode"`
	SubsystemCode string `json:"subsystemCode,omitempty"`
	// ConnectionType is HTTP, HTTPS or HTTPS_CERT.
	ConnectionType string `json:"connectionType"`
	// BodyLogging is FULL or METADATA_ONLY.
	BodyLogging string `json:"bodyLogging"`
	// Status is SAVED, REGISTRATION_IN_PROGRESS, REGISTERED or
	// DELETION_IN_PROGRESS.
	Status string `json:"status"`
	// TLSCertificateHashes are the SHA-256 of the information systems'
	// registered TLS certificates.
	TLSCertificateHashes []string  `json:"tlsCertificateHashes"`
	CreatedAt            time.Time `json:"createdAt"`
}

// NewClient is the body of POST /api/v1/clients.
type NewClient struct {
	// Client is the member or subsystem (admin or header form).
	Client string `json:"client"`
	// ConnectionType is HTTP (default), HTTPS or HTTPS_CERT; Connection is
	// its older name.
	ConnectionType string `json:"connectionType,omitempty"`
	Connection     string `json:"connection,omitempty"`
	// BodyLogging is FULL (default) or METADATA_ONLY.
	BodyLogging string `json:"bodyLogging,omitempty"`
	// Register sends the registration request to the central server
	// (default true).
	Register *bool `json:"register,omitempty"`
}

// ClientUpdate is the body of PATCH /api/v1/clients/{clientId}; absent
// fields are kept.
type ClientUpdate struct {
	ConnectionType string `json:"connectionType,omitempty"`
	BodyLogging    string `json:"bodyLogging,omitempty"`
}

// ManagementRequest is the status of a management request sent to the
// central server.
type ManagementRequest struct {
	// ID is the central server's number of the request.
	ID        int64  `json:"id"`
	RequestID string `json:"requestId"`
	Type      string `json:"type"`
	// Status is PENDING, APPROVED, REJECTED or FAILED.
	Status  string `json:"status"`
	Comment string `json:"comment,omitempty"`
}

// ClientChange is the answer to adding, registering and unregistering a
// client.
type ClientChange struct {
	Client Client `json:"client"`
	// ManagementRequest is the request sent, absent when none was.
	ManagementRequest *ManagementRequest `json:"managementRequest,omitempty"`
}

// TLSCertificate is a registered TLS certificate of an information system.
type TLSCertificate struct {
	// Hash is the SHA-256 of the DER.
	Hash string `json:"hash"`
	// The rest is absent when only the hash was registered.
	Subject   string     `json:"subject,omitempty"`
	Issuer    string     `json:"issuer,omitempty"`
	Serial    string     `json:"serial,omitempty"`
	NotBefore *time.Time `json:"notBefore,omitempty"`
	NotAfter  *time.Time `json:"notAfter,omitempty"`
	AddedAt   *time.Time `json:"addedAt,omitempty"`
	PEM       string     `json:"pem,omitempty"`
}

// NewCertificate is a body carrying PEM certificates.
type NewCertificate struct {
	PEM string `json:"pem"`
}

// Service is a service of a client.
type Service struct {
	// ID is "INST:CLASS:CODE:SUBSYSTEM:SERVICE".
	ID       string `json:"id"`
	Provider string `json:"provider"`
	Code     string `json:"code"`
	Version  string `json:"version,omitempty"`
	// URL is the backend's base URL.
	URL            string  `json:"url"`
	TimeoutSeconds float64 `json:"timeoutSeconds"`
	VerifyTLS      bool    `json:"verifyTls"`
	Disabled       bool    `json:"disabled"`
	DisabledNotice string  `json:"disabledNotice,omitempty"`
	// DescriptionID, DescriptionType (OPENAPI or REST), DescriptionURL and
	// RefreshedAt describe the service description that holds it.
	DescriptionID   int64      `json:"descriptionId"`
	DescriptionType string     `json:"descriptionType"`
	DescriptionURL  string     `json:"descriptionUrl,omitempty"`
	RefreshedAt     time.Time  `json:"refreshedAt"`
	Endpoints       []Endpoint `json:"endpoints"`
}

// Endpoint is an operation of a service.
type Endpoint struct {
	// Method is an HTTP method or "*"; Path a path pattern.
	Method string `json:"method"`
	Path   string `json:"path"`
	// Generated reports an endpoint derived from the OpenAPI document.
	Generated bool `json:"generated"`
}

// NewServiceRequest is the body of POST /api/v1/services.
type NewServiceRequest struct {
	// Provider is the subsystem (admin or header form).
	Provider string `json:"provider"`
	Code     string `json:"code"`
	Version  string `json:"version,omitempty"`
	URL      string `json:"url"`
	// TimeoutSeconds bounds a backend call; default 30.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
	// VerifyTLS checks the backend's certificate (default true).
	VerifyTLS *bool `json:"verifyTls,omitempty"`
	// OpenAPI is the OpenAPI 3 document (YAML or JSON); OpenAPIURL where
	// the server fetches it instead. Neither: a REST service.
	OpenAPI    string `json:"openapi,omitempty"`
	OpenAPIURL string `json:"openapiUrl,omitempty"`
	// Publish sends the description to the central catalogue.
	Publish     bool   `json:"publish,omitempty"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
}

// ServiceAdded is the answer to POST /api/v1/services.
type ServiceAdded struct {
	Service Service `json:"service"`
	// Publication is the catalogue publication request, absent unless
	// asked for.
	Publication *ManagementRequest `json:"publication,omitempty"`
}

// ServiceUpdate is the body of PATCH /api/v1/services/{serviceId}; absent
// fields are kept.
type ServiceUpdate struct {
	Version        *string `json:"version,omitempty"`
	URL            *string `json:"url,omitempty"`
	TimeoutSeconds *int    `json:"timeoutSeconds,omitempty"`
	VerifyTLS      *bool   `json:"verifyTls,omitempty"`
	Disabled       *bool   `json:"disabled,omitempty"`
	DisabledNotice *string `json:"disabledNotice,omitempty"`
}

// ServiceRefresh is the optional body of POST
// /api/v1/services/{serviceId}/refresh.
type ServiceRefresh struct {
	// OpenAPI is a new document; OpenAPIURL a new URL to fetch from.
	// Neither: fetch again from the description's URL.
	OpenAPI    string `json:"openapi,omitempty"`
	OpenAPIURL string `json:"openapiUrl,omitempty"`
}

// AccessRight is a right a provider granted on a service.
type AccessRight struct {
	// ServiceID is the service ("INST:CLASS:CODE:SUB:SERVICE").
	ServiceID string `json:"serviceId"`
	// Subject is the typed identifier of who may call
	// ("SUBSYSTEM:PS/GOV/CAB/portal", "GLOBALGROUP:PS/ministries",
	// "LOCALGROUP:auditors"); SubjectType its type.
	Subject     string `json:"subject"`
	SubjectType string `json:"subjectType"`
	// Endpoint is the endpoint the right covers; absent for the whole
	// service.
	Endpoint  *EndpointRef `json:"endpoint,omitempty"`
	GrantedAt time.Time    `json:"grantedAt"`
}

// EndpointRef names an endpoint.
type EndpointRef struct {
	Method string `json:"method"`
	Path   string `json:"path"`
}

// AccessRequest is the body of POST /api/v1/access-rights.
type AccessRequest struct {
	// Provider is the subsystem (admin or header form).
	Provider string `json:"provider"`
	// Service is the service code.
	Service string `json:"service"`
	// Subject is a client (header or admin form) or a typed identifier.
	Subject string `json:"subject"`
	// Method and Path name one endpoint; both empty for the whole service.
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
}

// LocalGroup is a client's local group.
type LocalGroup struct {
	// Client owns the group.
	Client      string `json:"client"`
	Code        string `json:"code"`
	Description string `json:"description"`
	// Members are clients in the admin form.
	Members   []string  `json:"members"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// NewLocalGroup is the body of POST /api/v1/clients/{clientId}/local-groups.
type NewLocalGroup struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

// GroupMember is the body of POST …/local-groups/{groupCode}/members.
type GroupMember struct {
	// Member is a client (admin or header form).
	Member string `json:"member"`
}

// Key is a key of the key store.
type Key struct {
	// ID is the key's label.
	ID string `json:"id"`
	// Usage is AUTH or SIGN.
	Usage string `json:"usage"`
	// Member is the member a sign key signs for, when known.
	Member string `json:"member,omitempty"`
	// Certificate is the certificate in use; absent when there is none.
	Certificate *KeyCertificate `json:"certificate,omitempty"`
	// PendingCertificate is a new authentication certificate waiting for
	// registration and activation.
	PendingCertificate *KeyCertificate `json:"pendingCertificate,omitempty"`
}

// KeyCertificate describes a key's certificate.
type KeyCertificate struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// SHA256 is the hash of the leaf's DER.
	SHA256 string `json:"sha256"`
	// Validity is VALID, EXPIRED or NOT_YET_VALID now.
	Validity string `json:"validity"`
	// OCSPStatus is GOOD, REVOKED or UNKNOWN (OCSPError says why).
	OCSPStatus string `json:"ocspStatus"`
	OCSPError  string `json:"ocspError,omitempty"`
	// Registered (authentication certificates) reports that the global
	// configuration lists it for this server.
	Registered *bool `json:"registered,omitempty"`
	// PEM is the chain, leaf first.
	PEM string `json:"pem"`
}

// NewSignKey is the body of POST /api/v1/keys.
type NewSignKey struct {
	// Member is the member the key signs for (admin or header form).
	Member string `json:"member"`
}

// CSRRequest is the body of POST /api/v1/keys/{keyId}/csr.
type CSRRequest struct {
	// DNSNames go into an authentication certificate request.
	DNSNames []string `json:"dnsNames,omitempty"`
	// Member names a sign key's member when the key has no certificate.
	Member string `json:"member,omitempty"`
}

// CSR is the answer to POST /api/v1/keys/{keyId}/csr.
type CSR struct {
	KeyID string `json:"keyId"`
	// PEM is the PKCS #10 request.
	PEM string `json:"pem"`
}

// EnrolRequest is the body of POST /api/v1/keys/{keyId}/enrol.
type EnrolRequest struct {
	// CAURL is the CA's base URL; Token the one-time enrolment token.
	CAURL string `json:"caUrl"`
	Token string `json:"token"`
	// Roots (PEM) overrides the approved CAs of the global configuration
	// as trust anchors.
	Roots    string   `json:"roots,omitempty"`
	DNSNames []string `json:"dnsNames,omitempty"`
	Member   string   `json:"member,omitempty"`
}

// RenewRequest is the body of POST /api/v1/keys/{keyId}/renew.
type RenewRequest struct {
	CAURL string `json:"caUrl"`
	Roots string `json:"roots,omitempty"`
}

// MessageLogSettings is GET /api/v1/message-log/settings.
type MessageLogSettings struct {
	// TimestampingIntervalSeconds comes from the global configuration.
	TimestampingIntervalSeconds int64 `json:"timestampingIntervalSeconds"`
	// TimestampingGracePeriodSeconds is how long exchanges go on while
	// time-stamping fails.
	TimestampingGracePeriodSeconds int64 `json:"timestampingGracePeriodSeconds"`
	// DefaultBodyLogging is a new client's body logging; change a client's
	// with PATCH /api/v1/clients/{clientId}.
	DefaultBodyLogging string `json:"defaultBodyLogging"`
	// MaxLoggedBodyBytes: larger bodies are logged by digest only.
	MaxLoggedBodyBytes int64 `json:"maxLoggedBodyBytes"`
	// BodyEncryption and BodyKeyID describe how logged bodies are kept.
	BodyEncryption string `json:"bodyEncryption"`
	BodyKeyID      string `json:"bodyKeyId"`
	// ReadOnly is true: these settings are not changed through this API.
	ReadOnly bool `json:"readOnly"`
}

// MessageLogRecord is one record's metadata (no body).
type MessageLogRecord struct {
	ID        int64     `json:"id"`
	LoggedAt  time.Time `json:"loggedAt"`
	Direction string    `json:"direction"`
	Side      string    `json:"side"`
	MessageID string    `json:"messageId"`
	// RequestDigest identifies the exchange's request (hex SHA-256).
	RequestDigest    string    `json:"requestDigest"`
	Client           string    `json:"client"`
	Service          string    `json:"service"`
	UserID           string    `json:"userId,omitempty"`
	Issue            string    `json:"issue,omitempty"`
	RepresentedParty string    `json:"representedParty,omitempty"`
	Time             time.Time `json:"time"`
	Method           string    `json:"method,omitempty"`
	Path             string    `json:"path,omitempty"`
	Query            string    `json:"query,omitempty"`
	Status           int       `json:"status,omitempty"`
	Signer           string    `json:"signer"`
	SignerCertSHA256 string    `json:"signerCertSha256"`
	BodySHA256       string    `json:"bodySha256"`
	BodySize         int64     `json:"bodySize"`
	BodyLogged       bool      `json:"bodyLogged"`
	// PrevHash and Hash place the record in the hash chain.
	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`
	// Timestamp is the time-stamp covering the record; absent until one
	// does.
	Timestamp *Timestamp `json:"timestamp,omitempty"`
}

// Timestamp names a message-log time-stamp.
type Timestamp struct {
	ID        int64     `json:"id"`
	From      int64     `json:"from"`
	To        int64     `json:"to"`
	StampedAt time.Time `json:"stampedAt"`
	TSA       string    `json:"tsa,omitempty"`
}

// MessageLogPage is GET /api/v1/message-log/records.
type MessageLogPage struct {
	Records []MessageLogRecord `json:"records"`
	// NextCursor, when present, is the cursor of the next page.
	NextCursor string `json:"nextCursor,omitempty"`
}

// APIKey is an API key (never its secret).
type APIKey struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Roles     []string   `json:"roles"`
	CreatedAt time.Time  `json:"createdAt"`
	CreatedBy string     `json:"createdBy"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	// Status is ACTIVE, EXPIRED or REVOKED now.
	Status string `json:"status"`
}

// NewAPIKey is the body of POST /api/v1/api-keys.
type NewAPIKey struct {
	Name  string   `json:"name,omitempty"`
	Roles []string `json:"roles"`
	// ExpiresAt is when the key stops working; never when absent.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// CreatedAPIKey is the answer to POST /api/v1/api-keys: the key and its
// secret, shown this once and never stored.
type CreatedAPIKey struct {
	APIKey
	Secret string `json:"secret"`
}

// AuditEvent is an entry of the admin audit trail.
type AuditEvent struct {
	ID          int64           `json:"id"`
	At          time.Time       `json:"at"`
	CompletedAt *time.Time      `json:"completedAt,omitempty"`
	Actor       string          `json:"actor"`
	KeyID       int64           `json:"keyId,omitempty"`
	Remote      string          `json:"remote"`
	Action      string          `json:"action"`
	Target      string          `json:"target"`
	Detail      json.RawMessage `json:"detail"`
	// Outcome is pending, success or failure.
	Outcome string `json:"outcome"`
}

// AuditPage is GET /api/v1/audit.
type AuditPage struct {
	Events     []AuditEvent `json:"events"`
	NextCursor string       `json:"nextCursor,omitempty"`
}

// Conversions.

func toClient(c conf.Client) Client {
	hashes := c.ISCertHashes
	if hashes == nil {
		hashes = []string{}
	}
	return Client{ID: FormatClientID(c.ID), Instance: c.ID.Instance, MemberClass: c.ID.Class, MemberCode: c.ID.Code,
		SubsystemCode: c.ID.Subsystem, ConnectionType: string(c.Connection), BodyLogging: string(c.BodyLogging),
		Status: string(c.Status), TLSCertificateHashes: hashes, CreatedAt: c.CreatedAt}
}

func toManagementRequest(s *mgmtproto.Status) *ManagementRequest {
	if s == nil {
		return nil
	}
	return &ManagementRequest{ID: s.ID, RequestID: s.RequestID, Type: string(s.Type), Status: string(s.Status), Comment: s.Comment}
}

func toTLSCertificate(c conf.ISCertificate) TLSCertificate {
	out := TLSCertificate{Hash: c.Hash}
	if c.DER == nil {
		return out
	}
	at := c.AddedAt
	out.AddedAt = &at
	out.PEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER}))
	if x, err := x509.ParseCertificate(c.DER); err == nil {
		nb, na := x.NotBefore.UTC(), x.NotAfter.UTC()
		out.Subject, out.Issuer, out.Serial, out.NotBefore, out.NotAfter = x.Subject.String(), x.Issuer.String(), serial(x.SerialNumber), &nb, &na
	}
	return out
}

func serial(n *big.Int) string {
	if n == nil {
		return ""
	}
	return strings.ToUpper(n.Text(16))
}

// toServices flattens a client's descriptions into services.
func toServices(ds []conf.ServiceDescription) []Service {
	out := []Service{}
	for _, d := range ds {
		for _, s := range d.Services {
			out = append(out, toService(d, s))
		}
	}
	return out
}

func toService(d conf.ServiceDescription, s conf.Service) Service {
	eps := make([]Endpoint, 0, len(s.Endpoints))
	for _, e := range s.Endpoints {
		eps = append(eps, Endpoint{Method: e.Method, Path: e.Path, Generated: e.Generated})
	}
	id := xroad.ServiceID{Provider: d.Client, Code: s.Code}
	return Service{ID: FormatServiceID(id), Provider: FormatClientID(d.Client), Code: s.Code, Version: s.Version, URL: s.URL,
		TimeoutSeconds: s.Timeout.Seconds(), VerifyTLS: s.VerifyTLS, Disabled: s.Disabled, DisabledNotice: s.DisabledNotice,
		DescriptionID: d.ID, DescriptionType: string(d.Type), DescriptionURL: d.URL, RefreshedAt: d.RefreshedAt, Endpoints: eps}
}

func toAccessRight(r conf.AccessRight) AccessRight {
	out := AccessRight{ServiceID: FormatServiceID(xroad.ServiceID{Provider: r.Provider, Code: r.ServiceCode}),
		Subject: r.Subject.Typed(), SubjectType: string(r.Subject.Type()), GrantedAt: r.GrantedAt}
	if !r.Endpoint.IsService() {
		out.Endpoint = &EndpointRef{Method: r.Endpoint.Method, Path: r.Endpoint.Path}
	}
	return out
}

func toLocalGroup(g conf.LocalGroup) LocalGroup {
	members := make([]string, 0, len(g.Members))
	for _, m := range g.Members {
		members = append(members, FormatClientID(m))
	}
	return LocalGroup{Client: FormatClientID(g.Client), Code: g.Code, Description: g.Description, Members: members, UpdatedAt: g.UpdatedAt}
}

func chainPEM(chain []*x509.Certificate) string {
	var b strings.Builder
	for _, c := range chain {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.String()
}

func hexSHA256(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// The validities of KeyCertificate.
const (
	validityValid       = "VALID"
	validityExpired     = "EXPIRED"
	validityNotYetValid = "NOT_YET_VALID"
)

func toKeyCertificate(c *CertInfo, now time.Time) *KeyCertificate {
	if c == nil || len(c.Chain) == 0 {
		return nil
	}
	leaf := c.Chain[0]
	validity := validityValid
	switch {
	case now.Before(leaf.NotBefore):
		validity = validityNotYetValid
	case now.After(leaf.NotAfter):
		validity = validityExpired
	}
	status := c.OCSPStatus
	if status == "" {
		status = OCSPUnknown
	}
	return &KeyCertificate{Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(), Serial: serial(leaf.SerialNumber),
		NotBefore: leaf.NotBefore.UTC(), NotAfter: leaf.NotAfter.UTC(), SHA256: hexSHA256(leaf.Raw), Validity: validity,
		OCSPStatus: status, OCSPError: c.OCSPError, Registered: c.Registered, PEM: chainPEM(c.Chain)}
}

func toKey(k KeyInfo, now time.Time) Key {
	out := Key{ID: k.ID, Usage: string(k.Usage), Certificate: toKeyCertificate(k.Certificate, now),
		PendingCertificate: toKeyCertificate(k.Pending, now)}
	if k.Member != (xroad.MemberID{}) {
		out.Member = FormatMemberID(k.Member)
	}
	return out
}

func toMessageLogRecord(r MessageRecord) MessageLogRecord {
	out := MessageLogRecord{ID: r.ID, LoggedAt: r.LoggedAt, Direction: r.Direction, Side: r.Side, MessageID: r.MessageID,
		RequestDigest: hex.EncodeToString(r.RequestDigest), Client: FormatClientID(r.Client), Service: FormatServiceID(r.Service),
		UserID: r.UserID, Issue: r.Issue, RepresentedParty: r.RepresentedParty, Time: r.Time, Method: r.Method, Path: r.Path,
		Query: r.Query, Status: r.Status, Signer: FormatMemberID(r.Signer), SignerCertSHA256: hex.EncodeToString(r.SignerCertSHA256),
		BodySHA256: hex.EncodeToString(r.BodySHA256), BodySize: r.BodySize, BodyLogged: r.BodyLogged,
		PrevHash: hex.EncodeToString(r.PrevHash), Hash: hex.EncodeToString(r.Hash)}
	if t := r.Timestamp; t != nil {
		out.Timestamp = &Timestamp{ID: t.ID, From: t.From, To: t.To, StampedAt: t.StampedAt, TSA: t.TSA}
	}
	return out
}

// The statuses of APIKey.
const (
	keyActive  = "ACTIVE"
	keyExpired = "EXPIRED"
	keyRevoked = "REVOKED"
)

// DescribeAPIKey returns an API key as the API shows it (status as of now).
func DescribeAPIKey(k conf.APIKey, now time.Time) APIKey { return toAPIKey(k, now) }

func toAPIKey(k conf.APIKey, now time.Time) APIKey {
	out := APIKey{ID: k.ID, Name: k.Name, Roles: k.Roles, CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy, Status: keyActive}
	if out.Roles == nil {
		out.Roles = []string{}
	}
	if !k.ExpiresAt.IsZero() {
		t := k.ExpiresAt
		out.ExpiresAt = &t
		if !now.Before(t) {
			out.Status = keyExpired
		}
	}
	if !k.RevokedAt.IsZero() {
		t := k.RevokedAt
		out.RevokedAt, out.Status = &t, keyRevoked
	}
	return out
}

func toAuditEvent(e conf.AuditEvent) AuditEvent {
	d := e.Detail
	if len(d) == 0 {
		d = json.RawMessage("{}")
	}
	out := AuditEvent{ID: e.ID, At: e.At, Actor: e.Actor, KeyID: e.KeyID, Remote: e.Remote, Action: e.Action, Target: e.Target,
		Detail: d, Outcome: string(e.Outcome)}
	if !e.CompletedAt.IsZero() {
		t := e.CompletedAt
		out.CompletedAt = &t
	}
	return out
}
