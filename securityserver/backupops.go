package securityserver

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/securityserver/backup"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/opmon"
)

// BackupOptions configures Backup.
type BackupOptions struct {
	// ConfigPath is the file cfg was loaded from; it must be ss.yaml in
	// the security server directory, as `jisr ss init` lays it out.
	ConfigPath string
	// Recipient, when set, is the public key the backup is encrypted to.
	Recipient crypto.PublicKey
	// TempDir is where the contents are staged (default os.TempDir()).
	TempDir string
	// Clock dates the backup (default: the system clock).
	Clock clock.Clock
}

// Backup writes a signed backup of the security server to w: its whole
// directory (configuration, anchor, key store, certificates, message-log
// body key, admin API key, last good global configuration, archives) but
// the spool and BackupSecrets, with consistent copies of its SQLite
// databases, or a dump of its tables in PostgreSQL. The manifest is signed with the owner's sign key. The
// server may be running.
func Backup(ctx context.Context, cfg *Config, w io.Writer, o BackupOptions) (*backup.Manifest, error) {
	if err := checkLayout(cfg, o.ConfigPath); err != nil {
		return nil, fmt.Errorf("ss backup: %w", err)
	}
	st, err := keys.Open(cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("ss backup: %w", err)
	}
	defer st.Close()
	owner := cfg.ID().Owner
	key, err := st.Signer(ctx, signLabel(owner))
	if err != nil {
		return nil, fmt.Errorf("ss backup: the owner's sign key: %w", err)
	}
	chain, err := readChain(cfg.signCertPath(owner))
	if err != nil {
		return nil, fmt.Errorf("ss backup: the owner's sign certificate (run `jisr ss enrol`): %w", err)
	}
	plan := backup.Plan{Server: cfg.ID(), Dir: cfg.Dir, Exclude: append([]string{SpoolDir}, BackupSecrets(cfg)...), Schemas: backupSchemas()}
	if cfg.Database.Driver == "postgres" {
		if plan.PostgresDSN, err = readDSN(cfg.Database); err != nil {
			return nil, fmt.Errorf("ss backup: %w", err)
		}
	}
	m, err := backup.Write(ctx, w, plan, backup.WriteOptions{Signer: backup.Signer{Key: key, Chain: chain},
		Recipient: o.Recipient, Clock: o.Clock, TempDir: o.TempDir})
	if err != nil {
		return nil, fmt.Errorf("ss backup: %w", err)
	}
	return m, nil
}

// BackupSecrets returns the secret files the configuration names that lie
// inside the security server directory (relative to it): the key-store
// passphrase or PKCS#11 PIN file and the PostgreSQL DSN file. A backup
// leaves them out, so that it never carries the passphrase of the keys it
// holds encrypted; they must be put back by hand after a restore.
func BackupSecrets(cfg *Config) []string {
	var out []string
	for _, p := range []string{cfg.Keys.PassphraseFile, cfg.Keys.PKCS11.PINFile, cfg.Database.DSNFile} {
		if p == "" {
			continue
		}
		if rel, err := filepath.Rel(cfg.Dir, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			out = append(out, filepath.ToSlash(rel))
		}
	}
	return out
}

// backupSchemas are the security server's tables in a PostgreSQL database
// it may share with other components: its local configuration, message log
// and operational monitoring records.
func backupSchemas() []backup.Schema {
	return []backup.Schema{
		{Prefix: "ss_", MigrationTable: conf.MigrationTable, Migrations: conf.Migrations()},
		{Prefix: "msglog_", MigrationTable: msglog.MigrationTable, Migrations: msglog.Migrations()},
		{Prefix: "opmon_", MigrationTable: opmon.MigrationTable, Migrations: opmon.Migrations()},
	}
}

// checkLayout checks that everything a backup must hold lives in the
// security server directory: the configuration file, the anchor and a
// software key store.
func checkLayout(cfg *Config, configPath string) error {
	abs, err := filepath.Abs(configPath)
	if err != nil {
		return err
	}
	if abs != filepath.Join(cfg.Dir, ConfigFile) {
		return fmt.Errorf("the configuration %s is not %s in the security server directory %s", abs, ConfigFile, cfg.Dir)
	}
	inside := func(what, p string) error {
		rel, err := filepath.Rel(cfg.Dir, p)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return fmt.Errorf("the %s %s is outside the security server directory %s, so a backup would not hold it", what, p, cfg.Dir)
		}
		return nil
	}
	if err := inside("anchor", cfg.Anchor); err != nil {
		return err
	}
	if cfg.Keys.Type == "" || cfg.Keys.Type == keys.TypeSoftware {
		if err := inside("key store", cfg.Keys.Dir); err != nil {
			return err
		}
	}
	return nil
}

// RestoreOptions configures Restore.
type RestoreOptions struct {
	// Dir is the security server directory to restore into (it may be
	// missing; its parent must exist). It may be empty with VerifyOnly.
	Dir string
	// ServerID is the server the backup must be of. When zero, the server
	// Dir's configuration names; one of the two is required, and if both
	// are there they must agree.
	ServerID xroad.ServerID
	// Trust holds the roots the backup's signer must chain to (see
	// TrustFromPEM and TrustFromAnchor).
	Trust backup.Trust
	// DecryptKey opens an encrypted backup.
	DecryptKey crypto.Signer
	// VerifyOnly checks the backup and changes nothing.
	VerifyOnly bool
	// Clock (default: the system clock).
	Clock clock.Clock
}

