package pki

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/ports"
	"github.com/jisr-bus/jisr/pki/ca"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/pki/tsa"
)

// InitOptions configures Init.
type InitOptions struct {
	// Instance is the X-Road instance code, e.g. "PS".
	Instance string
	// Dir is the PKI directory to create. It must not hold a PKI already.
	Dir string
	// Keys is the key store for the PKI's own keys. When Keys.Type is
	// software and Keys.Dir is empty, <Dir>/keys is used.
	Keys keys.Config
	// CANames are the DNS names and IP addresses the CA API is reached at;
	// default localhost and 127.0.0.1.
	CANames []string
	// Template, if set, provides the listener and lifetime settings written
	// into pki.yaml (its Instance, Dir and Keys are ignored).
	Template *Config
	// Clock dates the certificates; clock.System() if nil.
	Clock clock.Clock
}

// InitResult says what Init created.
type InitResult struct {
	// ConfigPath is the pki.yaml written.
	ConfigPath string
	// Bundle holds the certificates created.
	Bundle *ca.Bundle
	// CentralKeyPath is the PEM public key of the central server's first
	// configuration-signing key; the private key is in <Dir>/central-keys.
	CentralKeyPath string
}

// Init creates a new instance PKI under opts.Dir: root and intermediate CA,
// OCSP responder and TSA certificates, the CA's TLS certificate, the
// enrolment-token key, the central server's configuration-signing key (in a
// separate key store, same passphrase source), the admin API token and a
// pki.yaml that `jisr pki serve` runs with.
func Init(ctx context.Context, opts InitOptions) (*InitResult, error) {
	if opts.Instance == "" || opts.Dir == "" {
		return nil, errors.New("pki init: instance and dir are required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err == nil {
		return nil, fmt.Errorf("pki init: %s already holds a PKI (%s exists)", dir, ConfigFile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	kc := opts.Keys
	if kc.Type == "" {
		kc.Type = keys.TypeSoftware
	}
	if kc.Type == keys.TypeSoftware && kc.Dir == "" {
		kc.Dir = filepath.Join(dir, KeysDir)
	}
	if err := kc.Validate(); err != nil {
		return nil, fmt.Errorf("pki init: keys: %w", err)
	}
	store, err := keys.Open(kc)
	if err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	defer store.Close()

	names := opts.CANames
	if len(names) == 0 {
		names = []string{"localhost", "127.0.0.1"}
	}
	bundle, err := ca.Init(ca.InitOptions{
		Instance: opts.Instance,
		Dir:      filepath.Join(dir, CertsDir),
		NewKey: func(label string) (crypto.Signer, error) {
			return store.Generate(ctx, label, keys.ECP256)
		},
		Clock:    opts.Clock,
		TLSNames: names,
	})
	if err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}

	// The central server's configuration-signing key: its own store, so the
	// operator can move it to the central server without the CA keys.
	centralPub, err := newCentralKey(ctx, kc, dir)
	if err != nil {
		return nil, fmt.Errorf("pki init: central configuration key: %w", err)
	}

	if err := os.WriteFile(filepath.Join(dir, AdminTokenFile), []byte(newSecret()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}

	cfg := Config{}
	if opts.Template != nil {
		cfg = *opts.Template
	}
	cfg.Instance, cfg.Dir, cfg.Keys = opts.Instance, ".", kc
	if kc.Type == keys.TypeSoftware {
		cfg.Keys.Dir = KeysDir
	}
	if cfg.CA.OCSPURL == "" {
		port := strconv.Itoa(ports.PKIOCSP)
		if cfg.OCSP.Listen != "" {
			if p := portOf(cfg.OCSP.Listen); p != "" {
				port = p
			}
		}
		cfg.CA.OCSPURL = "http://" + hostForURL(names[0]) + ":" + port + "/"
	}
	// Write the defaults out so the operator sees what runs.
	if cfg.CA.CertLifetime == 0 {
		cfg.CA.CertLifetime = 365 * 24 * time.Hour
	}
	if cfg.CA.TokenLifetime == 0 {
		cfg.CA.TokenLifetime = time.Hour
	}
	if cfg.OCSP.Validity == 0 {
		cfg.OCSP.Validity = time.Hour
	}
	if cfg.TSA.Policy == "" {
		cfg.TSA.Policy = tsa.DefaultPolicy().String()
	}
	check := cfg
	check.Resolve(dir)
	if err := check.Validate(); err != nil {
		return nil, fmt.Errorf("pki init: resulting configuration: %w", err)
	}
	path := filepath.Join(dir, ConfigFile)
	if err := config.Write(path, &cfg); err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	return &InitResult{ConfigPath: path, Bundle: bundle, CentralKeyPath: centralPub}, nil
}

func newCentralKey(ctx context.Context, kc keys.Config, dir string) (string, error) {
	ckc := kc
	if kc.Type == keys.TypeSoftware {
		ckc.Dir = filepath.Join(dir, CentralKeysDir)
	}
	cs, err := keys.Open(ckc)
	if err != nil {
		return "", err
	}
	defer cs.Close()
	signer, err := cs.Generate(ctx, CentralConfigKeyLabel, keys.ECP256)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, CertsDir, CentralConfigKeyLabel+".pub.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		return "", err
	}
	return path, nil
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
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}
