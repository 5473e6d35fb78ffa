package globalconf

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// reverseAll reverses every list of d, which must not change its canonical
// encoding.
func reverseAll(d *Document) {
	slices.Reverse(d.MemberClasses)
	slices.Reverse(d.Members)
	for i := range d.Members {
		slices.Reverse(d.Members[i].Subsystems)
	}
	slices.Reverse(d.SecurityServers)
	for i := range d.SecurityServers {
		s := &d.SecurityServers[i]
		slices.Reverse(s.Addresses)
		slices.Reverse(s.AuthCertHashes)
		slices.Reverse(s.Clients)
	}
	slices.Reverse(d.GlobalGroups)
	for i := range d.GlobalGroups {
		slices.Reverse(d.GlobalGroups[i].Members)
	}
	for i := range d.ApprovedCAs {
		slices.Reverse(d.ApprovedCAs[i].Certificates)
		slices.Reverse(d.ApprovedCAs[i].OCSPResponders)
	}
	slices.Reverse(d.ApprovedCAs)
	slices.Reverse(d.ApprovedTSAs)
}

func TestMarshalDeterministic(t *testing.T) {
	want, err := Marshal(testDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(d *Document)
	}{
		{"same content", func(*Document) {}},
		{"every list reversed", reverseAll},
		{"times in another zone with sub-second part", func(d *Document) {
			z := time.FixedZone("UTC+3", 3*3600)
			d.GeneratedAt = d.GeneratedAt.In(z).Add(400 * time.Millisecond)
			d.ExpiresAt = d.ExpiresAt.In(z).Add(999 * time.Millisecond)
		}},
		{"owners group given by hand, unsorted", func(d *Document) {
			d.GlobalGroups = append(d.GlobalGroups, GlobalGroup{Code: xroad.SecurityServerOwners, Description: "x", Members: []string{"PS/GOV/MOI", "PS/GOV/MOH"}})
		}},
		{"nil and empty lists alike", func(d *Document) {
			d.Members[2].Subsystems = []Subsystem{}
			d.ApprovedCAs[0].Intermediates = nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDoc(t)
			tt.mutate(d)
			before, _ := json.Marshal(d)
			got, err := Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Marshal differs:\n got %s\nwant %s", got, want)
			}
			if after, _ := json.Marshal(d); !bytes.Equal(before, after) {
				t.Error("Marshal modified its argument")
			}
		})
	}
}

