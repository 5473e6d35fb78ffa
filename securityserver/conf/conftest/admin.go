package conftest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// RunAdmin runs the conformance suite of the optional abilities
// conf.AdminStore (API keys, audit trail) and conf.ISCertStore against the
// stores newStore makes, which must have both.
func RunAdmin(t *testing.T, newStore Factory) {
	cases := []struct {
		name string
		fn   func(*env)
	}{
		{"APIKeys", testAPIKeys},
		{"FirstAPIKey", testFirstAPIKey},
		{"FirstAPIKeyConcurrent", testFirstAPIKeyConcurrent},
		{"Audit", testAudit},
		{"AuditQuery", testAuditQuery},
		{"ISCertificates", testISCertificates},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(start)
			tc.fn(&env{t: t, ctx: t.Context(), s: newStore(t, clk), clk: clk})
		})
	}
}

func (e *env) admin() conf.AdminStore {
	e.t.Helper()
	a, ok := e.s.(conf.AdminStore)
	if !ok {
		e.t.Fatalf("%T is not a conf.AdminStore", e.s)
	}
	return a
}

func testAPIKeys(e *env) {
	t, a := e.t, e.admin()
	ks, err := a.APIKeys(e.ctx)
	e.must(err)
	equal(t, "no keys", len(ks), 0)

	h1 := conf.HashAPIKeySecret([]byte("secret-1"))
	exp := e.now().Add(time.Hour).Add(123 * time.Nanosecond)
	k1, err := a.CreateAPIKey(e.ctx, conf.APIKey{Name: "ops", Hash: h1, Roles: []string{"B", "A", "B"}, ExpiresAt: exp, CreatedBy: "admin"})
	e.must(err)
	want := conf.APIKey{ID: 1, Name: "ops", Hash: h1, Roles: []string{"A", "B"}, CreatedAt: e.now(), CreatedBy: "admin",
		ExpiresAt: exp.UTC().Truncate(time.Microsecond)}
	equal(t, "created key", k1, want)
	got, err := a.APIKeyByHash(e.ctx, h1)
	e.must(err)
	equal(t, "key by hash", got, want)
	got, err = a.APIKey(e.ctx, 1)
	e.must(err)
	equal(t, "key by id", got, want)
	if !got.Usable(e.now()) || got.Usable(exp) {
		t.Errorf("Usable: before expiry %v, at expiry %v", got.Usable(e.now()), got.Usable(exp))
	}

	// Without a name, the key is named after its id.
	k2, err := a.CreateAPIKey(e.ctx, conf.APIKey{Hash: conf.HashAPIKeySecret([]byte("secret-2")), Roles: []string{"A"}, CreatedBy: "ops"})
	e.must(err)
	equal(t, "default name", k2.Name, "apikey-2")

	for _, tc := range []struct {
		name string
		k    conf.APIKey
		want error
	}{
		{"same secret", conf.APIKey{Name: "dup", Hash: h1, Roles: []string{"A"}, CreatedBy: "x"}, conf.ErrConflict},
		{"no roles", conf.APIKey{Name: "x", Hash: conf.HashAPIKeySecret([]byte("3")), CreatedBy: "x"}, conf.ErrInvalid},
		{"empty role", conf.APIKey{Name: "x", Hash: conf.HashAPIKeySecret([]byte("3")), Roles: []string{" "}, CreatedBy: "x"}, conf.ErrInvalid},
		{"no hash", conf.APIKey{Name: "x", Roles: []string{"A"}, CreatedBy: "x"}, conf.ErrInvalid},
		{"no creator", conf.APIKey{Name: "x", Hash: conf.HashAPIKeySecret([]byte("3")), Roles: []string{"A"}}, conf.ErrInvalid},
		{"expired at creation", conf.APIKey{Name: "x", Hash: conf.HashAPIKeySecret([]byte("3")), Roles: []string{"A"}, CreatedBy: "x",
			ExpiresAt: e.now()}, conf.ErrInvalid},
	} {
		_, err := a.CreateAPIKey(e.ctx, tc.k)
		wantErr(t, tc.name, err, tc.want)
	}
	ks, err = a.APIKeys(e.ctx)
	e.must(err)
	if len(ks) != 2 || ks[0].ID != 1 || ks[1].ID != 2 || len(ks[1].Roles) != 1 {
		t.Errorf("keys after refused creations: %+v", ks)
	}

	e.clk.Add(time.Minute)
	r, err := a.RevokeAPIKey(e.ctx, 1)
	e.must(err)
	equal(t, "revoked at", r.RevokedAt, e.now())
	if r.Usable(e.now()) {
		t.Error("revoked key usable")
	}
	e.clk.Add(time.Minute)
	r2, err := a.RevokeAPIKey(e.ctx, 1)
	e.must(err)
	equal(t, "second revocation keeps the first time", r2.RevokedAt, r.RevokedAt)
	_, err = a.RevokeAPIKey(e.ctx, 99)
	wantErr(t, "revoke unknown", err, conf.ErrNotFound)
	_, err = a.APIKeyByHash(e.ctx, conf.HashAPIKeySecret([]byte("unknown")))
	wantErr(t, "unknown hash", err, conf.ErrNotFound)
	_, err = a.APIKey(e.ctx, 99)
	wantErr(t, "unknown id", err, conf.ErrNotFound)

	// API keys are not configuration: the version does not move.
	equal(t, "version", e.version(), int64(0))
}

