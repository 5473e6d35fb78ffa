package central

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/ports"
	"github.com/jisr-bus/jisr/internal/tlsutil"
	"github.com/jisr-bus/jisr/pki/keys"
)

// Layout of a central server directory created by Init.
const (
	// ConfigFile is the configuration Init writes.
	ConfigFile = "central.yaml"
	// DatabaseFile is the SQLite registry Init creates.
	DatabaseFile = "central.db"
	// KeysDir is the software key store Init creates when no PKI
	// directory is given.
	KeysDir = "keys"
	// AdminAPIKeyFile holds the first SYSTEM_ADMINISTRATOR API key's
	// secret (mode 0600).
	AdminAPIKeyFile = "admin-api-key"
	// ManagementCertFile and ManagementKeyFile are the management
	// listener's self-signed TLS certificate and its key.
	ManagementCertFile = "management-tls.pem"
	ManagementKeyFile  = "management-tls.key"
	// ConfigurationKeyLabel is the label of the first configuration key,
	// as `jisr pki init` names it in <pki-dir>/central-keys.
	ConfigurationKeyLabel = "central-config-1"
	// AdminKeyName is the name of the API key Init creates.
	AdminKeyName = "admin"
)

// InitOptions configures Init.
type InitOptions struct {
	// Instance is the X-Road instance code, e.g. "PS".
	Instance string
	// Dir is the directory to create the central server in; it must not
	// hold one already.
	Dir string
	// Names are the DNS names or IP addresses the central server is
	// reached at: they go into the management TLS certificate, and the
	// first into the default public URLs. Default localhost, 127.0.0.1.
	Names []string
	// Keys is the key store for the configuration key when PKIDir is
	// empty; a software store's Dir defaults to <Dir>/keys. Its
	// passphrase source must be set.
	Keys keys.Config
	// PKIDir, if set, is a directory made by `jisr pki init`: its root and
	// intermediate CA become an approved CA (with the OCSP URL from
	// pki.yaml), its TSA an approved TSA, and its central-keys store (same
	// passphrase source as pki.yaml's keys) with key central-config-1
	// becomes the configuration key store.
	PKIDir string
	// Database, if its Driver is "postgres", puts the registry in that
	// PostgreSQL database (DSN from DSNFile or DSNEnv) instead of a SQLite
	// file in Dir. Further central nodes share it: copy Dir to them.
	Database DatabaseConfig
	// MemberClasses are created in the registry; default GOV, COM, NGO.
	MemberClasses []registry.MemberClass
	// Template, if set, provides listen addresses, public URLs, publishing
	// and autoApprove for central.yaml (its instance, database, keys and
	// management files are ignored).
	Template *Config
	// Clock dates the certificate and the registry's first records;
	// clock.System() if nil.
	Clock clock.Clock
}

// InitResult says what Init created.
type InitResult struct {
	// ConfigPath is the central.yaml written.
	ConfigPath string
	// Config is its content, validated, with absolute paths.
	Config Config
	// AdminKeyPath holds the first API key's secret.
	AdminKeyPath string
	// ApprovedCA and ApprovedTSA name what was registered from PKIDir.
	ApprovedCA, ApprovedTSA string
}

// DefaultMemberClasses are the member classes Init creates by default.
func DefaultMemberClasses() []registry.MemberClass {
	return []registry.MemberClass{
		{Code: "GOV", Description: "Government institutions"},
		{Code: "COM", Description: "Commercial organisations"},
		{Code: "NGO", Description: "Non-governmental organisations"},
	}
}