func TestMarshalForm(t *testing.T) {
	b, err := Marshal(testDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`{"schema":"jisr.globalconf/v1","instance":"PS","serial":1,"generatedAt":"2026-05-01T10:00:00Z","expiresAt":"2026-05-01T10:10:00Z",`,
		`"configurationURLs":["https://central1.ps.example:4401/globalconf","https://central2.ps.example:4401/globalconf"]`,
		`"memberClasses":[{"code":"COM","description":"Commercial"},{"code":"GOV","description":"Government"}]`,
		`{"class":"COM","code":"ACME","name":"Acme Ltd","subsystems":[]}`,
		`"subsystems":[{"code":"civil-registry"},{"code":"portal"}]`,
		`"clients":["PS/GOV/MOI","PS/GOV/MOI/civil-registry","PS/GOV/MOI/portal"]`,
		`{"code":"security-server-owners","description":"Security server owners","members":["PS/GOV/MOH","PS/GOV/MOI"]}`,
		`"intermediates":[]`,
		`"settings":{"ocspFreshnessSeconds":3600,"timestampingIntervalSeconds":60,"configurationLifetimeSeconds":600,"refreshIntervalSeconds":60,"maxClockSkewSeconds":30}}`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("canonical form lacks %s\nin %s", want, b)
		}
	}
	if bytes.HasSuffix(b, []byte("\n")) {
		t.Error("canonical form ends with a newline")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *Document)
		want   string
	}{
		{"wrong schema", func(d *Document) { d.Schema = "jisr.globalconf/v2" }, "schema"},
		{"bad instance", func(d *Document) { d.Instance = "P/S" }, "instance"},
		{"zero serial", func(d *Document) { d.Serial = 0 }, "serial"},
		{"expiry not after generation", func(d *Document) { d.ExpiresAt = d.GeneratedAt }, "expiresAt"},
		{"missing generation", func(d *Document) { d.GeneratedAt = time.Time{} }, "generatedAt"},
		{"management URL relative", func(d *Document) { d.CentralServer.ManagementURL = "/mgmt" }, "managementURL"},
		{"management TLS certificate garbage", func(d *Document) { d.CentralServer.ManagementTLSCertificates = [][]byte{[]byte("abc")} }, "managementTLSCertificates"},
		{"no configuration URL", func(d *Document) { d.CentralServer.ConfigurationURLs = nil }, "configurationURLs"},
		{"duplicate configuration URL", func(d *Document) {
			d.CentralServer.ConfigurationURLs = append(d.CentralServer.ConfigurationURLs, d.CentralServer.ConfigurationURLs[0])
		}, "duplicate"},
		{"ftp configuration URL", func(d *Document) { d.CentralServer.ConfigurationURLs[0] = "ftp://x/y" }, "configurationURLs"},
		{"duplicate member class", func(d *Document) { d.MemberClasses = append(d.MemberClasses, MemberClass{Code: "GOV"}) }, "duplicate"},
		{"unlisted member class", func(d *Document) { d.Members[0].Class = "EDU" }, "not listed"},
		{"bad member code", func(d *Document) { d.Members[0].Code = "M O I" }, "members"},
		{"member without name", func(d *Document) { d.Members[0].Name = "" }, "name"},
		{"duplicate member", func(d *Document) { d.Members = append(d.Members, d.Members[2]) }, "duplicate"},
		{"duplicate subsystem", func(d *Document) {
			d.Members[0].Subsystems = append(d.Members[0].Subsystems, Subsystem{Code: "portal"})
		}, "duplicate"},
		{"server owner malformed", func(d *Document) { d.SecurityServers[0].Owner = "PS/GOV" }, "securityServers"},
		{"server owner unregistered", func(d *Document) { d.SecurityServers[0].Owner = "PS/GOV/MOF" }, "not a registered member"},
		{"server owner other instance", func(d *Document) { d.SecurityServers[0].Owner = "XX/GOV/MOI" }, "another instance"},
		{"duplicate server", func(d *Document) { d.SecurityServers[1].Owner = "PS/GOV/MOI" }, "duplicate"},
		{"no address", func(d *Document) { d.SecurityServers[0].Addresses = nil }, "address"},
		{"address without port", func(d *Document) { d.SecurityServers[0].Addresses[0] = "ss1.moi" }, "address"},
		{"address port out of range", func(d *Document) { d.SecurityServers[0].Addresses[0] = "ss1.moi:70000" }, "port"},
		{"address port with leading zero", func(d *Document) { d.SecurityServers[0].Addresses[0] = "ss1.moi:05500" }, "port"},
		{"hash too short", func(d *Document) { d.SecurityServers[0].AuthCertHashes[0] = "abcd" }, "64 hex"},
		{"hash upper case", func(d *Document) {
			d.SecurityServers[0].AuthCertHashes[0] = strings.ToUpper(d.SecurityServers[0].AuthCertHashes[0])
		}, "lower-case"},
		{"hash on two servers", func(d *Document) {
			d.SecurityServers[1].AuthCertHashes = d.SecurityServers[0].AuthCertHashes
		}, "registered for both"},
		{"client unregistered", func(d *Document) { d.SecurityServers[0].Clients[0] = "PS/GOV/MOI/nope" }, "not registered"},
		{"client other instance", func(d *Document) { d.SecurityServers[0].Clients[0] = "XX/GOV/MOI" }, "another instance"},
		{"duplicate client", func(d *Document) { d.SecurityServers[0].Clients[0] = "PS/GOV/MOI" }, "duplicate"},
		{"duplicate group", func(d *Document) { d.GlobalGroups = append(d.GlobalGroups, d.GlobalGroups[0]) }, "duplicate"},
		{"group member unregistered", func(d *Document) { d.GlobalGroups[0].Members[0] = "PS/COM/NOPE" }, "not registered"},
		{"owners group wrong", func(d *Document) {
			d.GlobalGroups = append(d.GlobalGroups, GlobalGroup{Code: xroad.SecurityServerOwners, Members: []string{"PS/COM/ACME"}})
		}, "owners"},
		{"CA without certificates", func(d *Document) { d.ApprovedCAs[0].Certificates = nil }, "certificate"},
		{"CA certificate garbage", func(d *Document) { d.ApprovedCAs[0].Certificates = [][]byte{[]byte("nope")} }, "certificates[0]"},
		{"CA certificate not a CA", func(d *Document) {
			d.ApprovedCAs[0].Certificates = [][]byte{testFixtures(t).leaf.Raw}
		}, "not a CA"},
		{"CA without profile", func(d *Document) { d.ApprovedCAs[0].Profile = "" }, "profile"},
		{"duplicate CA", func(d *Document) { d.ApprovedCAs = append(d.ApprovedCAs, d.ApprovedCAs[0]) }, "duplicate"},
		{"OCSP URL bad", func(d *Document) { d.ApprovedCAs[0].OCSPResponders[0].URL = "ocsp" }, "ocspResponders"},
		{"OCSP certificate garbage", func(d *Document) { d.ApprovedCAs[0].OCSPResponders[0].Certificate = []byte{1} }, "certificate"},
		{"TSA certificate missing", func(d *Document) { d.ApprovedTSAs[0].Certificate = nil }, "certificate"},
		{"duplicate TSA", func(d *Document) { d.ApprovedTSAs = append(d.ApprovedTSAs, d.ApprovedTSAs[0]) }, "duplicate"},
		{"zero OCSP freshness", func(d *Document) { d.Settings.OCSPFreshnessSeconds = 0 }, "ocspFreshnessSeconds"},
		{"negative skew", func(d *Document) { d.Settings.MaxClockSkewSeconds = -1 }, "maxClockSkewSeconds"},
		{"huge setting", func(d *Document) { d.Settings.TimestampingIntervalSeconds = 1 << 62 }, "timestampingIntervalSeconds"},
		{"refresh not shorter than lifetime", func(d *Document) { d.Settings.RefreshIntervalSeconds = 600 }, "refreshIntervalSeconds"},
	}
	if err := testDoc(t).Validate(); err != nil {
		t.Fatalf("valid document refused: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDoc(t)
			tt.mutate(d)
			err := d.Validate()
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Validate = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want it to mention %q", err, tt.want)
			}
			if _, err := Marshal(d); !errors.Is(err, ErrMalformed) {
				t.Errorf("Marshal = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestParseDocument(t *testing.T) {
	canon, err := Marshal(testDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDocument(canon)
	if err != nil {
		t.Fatalf("canonical document refused: %v", err)
	}
	if again, _ := Marshal(d); !bytes.Equal(again, canon) {
		t.Fatal("Marshal(ParseDocument(b)) != b")
	}
	s := string(canon)
	tests := []struct {
		name string
		in   string
	}{
		{"trailing newline", s + "\n"},
		{"leading space", " " + s},
		{"trailing data", s + "{}"},
		{"indented", func() string { var b bytes.Buffer; _ = json.Indent(&b, canon, "", " "); return b.String() }()},
		{"unknown member", strings.Replace(s, `"serial":1,`, `"serial":1,"extra":true,`, 1)},
		{"duplicate member", strings.Replace(s, `"serial":1,`, `"serial":0,"serial":1,`, 1)},
		{"fields reordered", strings.Replace(s, `"instance":"PS","serial":1,`, `"serial":1,"instance":"PS",`, 1)},
		{"null list", strings.Replace(s, `"intermediates":[]`, `"intermediates":null`, 1)},
		{"unsorted list", strings.Replace(s, `"subsystems":[{"code":"civil-registry"},{"code":"portal"}]`, `"subsystems":[{"code":"portal"},{"code":"civil-registry"}]`, 1)},
		{"time with offset", strings.Replace(s, `"2026-05-01T10:00:00Z"`, `"2026-05-01T13:00:00+03:00"`, 1)},
		{"time with fraction", strings.Replace(s, `"2026-05-01T10:00:00Z"`, `"2026-05-01T10:00:00.5Z"`, 1)},
		{"escaped character", strings.Replace(s, `"Acme Ltd"`, `"Acme Lt\u0064"`, 1)},
		{"owners group missing", strings.Replace(s, `,{"code":"security-server-owners","description":"Security server owners","members":["PS/GOV/MOH","PS/GOV/MOI"]}`, ``, 1)},
		{"not JSON", "hello"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in == s {
				t.Fatal("test case does not change the input")
			}
			if _, err := ParseDocument([]byte(tt.in)); !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseDocument = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestLookups(t *testing.T) {
	f := testFixtures(t)
	canon, err := Marshal(testDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseDocument(canon)
	if err != nil {
		t.Fatal(err)
	}
	moiSS := xroad.ServerID{Owner: xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}, Code: "ss1"}
	mohSS := xroad.ServerID{Owner: xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOH"}, Code: "ss1"}
	portal := xroad.ClientID{Instance: "PS", Class: "GOV", Code: "MOI", Subsystem: "portal"}
	health := xroad.ClientID{Instance: "PS", Class: "GOV", Code: "MOH", Subsystem: "health"}
	moi := xroad.ClientID{Instance: "PS", Class: "GOV", Code: "MOI"}
	acme := xroad.ClientID{Instance: "PS", Class: "COM", Code: "ACME"}
	ministries := xroad.GlobalGroupID{Instance: "PS", Code: "ministries"}
	owners := xroad.GlobalGroupID{Instance: "PS", Code: xroad.SecurityServerOwners}

	// The same answers from an indexed (parsed) and a hand-built document.
	for name, d := range map[string]*Document{"parsed": parsed, "hand-built": testDoc(t)} {
		t.Run(name, func(t *testing.T) {
			ids := func(ss []Server) []string {
				var out []string
				for _, s := range ss {
					out = append(out, s.ID.String())
				}
				slices.Sort(out)
				return out
			}
			if got := ids(d.ServersFor(portal)); !slices.Equal(got, []string{mohSS.String(), moiSS.String()}) {
				t.Errorf("ServersFor(portal) = %v", got)
			}
			if got := d.ServersFor(acme); got != nil {
				t.Errorf("ServersFor(acme) = %v, want nil", got)
			}
			s, ok := d.ServerByID(mohSS)
			if !ok || !s.Maintenance || !slices.Contains(s.Clients, health) || s.Addresses[0] != "ss1.moh.ps.example:5500" {
				t.Errorf("ServerByID(%s) = %+v, %v", mohSS, s, ok)
			}
			if _, ok := d.ServerByID(xroad.ServerID{Owner: moiSS.Owner, Code: "ss9"}); ok {
				t.Error("ServerByID found an unknown server")
			}
			s, ok = d.ServerByAuthCertHash(strings.ToUpper(AuthCertHash(f.leaf)))
			if !ok || s.ID != moiSS {
				t.Errorf("ServerByAuthCertHash = %v, %v; want %s", s.ID, ok, moiSS)
			}
			if _, ok := d.ServerByAuthCertHash(strings.Repeat("0", 64)); ok {
				t.Error("ServerByAuthCertHash found an unknown hash")
			}
			for _, c := range []struct {
				g    xroad.GlobalGroupID
				c    xroad.ClientID
				want bool
			}{
				{ministries, moi, true},
				{ministries, health, true},
				{ministries, portal, false}, // a member's subsystem is not the member
				{ministries, acme, false},
				{owners, moi, true},
				{owners, acme, false},
				{xroad.GlobalGroupID{Instance: "XX", Code: "ministries"}, moi, false},
			} {
				if got := d.IsMember(c.g, c.c); got != c.want {
					t.Errorf("IsMember(%s, %s) = %v, want %v", c.g, c.c, got, c.want)
				}
			}
			if !d.IsRegistered(acme) || !d.IsRegistered(portal) || d.IsRegistered(xroad.ClientID{Instance: "PS", Class: "COM", Code: "ACME", Subsystem: "x"}) {
				t.Error("IsRegistered wrong")
			}
			if _, err := f.leaf.Verify(x509.VerifyOptions{
				Roots: d.ApprovedCAPool(), Intermediates: d.IntermediatePool(),
				CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			}); err != nil {
				t.Errorf("leaf does not chain to ApprovedCAPool: %v", err)
			}
			rs := d.OCSPResponders(f.ca)
			if len(rs) != 2 || !bytes.Equal(rs[1].Certificate, f.ocsp.Raw) && !bytes.Equal(rs[0].Certificate, f.ocsp.Raw) {
				t.Errorf("OCSPResponders(ca) = %+v", rs)
			}
			if rs := d.OCSPResponders(f.leaf); rs != nil {
				t.Errorf("OCSPResponders(leaf) = %+v, want nil", rs)
			}
			if ts := d.TSAs(); len(ts) != 1 || ts[0].URL != "http://tsa.ps.example:4318" {
				t.Errorf("TSAs = %+v", ts)
			}
		})
	}
}