func testFirstAPIKey(e *env) {
	t, a := e.t, e.admin()
	first := conf.APIKey{Name: "admin", Hash: conf.HashAPIKeySecret([]byte("first")), Roles: []string{"A"}, CreatedBy: "ss-init"}
	k, created, err := a.CreateFirstAPIKey(e.ctx, first)
	e.must(err)
	if !created || k.ID != 1 || k.Name != "admin" {
		t.Fatalf("first key: %+v created %v", k, created)
	}
	_, created, err = a.CreateFirstAPIKey(e.ctx, conf.APIKey{Name: "again", Hash: conf.HashAPIKeySecret([]byte("other")), Roles: []string{"A"}, CreatedBy: "x"})
	e.must(err)
	if created {
		t.Error("a second first key was created")
	}
	// Revoking every key does not make room for a new first key.
	_, err = a.RevokeAPIKey(e.ctx, 1)
	e.must(err)
	_, created, err = a.CreateFirstAPIKey(e.ctx, conf.APIKey{Name: "again", Hash: conf.HashAPIKeySecret([]byte("other")), Roles: []string{"A"}, CreatedBy: "x"})
	e.must(err)
	if created {
		t.Error("a first key was created after revocation")
	}
	k2, err := a.CreateAPIKey(e.ctx, conf.APIKey{Name: "next", Hash: conf.HashAPIKeySecret([]byte("next")), Roles: []string{"A"}, CreatedBy: "x"})
	e.must(err)
	equal(t, "id after the first key", k2.ID, int64(2))
}

// testFirstAPIKeyConcurrent: nodes starting together create one first key.
func testFirstAPIKeyConcurrent(e *env) {
	t, a := e.t, e.admin()
	const n = 8
	var wg sync.WaitGroup
	results := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			k := conf.APIKey{Name: "admin", Hash: conf.HashAPIKeySecret([]byte{byte(i)}), Roles: []string{"A"}, CreatedBy: "node"}
			_, results[i], errs[i] = a.CreateFirstAPIKey(e.ctx, k)
		})
	}
	wg.Wait()
	created := 0
	for i := range n {
		e.must(errs[i])
		if results[i] {
			created++
		}
	}
	ks, err := a.APIKeys(e.ctx)
	e.must(err)
	if created != 1 || len(ks) != 1 {
		t.Fatalf("%d nodes created a first key; %d keys stored", created, len(ks))
	}
}

