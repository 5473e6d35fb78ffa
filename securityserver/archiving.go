package securityserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/securityserver/archive"
	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// ArchivesDir is the default directory of the periodic archives, in Dir.
const ArchivesDir = "archives"

// ArchiveConfig is the archive section of ss.yaml: X-Road's archiver.
// Every Interval the time-stamped part of the message log not yet archived
// is written to Dir as signed archive files chained to the previous one;
// then the archived records older than Retention are deleted from the log.
type ArchiveConfig struct {
	// Disabled turns periodic archiving (and so retention) off; `jisr ss
	// archive` still works on demand.
	Disabled bool `yaml:"disabled,omitempty"`
	// Dir receives the archives; default Dir/archives.
	Dir string `yaml:"dir,omitempty"`
	// Interval between archiving rounds; default 6h.
	Interval time.Duration `yaml:"interval,omitempty"`
	// Retention is how long archived records stay in the log; default
	// 720h (30 days). "-1s" keeps them forever.
	Retention time.Duration `yaml:"retention,omitempty"`
	// MaxRecords bounds one archive file; default 100000.
	MaxRecords int64 `yaml:"maxRecords,omitempty"`
	// EncryptTo is a PEM file with an auditor's ECDSA P-256 public key:
	// archives are then written encrypted to it (JWE), readable only with
	// the auditor's private key.
	EncryptTo string `yaml:"encryptTo,omitempty"`
}

func (a *ArchiveConfig) validate(dir string) error {
	if a.Dir == "" {
		a.Dir = filepath.Join(dir, ArchivesDir)
	}
	if a.Interval == 0 {
		a.Interval = archive.DefaultArchiveInterval
	}
	if a.Retention == 0 {
		a.Retention = archive.DefaultRetention
	}
	if a.MaxRecords == 0 {
		a.MaxRecords = archive.DefaultMaxRecords
	}
	if a.Interval < time.Second || a.MaxRecords < 0 {
		return errors.New("interval must be ≥ 1s and maxRecords positive")
	}
	return nil
}

// recipient reads the auditor's public key, nil when none is configured.
func (a *ArchiveConfig) recipient() (*ecdsa.PublicKey, error) {
	if a.EncryptTo == "" {
		return nil, nil
	}
	return ReadAuditorKey(a.EncryptTo)
}

// ReadAuditorKey reads an ECDSA P-256 public key (PEM "PUBLIC KEY") or the
// certificate holding one.
func ReadAuditorKey(path string) (*ecdsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auditor key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("auditor key %s: not PEM", path)
	}
	var pub any
	switch blk.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(blk.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(blk.Bytes); err == nil {
			pub = c.PublicKey
		}
	default:
		err = fmt.Errorf("PEM block %q, want PUBLIC KEY or CERTIFICATE", blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("auditor key %s: %w", path, err)
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("auditor key %s: not an ECDSA P-256 key", path)
	}
	return k, nil
}

// newArchiver builds the archiver of cfg over the message log l, signing
// manifests with what signer returns.
func newArchiver(cfg *Config, l *msglog.Log, clk clock.Clock, signer func(context.Context) (archive.ManifestSigner, error),
	reg prometheus.Registerer, log *slog.Logger) (*archive.Archiver, error) {
	rcpt, err := cfg.Archive.recipient()
	if err != nil {
		return nil, err
	}
	w := archive.WriteOptions{Server: cfg.ID(), Clock: clk}
	if rcpt != nil {
		w.Recipient = rcpt
	}
	return archive.NewArchiver(archive.ArchiverConfig{Dir: cfg.Archive.Dir, Source: l, Cleaner: l, Write: w, Signer: signer,
		Interval: cfg.Archive.Interval, Retention: cfg.Archive.Retention, MaxRecords: cfg.Archive.MaxRecords,
		Logger: log, Registerer: reg})
}

// ArchiveNow runs one archiving round into the configured directory, as
// the running server does every interval: it writes what is time-stamped
// and not yet archived, then applies retention. It may run beside `jisr ss
// serve`.
func ArchiveNow(ctx context.Context, cfg *Config) (archive.Round, error) {
	l, opts, closeAll, err := openForAudit(ctx, cfg)
	if err != nil {
		return archive.Round{}, fmt.Errorf("ss archive: %w", err)
	}
	defer closeAll()
	signer := func(context.Context) (archive.ManifestSigner, error) { return opts.Signer, nil }
	a, err := newArchiver(cfg, l, clock.System(), signer, nil, nil)
	if err != nil {
		return archive.Round{}, fmt.Errorf("ss archive: %w", err)
	}
	return a.RunOnce(ctx)
}

// identitySigner returns the manifest signer of the running server: the
// owner's sign key with its current certificate chain.
func (s *Service) identitySigner(context.Context) (archive.ManifestSigner, error) {
	key, chain, _, err := s.identity.SignMaterial(s.cfg.ID().Owner)
	if err != nil {
		return archive.ManifestSigner{}, err
	}
	return archive.ManifestSigner{Key: key, Chain: chain}, nil
}