// Init creates a central server under opts.Dir: central.yaml, the SQLite
// registry with the instance code and member classes, the configuration
// key (or the PKI's), the management listener's self-signed TLS
// certificate, and a first SYSTEM_ADMINISTRATOR API key in admin-api-key.
func Init(ctx context.Context, opts InitOptions) (*InitResult, error) {
	if opts.Instance == "" || opts.Dir == "" {
		return nil, errors.New("central init: instance and dir are required")
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.System()
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("central init: %w", err)
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	if _, err := os.Stat(cfgPath); err == nil {
		return nil, fmt.Errorf("central init: %s already holds a central server (%s exists)", dir, ConfigFile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("central init: %w", err)
	}
	names := opts.Names
	if len(names) == 0 {
		names = []string{"localhost", "127.0.0.1"}
	}

	cfg := Config{}
	if opts.Template != nil {
		cfg = *opts.Template
	}
	cfg.Instance = opts.Instance
	cfg.Database = DatabaseConfig{Driver: DriverSQLite, Path: DatabaseFile}
	if opts.Database.Driver == DriverPostgres {
		cfg.Database = opts.Database
	}
	cfg.Management = ManagementConfig{TLSCertFile: ManagementCertFile, TLSKeyFile: ManagementKeyFile}
	cfg.ConfigurationKeys = []string{ConfigurationKeyLabel}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&cfg.Listen.Admin, "127.0.0.1:"+strconv.Itoa(ports.CentralAdmin))
	def(&cfg.Listen.Configuration, ":"+strconv.Itoa(ports.CentralConfig))
	def(&cfg.Listen.Management, ":"+strconv.Itoa(ports.CentralManagement))
	host := hostForURL(names[0])
	if len(cfg.PublicURLs.Configuration) == 0 {
		cfg.PublicURLs.Configuration = []string{"http://" + host + ":" + portOf(cfg.Listen.Configuration) + ConfigurationPath}
	}
	def(&cfg.PublicURLs.Management, "https://"+host+":"+portOf(cfg.Listen.Management))
	if cfg.Publishing.Interval == 0 {
		cfg.Publishing.Interval = DefaultPublishInterval
	}
	if cfg.Publishing.MaxClockSkew == 0 {
		cfg.Publishing.MaxClockSkew = DefaultMaxClockSkew
	}

	var pkiInfo *pkiDir
	if opts.PKIDir != "" {
		if pkiInfo, err = readPKIDir(opts.PKIDir); err != nil {
			return nil, fmt.Errorf("central init: %w", err)
		}
		if pkiInfo.instance != opts.Instance {
			return nil, fmt.Errorf("central init: the PKI in %s is for instance %q, not %q", opts.PKIDir, pkiInfo.instance, opts.Instance)
		}
		cfg.Keys = pkiInfo.centralKeys
		if err := checkKey(ctx, cfg.Keys, ConfigurationKeyLabel); err != nil {
			return nil, fmt.Errorf("central init: PKI configuration key: %w", err)
		}
	} else {
		kc := opts.Keys
		if kc.Type == "" {
			kc.Type = keys.TypeSoftware
		}
		if kc.Type == keys.TypeSoftware && kc.Dir == "" {
			kc.Dir = KeysDir
		}
		cfg.Keys = kc
		abs := kc
		if abs.Type == keys.TypeSoftware && !filepath.IsAbs(abs.Dir) {
			abs.Dir = filepath.Join(dir, abs.Dir)
		}
		if err := newKey(ctx, abs, ConfigurationKeyLabel); err != nil {
			return nil, fmt.Errorf("central init: configuration key: %w", err)
		}
	}

	check := cfg
	check.Resolve(dir)
	if err := check.Validate(); err != nil {
		return nil, fmt.Errorf("central init: resulting configuration: %w", err)
	}
	if err := tlsutil.WriteSelfSigned(check.Management.TLSCertFile, check.Management.TLSKeyFile, names, clk.Now()); err != nil {
		return nil, fmt.Errorf("central init: management TLS certificate: %w", err)
	}

	st, err := OpenRegistry(ctx, check.Database, clk)
	if err != nil {
		return nil, fmt.Errorf("central init: %w", err)
	}
	defer st.Close()
	res := &InitResult{ConfigPath: cfgPath, Config: check, AdminKeyPath: filepath.Join(dir, AdminAPIKeyFile)}
	secret := NewAPIKeySecret()
	classes := opts.MemberClasses
	if classes == nil {
		classes = DefaultMemberClasses()
	}
	err = st.Update(ctx, func(tx registry.Tx) error {
		if err := tx.SetInstance(ctx, opts.Instance); err != nil {
			return err
		}
		for _, c := range classes {
			if err := tx.AddMemberClass(ctx, c); err != nil {
				return err
			}
		}
		if pkiInfo != nil {
			if err := tx.AddApprovedCA(ctx, pkiInfo.ca); err != nil {
				return err
			}
			if err := tx.AddApprovedTSA(ctx, pkiInfo.tsa); err != nil {
				return err
			}
			res.ApprovedCA, res.ApprovedTSA = pkiInfo.ca.Name, pkiInfo.tsa.Name
		}
		k, err := tx.CreateAPIKey(ctx, registry.APIKey{Name: AdminKeyName, Hash: registry.HashAPIKeySecret([]byte(secret)),
			Roles: []string{string(RoleSystemAdministrator)}})
		if err != nil {
			return err
		}
		detail, _ := json.Marshal(map[string]any{"memberClasses": len(classes), "apiKey": k.ID, "pkiDir": opts.PKIDir})
		_, err = tx.AppendAudit(ctx, registry.AuditEvent{Actor: "central-init", Action: "central.init", Target: opts.Instance,
			Detail: detail, Outcome: registry.OutcomeSuccess})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("central init: registry: %w", err)
	}
	if err := os.WriteFile(res.AdminKeyPath, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("central init: %w", err)
	}
	if err := config.Write(cfgPath, &cfg); err != nil {
		return nil, fmt.Errorf("central init: %w", err)
	}
	return res, nil
}

func newKey(ctx context.Context, kc keys.Config, label string) error {
	st, err := keys.Open(kc)
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.Generate(ctx, label, keys.ECP256)
	return err
}

func checkKey(ctx context.Context, kc keys.Config, label string) error {
	st, err := keys.Open(kc)
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.Signer(ctx, label)
	return err
}

// writeSelfSigned writes a self-signed ECDSA P-256 TLS certificate for
// names (DNS names or IP addresses), valid for two years from now.
// pkiDir is what Init takes from a `jisr pki init` directory.
type pkiDir struct {
	instance    string
	centralKeys keys.Config
	ca          registry.ApprovedCA
	tsa         registry.ApprovedTSA
}

// pkiYAML is the part of pki.yaml Init reads. It is decoded leniently:
// the file belongs to the PKI and may have fields this package ignores.
type pkiYAML struct {
	Instance string      `yaml:"instance"`
	Dir      string      `yaml:"dir"`
	Keys     keys.Config `yaml:"keys"`
	CA       struct {
		OCSPURL string `yaml:"ocspURL"`
	} `yaml:"ca"`
	TSA struct {
		Listen string `yaml:"listen"`
	} `yaml:"tsa"`
}

// Files of a PKI directory (see pki/ca).
const (
	pkiConfigFile       = "pki.yaml"
	pkiCertsDir         = "certs"
	pkiCentralKeysDir   = "central-keys"
	pkiRootFile         = "root-ca.pem"
	pkiIntermediateFile = "intermediate-ca.pem"
	pkiTSAFile          = "tsa.pem"
)

func readPKIDir(dir string) (*pkiDir, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, pkiConfigFile))
	if err != nil {
		return nil, fmt.Errorf("pki dir: %w", err)
	}
	var py pkiYAML
	if err := yaml.Unmarshal(b, &py); err != nil {
		return nil, fmt.Errorf("pki dir: %s: %w", pkiConfigFile, err)
	}
	abs := func(p string) string {
		if p != "" && !filepath.IsAbs(p) {
			return filepath.Join(dir, p)
		}
		return p
	}
	kc := py.Keys
	kc.PassphraseFile = abs(kc.PassphraseFile)
	kc.PKCS11.PINFile = abs(kc.PKCS11.PINFile)
	if kc.Type == "" || kc.Type == keys.TypeSoftware {
		kc.Dir = filepath.Join(dir, pkiCentralKeysDir)
	}
	out := &pkiDir{instance: py.Instance, centralKeys: kc}

	certs := filepath.Join(dir, pkiCertsDir)
	root, err := readPEMCerts(filepath.Join(certs, pkiRootFile))
	if err != nil {
		return nil, err
	}
	inter, err := readPEMCerts(filepath.Join(certs, pkiIntermediateFile))
	if err != nil {
		return nil, err
	}
	tsa, err := readPEMCerts(filepath.Join(certs, pkiTSAFile))
	if err != nil {
		return nil, err
	}
	if py.CA.OCSPURL == "" {
		return nil, fmt.Errorf("pki dir: %s has no ca.ocspURL", pkiConfigFile)
	}
	if err := checkHTTPURL(py.CA.OCSPURL); err != nil {
		return nil, fmt.Errorf("pki dir: ca.ocspURL: %w", err)
	}
	out.ca = registry.ApprovedCA{
		Name:           py.Instance + " instance CA",
		Roots:          root[:1],
		Intermediates:  inter[:1],
		OCSPResponders: []registry.OCSPResponder{{URL: py.CA.OCSPURL}},
		Profile:        DefaultProfile,
	}
	// The TSA is reached on the OCSP responder's host, at the TSA port.
	u, _ := url.Parse(py.CA.OCSPURL)
	tsaPort := portOf(py.TSA.Listen)
	if tsaPort == "" {
		tsaPort = strconv.Itoa(ports.PKITSA)
	}
	out.tsa = registry.ApprovedTSA{
		Name: py.Instance + " TSA",
		URL:  "http://" + net.JoinHostPort(u.Hostname(), tsaPort) + "/",
		Cert: tsa[0],
	}
	if err := checkCA(out.ca); err != nil {
		return nil, fmt.Errorf("pki dir: %w", err)
	}
	if err := checkTSA(out.tsa); err != nil {
		return nil, fmt.Errorf("pki dir: %w", err)
	}
	return out, nil
}

func readPEMCerts(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki dir: %w", err)
	}
	ders, err := parsePEMCertificates(filepath.Base(path), string(b))
	if err != nil {
		return nil, fmt.Errorf("pki dir: %w", err)
	}
	return ders, nil
}

// portOf returns the port of a listen address, or "".
func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return p
}

// hostForURL brackets IPv6 literals.
func hostForURL(h string) string {
	if ip := net.ParseIP(h); ip != nil && ip.To4() == nil {
		return "[" + h + "]"
	}
	return h
}
