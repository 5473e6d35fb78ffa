package central

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// tick runs one publisher tick and fails the test on error.
func (e *testEnv) tick(p *Publisher) (registry.PublishedConfig, bool) {
	e.t.Helper()
	pc, published, err := p.Tick(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return pc, published
}

func TestPublisherDocumentContent(t *testing.T) {
	e := newTestEnv(t)
	pc, published := e.tick(e.pub)
	if !published || pc.Serial != 1 {
		t.Fatalf("first tick: serial %d published %v, want 1 true", pc.Serial, published)
	}
	doc, err := globalconf.Verify(pc.Document, e.anchor(), e.clk.Now())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if doc.Serial != 1 || !doc.GeneratedAt.Equal(t0) || !doc.ExpiresAt.Equal(t0.Add(600*time.Second)) {
		t.Errorf("serial %d generated %s expires %s", doc.Serial, doc.GeneratedAt, doc.ExpiresAt)
	}
	if !pc.ExpiresAt.Equal(doc.ExpiresAt) || pc.RegistryVersion != e.version() {
		t.Errorf("stored expiry %s / version %d, document %s / registry %d", pc.ExpiresAt, pc.RegistryVersion, doc.ExpiresAt, e.version())
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"instance", doc.Instance == testInstance},
		{"central server", slices.Equal(doc.CentralServer.ConfigurationURLs, e.central.ConfigurationURLs) &&
			doc.CentralServer.ManagementURL == e.central.ManagementURL &&
			slices.EqualFunc(doc.CentralServer.ManagementTLSCertificates, e.central.ManagementTLSCertificates, bytes.Equal)},
		{"member classes", len(doc.MemberClasses) == 2},
		{"member with subsystem", len(doc.Members) == 1 && doc.Members[0].Name == "Ministry of Interior" &&
			len(doc.Members[0].Subsystems) == 1 && doc.Members[0].Subsystems[0].Code == "civil-registry"},
		{"security server", len(doc.SecurityServers) == 1 && doc.SecurityServers[0].ServerCode == "ss1" &&
			slices.Equal(doc.SecurityServers[0].Addresses, []string{"10.0.0.1:5500", "ss1.moi.ps.example:5500"}) &&
			len(doc.SecurityServers[0].AuthCertHashes) == 1 &&
			slices.Equal(doc.SecurityServers[0].Clients, []string{moiSub.String()})},
		{"global groups (with the automatic one)", len(doc.GlobalGroups) == 2},
		{"approved CA", len(doc.ApprovedCAs) == 1 && doc.ApprovedCAs[0].OCSPResponders[0].URL == "http://ocsp.ps.example/"},
		{"approved TSA", len(doc.ApprovedTSAs) == 1 && doc.ApprovedTSAs[0].URL == "http://tsa.ps.example/"},
		{"settings", doc.Settings.ConfigurationLifetimeSeconds == 600 && doc.Settings.RefreshIntervalSeconds == 60 &&
			doc.Settings.MaxClockSkewSeconds == 30 && doc.Settings.OCSPFreshnessSeconds == 3600},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Errorf("document: %+v", doc)
			}
		})
	}
}

func TestPublisherRepublishes(t *testing.T) {
	e := newTestEnv(t)
	first, _ := e.tick(e.pub)
	steps := []struct {
		name       string
		act        func()
		wantSerial int64
	}{
		{"unchanged registry: same serial", func() { e.clk.Add(time.Minute) }, 1},
		{"registry change: new serial", func() {
			e.must(e.store.AddMember(e.ctx, xroad.MemberID{Instance: testInstance, Class: "COM", Code: "ACME"}, "Acme"))
		}, 2},
		{"unchanged again", func() { e.clk.Add(299 * time.Second) }, 2},
		// Serial 2 was generated at t0+1m: half its life (300 s) is at t0+6m.
		{"half-life reached", func() { e.clk.Set(t0.Add(6 * time.Minute)) }, 3},
		{"settings change", func() {
			e.must(e.store.SetSetting(e.ctx, registry.SettingOCSPFreshness, 30*time.Minute))
		}, 4},
		{"audit events do not republish", func() {
			_, err := e.store.AppendAudit(e.ctx, registry.AuditEvent{Actor: "t", Action: "x", Outcome: registry.OutcomeSuccess})
			e.must(err)
		}, 4},
	}
	prev := first
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			e := e.with(t)
			s.act()
			pc, published := e.tick(e.pub)
			if pc.Serial != s.wantSerial {
				t.Fatalf("serial %d, want %d", pc.Serial, s.wantSerial)
			}
			if published != (pc.Serial != prev.Serial) {
				t.Errorf("published = %v going from %d to %d", published, prev.Serial, pc.Serial)
			}
			doc, err := globalconf.Verify(pc.Document, e.anchor(), e.clk.Now())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if int64(doc.Serial) != pc.Serial {
				t.Errorf("document serial %d, stored %d", doc.Serial, pc.Serial)
			}
			prev = pc
		})
	}
	latest, err := e.store.LatestPublished(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := globalconf.Verify(latest.Document, e.anchor(), e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Members) != 2 || doc.Settings.OCSPFreshnessSeconds != 1800 {
		t.Errorf("latest document lacks the changes: %+v", doc)
	}
}

