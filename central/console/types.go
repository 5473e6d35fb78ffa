package console

import (
	"bytes"
	"encoding/json"
	"time"
)

// The central admin API's JSON answers, as far as the pages show them
// (central/apitypes.go has the full shapes; openapi.yaml describes them).
// Unknown fields are ignored, so the API may add fields freely.

// ConfigurationStatus is GET /configuration.
type ConfigurationStatus struct {
	Serial                 int64     `json:"serial"`
	GeneratedAt            time.Time `json:"generatedAt"`
	ExpiresAt              time.Time `json:"expiresAt"`
	SHA256                 string    `json:"sha256"`
	ContentHash            string    `json:"contentHash"`
	RegistryVersion        int64     `json:"registryVersion"`
	CurrentRegistryVersion int64     `json:"currentRegistryVersion"`
	Expired                bool      `json:"expired"`
	Published              bool      `json:"published"`
}

// Settings is GET /settings.
type Settings struct {
	OCSPFreshnessSeconds                int64 `json:"ocspFreshnessSeconds"`
	TimestampingIntervalSeconds         int64 `json:"timestampingIntervalSeconds"`
	ConfigurationLifetimeSeconds        int64 `json:"configurationLifetimeSeconds"`
	ConfigurationRefreshIntervalSeconds int64 `json:"configurationRefreshIntervalSeconds"`
	TimestampingGracePeriodSeconds      int64 `json:"timestampingGracePeriodSeconds"`
}

// MemberClass is a member class.
type MemberClass struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

// Member is a member with its subsystem codes.
type Member struct {
	ID          string    `json:"id"`
	MemberClass string    `json:"memberClass"`
	MemberCode  string    `json:"memberCode"`
	Name        string    `json:"name"`
	Subsystems  []string  `json:"subsystems"`
	CreatedAt   time.Time `json:"createdAt"`
}

// SecurityServer is a registered security server.
type SecurityServer struct {
	ID          string     `json:"id"`
	Owner       string     `json:"owner"`
	ServerCode  string     `json:"serverCode"`
	Addresses   []string   `json:"addresses"`
	AuthCerts   []AuthCert `json:"authCerts"`
	Clients     []string   `json:"clients"`
	Maintenance bool       `json:"maintenance"`
	CreatedAt   time.Time  `json:"createdAt"`
}

// AuthCert is a registered authentication certificate.
type AuthCert struct {
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

// Certificate describes a certificate.
type Certificate struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	SHA256    string    `json:"sha256"`
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
	URL string `json:"url"`
}

// ApprovedTSA is an approved time-stamping authority.
type ApprovedTSA struct {
	Name        string      `json:"name"`
	URL         string      `json:"url"`
	Certificate Certificate `json:"certificate"`
}

// ManagementRequest is a management request.
type ManagementRequest struct {
	ID          int64           `json:"id"`
	Type        string          `json:"type"`
	Server      string          `json:"server"`
	Client      string          `json:"client"`
	Payload     json.RawMessage `json:"payload"`
	Status      string          `json:"status"`
	SubmittedAt time.Time       `json:"submittedAt"`
	DecidedAt   *time.Time      `json:"decidedAt"`
	DecidedBy   string          `json:"decidedBy"`
	Comment     string          `json:"comment"`
}

// CatalogueService is a catalogue entry.
type CatalogueService struct {
	ID             string    `json:"id"`
	Provider       string    `json:"provider"`
	ServiceCode    string    `json:"serviceCode"`
	ServiceVersion string    `json:"serviceVersion"`
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
	ExpiresAt *time.Time `json:"expiresAt"`
	RevokedAt *time.Time `json:"revokedAt"`
}

// CreatedAPIKey is a new key with its secret, shown once.
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

func decode(b []byte, v any) error { return json.NewDecoder(bytes.NewReader(b)).Decode(v) }