// Restore verifies a backup written by Backup and restores it into
// o.Dir (see backup.Restore): nothing changes unless the signature, the
// signer's chain to o.Trust, the server id and every file verify, and
// the restored ss.yaml names the same server and database driver as the
// manifest. The security server must be stopped.
func Restore(ctx context.Context, r io.Reader, o RestoreOptions) (*backup.Manifest, error) {
	var target string
	id := o.ServerID
	if o.Dir != "" {
		var err error
		if target, err = filepath.Abs(o.Dir); err != nil {
			return nil, err
		}
		if id, err = expectedServer(target, o.ServerID); err != nil {
			return nil, fmt.Errorf("ss restore: %w", err)
		}
	}
	m, err := backup.Restore(ctx, r, backup.RestoreOptions{Dir: target, Server: id, Trust: o.Trust, DecryptKey: o.DecryptKey,
		Clock: o.Clock, VerifyOnly: o.VerifyOnly, Schemas: backupSchemas(),
		Prepare: func(_ context.Context, staged string, m *backup.Manifest) (string, error) {
			return checkRestored(staged, target, m)
		}})
	if err != nil {
		return nil, fmt.Errorf("ss restore: %w", err)
	}
	return m, nil
}

// expectedServer returns the server a restore into dir must be of.
func expectedServer(dir string, given xroad.ServerID) (xroad.ServerID, error) {
	existing, err := LoadConfig(filepath.Join(dir, ConfigFile))
	switch {
	case err == nil && given != (xroad.ServerID{}) && existing.ID() != given:
		return xroad.ServerID{}, fmt.Errorf("%s holds security server %s, not %s", dir, existing.ID(), given)
	case err == nil:
		return existing.ID(), nil
	case given != (xroad.ServerID{}):
		return given, nil
	case errors.Is(err, fs.ErrNotExist):
		return xroad.ServerID{}, fmt.Errorf("%s holds no configuration: say which server the backup must be of", dir)
	default:
		return xroad.ServerID{}, fmt.Errorf("%s: %w; say which server the backup must be of", dir, err)
	}
}

// checkRestored loads the staged ss.yaml as it will be once it is at
// target and checks it against the manifest; it returns the PostgreSQL
// DSN for a PostgreSQL backup.
func checkRestored(staged, target string, m *backup.Manifest) (string, error) {
	b, err := os.ReadFile(filepath.Join(staged, ConfigFile))
	if err != nil {
		return "", fmt.Errorf("the backup holds no %s: %w", ConfigFile, err)
	}
	var cfg Config
	if err := config.DecodeOnly(b, &cfg); err != nil {
		return "", fmt.Errorf("%s: %w", ConfigFile, err)
	}
	cfg.Resolve(target)
	if err := cfg.Validate(); err != nil {
		return "", fmt.Errorf("%s: %w", ConfigFile, err)
	}
	if cfg.ID() != m.Server {
		return "", fmt.Errorf("%s names server %s, the manifest %s", ConfigFile, cfg.ID(), m.Server)
	}
	if cfg.Database.Driver != m.Database.Driver {
		return "", fmt.Errorf("%s uses database %s, the backup holds %s", ConfigFile, cfg.Database.Driver, m.Database.Driver)
	}
	if err := checkLayout(&cfg, filepath.Join(target, ConfigFile)); err != nil {
		return "", err
	}
	if cfg.Database.Driver != "postgres" {
		return "", nil
	}
	return readDSN(cfg.Database)
}

// TrustFromPEM returns a restore's trust from a PEM file of root
// certificates.
func TrustFromPEM(path string) (backup.Trust, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return backup.Trust{}, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return backup.Trust{}, fmt.Errorf("%s: no certificates", path)
	}
	return backup.Trust{Roots: pool}, nil
}

// TrustFromAnchor returns a restore's trust from the current global
// configuration: it downloads the configuration the anchor file names
// (verifying it against the anchor) and trusts its approved CAs.
func TrustFromAnchor(ctx context.Context, anchorPath string) (backup.Trust, error) {
	b, err := os.ReadFile(anchorPath)
	if err != nil {
		return backup.Trust{}, err
	}
	anchor, err := globalconf.ParseAnchor(b)
	if err != nil {
		return backup.Trust{}, fmt.Errorf("anchor %s: %w", anchorPath, err)
	}
	dir, err := os.MkdirTemp("", "jisr-restore-globalconf-")
	if err != nil {
		return backup.Trust{}, err
	}
	defer os.RemoveAll(dir)
	gc, err := globalconf.NewClient(globalconf.ClientConfig{Anchor: anchor, Dir: dir, HTTPClient: &http.Client{Timeout: 30 * time.Second}})
	if err != nil {
		return backup.Trust{}, err
	}
	if err := gc.Refresh(ctx); err != nil {
		return backup.Trust{}, fmt.Errorf("downloading the global configuration: %w", err)
	}
	doc, err := gc.Current()
	if err != nil {
		return backup.Trust{}, err
	}
	return backup.Trust{Roots: doc.ApprovedCAPool(), Intermediates: doc.IntermediatePool()}, nil
}