// TestPublisherRotation signs with two keys: anchors knowing either one, or
// both, verify; an anchor knowing neither fails with ErrUnknownKey.
func TestPublisherRotation(t *testing.T) {
	e := newTestEnv(t)
	k1, k2 := e.keys[0], newSigningKey(t, "k2")
	p, err := NewPublisher(PublisherConfig{Store: e.store, Keys: []globalconf.SigningKey{k1, k2}, Central: e.central, MaxClockSkew: 30 * time.Second, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	// The single-key publisher publishes first; the two-key one must
	// republish although the registry is unchanged (its keys differ).
	e.tick(e.pub)
	pc, published := e.tick(p)
	if !published || pc.Serial != 2 {
		t.Fatalf("two-key publisher: serial %d published %v, want 2 true", pc.Serial, published)
	}
	cases := []struct {
		name    string
		keys    []globalconf.SigningKey
		wantErr error
	}{
		{"old key only", []globalconf.SigningKey{k1}, nil},
		{"new key only", []globalconf.SigningKey{k2}, nil},
		{"both", []globalconf.SigningKey{k1, k2}, nil},
		{"neither", []globalconf.SigningKey{newSigningKey(t, "k3")}, globalconf.ErrUnknownKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := globalconf.Verify(pc.Document, e.anchor(c.keys...), e.clk.Now())
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Verify: %v, want %v", err, c.wantErr)
			}
		})
	}

	// Retire k1: the central server now signs with k2 only. Security servers
	// that took the new anchor (k1+k2, or k2) keep verifying; those that only
	// know k1 stop.
	retired, err := NewPublisher(PublisherConfig{Store: e.store, Keys: []globalconf.SigningKey{k2}, Central: e.central, MaxClockSkew: 30 * time.Second, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	pc, published = e.tick(retired)
	if !published || pc.Serial != 3 {
		t.Fatalf("k2-only publisher: serial %d published %v, want 3 true", pc.Serial, published)
	}
	after := []struct {
		name    string
		keys    []globalconf.SigningKey
		wantErr error
	}{
		{"new anchor with both keys", []globalconf.SigningKey{k1, k2}, nil},
		{"new anchor with k2", []globalconf.SigningKey{k2}, nil},
		{"old anchor with k1 only", []globalconf.SigningKey{k1}, globalconf.ErrUnknownKey},
	}
	for _, c := range after {
		t.Run("after retirement/"+c.name, func(t *testing.T) {
			_, err := globalconf.Verify(pc.Document, e.anchor(c.keys...), e.clk.Now())
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Verify: %v, want %v", err, c.wantErr)
			}
		})
	}
}

// TestPublisherRace: a node that lost the race for a serial adopts the
// winner's document instead of failing or skipping a serial.
func TestPublisherRace(t *testing.T) {
	e := newTestEnv(t)
	other, err := NewPublisher(PublisherConfig{Store: e.store, Keys: e.keys, Central: e.central, MaxClockSkew: 30 * time.Second, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	b, err := other.build(e.ctx, e.clk.Now()) // other starts before serial 1 exists …
	if err != nil {
		t.Fatal(err)
	}
	won, _ := e.tick(e.pub) // … and e.pub publishes serial 1 meanwhile
	got, published, err := other.publish(e.ctx, 0, b)
	if err != nil {
		t.Fatalf("losing the race: %v", err)
	}
	if published || got.Serial != won.Serial || string(got.Document) != string(won.Document) {
		t.Fatalf("loser got serial %d published %v, want the winner's serial %d", got.Serial, published, won.Serial)
	}
}