func testAudit(e *env) {
	t, a := e.t, e.admin()
	p, err := a.AppendAudit(e.ctx, conf.AuditEvent{Actor: "ops", KeyID: 3, Remote: "127.0.0.1:5000", Action: "client.add",
		Target: "PS:GOV:MOI:x", Outcome: conf.AuditPending})
	e.must(err)
	want := conf.AuditEvent{ID: 1, At: e.now(), Actor: "ops", KeyID: 3, Remote: "127.0.0.1:5000", Action: "client.add",
		Target: "PS:GOV:MOI:x", Detail: json.RawMessage("{}"), Outcome: conf.AuditPending}
	equal(t, "pending event", p, want)

	e.clk.Add(time.Second)
	done, err := a.CompleteAudit(e.ctx, p.ID, conf.AuditSuccess, "", json.RawMessage(`{"status":201}`))
	e.must(err)
	want.CompletedAt, want.Outcome, want.Detail = e.now(), conf.AuditSuccess, json.RawMessage(`{"status":201}`)
	equal(t, "completed event", done, want)
	_, err = a.CompleteAudit(e.ctx, p.ID, conf.AuditFailure, "", nil)
	wantErr(t, "complete twice", err, conf.ErrConflict)
	_, err = a.CompleteAudit(e.ctx, 42, conf.AuditFailure, "", nil)
	wantErr(t, "complete unknown", err, conf.ErrNotFound)
	_, err = a.CompleteAudit(e.ctx, p.ID, conf.AuditPending, "", nil)
	wantErr(t, "complete as pending", err, conf.ErrInvalid)

	// A refusal is complete at once, without a key; its target can be
	// replaced on completion of a pending event.
	f, err := a.AppendAudit(e.ctx, conf.AuditEvent{Actor: "anonymous", Action: "client.add", Outcome: conf.AuditFailure,
		Detail: json.RawMessage(`{"status":401}`)})
	e.must(err)
	if f.CompletedAt != f.At || f.KeyID != 0 {
		t.Errorf("refusal event %+v", f)
	}
	p2, err := a.AppendAudit(e.ctx, conf.AuditEvent{Actor: "ops", Action: "service.add", Target: "before", Outcome: conf.AuditPending})
	e.must(err)
	d2, err := a.CompleteAudit(e.ctx, p2.ID, conf.AuditFailure, "after", nil)
	e.must(err)
	if d2.Target != "after" || string(d2.Detail) != "{}" {
		t.Errorf("completion with a target: %+v", d2)
	}

	for _, tc := range []struct {
		name string
		ev   conf.AuditEvent
	}{
		{"no actor", conf.AuditEvent{Action: "x", Outcome: conf.AuditSuccess}},
		{"no action", conf.AuditEvent{Actor: "x", Outcome: conf.AuditSuccess}},
		{"bad outcome", conf.AuditEvent{Actor: "x", Action: "x", Outcome: "maybe"}},
		{"detail not JSON", conf.AuditEvent{Actor: "x", Action: "x", Outcome: conf.AuditSuccess, Detail: json.RawMessage("{")}},
	} {
		_, err := a.AppendAudit(e.ctx, tc.ev)
		wantErr(t, tc.name, err, conf.ErrInvalid)
	}
	evs, err := a.AuditEvents(e.ctx, conf.AuditQuery{})
	e.must(err)
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(evs), evs)
	}
	equal(t, "first event read back", evs[0], want)
	equal(t, "version", e.version(), int64(0))
}

func testAuditQuery(e *env) {
	t, a := e.t, e.admin()
	for i, ev := range []conf.AuditEvent{
		{Actor: "ops", Action: "client.add", Outcome: conf.AuditSuccess},
		{Actor: "anonymous", Action: "client.add", Outcome: conf.AuditFailure},
		{Actor: "ops", Action: "service.add", Outcome: conf.AuditSuccess},
		{Actor: "sec", Action: "key.csr", Outcome: conf.AuditPending},
	} {
		_, err := a.AppendAudit(e.ctx, ev)
		e.must(err)
		if i == 1 {
			e.clk.Add(time.Hour)
		}
	}
	ids := func(q conf.AuditQuery) []int64 {
		t.Helper()
		evs, err := a.AuditEvents(e.ctx, q)
		e.must(err)
		out := []int64{}
		for _, ev := range evs {
			out = append(out, ev.ID)
		}
		return out
	}
	equal(t, "all", ids(conf.AuditQuery{}), []int64{1, 2, 3, 4})
	equal(t, "newest first, limit", ids(conf.AuditQuery{NewestFirst: true, Limit: 2}), []int64{4, 3})
	equal(t, "after", ids(conf.AuditQuery{AfterID: 2}), []int64{3, 4})
	equal(t, "before", ids(conf.AuditQuery{BeforeID: 2}), []int64{1})
	equal(t, "actor", ids(conf.AuditQuery{Actor: "ops"}), []int64{1, 3})
	equal(t, "action", ids(conf.AuditQuery{Action: "client.add"}), []int64{1, 2})
	equal(t, "outcome", ids(conf.AuditQuery{Outcome: conf.AuditPending}), []int64{4})
	equal(t, "from", ids(conf.AuditQuery{From: start.Add(time.Minute)}), []int64{3, 4})
	equal(t, "to", ids(conf.AuditQuery{To: start.Add(time.Minute)}), []int64{1, 2})
	_, err := a.AuditEvents(e.ctx, conf.AuditQuery{Limit: -1})
	wantErr(t, "negative limit", err, conf.ErrInvalid)
	_, err = a.AuditEvents(e.ctx, conf.AuditQuery{Outcome: "maybe"})
	wantErr(t, "bad outcome", err, conf.ErrInvalid)
}

