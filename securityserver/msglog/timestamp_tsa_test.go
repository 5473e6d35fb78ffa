package msglog_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/internal/testutil"
	"github.com/jisr-bus/jisr/pki/tsa"
	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/msglog/msglogtest"
)

// tsaClient is the adapter the security server puts over pki/tsa.Stamp:
// one TSA URL, SHA-256 imprints.
type tsaClient struct {
	client *http.Client
	url    string
}

func (c tsaClient) Stamp(ctx context.Context, digest []byte) ([]byte, error) {
	token, _, err := c.StampFrom(ctx, digest)
	return token, err
}

func (c tsaClient) StampFrom(ctx context.Context, digest []byte) ([]byte, string, error) {
	token, err := tsa.Stamp(ctx, c.client, c.url, digest, crypto.SHA256)
	return token, c.url, err
}

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

// testTSA is a pki/tsa.Server on httptest with a throw-away root and a TSA
// certificate (critical timeStamping EKU) valid around the wall-clock
// time, since openssl checks certificates at the current time.
type testTSA struct {
	root *x509.Certificate
	url  string
}

func newTestTSA(t *testing.T) *testTSA {
	t.Helper()
	now := time.Now()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	issue := func(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	rootKey, tsaKey := newKey(), newKey()
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "msglog test TSA root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true,
	}
	root := issue(rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	leaf := issue(&x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "msglog test TSA"},
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

// verifier returns the verify function for VerifyTimestamps over roots.
func verifier(roots ...*x509.Certificate) func(token, digest []byte) error {
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	return func(token, digest []byte) error {
		_, err := tsa.Verify(token, digest, crypto.SHA256, pool, nil)
		return err
	}
}

// preimage builds the data a token's imprint is the SHA-256 of, from
// docs/protocol.md ("Time-stamps") rather than from the package's code.
func preimage(prev []byte, from, to int64, head []byte) []byte {
	str := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	var out []byte
	out = append(out, str([]byte("jisr-msglog-ts/1"))...)
	out = append(out, str(prev)...)
	out = binary.BigEndian.AppendUint64(out, uint64(from))
	out = binary.BigEndian.AppendUint64(out, uint64(to))
	return append(out, str(head)...)
}

// TestTimestampsRFC3161 stamps a log through a real RFC 3161 TSA
// (pki/tsa.Server over HTTP) and verifies the stored tokens with
// pki/tsa.Verify and with `openssl ts -verify`.
func TestTimestampsRFC3161(t *testing.T) {
	ctx := t.Context()
	ta := newTestTSA(t)
	l, err := msglog.OpenSQLite(ctx, storetest.SQLitePath(t), msglog.MetadataOnly())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	ts, err := msglog.NewTimestamper(msglog.TimestamperConfig{Log: l, TSA: tsaClient{client: http.DefaultClient, url: ta.url}})
	if err != nil {
		t.Fatal(err)
	}
	recs := msglogtest.NewFixture(t).Records(t, 30, 16)
	for i := range recs {
		if err := l.Append(ctx, &recs[i]); err != nil {
			t.Fatal(err)
		}
		if i == 9 || i == 29 {
			if err := ts.Stamp(ctx); err != nil {
				t.Fatalf("Stamp: %v", err)
			}
		}
	}
	res, err := l.VerifyTimestamps(ctx, verifier(ta.root))
	if err != nil || res.Tokens != 2 || res.To != 30 {
		t.Fatalf("VerifyTimestamps = %+v, %v; want 2 tokens up to 30", res, err)
	}
	stamps, err := l.Timestamps(ctx, 0, 0)
	if err != nil || len(stamps) != 2 {
		t.Fatalf("Timestamps = %d, %v", len(stamps), err)
	}
	if stamps[1].From != 11 || stamps[1].To != 30 || stamps[1].TSA != ta.url {
		t.Errorf("second time-stamp %d..%d from %q", stamps[1].From, stamps[1].To, stamps[1].TSA)
	}

	// Under another root the tokens do not verify.
	other := newTestTSA(t)
	_, err = l.VerifyTimestamps(ctx, verifier(other.root))
	if te, ok := errors.AsType[*msglog.TimestampError](err); !ok || te.ID != 1 {
		t.Errorf("VerifyTimestamps under another root = %v, want *TimestampError for time-stamp 1", err)
	}

	t.Run("openssl", func(t *testing.T) {
		openssl := testutil.RequireTool(t, "openssl")
		dir := t.TempDir()
		write := func(name string, data []byte) {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		run := func(args ...string) (string, error) {
			cmd := exec.CommandContext(t.Context(), openssl, args...)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		write("root.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ta.root.Raw}))
		s := stamps[1]
		write("token.der", s.Token)
		// The auditor's view: the pre-image rebuilt from the records'
		// hashes as docs/protocol.md ("Time-stamps") specifies.
		write("imprint.bin", preimage(stamps[0].HeadHash, s.From, s.To, s.HeadHash))
		digest := msglog.TimestampImprint(stamps[0].HeadHash, s.From, s.To, s.HeadHash)
		if sum := sha256.Sum256(preimage(stamps[0].HeadHash, s.From, s.To, s.HeadHash)); hex.EncodeToString(sum[:]) != hex.EncodeToString(digest) {
			t.Fatalf("TimestampImprint %x is not SHA-256 of the documented pre-image %x", digest, sum)
		}
		for _, args := range [][]string{
			{"-digest", hex.EncodeToString(digest)},
			{"-data", "imprint.bin"},
		} {
			out, err := run(append([]string{"ts", "-verify", "-token_in", "-in", "token.der", "-CAfile", "root.pem"}, args...)...)
			if err != nil || !strings.Contains(out, "Verification: OK") {
				t.Errorf("openssl ts -verify %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		// The other range's digest is refused.
		other := msglog.TimestampImprint(msglog.GenesisHash(), stamps[0].From, stamps[0].To, stamps[0].HeadHash)
		if out, err := run("ts", "-verify", "-token_in", "-in", "token.der", "-CAfile", "root.pem", "-digest", hex.EncodeToString(other)); err == nil {
			t.Errorf("openssl ts -verify accepted the token for another range's digest:\n%s", out)
		}
	})
}

// TestTimestamperRun checks that Run stamps at once and stops with its
// context.
func TestTimestamperRun(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	l, err := msglog.OpenSQLite(ctx, storetest.SQLitePath(t), msglog.MetadataOnly())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	rec := msglogtest.NewFixture(t).Records(t, 1, 0)[0]
	if err := l.Append(ctx, &rec); err != nil {
		t.Fatal(err)
	}
	fake := msglogtest.NewFakeTSA()
	stamped := make(chan struct{})
	fake.SetBeforeIssue(func() { close(stamped) })
	ts, err := msglog.NewTimestamper(msglog.TimestamperConfig{Log: l, TSA: fake, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ts.Run(ctx) }()
	<-stamped
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if fake.Calls() != 1 {
		t.Errorf("%d TSA calls, want 1", fake.Calls())
	}
}

// TestNewTimestamper checks the configuration errors.
func TestNewTimestamper(t *testing.T) {
	l, err := msglog.OpenSQLite(t.Context(), storetest.SQLitePath(t), msglog.MetadataOnly())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	fake := msglogtest.NewFakeTSA()
	for _, tc := range []struct {
		name string
		cfg  msglog.TimestamperConfig
	}{
		{"no log", msglog.TimestamperConfig{TSA: fake}},
		{"no TSA", msglog.TimestamperConfig{Log: l}},
		{"negative grace", msglog.TimestamperConfig{Log: l, TSA: fake, Grace: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := msglog.NewTimestamper(tc.cfg); err == nil {
				t.Error("NewTimestamper succeeded")
			}
		})
	}
}
