package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/pki/tsa"
	"github.com/jisr-bus/jisr/securityserver/message"
	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/msglog/msglogtest"
)

// serverID is the security server writing the test archives.
var serverID = xroad.ServerID{Owner: msglogtest.ProviderMember, Code: "ss1"}

// counterSerials is an in-memory tsa.SerialSource.
type counterSerials struct {
	mu   sync.Mutex
	next int64
}

func (s *counterSerials) Next(context.Context) (*big.Int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	return big.NewInt(s.next), nil
}

// testTSA is a pki/tsa.Server on httptest, with a root and a TSA
// certificate valid around the wall-clock time (openssl checks at now).
type testTSA struct {
	root *x509.Certificate
	url  string
}

func newTestTSA(t testing.TB) *testTSA {
	t.Helper()
	now := time.Now()
	rootKey, tsaKey := testpki.NewKey(t), testpki.NewKey(t)
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "archive test TSA root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true,
	}
	root := testpki.CreateCert(t, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	leaf := testpki.CreateCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "archive test TSA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{tsa.TimeStampingEKUExtension()},
	}, root, tsaKey.Public(), rootKey)
	srv, err := tsa.New(tsa.Config{Certificate: leaf, Signer: tsaKey, Serials: &counterSerials{}, Clock: clock.System()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &testTSA{root: root, url: hs.URL}
}

// tsaClient adapts pki/tsa.Stamp to msglog.TSAClient.
type tsaClient struct{ url string }

func (c tsaClient) Stamp(ctx context.Context, digest []byte) ([]byte, error) {
	return tsa.Stamp(ctx, http.DefaultClient, c.url, digest, crypto.SHA256)
}

// world is a message log with properly signed records and real
// time-stamps, and the trust to verify its archives.
type world struct {
	ctx    context.Context
	log    *msglog.Log
	fix    *msglogtest.Fixture
	ts     *msglog.Timestamper
	tsa    *testTSA
	pki    *testpki.PKI
	signer ManifestSigner
	trust  Trust
	clk    clock.Clock
	n      int
	dbPath string // the log's SQLite file
}

// newWorld creates the log and appends exchanges, stamping after each
// batch: batches[i] exchanges (4 records each) then a time-stamp.
func newWorld(t testing.TB, batches ...int) *world {
	t.Helper()
	ctx := context.Background()
	start := msglogtest.Start
	p := testpki.New(t, start, testpki.Name("archivetest"), testpki.LeafValidity(start.Add(-time.Hour), start.Add(90*24*time.Hour)))
	sig := func(m xroad.MemberID) message.Signer {
		key, chain := p.Leaf(t, profile.Sign, m)
		return message.Signer{Key: key, Chain: chain, OCSP: p.OCSP(t, chain[0], ocsp.Good, start.Add(-time.Minute))}
	}
	keys, err := msglog.NewStaticKeys("A", map[string][]byte{"A": bytes.Repeat([]byte{0xa}, msglog.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	dbPath := storetest.SQLitePath(t)
	l, err := msglog.OpenSQLite(ctx, dbPath, msglog.WithKeys(keys), msglog.WithClock(clock.NewFake(start.Add(2*time.Second))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	ta := newTestTSA(t)
	ts, err := msglog.NewTimestamper(msglog.TimestamperConfig{Log: l, TSA: tsaClient{url: ta.url}})
	if err != nil {
		t.Fatal(err)
	}
	authKey, authChain := p.Leaf(t, profile.Auth, serverID, "ss1.example")
	tsaRoots := x509.NewCertPool()
	tsaRoots.AddCert(ta.root)
	w := &world{ctx: ctx, log: l, fix: &msglogtest.Fixture{Consumer: sig(msglogtest.ConsumerMember), Provider: sig(msglogtest.ProviderMember)},
		ts: ts, tsa: ta, pki: p, signer: ManifestSigner{Key: authKey, Chain: authChain},
		trust: Trust{Roots: p.Roots(), VerifyTimestamp: TSAVerifier(tsaRoots, nil)},
		clk:   clock.NewFake(start.Add(time.Hour)), dbPath: dbPath}
	for _, n := range batches {
		w.exchanges(t, n)
		w.stamp(t)
	}
	return w
}

// exchanges appends n exchanges: request and response, consumer and
// provider side.
func (w *world) exchanges(t testing.TB, n int) {
	t.Helper()
	for range n {
		w.n++
		id := fmt.Sprintf("msg-%d", w.n)
		x := w.fix.NewExchange(t, id, "user-1", []byte(`{"q":"`+id+`"}`), []byte(`{"a":"`+id+`"}`))
		for _, r := range []msglog.Record{x.Request(msglog.Consumer), x.Request(msglog.Provider), x.Response(msglog.Provider), x.Response(msglog.Consumer)} {
			if err := w.log.Append(w.ctx, &r); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func (w *world) stamp(t testing.TB) {
	t.Helper()
	if err := w.ts.Stamp(w.ctx); err != nil {
		t.Fatal(err)
	}
}

// write writes an archive.
func (w *world) write(t testing.TB, from, to int64, prev []byte) ([]byte, Manifest) {
	t.Helper()
	var buf bytes.Buffer
	m, err := Write(w.ctx, &buf, w.log, WriteOptions{Server: serverID, From: from, To: to, PrevManifestHash: prev, Signer: w.signer, Clock: w.clk})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes(), m
}

// verify verifies b as an archive under trust.
func verifyBytes(b []byte, trust Trust) (*Report, error) {
	return Verify(context.Background(), bytes.NewReader(b), int64(len(b)), trust)
}

// tarEntry is an entry for tampering.
type tarEntry struct {
	name string
	data []byte
}

func readTar(t testing.TB, b []byte) []tarEntry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out []tarEntry
	for {
		hdr, err := tr.Next()
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
		out = append(out, tarEntry{hdr.Name, data})
	}
}

func writeTar(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Format: tar.FormatUSTAR}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// resign rebuilds the manifest of entries (the manifest last) over the
// other entries and signs it with s, as an operator holding the key could.
func resign(t testing.TB, entries []tarEntry, s ManifestSigner) []byte {
	t.Helper()
	last := entries[len(entries)-1]
	parts := strings.Split(string(last.data), ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var mj manifestJSON
	if err := strictUnmarshal(payload, &mj); err != nil {
		t.Fatal(err)
	}
	mj.Entries = nil
	for _, e := range entries[:len(entries)-1] {
		mj.Entries = append(mj.Entries, entryJSON{Name: e.name, Size: int64(len(e.data)), SHA256: sum(e.data)})
	}
	jws, err := signManifest(mustMarshal(mj), s)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]tarEntry(nil), entries[:len(entries)-1]...)
	return writeTar(t, append(out, tarEntry{manifestName, []byte(jws)}))
}

// index returns the position of the entry named name.
func index(t testing.TB, entries []tarEntry, name string) int {
	t.Helper()
	for i, e := range entries {
		if e.name == name {
			return i
		}
	}
	t.Fatalf("no entry %s", name)
	return -1
}

// wantFailure checks that err is a *VerifyError for record id (0: any)
// whose text contains want.
func wantFailure(t testing.TB, err error, id int64, want string) {
	t.Helper()
	ve, ok := errors.AsType[*VerifyError](err)
	if !ok || !errors.Is(err, ErrInvalid) {
		t.Fatalf("error = %v, want a *VerifyError", err)
	}
	if id != 0 && ve.RecordID != id {
		t.Errorf("error names record %d, want %d: %v", ve.RecordID, id, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}
