package msglogtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver/message"
	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// Identifiers of the fixture's world.
var (
	ConsumerMember = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	ProviderMember = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOF"}
	Client         = ConsumerMember.Subsystem("civil-registry")
	Service        = xroad.ServiceID{Provider: ProviderMember.Subsystem("tax"), Code: "persons", Version: "v1"}
)

// Start is the time of the fixture's messages and the suite's fake clock.
var Start = time.Date(2026, 5, 1, 10, 0, 0, 123_000_000, time.UTC)

// Fixture signs requests and responses as a consumer's and a provider's
// security server would, with certificates of the sign profile from a
// throw-away CA. The OCSP "responses" are opaque bytes (the log does not
// parse them).
type Fixture struct {
	Consumer, Provider message.Signer
}

// NewFixture creates the CA, the two members' keys and certificates.
func NewFixture(t testing.TB) *Fixture {
	t.Helper()
	caKey := ecKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "msglogtest CA"},
		NotBefore: Start.Add(-24 * time.Hour), NotAfter: Start.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true,
	}
	ca := mustCert(t, caTmpl, caTmpl, caKey.Public(), caKey)
	signer := func(serial int64, m xroad.MemberID) message.Signer {
		key := ecKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			NotBefore:    Start.Add(-time.Hour), NotAfter: Start.Add(90 * 24 * time.Hour),
			PublicKey: key.Public(),
		}
		if err := profile.Apply(tmpl, profile.Sign, m); err != nil {
			t.Fatal(err)
		}
		leaf := mustCert(t, tmpl, ca, key.Public(), caKey)
		return message.Signer{Key: key, Chain: []*x509.Certificate{leaf, ca}, OCSP: []byte("ocsp response for " + m.String())}
	}
	return &Fixture{Consumer: signer(2, ConsumerMember), Provider: signer(3, ProviderMember)}
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
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

// Exchange is a signed request and its signed response.
type Exchange struct {
	Req      message.RequestHeader
	ReqSig   string
	ReqBody  []byte
	Resp     message.ResponseHeader
	RespSig  string
	RespBody []byte
}

// NewExchange signs a request with message id id from Client to Service,
// with the given user id and bodies, and its 200 response.
func (f *Fixture) NewExchange(t testing.TB, id, userID string, reqBody, respBody []byte) *Exchange {
	t.Helper()
	rs := sha256.Sum256(reqBody)
	req := message.RequestHeader{
		Version: message.Version, ID: id, Client: Client, Service: Service,
		UserID: userID, Issue: "issue-" + id, Time: Start,
		Method: http.MethodPost, Path: "/lookup", RawQuery: "q=1",
		Headers: http.Header{"Content-Type": {"application/json"}}, BodyDigest: rs[:], BodySize: int64(len(reqBody)),
	}
	reqSig, err := message.SignRequest(req, f.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	ps := sha256.Sum256(respBody)
	resp := message.ResponseHeader{
		Version: message.Version, RequestDigest: req.Digest(), Status: http.StatusOK,
		Headers: http.Header{}, BodyDigest: ps[:], BodySize: int64(len(respBody)), Time: Start.Add(time.Second),
	}
	respSig, err := message.SignResponse(resp, f.Provider)
	if err != nil {
		t.Fatal(err)
	}
	return &Exchange{Req: req, ReqSig: reqSig, ReqBody: reqBody, Resp: resp, RespSig: respSig, RespBody: respBody}
}

// Request returns the record of the exchange's request on side, with its
// body.
func (e *Exchange) Request(side msglog.Side) msglog.Record {
	r := msglog.RequestRecord(side, e.Req, e.ReqSig)
	r.Body = e.ReqBody
	return r
}

// Response returns the record of the exchange's response on side, with
// its body.
func (e *Exchange) Response(side msglog.Side) msglog.Record {
	r := msglog.ResponseRecord(side, e.Req, e.Resp, e.RespSig)
	r.Body = e.RespBody
	return r
}

// Records returns n records of distinct exchanges (requests and responses
// alternating), for benchmarks and load tests.
func (f *Fixture) Records(t testing.TB, n int, bodySize int) []msglog.Record {
	t.Helper()
	body := make([]byte, bodySize)
	out := make([]msglog.Record, 0, n)
	for i := 0; len(out) < n; i++ {
		e := f.NewExchange(t, fmt.Sprintf("msg-%d", i), fmt.Sprintf("user-%d", i%7), body, body)
		out = append(out, e.Request(msglog.Consumer))
		if len(out) < n {
			out = append(out, e.Response(msglog.Consumer))
		}
	}
	return out
}
