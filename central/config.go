package central

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/ports"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/keys"
)

// Database drivers accepted in DatabaseConfig.Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Defaults of Config.
const (
	// DefaultPublishInterval is how often a node checks whether the
	// configuration must be regenerated.
	DefaultPublishInterval = 30 * time.Second
	// DefaultMaxClockSkew is the documents' maxClockSkewSeconds.
	DefaultMaxClockSkew = 30 * time.Second
	// ConfigurationPath is where the configuration listener serves the
	// signed global configuration.
	ConfigurationPath = "/globalconf"
	// ManagementPath is the management-request endpoint's path
	// (internal/mgmtproto.Path; centralcmd's tests check they agree).
	ManagementPath = "/managementrequests"
)

// Config is the YAML configuration of `jisr central serve`. Relative paths
// are relative to the directory of the configuration file (see Resolve and
// LoadConfig). Secrets (the database DSN, the key store passphrase) are never
// in the file itself: it names a file or an environment variable.
type Config struct {
	// Instance is the X-Road instance code, e.g. "PS". It must match the
	// registry's instance code.
	Instance string `yaml:"instance"`
	// Database selects the registry database.
	Database DatabaseConfig `yaml:"database"`
	// Keys is the key store holding the configuration-signing keys.
	Keys keys.Config `yaml:"keys"`
	// ConfigurationKeys are the labels (in Keys) of the keys that sign the
	// global configuration, all at once: list two during a key rotation.
	// Each label is also the key's "kid" in documents and anchors.
	ConfigurationKeys []string `yaml:"configurationKeys"`
	// Listen holds the listen addresses of the three listeners.
	Listen ListenConfig `yaml:"listen"`
	// PublicURLs are the URLs security servers use to reach this central
	// server; they go into every document and into the anchor.
	PublicURLs PublicURLs `yaml:"publicURLs"`
	// Management configures the management-request listener's TLS.
	Management ManagementConfig `yaml:"management"`
	// AutoApprove makes the management-request processor approve requests
	// on receipt (test beds and demos; never in production).
	AutoApprove bool `yaml:"autoApprove,omitempty"`
	// Publishing configures configuration publishing.
	Publishing PublishingConfig `yaml:"publishing,omitempty"`
}

// DatabaseConfig selects the registry database.
type DatabaseConfig struct {
	// Driver is "sqlite" (default) or "postgres".
	Driver string `yaml:"driver"`
	// Path is the SQLite database file (sqlite only).
	Path string `yaml:"path,omitempty"`
	// DSNFile names a file holding the PostgreSQL DSN (postgres only;
	// exactly one of DSNFile and DSNEnv).
	DSNFile string `yaml:"dsnFile,omitempty"`
	// DSNEnv names an environment variable holding the PostgreSQL DSN.
	DSNEnv string `yaml:"dsnEnv,omitempty"`
}

// ListenConfig holds the listen addresses.
type ListenConfig struct {
	// Admin is the admin REST API, /metrics and /healthz; default
	// 127.0.0.1:4400. Keep it on loopback or a management network.
	Admin string `yaml:"admin,omitempty"`
	// Configuration serves the signed global configuration at /globalconf
	// (plain HTTP: the document is signed); default :4401.
	Configuration string `yaml:"configuration,omitempty"`
	// Management receives management requests from security servers
	// (TLS 1.3, client certificates); default :4402.
	Management string `yaml:"management,omitempty"`
}

// PublicURLs are the URLs written into documents and anchors.
type PublicURLs struct {
	// Configuration are the download URLs of the global configuration, in
	// order of preference (at least one); every central node's
	// configuration listener, each ending in /globalconf.
	Configuration []string `yaml:"configuration"`
	// Management is the base URL of the management endpoint, e.g.
	// https://central.example:4402; security servers send requests to
	// <management>/managementrequests (ManagementPath).
	Management string `yaml:"management"`
}

// ManagementConfig configures the management-request listener's TLS
// certificate. `central init` creates a self-signed one; the SHA-256 of each
// certificate listed goes into the document's
// centralServer.managementTLSCertificates, which security servers trust for it.
type ManagementConfig struct {
	// TLSCertFile is the PEM certificate chain the listener presents.
	TLSCertFile string `yaml:"tlsCertFile"`
	// TLSKeyFile is its PEM private key (mode 0600).
	TLSKeyFile string `yaml:"tlsKeyFile"`
	// ExtraTLSCertFiles are further PEM certificates whose hashes are
	// published too, so the listener's certificate can be replaced without
	// a flag day (publish the new one first, then switch).
	ExtraTLSCertFiles []string `yaml:"extraTLSCertFiles,omitempty"`
}

// PublishingConfig configures configuration publishing.
type PublishingConfig struct {
	// Interval is how often each node compares the registry version and
	// the latest document's age with what it would publish; default 30s.
	Interval time.Duration `yaml:"interval,omitempty"`
	// MaxClockSkew is the documents' maxClockSkewSeconds: how far in the
	// future a security server accepts generatedAt; default 30s.
	MaxClockSkew time.Duration `yaml:"maxClockSkew,omitempty"`
}

