package keys

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Store types accepted in Config.Type.
const (
	TypeSoftware = "software"
	TypePKCS11   = "pkcs11"
)

// ErrPKCS11Unsupported is returned (wrapped) by Open for a "pkcs11" store when
// the binary was built without PKCS#11 support. Build with `-tags pkcs11`
// (and cgo) to enable it.
var ErrPKCS11Unsupported = errors.New("keys: this binary was built without PKCS#11 support (rebuild with -tags pkcs11)")

// Config selects and configures a Store. It is meant to be embedded in a
// component's YAML configuration, for example
//
//	keys:
//	  type: software
//	  dir: /var/lib/jisr/keys
//	  passphraseFile: /etc/jisr/keys.pass
//
// or
//
//	keys:
//	  type: pkcs11
//	  pkcs11:
//	    module: /usr/lib/softhsm/libsofthsm2.so
//	    tokenLabel: jisr
//	    pinEnv: JISR_HSM_PIN
//
// Secrets (the passphrase, the PIN) never live in the configuration itself:
// it names a file or an environment variable that holds them.
type Config struct {
	// Type is TypeSoftware ("software", the default when empty) or
	// TypePKCS11 ("pkcs11").
	Type string `yaml:"type"`

	// Dir is the software store's directory, created with mode 0700 if
	// missing. Software stores only.
	Dir string `yaml:"dir"`

	// PassphraseFile names a file holding the software store's passphrase;
	// trailing newlines are ignored. Exactly one of PassphraseFile and
	// PassphraseEnv must be set for a software store.
	PassphraseFile string `yaml:"passphraseFile,omitempty"`

	// PassphraseEnv names an environment variable holding the software
	// store's passphrase.
	PassphraseEnv string `yaml:"passphraseEnv,omitempty"`

	// PKCS11 configures a PKCS#11 store. PKCS#11 stores only.
	PKCS11 PKCS11Config `yaml:"pkcs11,omitempty"`
}

// PKCS11Config configures a PKCS#11 store (an HSM or SoftHSM2 token).
type PKCS11Config struct {
	// Module is the absolute path of the vendor's PKCS#11 library, e.g.
	// /usr/lib/softhsm/libsofthsm2.so.
	Module string `yaml:"module,omitempty"`

	// TokenLabel selects the token (CKA_LABEL of the token, as shown by
	// `pkcs11-tool --list-slots`).
	TokenLabel string `yaml:"tokenLabel,omitempty"`

	// PINFile names a file holding the user PIN; trailing newlines are
	// ignored. Exactly one of PINFile and PINEnv must be set.
	PINFile string `yaml:"pinFile,omitempty"`

	// PINEnv names an environment variable holding the user PIN.
	PINEnv string `yaml:"pinEnv,omitempty"`
}

func (c PKCS11Config) isZero() bool { return c == PKCS11Config{} }

// Validate checks that c is complete and consistent, without touching the
// file system, the environment or a token.
func (c Config) Validate() error {
	switch c.Type {
	case "", TypeSoftware:
		if c.Dir == "" {
			return errors.New("keys: config: software store needs dir")
		}
		if err := oneSecretSource("passphraseFile", c.PassphraseFile, "passphraseEnv", c.PassphraseEnv); err != nil {
			return err
		}
		if !c.PKCS11.isZero() {
			return errors.New("keys: config: pkcs11 settings given for a software store (set type: pkcs11?)")
		}
	case TypePKCS11:
		p := c.PKCS11
		if p.Module == "" {
			return errors.New("keys: config: pkcs11 store needs pkcs11.module")
		}
		if !filepath.IsAbs(p.Module) {
			return fmt.Errorf("keys: config: pkcs11.module %q must be an absolute path", p.Module)
		}
		if p.TokenLabel == "" {
			return errors.New("keys: config: pkcs11 store needs pkcs11.tokenLabel")
		}
		if err := oneSecretSource("pkcs11.pinFile", p.PINFile, "pkcs11.pinEnv", p.PINEnv); err != nil {
			return err
		}
		if c.Dir != "" || c.PassphraseFile != "" || c.PassphraseEnv != "" {
			return errors.New("keys: config: dir and passphrase settings apply only to a software store")
		}
	default:
		return fmt.Errorf("keys: config: unknown store type %q (want %q or %q)", c.Type, TypeSoftware, TypePKCS11)
	}
	return nil
}

// Open validates cfg, reads its secret and opens the store it describes.
func Open(cfg Config) (Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Type == TypePKCS11 {
		p := cfg.PKCS11
		pin, err := readSecret("PIN", p.PINFile, p.PINEnv)
		if err != nil {
			return nil, err
		}
		defer clear(pin)
		return openPKCS11(p.Module, p.TokenLabel, pin)
	}
	pass, err := readSecret("passphrase", cfg.PassphraseFile, cfg.PassphraseEnv)
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	s, err := NewSoftware(cfg.Dir, pass)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// oneSecretSource checks that exactly one of a file and an environment
// variable is named.
func oneSecretSource(fileKey, file, envKey, env string) error {
	switch {
	case file == "" && env == "":
		return fmt.Errorf("keys: config: set one of %s and %s", fileKey, envKey)
	case file != "" && env != "":
		return fmt.Errorf("keys: config: set only one of %s and %s", fileKey, envKey)
	}
	return nil
}

// readSecret reads a secret from file (trailing CR and LF removed) or, if file
// is empty, from the environment variable env. what names the secret in
// errors; its value never appears in them.
func readSecret(what, file, env string) ([]byte, error) {
	var secret []byte
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("keys: read %s: %w", what, err)
		}
		secret = bytes.TrimRight(b, "\r\n")
		if len(secret) == 0 {
			return nil, fmt.Errorf("keys: %s file %s is empty", what, file)
		}
		return secret, nil
	}
	v, ok := os.LookupEnv(env)
	if !ok {
		return nil, fmt.Errorf("keys: %s: environment variable %s is not set", what, env)
	}
	if v == "" {
		return nil, fmt.Errorf("keys: %s: environment variable %s is empty", what, env)
	}
	return []byte(v), nil
}
