package central

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"time"

	"github.com/jisr-bus/jisr/central/registry"
)

// The admin API's JSON bodies. Identifiers use the admin API form
// ("PS:GOV:MOI:civil-registry", see ParseClientID); times are RFC 3339 UTC;
// durations are whole seconds. openapi.yaml describes the same shapes.

// InstanceInfo is GET /api/v1/instance.
type InstanceInfo struct {
	// Instance is the X-Road instance code.
	Instance string `json:"instance"`
	// RegistryVersion is the registry's version (see registry.Reader.Version).
	RegistryVersion int64 `json:"registryVersion"`
}

// MemberClass is a member class.
type MemberClass struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

// Member is a member with its subsystem codes.
type Member struct {
	// ID is "INSTANCE:CLASS:CODE".
	ID          string    `json:"id"`
	MemberClass string    `json:"memberClass"`
	MemberCode  string    `json:"memberCode"`
	Name        string    `json:"name"`
	Subsystems  []string  `json:"subsystems"`
	CreatedAt   time.Time `json:"createdAt"`
}

// NewMember is the body of POST /api/v1/members.
type NewMember struct {
	MemberClass string `json:"memberClass"`
	MemberCode  string `json:"memberCode"`
	Name        string `json:"name"`
}

// MemberUpdate is the body of PATCH /api/v1/members/{memberId}.
type MemberUpdate struct {
	Name string `json:"name"`
}

// NewSubsystem is the body of POST /api/v1/members/{memberId}/subsystems.
type NewSubsystem struct {
	SubsystemCode string `json:"subsystemCode"`
}

// SecurityServer is a registered security server.
type SecurityServer struct {
	// ID is "INSTANCE:CLASS:CODE:SERVER".
	ID         string `json:"id"`
	Owner      string `json:"owner"`
	ServerCode string `json:"serverCode"`
	// Addresses are host or host:port, preferred first.
	Addresses []string   `json:"addresses"`
	AuthCerts []AuthCert `json:"authCerts"`
	// Clients are the hosted members and subsystems.
	Clients     []string  `json:"clients"`
	Maintenance bool      `json:"maintenance"`
	CreatedAt   time.Time `json:"createdAt"`
}

// AuthCert is a registered authentication certificate.
type AuthCert struct {
	// Hash is the lower-case hex SHA-256 of the certificate's DER.
	Hash         string    `json:"hash"`
	Subject      string    `json:"subject"`
	NotAfter     time.Time `json:"notAfter"`
	RegisteredAt time.Time `json:"registeredAt"`
}

// GlobalGroup is a global group with its members.
type GlobalGroup struct {
	Code        string   `json:"code"`
	Description string   `json:"description"`
	Members     []string `json:"members"`
}

// NewGlobalGroup is the body of POST /api/v1/global-groups.
type NewGlobalGroup struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

// GroupMemberRef is the body of POST /api/v1/global-groups/{groupCode}/members.
type GroupMemberRef struct {
	// Client is "INSTANCE:CLASS:CODE" or "INSTANCE:CLASS:CODE:SUBSYSTEM".
	Client string `json:"client"`
}

// Certificate describes a certificate and carries it as PEM.
type Certificate struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// SHA256 is the lower-case hex SHA-256 of the DER.
	SHA256 string `json:"sha256"`
	PEM    string `json:"pem"`
}

// ApprovedCA is an approved certification authority.
type ApprovedCA struct {
	Name           string          `json:"name"`
	Profile        string          `json:"profile"`
	Roots          []Certificate   `json:"roots"`
	Intermediates  []Certificate   `json:"intermediates"`
	OCSPResponders []OCSPResponder `json:"ocspResponders"`
}

// OCSPResponder is an approved CA's OCSP responder.
type OCSPResponder struct {
	URL         string       `json:"url"`
	Certificate *Certificate `json:"certificate,omitempty"`
}

// NewApprovedCA is the body of POST /api/v1/approved-cas. Certificates are
// PEM text (one or more CERTIFICATE blocks).
type NewApprovedCA struct {
	Name string `json:"name"`
	// Profile names the certificate profile; default DefaultProfile.
	Profile        string             `json:"profile,omitempty"`
	Roots          string             `json:"roots"`
	Intermediates  string             `json:"intermediates,omitempty"`
	OCSPResponders []NewOCSPResponder `json:"ocspResponders,omitempty"`
}

// NewOCSPResponder is an OCSP responder in NewApprovedCA.
type NewOCSPResponder struct {
	URL string `json:"url"`
	// Certificate is an optional PEM responder certificate trusted directly.
	Certificate string `json:"certificate,omitempty"`
}

// ApprovedTSA is an approved time-stamping authority.
type ApprovedTSA struct {
	Name        string      `json:"name"`
	URL         string      `json:"url"`
	Certificate Certificate `json:"certificate"`
}

// NewApprovedTSA is the body of POST /api/v1/approved-tsas.
type NewApprovedTSA struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Certificate is the TSA's PEM certificate.
	Certificate string `json:"certificate"`
}

