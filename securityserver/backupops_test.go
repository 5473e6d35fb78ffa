package securityserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/securityserver/backup"
)

var (
	ss1 = xroad.ServerID{Owner: xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}, Code: "ss1"}
	ss2 = xroad.ServerID{Owner: xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}, Code: "ss2"}
)

// writeLayoutConfig writes an ss.yaml as `jisr ss init` lays it out into
// dir, changed by mutate.
func writeLayoutConfig(t *testing.T, dir string, mutate func(*Config)) {
	t.Helper()
	c := Config{ServerID: ss1.String(), Dir: ".", Anchor: AnchorFile,
		Keys:      keys.Config{Type: keys.TypeSoftware, Dir: KeysDir, PassphraseEnv: "PASS"},
		Addresses: []string{"ss1.moi.ps:5500"}}
	if mutate != nil {
		mutate(&c)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := config.Write(filepath.Join(dir, ConfigFile), &c); err != nil {
		t.Fatal(err)
	}
}

// TestCheckRestored: the staged ss.yaml must name the backup's server and
// database and keep what a backup holds inside the directory; for
// PostgreSQL it yields the DSN.
func TestCheckRestored(t *testing.T) {
	t.Setenv("JISR_TEST_BACKUP_DSN", "postgres://ss@db/ss")
	target := filepath.Join(t.TempDir(), "ss")
	sqlite := &backup.Manifest{Server: ss1, Database: backup.Database{Driver: backup.DriverSQLite}}
	pg := &backup.Manifest{Server: ss1, Database: backup.Database{Driver: backup.DriverPostgres}}
	for _, tc := range []struct {
		name     string
		mutate   func(*Config)
		m        *backup.Manifest
		wantDSN  string
		wantErr  string
		noConfig bool
	}{
		{name: "SQLite", m: sqlite},
		{name: "PostgreSQL", m: pg, wantDSN: "postgres://ss@db/ss", mutate: func(c *Config) {
			c.Database = DatabaseConfig{Driver: "postgres", DSNEnv: "JISR_TEST_BACKUP_DSN"}
		}},
		{name: "another server", m: sqlite, mutate: func(c *Config) { c.ServerID = ss2.String() }, wantErr: "names server"},
		{name: "another database", m: pg, wantErr: "uses database sqlite"},
		{name: "anchor outside the directory", m: sqlite, mutate: func(c *Config) { c.Anchor = "/etc/jisr/anchor.json" }, wantErr: "anchor"},
		{name: "key store outside the directory", m: sqlite, mutate: func(c *Config) { c.Keys.Dir = "../keys" }, wantErr: "key store"},
		{name: "directory elsewhere", m: sqlite, mutate: func(c *Config) { c.Dir = "/srv/other" }, wantErr: "is not ss.yaml"},
		{name: "unknown field", m: sqlite, noConfig: true, wantErr: "ss.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			staged := t.TempDir()
			if tc.noConfig {
				if err := os.WriteFile(filepath.Join(staged, ConfigFile), []byte("serverId: PS/GOV/MOI/ss1\nbogus: 1\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				writeLayoutConfig(t, staged, tc.mutate)
			}
			dsn, err := checkRestored(staged, target, tc.m)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || dsn != tc.wantDSN {
				t.Fatalf("dsn %q, err %v; want %q", dsn, err, tc.wantDSN)
			}
		})
	}
}

// TestExpectedServer: the server a restore must be of comes from the flag
// or the directory's own ss.yaml, and they must agree.
func TestExpectedServer(t *testing.T) {
	existing := t.TempDir()
	writeLayoutConfig(t, existing, nil)
	empty := t.TempDir()
	for _, tc := range []struct {
		name    string
		dir     string
		given   xroad.ServerID
		want    xroad.ServerID
		wantErr string
	}{
		{"from the directory", existing, xroad.ServerID{}, ss1, ""},
		{"given and the same", existing, ss1, ss1, ""},
		{"given and another", existing, ss2, xroad.ServerID{}, "holds security server"},
		{"given, empty directory", empty, ss2, ss2, ""},
		{"neither", empty, xroad.ServerID{}, xroad.ServerID{}, "say which server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := expectedServer(tc.dir, tc.given)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestBackupSecrets: secret files inside the directory are named (to be
// left out of backups), those outside are not.
func TestBackupSecrets(t *testing.T) {
	cfg := &Config{Dir: "/srv/ss", Keys: keys.Config{PassphraseFile: "/srv/ss/keys.pass"},
		Database: DatabaseConfig{DSNFile: "/etc/jisr/dsn"}}
	if got := BackupSecrets(cfg); len(got) != 1 || got[0] != "keys.pass" {
		t.Errorf("BackupSecrets = %v, want [keys.pass]", got)
	}
	cfg.Keys = keys.Config{PKCS11: keys.PKCS11Config{PINFile: "/srv/ss/secrets/pin"}}
	cfg.Database.DSNFile = "/srv/ss/dsn"
	if got := BackupSecrets(cfg); len(got) != 2 || got[0] != "secrets/pin" || got[1] != "dsn" {
		t.Errorf("BackupSecrets = %v, want [secrets/pin dsn]", got)
	}
}
