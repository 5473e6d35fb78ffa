package central

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jisr-bus/jisr/pki/keys"
)

// fakePKIDir lays out what `jisr pki init` leaves behind and Init reads:
// pki.yaml, certs/{root-ca,intermediate-ca,tsa}.pem and the central-keys
// store holding central-config-1.
func fakePKIDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("pki-passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "instance: PS\ndir: .\nkeys:\n  type: software\n  dir: keys\n  passphraseFile: pass\n" +
		"ca:\n  ocspURL: http://pki.ps.example:4480/\n  certLifetime: 8760h\ntsa:\n  listen: :4318\nadmin:\n  listen: 127.0.0.1:4490\n"
	if err := os.WriteFile(filepath.Join(dir, "pki.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, ca := range map[string]bool{"root-ca.pem": true, "intermediate-ca.pem": true, "tsa.pem": false} {
		if err := os.WriteFile(filepath.Join(certs, name), []byte(pemCert(newCert(t, name, ca))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := keys.NewSoftware(filepath.Join(dir, "central-keys"), []byte("pki-passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Generate(t.Context(), ConfigurationKeyLabel, keys.ECP256); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInitWithPKIDir(t *testing.T) {
	pkiDir := fakePKIDir(t)
	res, err := Init(t.Context(), InitOptions{Instance: testInstance, Dir: filepath.Join(t.TempDir(), "c"), PKIDir: pkiDir})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	cfg, err := LoadConfig(res.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Keys.Dir != filepath.Join(pkiDir, "central-keys") || cfg.Keys.PassphraseFile != filepath.Join(pkiDir, "pass") {
		t.Errorf("keys %+v, want the PKI's central-keys with its passphrase file", cfg.Keys)
	}
	if _, err := ExportAnchor(t.Context(), cfg, t0); err != nil {
		t.Errorf("anchor from the PKI's key: %v", err)
	}
	st, err := OpenRegistry(t.Context(), cfg.Database, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cas, err := st.ApprovedCAs(t.Context())
	if err != nil || len(cas) != 1 || cas[0].OCSPResponders[0].URL != "http://pki.ps.example:4480/" || len(cas[0].Intermediates) != 1 {
		t.Errorf("approved CAs %+v %v", cas, err)
	}
	tsas, err := st.ApprovedTSAs(t.Context())
	if err != nil || len(tsas) != 1 || tsas[0].URL != "http://pki.ps.example:4318/" {
		t.Errorf("approved TSAs %+v %v", tsas, err)
	}
	classes, err := st.MemberClasses(t.Context())
	if err != nil || len(classes) != 3 {
		t.Errorf("member classes %+v %v", classes, err)
	}
	keys, err := st.APIKeys(t.Context())
	if err != nil || len(keys) != 1 || keys[0].Roles[0] != string(RoleSystemAdministrator) {
		t.Errorf("API keys %+v %v", keys, err)
	}
	if _, err := Init(t.Context(), InitOptions{Instance: testInstance, Dir: filepath.Dir(res.ConfigPath), PKIDir: pkiDir}); err == nil {
		t.Error("Init over an existing central server succeeded")
	}
	if _, err := Init(t.Context(), InitOptions{Instance: "XX", Dir: t.TempDir(), PKIDir: pkiDir}); err == nil {
		t.Error("Init with the PKI of another instance succeeded")
	}
}
