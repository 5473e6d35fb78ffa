package globalconf

import (
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// Schema is the value of the document's "schema" member for this version of
// the format. A verifier refuses any other value.
const Schema = "jisr.globalconf/v1"

// Document is the global configuration of one instance. Its JSON form (see
// Marshal) is what the central server signs.
//
// Identifiers are carried as strings in X-Road's header form
// ("PS/GOV/MOI/civil-registry"); all of them belong to Instance. A Document
// returned by Verify, ParseDocument or Client.Current is shared and must be
// treated as read-only.
type Document struct {
	// Schema is always Schema ("jisr.globalconf/v1").
	Schema string `json:"schema"`
	// Instance is the X-Road instance identifier, e.g. "PS".
	Instance string `json:"instance"`
	// Serial increases with every document the central server signs; a
	// security server never replaces a document with one of lower serial.
	Serial uint64 `json:"serial"`
	// GeneratedAt is when the central server produced the document (UTC,
	// whole seconds).
	GeneratedAt time.Time `json:"generatedAt"`
	// ExpiresAt is when the document stops being usable (UTC, whole seconds).
	// From that instant security servers refuse to exchange messages until
	// they obtain a newer document.
	ExpiresAt time.Time `json:"expiresAt"`
	// CentralServer tells security servers where to reach the central server.
	CentralServer CentralServer `json:"centralServer"`
	// MemberClasses are the member classes of the instance (e.g. GOV, COM).
	MemberClasses []MemberClass `json:"memberClasses"`
	// Members are the registered members and their subsystems.
	Members []Member `json:"members"`
	// SecurityServers are the registered security servers.
	SecurityServers []SecurityServer `json:"securityServers"`
	// GlobalGroups are the instance's global groups, including the automatic
	// group xroad.SecurityServerOwners, which Marshal derives from
	// SecurityServers.
	GlobalGroups []GlobalGroup `json:"globalGroups"`
	// ApprovedCAs are the certification authorities whose certificates the
	// instance accepts for authentication and signing.
	ApprovedCAs []ApprovedCA `json:"approvedCAs"`
	// ApprovedTSAs are the time-stamping authorities security servers may use.
	ApprovedTSAs []ApprovedTSA `json:"approvedTSAs"`
	// Settings are the instance-wide operating parameters.
	Settings Settings `json:"settings"`

	// idx is built once by Verify and ParseDocument; lookups on a Document
	// built by hand compute what they need on the fly.
	idx *index
}

// CentralServer locates the central server.
type CentralServer struct {
	// ManagementURL is where security servers send management requests
	// (HTTPS).
	ManagementURL string `json:"managementURL"`
	// ManagementTLSCertificates are the (self-signed) TLS certificates the
	// management endpoint may present, DER: security servers trust exactly
	// these as roots for it, instead of any CA. Sorted.
	ManagementTLSCertificates [][]byte `json:"managementTLSCertificates"`
	// ConfigurationURLs are the download locations of this document, in order
	// of preference. Their order is significant and is kept by Marshal.
	ConfigurationURLs []string `json:"configurationURLs"`
}

// MemberClass is one member class.
type MemberClass struct {
	// Code is the class code, e.g. "GOV".
	Code string `json:"code"`
	// Description is free text for people.
	Description string `json:"description"`
}

// Member is a registered member organisation.
type Member struct {
	// Class is the member class code; it must be listed in MemberClasses.
	Class string `json:"class"`
	// Code is the member code, unique within the class.
	Code string `json:"code"`
	// Name is the organisation's name, for people.
	Name string `json:"name"`
	// Subsystems are the member's registered subsystems.
	Subsystems []Subsystem `json:"subsystems"`
}

// Subsystem is a registered subsystem of a member.
type Subsystem struct {
	// Code is the subsystem code, unique within the member.
	Code string `json:"code"`
}

// SecurityServer is a registered security server.
type SecurityServer struct {
	// Owner is the owning member in header form, "INST/CLASS/CODE".
	Owner string `json:"owner"`
	// ServerCode is the server code, unique within the owner.
	ServerCode string `json:"serverCode"`
	// Addresses are where other security servers reach it, each "host:port".
	Addresses []string `json:"addresses"`
	// AuthCertHashes are the SHA-256 digests (lower-case hex) of the DER
	// encoding of the server's registered authentication certificates. A
	// digest identifies exactly one security server.
	AuthCertHashes []string `json:"authCertHashes"`
	// Clients are the members and subsystems the server hosts, in header form.
	Clients []string `json:"clients"`
	// Maintenance is true while the server is in maintenance mode: consumers
	// should not route new exchanges to it.
	Maintenance bool `json:"maintenance"`
}

// GlobalGroup is a centrally defined group of clients.
type GlobalGroup struct {
	// Code is the group code, unique within the instance.
	Code string `json:"code"`
	// Description is free text for people.
	Description string `json:"description"`
	// Members are the group's members and subsystems, in header form.
	Members []string `json:"members"`
}

// ApprovedCA is a certification authority the instance trusts, with the
// OCSP responders that answer for it.
type ApprovedCA struct {
	// Name identifies the CA within the document.
	Name string `json:"name"`
	// Profile names the certificate profile: the rule that maps a
	// certificate issued by this CA to an X-Road identifier.
	Profile string `json:"profile"`
	// Certificates are the CA's trust-anchor certificates (DER; base64 in
	// JSON). Chains must end at one of them.
	Certificates [][]byte `json:"certificates"`
	// Intermediates are intermediate CA certificates (DER) that may appear
	// in chains up to Certificates.
	Intermediates [][]byte `json:"intermediates"`
	// OCSPResponders answer for certificates issued under this CA.
	OCSPResponders []OCSPResponder `json:"ocspResponders"`
}

// OCSPResponder is one OCSP service of an approved CA.
type OCSPResponder struct {
	// URL is the responder's HTTP(S) URL.
	URL string `json:"url"`
	// Certificate, when present, is the responder's signing certificate (DER),
	// trusted directly for responses from this URL. When absent, responses
	// must be signed by the issuer or by a responder certificate the issuer
	// delegated (RFC 6960 §4.2.2.2).
	Certificate []byte `json:"certificate,omitempty"`
}

// ApprovedTSA is an RFC 3161 time-stamping authority the instance trusts.
type ApprovedTSA struct {
	// Name identifies the TSA within the document.
	Name string `json:"name"`
	// URL is the TSA's HTTP(S) URL.
	URL string `json:"url"`
	// Certificate is the TSA's signing certificate (DER).
	Certificate []byte `json:"certificate"`
}

// Settings are the instance-wide operating parameters, all in seconds.
type Settings struct {
	// OCSPFreshnessSeconds is how old an OCSP response may be and still be
	// accepted.
	OCSPFreshnessSeconds int64 `json:"ocspFreshnessSeconds"`
	// TimestampingIntervalSeconds is how often a security server time-stamps
	// its message log.
	TimestampingIntervalSeconds int64 `json:"timestampingIntervalSeconds"`
	// ConfigurationLifetimeSeconds is how long the central server makes each
	// document valid (ExpiresAt − GeneratedAt).
	ConfigurationLifetimeSeconds int64 `json:"configurationLifetimeSeconds"`
	// RefreshIntervalSeconds is how often security servers download the
	// configuration; it must be shorter than the lifetime.
	RefreshIntervalSeconds int64 `json:"refreshIntervalSeconds"`
	// MaxClockSkewSeconds is how far in the future GeneratedAt may lie, as
	// seen by a verifier, before the document is refused as not yet valid.
	MaxClockSkewSeconds int64 `json:"maxClockSkewSeconds"`
}

// MaxClockSkew returns MaxClockSkewSeconds as a duration.
func (s Settings) MaxClockSkew() time.Duration {
	return time.Duration(s.MaxClockSkewSeconds) * time.Second
}

// RefreshInterval returns RefreshIntervalSeconds as a duration.
func (s Settings) RefreshInterval() time.Duration {
	return time.Duration(s.RefreshIntervalSeconds) * time.Second
}

// OCSPFreshness returns OCSPFreshnessSeconds as a duration.
func (s Settings) OCSPFreshness() time.Duration {
	return time.Duration(s.OCSPFreshnessSeconds) * time.Second
}

// TimestampingInterval returns TimestampingIntervalSeconds as a duration.
func (s Settings) TimestampingInterval() time.Duration {
	return time.Duration(s.TimestampingIntervalSeconds) * time.Second
}

// ConfigurationLifetime returns ConfigurationLifetimeSeconds as a duration.
func (s Settings) ConfigurationLifetime() time.Duration {
	return time.Duration(s.ConfigurationLifetimeSeconds) * time.Second
}

// maxSettingSeconds bounds every setting (ten years) so durations cannot
// overflow.
const maxSettingSeconds = 10 * 366 * 24 * 3600

// ID returns the server's identifier, parsed from Owner and ServerCode.
func (s SecurityServer) ID() (xroad.ServerID, error) {
	owner, err := xroad.ParseMember(s.Owner)
	if err != nil {
		return xroad.ServerID{}, err
	}
	id := xroad.ServerID{Owner: owner, Code: s.ServerCode}
	if err := id.Validate(); err != nil {
		return xroad.ServerID{}, err
	}
	return id, nil
}

// Validate checks the document's internal consistency, without regard to
// the current time: schema, identifiers well formed and belonging to the
// instance, no duplicates, every referenced member class, member, subsystem
// and client registered, expiry after generation, hashes of 64 lower-case
// hex digits and unique across servers, addresses "host:port", URLs absolute
// HTTP(S), certificates parseable (CA certificates must be CAs) and settings
// in range. When the automatic group xroad.SecurityServerOwners is present
// it must list exactly the owners of the security servers.
//
// Errors wrap ErrMalformed.
func (d *Document) Validate() error {
	if err := d.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

func (d *Document) validate() error {
	if d.Schema != Schema {
		return fmt.Errorf("schema %q, want %q", d.Schema, Schema)
	}
	if err := xroad.ValidatePart(d.Instance); err != nil {
		return fmt.Errorf("instance: %w", err)
	}
	if d.Serial == 0 {
		return fmt.Errorf("serial must be positive")
	}
	if d.GeneratedAt.IsZero() || d.ExpiresAt.IsZero() {
		return fmt.Errorf("generatedAt and expiresAt are required")
	}
	if !d.ExpiresAt.After(d.GeneratedAt) {
		return fmt.Errorf("expiresAt %s is not after generatedAt %s",
			d.ExpiresAt.Format(time.RFC3339), d.GeneratedAt.Format(time.RFC3339))
	}
	if y := d.GeneratedAt.UTC().Year(); y < 2000 || y > 9999 {
		return fmt.Errorf("generatedAt year %d out of range", y)
	}
	if y := d.ExpiresAt.UTC().Year(); y > 9999 {
		return fmt.Errorf("expiresAt year %d out of range", y)
	}
	if err := d.validateCentral(); err != nil {
		return err
	}
	if err := d.validateSettings(); err != nil {
		return err
	}
	clients, err := d.validateMembers()
	if err != nil {
		return err
	}
	owners, err := d.validateServers(clients)
	if err != nil {
		return err
	}
	if err := d.validateGroups(clients, owners); err != nil {
		return err
	}
	if err := d.validateCAs(); err != nil {
		return err
	}
	return d.validateTSAs()
}

func (d *Document) validateCentral() error {
	if err := validateHTTPURL(d.CentralServer.ManagementURL); err != nil {
		return fmt.Errorf("centralServer.managementURL: %w", err)
	}
	if len(d.CentralServer.ConfigurationURLs) == 0 {
		return fmt.Errorf("centralServer.configurationURLs: at least one is required")
	}
	seen := make(map[string]bool)
	for _, u := range d.CentralServer.ConfigurationURLs {
		if err := validateHTTPURL(u); err != nil {
			return fmt.Errorf("centralServer.configurationURLs: %w", err)
		}
		if seen[u] {
			return fmt.Errorf("centralServer.configurationURLs: duplicate %q", u)
		}
		seen[u] = true
	}
	for i, der := range d.CentralServer.ManagementTLSCertificates {
		if _, err := x509.ParseCertificate(der); err != nil {
			return fmt.Errorf("centralServer.managementTLSCertificates[%d]: %w", i, err)
		}
	}
	return nil
}

func (d *Document) validateSettings() error {
	s := d.Settings
	for _, f := range []struct {
		name string
		v    int64
		min  int64
	}{
		{"ocspFreshnessSeconds", s.OCSPFreshnessSeconds, 1},
		{"timestampingIntervalSeconds", s.TimestampingIntervalSeconds, 1},
		{"configurationLifetimeSeconds", s.ConfigurationLifetimeSeconds, 1},
		{"refreshIntervalSeconds", s.RefreshIntervalSeconds, 1},
		{"maxClockSkewSeconds", s.MaxClockSkewSeconds, 0},
	} {
		if f.v < f.min || f.v > maxSettingSeconds {
			return fmt.Errorf("settings.%s: %d out of range [%d, %d]", f.name, f.v, f.min, maxSettingSeconds)
		}
	}
	if s.RefreshIntervalSeconds >= s.ConfigurationLifetimeSeconds {
		return fmt.Errorf("settings.refreshIntervalSeconds (%d) must be shorter than configurationLifetimeSeconds (%d)",
			s.RefreshIntervalSeconds, s.ConfigurationLifetimeSeconds)
	}
	return nil
}

// validateMembers checks member classes, members and subsystems and returns
// the set of registered clients (members and subsystems).
func (d *Document) validateMembers() (map[xroad.ClientID]bool, error) {
	classes := make(map[string]bool)
	for _, c := range d.MemberClasses {
		if err := xroad.ValidatePart(c.Code); err != nil {
			return nil, fmt.Errorf("memberClasses: %w", err)
		}
		if classes[c.Code] {
			return nil, fmt.Errorf("memberClasses: duplicate %q", c.Code)
		}
		classes[c.Code] = true
	}
	clients := make(map[xroad.ClientID]bool)
	for _, m := range d.Members {
		id := xroad.MemberID{Instance: d.Instance, Class: m.Class, Code: m.Code}
		if err := id.Validate(); err != nil {
			return nil, fmt.Errorf("members: %w", err)
		}
		if !classes[m.Class] {
			return nil, fmt.Errorf("members: %s: member class %q is not listed", id, m.Class)
		}
		if m.Name == "" {
			return nil, fmt.Errorf("members: %s: name is required", id)
		}
		if clients[id.Client()] {
			return nil, fmt.Errorf("members: duplicate %s", id)
		}
		clients[id.Client()] = true
		for _, s := range m.Subsystems {
			sub := id.Subsystem(s.Code)
			if err := sub.Validate(); err != nil {
				return nil, fmt.Errorf("members: %s subsystems: %w", id, err)
			}
			if clients[sub] {
				return nil, fmt.Errorf("members: duplicate subsystem %s", sub)
			}
			clients[sub] = true
		}
	}
	return clients, nil
}

// validateServers checks the security servers and returns their owners.
func (d *Document) validateServers(clients map[xroad.ClientID]bool) (map[xroad.ClientID]bool, error) {
	servers := make(map[xroad.ServerID]bool)
	hashes := make(map[string]xroad.ServerID)
	owners := make(map[xroad.ClientID]bool)
	for _, s := range d.SecurityServers {
		id, err := s.ID()
		if err != nil {
			return nil, fmt.Errorf("securityServers: %w", err)
		}
		if id.Owner.Instance != d.Instance {
			return nil, fmt.Errorf("securityServers: %s: owner of another instance", id)
		}
		if !clients[id.Owner.Client()] {
			return nil, fmt.Errorf("securityServers: %s: owner %s is not a registered member", id, id.Owner)
		}
		if servers[id] {
			return nil, fmt.Errorf("securityServers: duplicate %s", id)
		}
		servers[id] = true
		owners[id.Owner.Client()] = true
		if len(s.Addresses) == 0 {
			return nil, fmt.Errorf("securityServers: %s: at least one address is required", id)
		}
		if err := checkUnique(s.Addresses, validateAddress); err != nil {
			return nil, fmt.Errorf("securityServers: %s addresses: %w", id, err)
		}
		if err := checkUnique(s.AuthCertHashes, validateHash); err != nil {
			return nil, fmt.Errorf("securityServers: %s authCertHashes: %w", id, err)
		}
		for _, h := range s.AuthCertHashes {
			if other, dup := hashes[h]; dup {
				return nil, fmt.Errorf("securityServers: authentication certificate %s registered for both %s and %s", h, other, id)
			}
			hashes[h] = id
		}
		if err := d.checkClients(s.Clients, clients); err != nil {
			return nil, fmt.Errorf("securityServers: %s clients: %w", id, err)
		}
	}
	return owners, nil
}

func (d *Document) validateGroups(clients, owners map[xroad.ClientID]bool) error {
	codes := make(map[string]bool)
	for _, g := range d.GlobalGroups {
		if err := xroad.ValidatePart(g.Code); err != nil {
			return fmt.Errorf("globalGroups: %w", err)
		}
		if codes[g.Code] {
			return fmt.Errorf("globalGroups: duplicate %q", g.Code)
		}
		codes[g.Code] = true
		if err := d.checkClients(g.Members, clients); err != nil {
			return fmt.Errorf("globalGroups: %s members: %w", g.Code, err)
		}
		if g.Code == xroad.SecurityServerOwners {
			if len(g.Members) != len(owners) {
				return fmt.Errorf("globalGroups: %s must list exactly the %d security server owners", g.Code, len(owners))
			}
			for _, m := range g.Members {
				c, _ := xroad.ParseClient(m) // checked by checkClients
				if !owners[c] {
					return fmt.Errorf("globalGroups: %s lists %s, which owns no security server", g.Code, m)
				}
			}
		}
	}
	return nil
}

// checkClients checks a list of client ids in header form: well formed, of
// this instance, registered, no duplicates.
func (d *Document) checkClients(list []string, clients map[xroad.ClientID]bool) error {
	seen := make(map[xroad.ClientID]bool, len(list))
	for _, s := range list {
		c, err := xroad.ParseClient(s)
		if err != nil {
			return err
		}
		if c.Instance != d.Instance {
			return fmt.Errorf("%s belongs to another instance", s)
		}
		if !clients[c] {
			return fmt.Errorf("%s is not registered", s)
		}
		if seen[c] {
			return fmt.Errorf("duplicate %s", s)
		}
		seen[c] = true
	}
	return nil
}

func (d *Document) validateCAs() error {
	names := make(map[string]bool)
	for _, ca := range d.ApprovedCAs {
		if ca.Name == "" {
			return fmt.Errorf("approvedCAs: name is required")
		}
		if names[ca.Name] {
			return fmt.Errorf("approvedCAs: duplicate %q", ca.Name)
		}
		names[ca.Name] = true
		if ca.Profile == "" {
			return fmt.Errorf("approvedCAs: %s: profile is required", ca.Name)
		}
		if len(ca.Certificates) == 0 {
			return fmt.Errorf("approvedCAs: %s: at least one certificate is required", ca.Name)
		}
		for _, list := range []struct {
			name string
			ders [][]byte
		}{{"certificates", ca.Certificates}, {"intermediates", ca.Intermediates}} {
			seen := make(map[string]bool)
			for i, der := range list.ders {
				if seen[string(der)] {
					return fmt.Errorf("approvedCAs: %s %s: duplicate certificate", ca.Name, list.name)
				}
				seen[string(der)] = true
				if _, err := parseCACert(der); err != nil {
					return fmt.Errorf("approvedCAs: %s %s[%d]: %w", ca.Name, list.name, i, err)
				}
			}
		}
		urls := make(map[string]bool)
		for _, r := range ca.OCSPResponders {
			if err := validateHTTPURL(r.URL); err != nil {
				return fmt.Errorf("approvedCAs: %s ocspResponders: %w", ca.Name, err)
			}
			if urls[r.URL] {
				return fmt.Errorf("approvedCAs: %s ocspResponders: duplicate %q", ca.Name, r.URL)
			}
			urls[r.URL] = true
			if len(r.Certificate) > 0 {
				if _, err := x509.ParseCertificate(r.Certificate); err != nil {
					return fmt.Errorf("approvedCAs: %s ocspResponders %s: certificate: %w", ca.Name, r.URL, err)
				}
			}
		}
	}
	return nil
}

func (d *Document) validateTSAs() error {
	names := make(map[string]bool)
	for _, t := range d.ApprovedTSAs {
		if t.Name == "" {
			return fmt.Errorf("approvedTSAs: name is required")
		}
		if names[t.Name] {
			return fmt.Errorf("approvedTSAs: duplicate %q", t.Name)
		}
		names[t.Name] = true
		if err := validateHTTPURL(t.URL); err != nil {
			return fmt.Errorf("approvedTSAs: %s: %w", t.Name, err)
		}
		if _, err := x509.ParseCertificate(t.Certificate); err != nil {
			return fmt.Errorf("approvedTSAs: %s: certificate: %w", t.Name, err)
		}
	}
	return nil
}

func parseCACert(der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if !c.BasicConstraintsValid || !c.IsCA {
		return nil, fmt.Errorf("certificate %q is not a CA certificate", c.Subject)
	}
	return c, nil
}

func checkUnique(list []string, check func(string) error) error {
	seen := make(map[string]bool, len(list))
	for _, s := range list {
		if err := check(s); err != nil {
			return err
		}
		if seen[s] {
			return fmt.Errorf("duplicate %q", s)
		}
		seen[s] = true
	}
	return nil
}

// validateHash accepts exactly 64 lower-case hex digits (a SHA-256 digest).
func validateHash(h string) error {
	if len(h) != 64 {
		return fmt.Errorf("hash %q: want 64 hex digits", h)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("hash %q: want lower-case hex digits", h)
		}
	}
	return nil
}

func validateAddress(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("address %q: %w", a, err)
	}
	if host == "" {
		return fmt.Errorf("address %q: empty host", a)
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c <= ' ' || c >= 0x7f || c == '/' {
			return fmt.Errorf("address %q: bad character in host", a)
		}
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
		return fmt.Errorf("address %q: port must be 1..65535", a)
	}
	return nil
}

func validateHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("URL %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("URL %q: want an absolute http or https URL without user info or fragment", s)
	}
	return nil
}

// AuthCertHash returns the value AuthCertHashes holds for an authentication
// certificate: the lower-case hex SHA-256 digest of its DER encoding.
func AuthCertHash(cert *x509.Certificate) string {
	return hex.EncodeToString(sha256Sum(cert.Raw))
}
