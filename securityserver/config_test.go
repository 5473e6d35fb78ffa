package securityserver

import (
	"strings"
	"testing"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/keys"
)

func validConfig() Config {
	return Config{ServerID: "PS/GOV/MOI/ss1", Dir: "/srv/ss", Anchor: "/srv/ss/anchor.json",
		Keys:      keys.Config{Type: keys.TypeSoftware, Dir: "/srv/ss/keys", PassphraseEnv: "PASS"},
		Addresses: []string{"ss1.moi.ps:5500"}}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"valid, defaults filled", func(*Config) {}, ""},
		{"bad server id", func(c *Config) { c.ServerID = "PS/GOV/MOI" }, "serverId"},
		{"no anchor", func(c *Config) { c.Anchor = "" }, "anchor"},
		{"no address", func(c *Config) { c.Addresses = nil }, "addresses"},
		{"address without port", func(c *Config) { c.Addresses = []string{"ss1.moi.ps"} }, "addresses"},
		{"unknown driver", func(c *Config) { c.Database.Driver = "mysql" }, "database.driver"},
		{"postgres without DSN", func(c *Config) { c.Database.Driver = "postgres" }, "dsnFile"},
		{"bad listen address", func(c *Config) { c.Listen.Peer = "5500" }, "listen.peer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Listen.ClientHTTP != ":8080" || c.Listen.Peer != ":5500" || c.Listen.Admin != "127.0.0.1:4000" ||
					c.RefreshInterval == 0 || c.ID() != (xroad.ServerID{Owner: xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}, Code: "ss1"}) {
					t.Fatalf("defaults not filled: %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestSignLabelIsAValidDistinctKeyLabel(t *testing.T) {
	members := []xroad.MemberID{
		{Instance: "PS", Class: "GOV", Code: "MOI"},
		{Instance: "PS", Class: "GOV", Code: "M'O(I)"},
		{Instance: "PS", Class: "GOV", Code: "M_27O_28I_29"},
		{Instance: "PS", Class: "GO", Code: "V-MOI"},
	}
	seen := map[string]xroad.MemberID{}
	for _, m := range members {
		l := signLabel(m)
		if err := keys.ValidateLabel(l); err != nil {
			t.Errorf("%s: label %q: %v", m, l, err)
		}
		if prev, dup := seen[l]; dup {
			t.Errorf("%s and %s share the label %q", prev, m, l)
		}
		seen[l] = m
	}
}

func TestParseSubject(t *testing.T) {
	tests := []struct {
		in   string
		want xroad.ID
	}{
		{"PS/GOV/CAB/portal", xroad.ClientID{Instance: "PS", Class: "GOV", Code: "CAB", Subsystem: "portal"}},
		{"SUBSYSTEM:PS/GOV/CAB/portal", xroad.ClientID{Instance: "PS", Class: "GOV", Code: "CAB", Subsystem: "portal"}},
		{"MEMBER:PS/GOV/CAB", xroad.ClientID{Instance: "PS", Class: "GOV", Code: "CAB"}},
		{"GLOBALGROUP:PS/ministries", xroad.GlobalGroupID{Instance: "PS", Code: "ministries"}},
		{"LOCALGROUP:auditors", xroad.LocalGroupID{Code: "auditors"}},
	}
	for _, tc := range tests {
		got, err := ParseSubject(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSubject(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if _, err := ParseSubject("PS/GOV"); err == nil {
		t.Error("a malformed subject was accepted")
	}
}
