// Package pki runs an X-Road instance's trust services as one daemon: the CA
// (an embedded step-ca with jisr's certificate profiles, one-time enrolment
// tokens and ACME), the OCSP responder over the CA's records, and the RFC 3161
// time-stamping authority, plus a loopback admin API for the operator
// (enrolment tokens, the ACME allow-list, revocation), /healthz and
// Prometheus metrics.
//
// The pieces live in sub-packages (ca, ocsp, tsa, keys, profile, enrol); this
// package only configures and wires them. docs/pki.md describes the whole.
package pki

import (
	"crypto/rand"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/ports"
	"github.com/jisr-bus/jisr/pki/keys"
)

// Layout of the PKI directory.
const (
	// CertsDir (under Dir) holds the PEM certificates ca.Init writes.
	CertsDir = "certs"
	// DBDir holds the CA database (issued, revoked, used tokens, ACME state).
	DBDir = "db"
	// KeysDir is the default software key store of the PKI's own keys.
	KeysDir = "keys"
	// CentralKeysDir is a separate software key store holding the central
	// server's configuration-signing key, to be handed to the central server.
	CentralKeysDir = "central-keys"
	// TSASerialFile keeps the TSA's serial-number high-water mark.
	TSASerialFile = "tsa-serial"
	// AdminTokenFile holds the admin API bearer token (mode 0600).
	AdminTokenFile = "admin-token"
	// ConfigFile is the name pki init gives the configuration it writes.
	ConfigFile = "pki.yaml"
	// CentralConfigKeyLabel is the label of the central server's first
	// configuration-signing key, in CentralKeysDir.
	CentralConfigKeyLabel = "central-config-1"
)

// Config is the YAML configuration of `jisr pki serve`. Relative paths are
// relative to the directory of the configuration file (see Resolve).
type Config struct {
	// Instance is the X-Road instance code, e.g. "PS".
	Instance string `yaml:"instance"`
	// Dir is the PKI directory: certs/, db/, tsa-serial, admin-token.
	Dir string `yaml:"dir"`
	// Keys is the key store of the CA, OCSP, TSA and token keys.
	Keys keys.Config `yaml:"keys"`
	// CA configures the CA API (HTTPS, including ACME).
	CA CAConfig `yaml:"ca"`
	// OCSP configures the OCSP responder (HTTP).
	OCSP OCSPConfig `yaml:"ocsp"`
	// TSA configures the time-stamping authority (HTTP).
	TSA TSAConfig `yaml:"tsa"`
	// Admin configures the operator API, /healthz and /metrics.
	Admin AdminConfig `yaml:"admin"`
}

// CAConfig configures the CA API.
type CAConfig struct {
	// Listen is the HTTPS listen address; default ":4443".
	Listen string `yaml:"listen,omitempty"`
	// CertLifetime is the validity of issued auth and sign certificates;
	// default 8760h (one year).
	CertLifetime time.Duration `yaml:"certLifetime,omitempty"`
	// TokenLifetime is the default validity of one-time enrolment tokens;
	// default 1h.
	TokenLifetime time.Duration `yaml:"tokenLifetime,omitempty"`
	// OCSPURL is written into issued certificates' Authority Information
	// Access; default http://<first CA name>:<OCSP port>/.
	OCSPURL string `yaml:"ocspURL,omitempty"`
	// ChallengePort, if set, is the port ACME http-01 validation connects to
	// instead of 80 (for test beds and demos without privileged ports).
	ChallengePort int `yaml:"challengePort,omitempty"`
}

// OCSPConfig configures the OCSP responder.
type OCSPConfig struct {
	// Listen is the HTTP listen address; default ":4480".
	Listen string `yaml:"listen,omitempty"`
	// Validity is nextUpdate − thisUpdate of every response; default 1h.
	Validity time.Duration `yaml:"validity,omitempty"`
	// CacheFor is how long a signed answer is reused; default Validity/4.
	CacheFor time.Duration `yaml:"cacheFor,omitempty"`
}