// LoadConfig reads a central.yaml strictly (unknown fields are an error),
// resolves relative paths against its directory, and validates it.
func LoadConfig(path string) (Config, error) {
	var cfg Config
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("central: config: %w", err)
	}
	if err := config.DecodeOnly(b, &cfg); err != nil {
		return cfg, fmt.Errorf("central: config %s: %w", path, err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return cfg, fmt.Errorf("central: config: %w", err)
	}
	cfg.Resolve(abs)
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("central: config %s: %w", path, err)
	}
	return cfg, nil
}

// Resolve makes relative paths in c relative to base (the directory of the
// configuration file).
func (c *Config) Resolve(base string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	abs(&c.Database.Path)
	abs(&c.Database.DSNFile)
	abs(&c.Keys.Dir)
	abs(&c.Keys.PassphraseFile)
	abs(&c.Keys.PKCS11.PINFile)
	abs(&c.Management.TLSCertFile)
	abs(&c.Management.TLSKeyFile)
	for i := range c.Management.ExtraTLSCertFiles {
		abs(&c.Management.ExtraTLSCertFiles[i])
	}
}

// Validate checks the configuration without touching files, the network
// or the environment, and fills in defaults.
func (c *Config) Validate() error {
	if err := xroad.ValidatePart(c.Instance); err != nil {
		return fmt.Errorf("instance: %w", err)
	}
	if err := c.Database.validate(); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if err := c.Keys.Validate(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if len(c.ConfigurationKeys) == 0 {
		return errors.New("configurationKeys: at least one key label is required")
	}
	seen := map[string]bool{}
	for _, l := range c.ConfigurationKeys {
		if err := keys.ValidateLabel(l); err != nil {
			return fmt.Errorf("configurationKeys: %w", err)
		}
		if seen[l] {
			return fmt.Errorf("configurationKeys: %q listed twice", l)
		}
		seen[l] = true
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Listen.Admin, "127.0.0.1:"+strconv.Itoa(ports.CentralAdmin))
	def(&c.Listen.Configuration, ":"+strconv.Itoa(ports.CentralConfig))
	def(&c.Listen.Management, ":"+strconv.Itoa(ports.CentralManagement))
	for name, addr := range map[string]string{"listen.admin": c.Listen.Admin, "listen.configuration": c.Listen.Configuration, "listen.management": c.Listen.Management} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(c.PublicURLs.Configuration) == 0 {
		return errors.New("publicURLs.configuration: at least one URL is required")
	}
	for _, u := range c.PublicURLs.Configuration {
		if err := checkHTTPURL(u); err != nil {
			return fmt.Errorf("publicURLs.configuration: %w", err)
		}
	}
	if err := checkHTTPURL(c.PublicURLs.Management); err != nil {
		return fmt.Errorf("publicURLs.management: %w", err)
	}
	if c.Management.TLSCertFile == "" || c.Management.TLSKeyFile == "" {
		return errors.New("management: tlsCertFile and tlsKeyFile are required")
	}
	if c.Publishing.Interval == 0 {
		c.Publishing.Interval = DefaultPublishInterval
	}
	if c.Publishing.Interval < time.Second {
		return errors.New("publishing.interval must be at least 1s")
	}
	if c.Publishing.MaxClockSkew == 0 {
		c.Publishing.MaxClockSkew = DefaultMaxClockSkew
	}
	if c.Publishing.MaxClockSkew < 0 || c.Publishing.MaxClockSkew > time.Hour || c.Publishing.MaxClockSkew%time.Second != 0 {
		return errors.New("publishing.maxClockSkew must be whole seconds between 0 and 1h")
	}
	return nil
}

func (d *DatabaseConfig) validate() error {
	switch d.Driver {
	case "", DriverSQLite:
		d.Driver = DriverSQLite
		if d.Path == "" {
			return errors.New("sqlite needs path")
		}
		if d.DSNFile != "" || d.DSNEnv != "" {
			return errors.New("dsnFile and dsnEnv apply to postgres only")
		}
	case DriverPostgres:
		if (d.DSNFile == "") == (d.DSNEnv == "") {
			return errors.New("postgres needs exactly one of dsnFile and dsnEnv")
		}
		if d.Path != "" {
			return errors.New("path applies to sqlite only")
		}
	default:
		return fmt.Errorf("unknown driver %q (want %q or %q)", d.Driver, DriverSQLite, DriverPostgres)
	}
	return nil
}

// dsn reads the PostgreSQL DSN from its file or environment variable.
func (d DatabaseConfig) dsn() (string, error) {
	if d.DSNFile != "" {
		b, err := os.ReadFile(d.DSNFile)
		if err != nil {
			return "", fmt.Errorf("database dsn: %w", err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("database dsn file %s is empty", d.DSNFile)
		}
		return s, nil
	}
	s := os.Getenv(d.DSNEnv)
	if s == "" {
		return "", fmt.Errorf("database dsn: environment variable %s is unset or empty", d.DSNEnv)
	}
	return s, nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}