// Settings are the registry settings in seconds.
type Settings struct {
	OCSPFreshnessSeconds                int64 `json:"ocspFreshnessSeconds"`
	TimestampingIntervalSeconds         int64 `json:"timestampingIntervalSeconds"`
	ConfigurationLifetimeSeconds        int64 `json:"configurationLifetimeSeconds"`
	ConfigurationRefreshIntervalSeconds int64 `json:"configurationRefreshIntervalSeconds"`
	TimestampingGracePeriodSeconds      int64 `json:"timestampingGracePeriodSeconds"`
}

// SettingsUpdate is the body of PATCH /api/v1/settings: absent fields are
// left alone.
type SettingsUpdate struct {
	OCSPFreshnessSeconds                *int64 `json:"ocspFreshnessSeconds,omitempty"`
	TimestampingIntervalSeconds         *int64 `json:"timestampingIntervalSeconds,omitempty"`
	ConfigurationLifetimeSeconds        *int64 `json:"configurationLifetimeSeconds,omitempty"`
	ConfigurationRefreshIntervalSeconds *int64 `json:"configurationRefreshIntervalSeconds,omitempty"`
	TimestampingGracePeriodSeconds      *int64 `json:"timestampingGracePeriodSeconds,omitempty"`
}

// ManagementRequest is a management request as the admin API shows it.
type ManagementRequest struct {
	ID     int64  `json:"id"`
	Type   string `json:"type"`
	Server string `json:"server"`
	// Client is set for clientRegistration and clientDeletion.
	Client      string          `json:"client,omitempty"`
	Payload     json.RawMessage `json:"payload"`
	Status      string          `json:"status"`
	SubmittedAt time.Time       `json:"submittedAt"`
	DecidedAt   *time.Time      `json:"decidedAt,omitempty"`
	DecidedBy   string          `json:"decidedBy,omitempty"`
	Comment     string          `json:"comment,omitempty"`
}

// Rejection is the body of POST /api/v1/management-requests/{id}/reject.
type Rejection struct {
	Comment string `json:"comment"`
}

