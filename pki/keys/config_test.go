package keys_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/jisr-bus/jisr/pki/keys"
)

func TestConfigYAML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want keys.Config
	}{
		{
			name: "software",
			yaml: "type: software\ndir: /var/lib/jisr/keys\npassphraseFile: /etc/jisr/keys.pass\n",
			want: keys.Config{Type: "software", Dir: "/var/lib/jisr/keys", PassphraseFile: "/etc/jisr/keys.pass"},
		},
		{
			name: "pkcs11",
			yaml: "type: pkcs11\npkcs11:\n  module: /usr/lib/softhsm/libsofthsm2.so\n  tokenLabel: jisr\n  pinEnv: JISR_HSM_PIN\n",
			want: keys.Config{Type: "pkcs11", PKCS11: keys.PKCS11Config{
				Module: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "jisr", PINEnv: "JISR_HSM_PIN",
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got keys.Config
			dec := yaml.NewDecoder(strings.NewReader(tt.yaml))
			dec.KnownFields(true)
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got != tt.want {
				t.Errorf("decoded %+v, want %+v", got, tt.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}

	// There is nowhere to put a secret inline.
	for _, inline := range []string{"passphrase: hunter2\n", "pkcs11:\n  pin: \"1234\"\n"} {
		dec := yaml.NewDecoder(strings.NewReader(inline))
		dec.KnownFields(true)
		var c keys.Config
		if err := dec.Decode(&c); err == nil {
			t.Errorf("inline secret %q was accepted", inline)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	sw := keys.Config{Dir: "/k", PassphraseEnv: "P"}
	hsm := keys.Config{Type: keys.TypePKCS11, PKCS11: keys.PKCS11Config{Module: "/m.so", TokenLabel: "t", PINFile: "/pin"}}
	with := func(c keys.Config, f func(*keys.Config)) keys.Config { f(&c); return c }
	tests := []struct {
		name string
		cfg  keys.Config
		ok   bool
	}{
		{"software default type", sw, true},
		{"software explicit type", with(sw, func(c *keys.Config) { c.Type = keys.TypeSoftware }), true},
		{"software passphrase file", with(sw, func(c *keys.Config) { c.PassphraseEnv, c.PassphraseFile = "", "/p" }), true},
		{"software without dir", with(sw, func(c *keys.Config) { c.Dir = "" }), false},
		{"software without passphrase", with(sw, func(c *keys.Config) { c.PassphraseEnv = "" }), false},
		{"software with two passphrase sources", with(sw, func(c *keys.Config) { c.PassphraseFile = "/p" }), false},
		{"software with pkcs11 settings", with(sw, func(c *keys.Config) { c.PKCS11.TokenLabel = "t" }), false},
		{"pkcs11", hsm, true},
		{"pkcs11 pin env", with(hsm, func(c *keys.Config) { c.PKCS11.PINFile, c.PKCS11.PINEnv = "", "PIN" }), true},
		{"pkcs11 without module", with(hsm, func(c *keys.Config) { c.PKCS11.Module = "" }), false},
		{"pkcs11 relative module", with(hsm, func(c *keys.Config) { c.PKCS11.Module = "libsofthsm2.so" }), false},
		{"pkcs11 without token", with(hsm, func(c *keys.Config) { c.PKCS11.TokenLabel = "" }), false},
		{"pkcs11 without pin", with(hsm, func(c *keys.Config) { c.PKCS11.PINFile = "" }), false},
		{"pkcs11 with two pin sources", with(hsm, func(c *keys.Config) { c.PKCS11.PINEnv = "PIN" }), false},
		{"pkcs11 with software settings", with(hsm, func(c *keys.Config) { c.Dir = "/k" }), false},
		{"unknown type", with(sw, func(c *keys.Config) { c.Type = "tpm" }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate: %v", err)
			}
			if !tt.ok && err == nil {
				t.Error("Validate accepted an invalid config")
			}
		})
	}
}

// TestOpenSoftware opens one directory through a passphrase file with a
// trailing newline and through an environment variable without one: both
// must yield the same passphrase, hence the same key.
func TestOpenSoftware(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte(testPassphrase+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JISR_TEST_KEYS_PASS", testPassphrase)
	ctx := t.Context()

	st, err := keys.Open(keys.Config{Dir: dir, PassphraseFile: passFile})
	if err != nil {
		t.Fatalf("Open (file): %v", err)
	}
	sig, err := st.Generate(ctx, "k", keys.ECP256)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = keys.Open(keys.Config{Type: keys.TypeSoftware, Dir: dir, PassphraseEnv: "JISR_TEST_KEYS_PASS"})
	if err != nil {
		t.Fatalf("Open (env): %v", err)
	}
	defer func() { _ = st.Close() }()
	loaded, err := st.Signer(ctx, "k")
	if err != nil {
		t.Fatalf("Signer: %v", err)
	}
	samePublic(t, sig, loaded)

	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JISR_TEST_KEYS_EMPTY", "")
	for _, tt := range []struct {
		name string
		cfg  keys.Config
	}{
		{"invalid config", keys.Config{Dir: dir}},
		{"missing passphrase file", keys.Config{Dir: dir, PassphraseFile: filepath.Join(t.TempDir(), "nope")}},
		{"empty passphrase file", keys.Config{Dir: dir, PassphraseFile: empty}},
		{"unset variable", keys.Config{Dir: dir, PassphraseEnv: "JISR_TEST_KEYS_UNSET"}},
		{"empty variable", keys.Config{Dir: dir, PassphraseEnv: "JISR_TEST_KEYS_EMPTY"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := keys.Open(tt.cfg)
			if err == nil {
				_ = st.Close()
				t.Fatal("Open succeeded")
			}
			if st != nil {
				t.Errorf("Open returned a non-nil Store %v with error %v", st, err)
			}
		})
	}
}

// TestOpenSecretNotLeaked makes loading fail with a passphrase read from a
// file and checks that the passphrase does not show up in the error.
func TestOpenSecretNotLeaked(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-value-that-must-not-leak"
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Not a key at all: the load error must still not quote the secret.
	if err := os.WriteFile(filepath.Join(dir, "k.key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := keys.Open(keys.Config{Dir: dir, PassphraseFile: passFile})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer func() { _ = st.Close() }()
	_, err = st.Signer(t.Context(), "k")
	if err == nil {
		t.Fatal("Signer accepted a garbage key file")
	}
	if errors.Is(err, keys.ErrNotFound) || strings.Contains(err.Error(), secret) {
		t.Errorf("unexpected error %q", err)
	}
}
