package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/msglog/msglogtest"
)

// now is the fixture's time: inside the test PKI's leaf validity.
var now = time.Date(2026, 5, 2, 9, 30, 0, 0, time.UTC)

var (
	testServer = xroad.ServerID{Owner: xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}, Code: "ss1"}
	testClient = testServer.Owner.Subsystem("civil-registry")
)

// fixture is a security server directory with live SQLite databases, the
// owner's signer and the trust that accepts it.
type fixture struct {
	pki    *testpki.PKI
	signer Signer
	trust  Trust
	clk    *clock.Fake
	dir    string
	conf   conf.Store
	log    *msglog.Log
	// records is how many records the log held when the fixture was made.
	records int
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	p := testpki.New(t, now)
	key, chain := p.Leaf(t, profile.Sign, testServer.Owner)
	f := &fixture{pki: p, signer: Signer{Key: key, Chain: chain}, trust: Trust{Roots: p.Roots()}, clk: clock.NewFake(now),
		dir: filepath.Join(t.TempDir(), "ss")}
	files := map[string]struct {
		mode fs.FileMode
		data []byte
	}{
		"ss.yaml":                   {0o644, []byte("serverId: " + testServer.String() + "\ndir: .\n")},
		"anchor.json":               {0o644, []byte(`{"instance":"PS"}`)},
		"admin-api-key":             {0o600, randomBytes(t, 32)},
		"keys/auth.key":             {0o600, randomBytes(t, 300)},
		"keys/sign-GOV-MOI.key":     {0o600, randomBytes(t, 300)},
		"keys/msglog-body.key":      {0o600, randomBytes(t, 32)},
		"certs/sign-GOV-MOI.pem":    {0o644, randomBytes(t, 1500)},
		"globalconf/globalconf.jws": {0o600, randomBytes(t, 5000)},
		"spool/body-123":            {0o600, []byte("a body in transit")},
		"archives/.archive-1.tmp":   {0o600, []byte("an archive being written")},
		"archives/a-1.tar":          {0o640, randomBytes(t, 2000)},
	}
	for name, c := range files {
		p := filepath.Join(f.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, c.data, c.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, c.mode); err != nil {
			t.Fatal(err)
		}
	}
	ctx := t.Context()
	var err error
	if f.conf, err = conf.OpenSQLite(ctx, filepath.Join(f.dir, "conf.db")); err != nil {
		t.Fatal(err)
	}
	if err := f.conf.AddClient(ctx, conf.Client{ID: testClient, Connection: conf.ConnHTTP, Status: conf.StatusRegistered,
		BodyLogging: conf.BodyLoggingFull}); err != nil {
		t.Fatal(err)
	}
	keys, err := msglog.NewStaticKeys("body-1", map[string][]byte{"body-1": bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if f.log, err = msglog.OpenSQLite(ctx, filepath.Join(f.dir, "msglog.db"), msglog.WithKeys(keys)); err != nil {
		t.Fatal(err)
	}
	f.records = 20
	f.append(t, msglogtest.NewFixture(t).Records(t, f.records, 100))
	t.Cleanup(func() { f.closeDBs(t) })
	return f
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) append(t testing.TB, recs []msglog.Record) {
	t.Helper()
	for i := range recs {
		if err := f.log.Append(t.Context(), &recs[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// closeDBs closes the databases (the server stops), so that the directory
// no longer changes on its own.
func (f *fixture) closeDBs(t testing.TB) {
	t.Helper()
	if f.conf != nil {
		if err := f.conf.Close(); err != nil {
			t.Error(err)
		}
		f.conf = nil
	}
	if f.log != nil {
		if err := f.log.Close(); err != nil {
			t.Error(err)
		}
		f.log = nil
	}
}

func (f *fixture) plan() Plan {
	return Plan{Server: testServer, Dir: f.dir, Exclude: []string{"spool"}, Schemas: testSchemas()}
}

// testSchemas are the configuration's and the message log's (the
// securityserver package adds operational monitoring's).
func testSchemas() []Schema {
	return []Schema{
		{Prefix: "ss_", MigrationTable: conf.MigrationTable, Migrations: conf.Migrations()},
		{Prefix: "msglog_", MigrationTable: msglog.MigrationTable, Migrations: msglog.Migrations()},
	}
}

// write makes a backup of the fixture.
func (f *fixture) write(t testing.TB, opts ...func(*WriteOptions)) ([]byte, *Manifest) {
	t.Helper()
	o := WriteOptions{Signer: f.signer, Clock: f.clk, Version: "test", TempDir: t.TempDir()}
	for _, fn := range opts {
		fn(&o)
	}
	var buf bytes.Buffer
	m, err := Write(t.Context(), &buf, f.plan(), o)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), m
}

// restoreOptions restores into dir as the fixture's server, trusting the
// fixture's PKI; Prepare checks that ss.yaml was staged.
func (f *fixture) restoreOptions(dir string) RestoreOptions {
	return RestoreOptions{Dir: dir, Server: testServer, Trust: f.trust, Clock: f.clk, Schemas: testSchemas(),
		Prepare: func(_ context.Context, staged string, m *Manifest) (string, error) {
			if m.Database.Driver != DriverSQLite {
				return "", fmt.Errorf("driver %s", m.Database.Driver)
			}
			_, err := os.Stat(filepath.Join(staged, "ss.yaml"))
			return "", err
		}}
}

// treeHash is a digest of every name, type, permission and content under
// root (and of root's absence), to show that a refused restore changed
// nothing.
func treeHash(t testing.TB, root string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				fmt.Fprintf(h, "absent\n")
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %s\n", rel, fi.Mode())
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%x\n", sha256.Sum256(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// listDir returns the names in dir, sorted.
func listDir(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// entry is one tar entry of a backup, for tests that take one apart.
type entry struct {
	hdr  tar.Header
	data []byte
}

func readEntries(t testing.TB, b []byte) []entry {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out []entry
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{hdr: *h, data: data})
	}
}

func writeEntries(t testing.TB, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range es {
		h := e.hdr
		h.Size = int64(len(e.data))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func entryIndex(t testing.TB, es []entry, name string) int {
	t.Helper()
	for i, e := range es {
		if e.hdr.Name == name {
			return i
		}
	}
	t.Fatalf("no entry %s", name)
	return -1
}

// manifestPayload returns the JSON inside the signed manifest.
func manifestPayload(t testing.TB, es []entry) []byte {
	t.Helper()
	payload, _, err := parseManifestJWS(es[0].data)
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

// withPayload replaces the manifest's payload, keeping its header and
// signature.
func withPayload(t testing.TB, jws, payload []byte) []byte {
	t.Helper()
	parts := strings.Split(string(jws), ".")
	parts[1] = b64(payload)
	return []byte(strings.Join(parts, "."))
}
