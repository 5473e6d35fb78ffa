// Package securityserver runs a jisr security server: the node each member
// runs to exchange signed, access-controlled, logged messages with other
// members' security servers, speaking X-Road's REST protocol (r1) to its
// information systems.
//
// It wires the building blocks: the global configuration client
// (internal/globalconf), the server's identity and the SS↔SS trust layer
// (securityserver/peer), the signed message format (securityserver/message),
// the local configuration (securityserver/conf), the message log
// (securityserver/msglog) and the exchange core (securityserver/proxy); and it
// implements `jisr ss …`'s operations on a security server directory: init,
// enrolment, registration with the central server, clients, services and
// access rights.
package securityserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/ports"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// Layout of a security server directory.
const (
	ConfigFile      = "ss.yaml"
	AnchorFile      = "anchor.json"
	KeysDir         = "keys"
	CertsDir        = "certs"
	GlobalConfDir   = "globalconf"
	ConfDBFile      = "conf.db"
	LogDBFile       = "msglog.db"
	SpoolDir        = "spool"
	AuthKeyLabel    = "auth"
	AuthCertFile    = "auth.pem"
	ClientTLSCert   = "client-tls.pem"
	ClientTLSKey    = "client-tls.key"
	signLabelPrefix = "sign-"
	signCertPrefix  = "sign-"
	certFileSuffix  = ".pem"
	defaultRefresh  = 60 * time.Second
	defaultConfPoll = time.Second
	defaultMemLimit = 1 << 20
	defaultMaxBody  = 1 << 30
)

// Config is ss.yaml. Relative paths are relative to the file's directory.
type Config struct {
	// ServerID is this security server, header form "PS/GOV/MOI/ss1".
	ServerID string `yaml:"serverId"`
	// Dir is the security server directory (keys, certificates, databases).
	Dir string `yaml:"dir"`
	// Anchor is the configuration anchor file from the central server.
	Anchor string `yaml:"anchor"`
	// Keys is the key store of the auth and sign keys.
	Keys keys.Config `yaml:"keys"`
	// Database holds the local configuration and the message log.
	Database DatabaseConfig `yaml:"database"`
	// Listen are the listen addresses.
	Listen ListenConfig `yaml:"listen"`
	// Addresses are this server's public SS↔SS addresses ("host:port"), as
	// registered with the central server; the auth certificate names their
	// hosts.
	Addresses []string `yaml:"addresses"`
	// RefreshInterval is how often the global configuration is downloaded;
	// default 60s.
	RefreshInterval time.Duration `yaml:"refreshInterval,omitempty"`
	// MemoryLimit is how much of a body is kept in memory before it is
	// spooled to disk; default 1 MiB.
	MemoryLimit int64 `yaml:"memoryLimit,omitempty"`
	// MaxBodySize bounds request and response bodies; default 1 GiB.
	MaxBodySize int64 `yaml:"maxBodySize,omitempty"`
	// Opmon configures operational monitoring (docs/operations.md).
	Opmon OpmonConfig `yaml:"opmon,omitempty"`
	// Readiness configures the checks of /readyz.
	Readiness ReadinessConfig `yaml:"readiness,omitempty"`
	// MaxLoggedBody is the largest message body the message log stores
	// (encrypted); larger bodies are logged by digest and size. Default
	// 10 MiB (X-Road's), at most 64 MiB.
	MaxLoggedBody int64 `yaml:"maxLoggedBody,omitempty"`
	// Archive configures periodic message-log archives and retention.
	Archive ArchiveConfig `yaml:"archive,omitempty"`

	serverID xroad.ServerID
}

// OpmonConfig configures operational monitoring.
type OpmonConfig struct {
	// RetentionDays is how long records are kept; default 7.
	RetentionDays int `yaml:"retentionDays,omitempty"`
	// MonitoringClient, header form, may read every record through the
	// query API, as the owner may (X-Road's central monitoring client);
	// default none.
	MonitoringClient string `yaml:"monitoringClient,omitempty"`

	monitoringClient xroad.ClientID
}

// ReadinessConfig configures /readyz.
type ReadinessConfig struct {
	// CertificateExpiryDays: the server is not ready once one of its own
	// certificates expires within this many days; default 14.
	CertificateExpiryDays int `yaml:"certificateExpiryDays,omitempty"`
}

// DatabaseConfig selects the database of the local configuration and the
// message log.
type DatabaseConfig struct {
	// Driver is "sqlite" (default: conf.db and msglog.db in Dir) or
	// "postgres".
	Driver string `yaml:"driver"`
	// DSNFile / DSNEnv hold the PostgreSQL DSN (postgres only).
	DSNFile string `yaml:"dsnFile,omitempty"`
	DSNEnv  string `yaml:"dsnEnv,omitempty"`
}

// ListenConfig holds the listen addresses.
type ListenConfig struct {
	// ClientHTTP serves information systems over HTTP; default ":8080".
	ClientHTTP string `yaml:"clientHTTP,omitempty"`
	// ClientHTTPS serves information systems over HTTPS; default ":8443".
	ClientHTTPS string `yaml:"clientHTTPS,omitempty"`
	// Peer serves other security servers (mTLS); default ":5500".
	Peer string `yaml:"peer,omitempty"`
	// Admin serves /healthz and /metrics; default "127.0.0.1:4000".
	Admin string `yaml:"admin,omitempty"`
}