// CatalogueService is a catalogue entry (without its OpenAPI document).
type CatalogueService struct {
	// ID is "INSTANCE:CLASS:CODE:SUBSYSTEM:SERVICE[:VERSION]".
	ID             string    `json:"id"`
	Provider       string    `json:"provider"`
	ServiceCode    string    `json:"serviceCode"`
	ServiceVersion string    `json:"serviceVersion,omitempty"`
	Type           string    `json:"type"`
	Title          string    `json:"title"`
	Description    string    `json:"description"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

// APIKey is an admin API key (never its secret).
type APIKey struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Roles     []string   `json:"roles"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

// NewAPIKey is the body of POST /api/v1/api-keys.
type NewAPIKey struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
	// ExpiresAt is when the key stops working; never when absent.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// CreatedAPIKey is the answer to POST /api/v1/api-keys: the key and its
// secret, which is shown this once and never stored.
type CreatedAPIKey struct {
	APIKey
	Secret string `json:"secret"`
}

// AuditEvent is an entry of the admin audit trail.
type AuditEvent struct {
	ID      int64           `json:"id"`
	At      time.Time       `json:"at"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Target  string          `json:"target"`
	Detail  json.RawMessage `json:"detail"`
	Outcome string          `json:"outcome"`
}

// ConfigurationStatus is GET /api/v1/configuration: the latest published
// global configuration.
type ConfigurationStatus struct {
	Serial      int64     `json:"serial"`
	GeneratedAt time.Time `json:"generatedAt"`
	ExpiresAt   time.Time `json:"expiresAt"`
	// SHA256 is the lower-case hex SHA-256 of the signed bytes.
	SHA256 string `json:"sha256"`
	// ETag is the entity tag the configuration listener serves.
	ETag string `json:"etag"`
	// ContentHash identifies the content apart from serial and times.
	ContentHash string `json:"contentHash"`
	// RegistryVersion is the registry version the document was built from;
	// CurrentRegistryVersion the registry's version now.
	RegistryVersion        int64 `json:"registryVersion"`
	CurrentRegistryVersion int64 `json:"currentRegistryVersion"`
	Expired                bool  `json:"expired"`
	// Published is true in the answer to a regeneration that this node
	// published (false when another node won the race).
	Published bool `json:"published,omitempty"`
}

// Conversions from registry values.

func toMember(m registry.Member) Member {
	subs := m.Subsystems
	if subs == nil {
		subs = []string{}
	}
	return Member{ID: FormatMemberID(m.ID), MemberClass: m.ID.Class, MemberCode: m.ID.Code, Name: m.Name, Subsystems: subs, CreatedAt: m.CreatedAt}
}

func toServer(s registry.SecurityServer) SecurityServer {
	out := SecurityServer{
		ID: FormatServerID(s.ID), Owner: FormatMemberID(s.ID.Owner), ServerCode: s.ID.Code,
		Addresses: s.Addresses, AuthCerts: []AuthCert{}, Clients: []string{}, Maintenance: s.Maintenance, CreatedAt: s.CreatedAt,
	}
	if out.Addresses == nil {
		out.Addresses = []string{}
	}
	for _, c := range s.AuthCerts {
		ac := AuthCert{Hash: c.Hash, RegisteredAt: c.RegisteredAt}
		if cert, err := x509.ParseCertificate(c.DER); err == nil {
			ac.Subject, ac.NotAfter = cert.Subject.String(), cert.NotAfter
		}
		out.AuthCerts = append(out.AuthCerts, ac)
	}
	for _, c := range s.Clients {
		out.Clients = append(out.Clients, FormatClientID(c))
	}
	return out
}

func toGroup(g registry.GlobalGroup) GlobalGroup {
	out := GlobalGroup{Code: g.ID.Code, Description: g.Description, Members: []string{}}
	for _, m := range g.Members {
		out.Members = append(out.Members, FormatClientID(m))
	}
	return out
}

func toCertificate(der []byte) Certificate {
	sum := sha256.Sum256(der)
	c := Certificate{SHA256: hex.EncodeToString(sum[:]), PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
	if cert, err := x509.ParseCertificate(der); err == nil {
		c.Subject, c.Issuer, c.NotBefore, c.NotAfter = cert.Subject.String(), cert.Issuer.String(), cert.NotBefore, cert.NotAfter
	}
	return c
}

func toCertificates(ders [][]byte) []Certificate {
	out := make([]Certificate, 0, len(ders))
	for _, d := range ders {
		out = append(out, toCertificate(d))
	}
	return out
}

func toCA(c registry.ApprovedCA) ApprovedCA {
	out := ApprovedCA{Name: c.Name, Profile: c.Profile, Roots: toCertificates(c.Roots), Intermediates: toCertificates(c.Intermediates), OCSPResponders: []OCSPResponder{}}
	for _, o := range c.OCSPResponders {
		r := OCSPResponder{URL: o.URL}
		if len(o.Cert) > 0 {
			cert := toCertificate(o.Cert)
			r.Certificate = &cert
		}
		out.OCSPResponders = append(out.OCSPResponders, r)
	}
	return out
}

func toTSA(t registry.ApprovedTSA) ApprovedTSA {
	return ApprovedTSA{Name: t.Name, URL: t.URL, Certificate: toCertificate(t.Cert)}
}

func toSettings(s registry.Settings) Settings {
	return Settings{
		OCSPFreshnessSeconds:                seconds(s.OCSPFreshness),
		TimestampingIntervalSeconds:         seconds(s.TimestampingInterval),
		ConfigurationLifetimeSeconds:        seconds(s.ConfigurationLifetime),
		ConfigurationRefreshIntervalSeconds: seconds(s.ConfigurationRefreshInterval),
		TimestampingGracePeriodSeconds:      seconds(s.TimestampingGracePeriod),
	}
}

func toRequest(r registry.ManagementRequest) ManagementRequest {
	out := ManagementRequest{
		ID: r.ID, Type: string(r.Type), Server: FormatServerID(r.Server), Payload: r.Payload,
		Status: string(r.Status), SubmittedAt: r.SubmittedAt, DecidedBy: r.DecidedBy, Comment: r.Comment,
	}
	if len(out.Payload) == 0 {
		out.Payload = json.RawMessage("{}")
	}
	if r.Client != (registry.ManagementRequest{}).Client {
		out.Client = FormatClientID(r.Client)
	}
	if !r.DecidedAt.IsZero() {
		t := r.DecidedAt
		out.DecidedAt = &t
	}
	return out
}

func toService(d registry.ServiceDescription) CatalogueService {
	return CatalogueService{
		ID: FormatServiceID(d.Service), Provider: FormatClientID(d.Service.Provider), ServiceCode: d.Service.Code,
		ServiceVersion: d.Service.Version, Type: string(d.Type), Title: d.Title, Description: d.Description, UpdatedAt: d.UpdatedAt,
	}
}

func toAPIKey(k registry.APIKey) APIKey {
	out := APIKey{ID: k.ID, Name: k.Name, Roles: k.Roles, CreatedAt: k.CreatedAt}
	if out.Roles == nil {
		out.Roles = []string{}
	}
	if !k.ExpiresAt.IsZero() {
		t := k.ExpiresAt
		out.ExpiresAt = &t
	}
	if !k.RevokedAt.IsZero() {
		t := k.RevokedAt
		out.RevokedAt = &t
	}
	return out
}

func toAudit(e registry.AuditEvent) AuditEvent {
	d := e.Detail
	if len(d) == 0 {
		d = json.RawMessage("{}")
	}
	return AuditEvent{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: d, Outcome: string(e.Outcome)}
}

// parsePEMCertificates returns the DER of every CERTIFICATE block in text;
// at least one, each parseable.
func parsePEMCertificates(what, text string) ([][]byte, error) {
	var out [][]byte
	rest := []byte(text)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, badRequest("%s: unexpected PEM block %q", what, b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return nil, badRequest("%s: %v", what, err)
		}
		out = append(out, b.Bytes)
	}
	if len(out) == 0 {
		return nil, badRequest("%s: no PEM CERTIFICATE block", what)
	}
	return out, nil
}

// mapSlice applies f to every element of in.
func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}