// testCertDER returns a self-signed certificate's DER.
func testCertDER(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: start, NotAfter: start.Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func testISCertificates(e *env) {
	t := e.t
	is, ok := e.s.(conf.ISCertStore)
	if !ok {
		t.Fatalf("%T is not a conf.ISCertStore", e.s)
	}
	c := client(civil)
	c.ISCertHashes = []string{hash1}
	e.must(e.s.AddClient(e.ctx, c))
	_, err := is.ISCertificates(e.ctx, tax)
	wantErr(t, "unknown client", err, conf.ErrNotFound)

	der := testCertDER(t, "portal-is")
	sum := sha256.Sum256(der)
	h := hex.EncodeToString(sum[:])
	v := e.version()
	got, err := is.AddISCertificate(e.ctx, civil, der)
	e.must(err)
	equal(t, "added", got, conf.ISCertificate{Hash: h, DER: der, AddedAt: e.now()})
	if e.version() != v+1 {
		t.Error("adding an IS certificate did not bump the version")
	}
	cl, err := e.s.Client(e.ctx, civil)
	e.must(err)
	if len(cl.ISCertHashes) != 2 {
		t.Errorf("client hashes %v, want the old hash and the new", cl.ISCertHashes)
	}
	list, err := is.ISCertificates(e.ctx, civil)
	e.must(err)
	if len(list) != 2 {
		t.Fatalf("%d IS certificates, want 2", len(list))
	}
	for _, ic := range list {
		switch ic.Hash {
		case hash1:
			if ic.DER != nil {
				t.Error("a hash-only entry has a certificate")
			}
		case h:
			equal(t, "listed certificate", ic.DER, der)
		default:
			t.Errorf("unexpected hash %s", ic.Hash)
		}
	}
	_, err = is.AddISCertificate(e.ctx, civil, der)
	wantErr(t, "added twice", err, conf.ErrConflict)
	_, err = is.AddISCertificate(e.ctx, civil, []byte("not DER"))
	wantErr(t, "not a certificate", err, conf.ErrInvalid)
	_, err = is.AddISCertificate(e.ctx, tax, der)
	wantErr(t, "unknown client", err, conf.ErrNotFound)

	e.must(is.RemoveISCertificate(e.ctx, civil, hash1))
	err = is.RemoveISCertificate(e.ctx, civil, hash1)
	wantErr(t, "removed twice", err, conf.ErrNotFound)
	err = is.RemoveISCertificate(e.ctx, civil, "xyz")
	wantErr(t, "malformed hash", err, conf.ErrInvalid)
	// Upper case is accepted.
	e.must(is.RemoveISCertificate(e.ctx, civil, hexUpper(h)))
	list, err = is.ISCertificates(e.ctx, civil)
	e.must(err)
	equal(t, "after removal", len(list), 0)

	// Added again after its hash was dropped by UpdateClient: the stale
	// row does not get in the way.
	_, err = is.AddISCertificate(e.ctx, civil, der)
	e.must(err)
	cl, err = e.s.Client(e.ctx, civil)
	e.must(err)
	cl.ISCertHashes = []string{}
	e.must(e.s.UpdateClient(e.ctx, cl))
	_, err = is.AddISCertificate(e.ctx, civil, der)
	e.must(err)
	e.must(e.s.DeleteClient(e.ctx, civil))
	e.must(e.s.AddClient(e.ctx, client(civil)))
	list, err = is.ISCertificates(e.ctx, civil)
	e.must(err)
	equal(t, "after the client was deleted and added again", len(list), 0)
}

func hexUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
