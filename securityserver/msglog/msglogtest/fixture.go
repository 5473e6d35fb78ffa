package msglogtest

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/testpki"
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
// throw-away testpki hierarchy. The OCSP "responses" are opaque bytes (the
// log does not parse them).
type Fixture struct {
	Consumer, Provider message.Signer
}

// NewFixture creates the CA, the two members' keys and certificates.
func NewFixture(t testing.TB) *Fixture {
	t.Helper()
	p := testpki.New(t, Start, testpki.Name("msglogtest"),
		testpki.LeafValidity(Start.Add(-time.Hour), Start.Add(90*24*time.Hour)))
	signer := func(m xroad.MemberID) message.Signer {
		key, chain := p.Leaf(t, profile.Sign, m)
		return message.Signer{Key: key, Chain: chain, OCSP: []byte("ocsp response for " + m.String())}
	}
	return &Fixture{Consumer: signer(ConsumerMember), Provider: signer(ProviderMember)}
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
