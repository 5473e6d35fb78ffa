package tsa

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/clock"
)

var testNow = time.Date(2030, 5, 6, 7, 8, 9, 500_000_000, time.UTC)

type fixture struct {
	pki     *testPKI
	clk     *clock.Fake
	serials *memSerials
	reg     *prometheus.Registry
	s       *Server
}

func newFixture(t testing.TB, mutate func(*Config)) *fixture {
	t.Helper()
	f := &fixture{
		pki:     newTestPKI(t, testNow),
		clk:     clock.NewFake(testNow),
		serials: &memSerials{next: 41},
		reg:     prometheus.NewRegistry(),
	}
	cfg := Config{
		Certificate: f.pki.tsa,
		Chain:       []*x509.Certificate{f.pki.Issuer},
		Signer:      f.pki.key,
		Serials:     f.serials,
		Clock:       f.clk,
		Registerer:  f.reg,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	return f
}

// query builds a DER TimeStampReq; it may be invalid on purpose.
func query(t testing.TB, alg asn1.ObjectIdentifier, hashed []byte, mutate func(*timeStampReq)) []byte {
	t.Helper()
	req := timeStampReq{
		Version: 1,
		MessageImprint: messageImprint{
			HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: alg, Parameters: asn1.NullRawValue},
			HashedMessage: hashed,
		},
		Nonce:   big.NewInt(0x5eed),
		CertReq: true,
	}
	if mutate != nil {
		mutate(&req)
	}
	der, err := asn1.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func postQuery(t testing.TB, h http.Handler, der []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(der))
	req.Header.Set("Content-Type", "application/timestamp-query")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func counterValue(t testing.TB, reg *prometheus.Registry, name, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if reason == "" {
				return m.GetCounter().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{reason=%q}", name, reason)
	return 0
}

func TestTimeStampingEKUExtension(t *testing.T) {
	ext := TimeStampingEKUExtension()
	var oids []asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(ext.Value, &oids); err != nil || len(rest) != 0 {
		t.Fatalf("value does not decode: %v", err)
	}
	if !ext.Critical || !ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) || len(oids) != 1 || !oids[0].Equal(oidTimeStampingUsage) {
		t.Fatalf("extension = %+v (%v)", ext, oids)
	}
	ext.Value[0] = 0 // callers get a fresh copy each time
	if TimeStampingEKUExtension().Value[0] != 0x30 {
		t.Fatal("TimeStampingEKUExtension shares its bytes")
	}
	if DefaultPolicy().String() != "1.3.6.1.4.1.59999.1.1" {
		t.Fatalf("DefaultPolicy = %v", DefaultPolicy())
	}
}

func TestNew(t *testing.T) {
	p := newTestPKI(t, testNow)
	otherKey := newKey(t)
	nonCritical := p.tsaCert(t, otherKey, func(c *x509.Certificate) {
		c.ExtraExtensions = nil
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}
	})
	extraEKU := p.tsaCert(t, otherKey, func(c *x509.Certificate) {
		c.ExtraExtensions = []pkix.Extension{{
			Id: oidExtKeyUsage, Critical: true,
			Value: mustMarshal(t, []asn1.ObjectIdentifier{oidTimeStampingUsage, {1, 3, 6, 1, 5, 5, 7, 3, 2}}),
		}}
	})
	noEKU := p.tsaCert(t, otherKey, func(c *x509.Certificate) { c.ExtraExtensions = nil })
	certSignKU := p.tsaCert(t, otherKey, func(c *x509.Certificate) { c.KeyUsage |= x509.KeyUsageCertSign })
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edCert := p.tsaCert(t, edKey, func(*x509.Certificate) {})

	base := func() Config {
		return Config{Certificate: p.tsa, Chain: []*x509.Certificate{p.Issuer}, Signer: p.key, Serials: &memSerials{}}
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "no chain", mutate: func(c *Config) { c.Chain = nil }},
		{name: "custom policy and accuracy", mutate: func(c *Config) { c.Policy, c.Accuracy = asn1.ObjectIdentifier{1, 2, 3}, 2500*time.Millisecond }},
		{name: "missing serials", mutate: func(c *Config) { c.Serials = nil }, wantErr: "required"},
		{name: "missing signer", mutate: func(c *Config) { c.Signer = nil }, wantErr: "required"},
		{name: "non-critical EKU", mutate: func(c *Config) { c.Certificate, c.Signer = nonCritical, otherKey }, wantErr: "not critical"},
		{name: "EKU beyond timeStamping", mutate: func(c *Config) { c.Certificate, c.Signer = extraEKU, otherKey }, wantErr: "exactly timeStamping"},
		{name: "no EKU", mutate: func(c *Config) { c.Certificate, c.Signer = noEKU, otherKey }, wantErr: "exactly timeStamping"},
		{name: "keyCertSign usage", mutate: func(c *Config) { c.Certificate, c.Signer = certSignKU, otherKey }, wantErr: "key usage"},
		{name: "signer mismatch", mutate: func(c *Config) { c.Signer = otherKey }, wantErr: "does not hold the key"},
		{name: "wrong chain", mutate: func(c *Config) { c.Chain = []*x509.Certificate{p.Root} }, wantErr: "Chain[0]"},
		{name: "Ed25519 key", mutate: func(c *Config) { c.Certificate, c.Signer = edCert, edKey }, wantErr: "unsupported key type"},
		{name: "sub-second accuracy", mutate: func(c *Config) { c.Accuracy = time.Millisecond }, wantErr: "precision"},
		{name: "one-arc policy", mutate: func(c *Config) { c.Policy = asn1.ObjectIdentifier{1} }, wantErr: "invalid Policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.mutate(&cfg)
			_, err := New(cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("New error = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
	t.Run("duplicate registration", func(t *testing.T) {
		cfg := base()
		cfg.Registerer = prometheus.NewRegistry()
		if _, err := New(cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := New(cfg); err == nil {
			t.Fatal("second New on the same registry succeeded")
		}
	})
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServer(t *testing.T) {
	f := newFixture(t, nil)
	d256 := sha256.Sum256([]byte("record"))
	d384 := sha512.Sum384([]byte("record"))
	d512 := sha512.Sum512([]byte("record"))
	sha1OID := asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	md5OID := asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}

	tests := []struct {
		name      string
		der       []byte
		wantFail  timestamp.FailureInfo // UnknownFailureInfo: granted
		hash      crypto.Hash
		digest    []byte
		wantCerts int
		wantNonce bool
	}{
		{name: "SHA-256 with certReq and nonce", der: query(t, oidSHA256, d256[:], nil), wantFail: timestamp.UnknownFailureInfo, hash: crypto.SHA256, digest: d256[:], wantCerts: 2, wantNonce: true},
		{name: "SHA-384 without certReq", der: query(t, oidSHA384, d384[:], func(r *timeStampReq) { r.CertReq = false }), wantFail: timestamp.UnknownFailureInfo, hash: crypto.SHA384, digest: d384[:], wantNonce: true},
		{name: "SHA-512 without nonce", der: query(t, oidSHA512, d512[:], func(r *timeStampReq) { r.Nonce = nil }), wantFail: timestamp.UnknownFailureInfo, hash: crypto.SHA512, digest: d512[:], wantCerts: 2},
		{name: "absent hash parameters", der: query(t, oidSHA256, d256[:], func(r *timeStampReq) { r.MessageImprint.HashAlgorithm.Parameters = asn1.RawValue{} }), wantFail: timestamp.UnknownFailureInfo, hash: crypto.SHA256, digest: d256[:], wantCerts: 2, wantNonce: true},
		{name: "requested policy is ours", der: query(t, oidSHA256, d256[:], func(r *timeStampReq) { r.ReqPolicy = DefaultPolicy() }), wantFail: timestamp.UnknownFailureInfo, hash: crypto.SHA256, digest: d256[:], wantCerts: 2, wantNonce: true},
		{name: "SHA-1 imprint", der: query(t, sha1OID, make([]byte, 20), nil), wantFail: timestamp.BadAlgorithm},
		{name: "MD5 imprint", der: query(t, md5OID, make([]byte, 16), nil), wantFail: timestamp.BadAlgorithm},
		{name: "hash parameters not NULL", der: query(t, oidSHA256, d256[:], func(r *timeStampReq) {
			r.MessageImprint.HashAlgorithm.Parameters = asn1.RawValue{FullBytes: []byte{0x02, 0x01, 0x00}}
		}), wantFail: timestamp.BadAlgorithm},
		{name: "short imprint", der: query(t, oidSHA256, d256[:31], nil), wantFail: timestamp.BadDataFormat},
		{name: "SHA-256 digest labelled SHA-512", der: query(t, oidSHA512, d256[:], nil), wantFail: timestamp.BadDataFormat},
		{name: "version 2", der: query(t, oidSHA256, d256[:], func(r *timeStampReq) { r.Version = 2 }), wantFail: timestamp.BadDataFormat},
		{name: "other policy", der: query(t, oidSHA256, d256[:], func(r *timeStampReq) { r.ReqPolicy = asn1.ObjectIdentifier{1, 2, 3} }), wantFail: timestamp.UnacceptedPolicy},
		{name: "extension", der: query(t, oidSHA256, d256[:], func(r *timeStampReq) {
			r.Extensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: []byte{5, 0}}}
		}), wantFail: timestamp.UnacceptedExtension},
		{name: "garbage", der: []byte("hello"), wantFail: timestamp.BadDataFormat},
		{name: "empty", der: nil, wantFail: timestamp.BadDataFormat},
		{name: "trailing data", der: append(query(t, oidSHA256, d256[:], nil), 0), wantFail: timestamp.BadDataFormat},
		{name: "oversized", der: make([]byte, MaxRequestSize+1), wantFail: timestamp.BadDataFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			issuedBefore := counterValue(t, f.reg, "jisr_pki_timestamps_issued_total", "")
			rec := postQuery(t, f.s, tc.der)
			if rec.Code != http.StatusOK {
				t.Fatalf("HTTP status %d, want 200 (%s)", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/timestamp-reply" {
				t.Errorf("Content-Type = %q", ct)
			}
			token, err := parseResponse(rec.Body.Bytes())
			if tc.wantFail != timestamp.UnknownFailureInfo {
				var se *StatusError
				if !errors.As(err, &se) || se.Status != timestamp.Rejection || se.FailureInfo != tc.wantFail || se.Text == "" {
					t.Fatalf("reply error = %v, want rejection with %v", err, tc.wantFail)
				}
				if got := counterValue(t, f.reg, "jisr_pki_timestamp_failures_total", failureReason(tc.wantFail)); got < 1 {
					t.Errorf("failure counter %s = %v", failureReason(tc.wantFail), got)
				}
				return
			}
			if err != nil {
				t.Fatalf("reply: %v", err)
			}
			if got := counterValue(t, f.reg, "jisr_pki_timestamps_issued_total", ""); got != issuedBefore+1 {
				t.Errorf("issued counter = %v, want %v", got, issuedBefore+1)
			}
			ts, err := Verify(token, tc.digest, tc.hash, f.pki.Roots(), []*x509.Certificate{f.pki.Issuer, f.pki.tsa})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if len(ts.Certificates) != tc.wantCerts {
				t.Errorf("token has %d certificates, want %d", len(ts.Certificates), tc.wantCerts)
			}
			if tc.wantNonce != (ts.Nonce != nil && ts.Nonce.Cmp(big.NewInt(0x5eed)) == 0) {
				t.Errorf("nonce = %v, want echoed: %v", ts.Nonce, tc.wantNonce)
			}
			if !ts.Time.Equal(testNow.Truncate(time.Second)) || ts.Accuracy != time.Second {
				t.Errorf("time %v ± %v, want %v ± 1s", ts.Time, ts.Accuracy, testNow.Truncate(time.Second))
			}
			if !ts.Policy.Equal(DefaultPolicy()) || ts.SerialNumber.Sign() <= 0 {
				t.Errorf("policy %v serial %v", ts.Policy, ts.SerialNumber)
			}
		})
	}
}

func TestServerSerialsIncrease(t *testing.T) {
	f := newFixture(t, nil)
	d := sha256.Sum256([]byte("x"))
	var last *big.Int
	for i := range 3 {
		token, err := parseResponse(postQuery(t, f.s, query(t, oidSHA256, d[:], nil)).Body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		ts, err := Verify(token, d[:], crypto.SHA256, f.pki.Roots(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if last != nil && ts.SerialNumber.Cmp(last) <= 0 {
			t.Fatalf("token %d serial %v not above %v", i, ts.SerialNumber, last)
		}
		last = ts.SerialNumber
	}
}

func TestServerHTTPAndFailures(t *testing.T) {
	d := sha256.Sum256([]byte("x"))
	good := query(t, oidSHA256, d[:], nil)
	tests := []struct {
		name     string
		method   string
		ct       string
		setup    func(*fixture)
		wantCode int
		wantFail timestamp.FailureInfo
	}{
		{name: "GET", method: http.MethodGet, wantCode: http.StatusMethodNotAllowed},
		{name: "wrong Content-Type", method: http.MethodPost, ct: "application/json", wantCode: http.StatusUnsupportedMediaType},
		{name: "no Content-Type", method: http.MethodPost, wantCode: http.StatusOK, wantFail: timestamp.UnknownFailureInfo},
		{name: "Content-Type with parameter", method: http.MethodPost, ct: "application/timestamp-query; charset=binary", wantCode: http.StatusOK, wantFail: timestamp.UnknownFailureInfo},
		{name: "serial source fails", method: http.MethodPost, ct: "application/timestamp-query",
			setup: func(f *fixture) { f.serials.err = errDisk }, wantCode: http.StatusInternalServerError, wantFail: timestamp.SystemFailure},
		{name: "TSA certificate expired", method: http.MethodPost, ct: "application/timestamp-query",
			setup: func(f *fixture) { f.clk.Set(f.pki.NotAfter.Add(time.Second)) }, wantCode: http.StatusInternalServerError, wantFail: timestamp.SystemFailure},
		{name: "TSA certificate not yet valid", method: http.MethodPost, ct: "application/timestamp-query",
			setup: func(f *fixture) { f.clk.Set(f.pki.NotBefore.Add(-time.Second)) }, wantCode: http.StatusInternalServerError, wantFail: timestamp.SystemFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			if tc.setup != nil {
				tc.setup(f)
			}
			req := httptest.NewRequest(tc.method, "/tsa", bytes.NewReader(good))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			rec := httptest.NewRecorder()
			f.s.ServeHTTP(rec, req)
			if rec.Code != tc.wantCode {
				t.Fatalf("HTTP status = %d, want %d", rec.Code, tc.wantCode)
			}
			if rec.Header().Get("Content-Type") != "application/timestamp-reply" {
				return
			}
			_, err := parseResponse(rec.Body.Bytes())
			if tc.wantFail == timestamp.UnknownFailureInfo {
				if err != nil {
					t.Fatalf("reply: %v", err)
				}
				return
			}
			var se *StatusError
			if !errors.As(err, &se) || se.FailureInfo != tc.wantFail {
				t.Fatalf("reply error = %v, want %v", err, tc.wantFail)
			}
		})
	}
}