// LoadConfig reads ss.yaml strictly, resolves relative paths and validates.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	if err := config.DecodeOnly(b, &c); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	c.Resolve(base)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, nil
}

// Resolve makes relative paths absolute against base.
func (c *Config) Resolve(base string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	abs(&c.Dir)
	abs(&c.Anchor)
	abs(&c.Keys.Dir)
	abs(&c.Keys.PassphraseFile)
	abs(&c.Keys.PKCS11.PINFile)
	abs(&c.Database.DSNFile)
	abs(&c.Archive.Dir)
	abs(&c.Archive.EncryptTo)
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	id, err := xroad.ParseServer(c.ServerID)
	if err != nil {
		return fmt.Errorf("serverId: %w", err)
	}
	c.serverID = id
	if c.Dir == "" || c.Anchor == "" {
		return errors.New("dir and anchor are required")
	}
	if err := c.Keys.Validate(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	switch c.Database.Driver {
	case "", "sqlite":
		c.Database.Driver = "sqlite"
	case "postgres":
		if (c.Database.DSNFile == "") == (c.Database.DSNEnv == "") {
			return errors.New("database: postgres needs exactly one of dsnFile and dsnEnv")
		}
	default:
		return fmt.Errorf("database.driver %q: want sqlite or postgres", c.Database.Driver)
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Listen.ClientHTTP, ":"+strconv.Itoa(ports.SSClientHTTP))
	def(&c.Listen.ClientHTTPS, ":"+strconv.Itoa(ports.SSClientHTTPS))
	def(&c.Listen.Peer, ":"+strconv.Itoa(ports.SSPeer))
	def(&c.Listen.Admin, "127.0.0.1:"+strconv.Itoa(ports.SSAdmin))
	for name, a := range map[string]string{"clientHTTP": c.Listen.ClientHTTP, "clientHTTPS": c.Listen.ClientHTTPS, "peer": c.Listen.Peer, "admin": c.Listen.Admin} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("listen.%s: %w", name, err)
		}
	}
	if len(c.Addresses) == 0 {
		return errors.New("addresses: at least one public SS↔SS address is required")
	}
	for _, a := range c.Addresses {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("addresses: %q: %w", a, err)
		}
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = defaultRefresh
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = defaultMemLimit
	}
	if c.MaxBodySize == 0 {
		c.MaxBodySize = defaultMaxBody
	}
	if c.RefreshInterval < time.Second || c.MemoryLimit < 0 || c.MaxBodySize < 0 {
		return errors.New("refreshInterval must be ≥ 1s; memoryLimit and maxBodySize positive")
	}
	if err := c.validateMonitoring(); err != nil {
		return err
	}
	if c.MaxLoggedBody == 0 {
		c.MaxLoggedBody = msglog.DefaultMaxLoggedBody
	}
	if c.MaxLoggedBody < 0 || c.MaxLoggedBody > msglog.MaxBodySize {
		return fmt.Errorf("maxLoggedBody must be 1..%d bytes", msglog.MaxBodySize)
	}
	if err := c.Archive.validate(c.Dir); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// ID returns the parsed server ID (after Validate).
func (c *Config) ID() xroad.ServerID { return c.serverID }

// signLabel is the key-store label of a member's sign key.
func signLabel(m xroad.MemberID) string {
	return signLabelPrefix + labelPart(m.Class) + "-" + labelPart(m.Code)
}

// signCertPath is where a member's sign certificate chain is kept.
func (c *Config) signCertPath(m xroad.MemberID) string {
	return filepath.Join(c.Dir, CertsDir, signCertPrefix+labelPart(m.Class)+"-"+labelPart(m.Code)+certFileSuffix)
}

func (c *Config) authCertPath() string { return filepath.Join(c.Dir, CertsDir, AuthCertFile) }

// labelPart maps an identifier part onto the key-store label alphabet
// ([A-Za-z0-9._-]); other characters become '_' followed by their hex code,
// so distinct parts stay distinct.
func labelPart(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		ch := p[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '.', ch == '-':
			b.WriteByte(ch)
		default:
			fmt.Fprintf(&b, "_%02x", ch)
		}
	}
	return b.String()
}

// validateMonitoring checks the opmon and readiness sections and fills in
// their defaults.
func (c *Config) validateMonitoring() error {
	if c.Opmon.RetentionDays == 0 {
		c.Opmon.RetentionDays = defaultOpmonRetentionDays
	}
	if c.Opmon.RetentionDays < 1 {
		return errors.New("opmon.retentionDays must be at least 1")
	}
	if c.Opmon.MonitoringClient != "" {
		id, err := xroad.ParseClient(c.Opmon.MonitoringClient)
		if err != nil {
			return fmt.Errorf("opmon.monitoringClient: %w", err)
		}
		c.Opmon.monitoringClient = id
	}
	if c.Readiness.CertificateExpiryDays == 0 {
		c.Readiness.CertificateExpiryDays = defaultCertExpiryDays
	}
	if c.Readiness.CertificateExpiryDays < 0 {
		return errors.New("readiness.certificateExpiryDays must not be negative")
	}
	return nil
}