// TSAConfig configures the time-stamping authority.
type TSAConfig struct {
	// Listen is the HTTP listen address; default ":4318".
	Listen string `yaml:"listen,omitempty"`
	// Policy is the TSA policy OID in dotted form; default the placeholder
	// tsa.DefaultPolicy (replace it with the instance's registered OID).
	Policy string `yaml:"policy,omitempty"`
	// Accuracy claimed in tokens; default 1s.
	Accuracy time.Duration `yaml:"accuracy,omitempty"`
}

// AdminConfig configures the operator API.
type AdminConfig struct {
	// Listen is the HTTP listen address; default "127.0.0.1:4490". It must
	// stay on loopback or a management network: it issues tokens.
	Listen string `yaml:"listen,omitempty"`
	// TokenFile holds the bearer token; default <dir>/admin-token.
	TokenFile string `yaml:"tokenFile,omitempty"`
}

// Validate checks the configuration and fills in defaults.
func (c *Config) Validate() error {
	if c.Instance == "" {
		return errors.New("instance is required")
	}
	if c.Dir == "" {
		return errors.New("dir is required")
	}
	if err := c.Keys.Validate(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.CA.Listen, ":"+strconv.Itoa(ports.PKICA))
	def(&c.OCSP.Listen, ":"+strconv.Itoa(ports.PKIOCSP))
	def(&c.TSA.Listen, ":"+strconv.Itoa(ports.PKITSA))
	def(&c.Admin.Listen, "127.0.0.1:"+strconv.Itoa(ports.PKIAdmin))
	def(&c.Admin.TokenFile, filepath.Join(c.Dir, AdminTokenFile))
	for name, addr := range map[string]string{"ca.listen": c.CA.Listen, "ocsp.listen": c.OCSP.Listen, "tsa.listen": c.TSA.Listen, "admin.listen": c.Admin.Listen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if c.CA.CertLifetime == 0 {
		c.CA.CertLifetime = 365 * 24 * time.Hour
	}
	if c.CA.TokenLifetime == 0 {
		c.CA.TokenLifetime = time.Hour
	}
	if c.CA.CertLifetime < time.Hour || c.CA.TokenLifetime < time.Minute {
		return errors.New("ca.certLifetime must be ≥ 1h and ca.tokenLifetime ≥ 1m")
	}
	if c.OCSP.Validity == 0 {
		c.OCSP.Validity = time.Hour
	}
	if c.OCSP.Validity < time.Minute {
		return errors.New("ocsp.validity must be at least 1m")
	}
	if c.OCSP.CacheFor >= c.OCSP.Validity {
		return errors.New("ocsp.cacheFor must be shorter than ocsp.validity")
	}
	if c.TSA.Policy != "" {
		if _, err := ParseOID(c.TSA.Policy); err != nil {
			return fmt.Errorf("tsa.policy: %w", err)
		}
	}
	if c.TSA.Accuracy != 0 && c.TSA.Accuracy < time.Second {
		return errors.New("tsa.accuracy must be at least 1s")
	}
	if c.CA.ChallengePort < 0 || c.CA.ChallengePort > 65535 {
		return errors.New("ca.challengePort out of range")
	}
	return nil
}

// Resolve makes relative paths in c relative to base (the directory of the
// configuration file).
func (c *Config) Resolve(base string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	abs(&c.Dir)
	abs(&c.Keys.Dir)
	abs(&c.Keys.PassphraseFile)
	abs(&c.Keys.PKCS11.PINFile)
	abs(&c.Admin.TokenFile)
}

// ParseOID parses a dotted object identifier such as "1.3.6.1.4.1.59999.1.1".
func ParseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("OID %q: want at least two arcs", s)
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("OID %q: bad arc %q", s, p)
		}
		oid[i] = n
	}
	if oid[0] > 2 || (oid[0] < 2 && oid[1] > 39) {
		return nil, fmt.Errorf("OID %q: invalid first arcs", s)
	}
	return oid, nil
}

// newSecret returns 32 random bytes, base64url-encoded.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// readSecretFile reads a one-line secret file, refusing files readable by
// group or others.
func readSecretFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s: permissions %v are too open (want 0600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
