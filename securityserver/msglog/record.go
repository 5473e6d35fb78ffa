package msglog

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver/message"
)

// Direction says whether a record holds a request or a response.
type Direction string

// The directions.
const (
	Request  Direction = "REQUEST"
	Response Direction = "RESPONSE"
)

// Side says which security server wrote a record: the consumer's (which
// signs requests and verifies responses) or the provider's (which verifies
// requests and signs responses).
type Side string

// The sides.
const (
	Consumer Side = "CONSUMER"
	Provider Side = "PROVIDER"
)

// Record is one logged message. The fields marked "set by Append" are
// ignored on input and filled in when the record is committed; the others
// describe the message and are checked against its signed header.
//
// RequestRecord and ResponseRecord fill in a Record from the message
// package's headers; the caller then sets Body (unless Log.WantsBody says
// the body is not logged).
type Record struct {
	// ID is the record's position in the log, from 1, without gaps, in
	// commit order. Set by Append.
	ID int64
	// LoggedAt is when the record's transaction was written (the log's
	// clock, microsecond precision, UTC). Set by Append.
	LoggedAt time.Time
	// PrevHash and Hash are the record's links in the hash chain (docs/protocol.md, "Message log").
	// Set by Append.
	PrevHash, Hash []byte

	// Direction and Side say what the record holds and who wrote it.
	Direction Direction
	Side      Side
	// MessageID is the exchange's message id (X-Road-Id), the same for the
	// request and its response.
	MessageID string
	// RequestDigest identifies the request of the exchange: the SHA-256 of
	// its canonical header (message.RequestHeader.Digest). For a request it
	// is the digest of SignedHeader; for a response, the digest the
	// response answers (ResponseHeader.RequestDigest).
	RequestDigest []byte
	// Client, Service, UserID, Issue and RepresentedParty are the request's
	// X-Road metadata (for a response, the request's).
	Client           xroad.ClientID
	Service          xroad.ServiceID
	UserID           string
	Issue            string
	RepresentedParty string
	// Time is the signed time of this message (millisecond precision).
	Time time.Time
	// Method, Path and Query are the HTTP request line of a request ("" for
	// a response): Path is the escaped path after the service code, Query
	// the raw query.
	Method, Path, Query string
	// Status is the HTTP status of a response (0 for a request).
	Status int

	// SignedHeader is the canonical header the signature covers (the JWS
	// payload).
	SignedHeader []byte
	// Signature is the compact JWS, as sent or received.
	Signature string
	// Signer is the member whose sign certificate (the first of the JWS's
	// x5c) signed the message. Set by Append from the certificate; if set
	// on input it must match.
	Signer xroad.MemberID
	// Chain is the JWS's x5c (DER, signer's certificate first) and OCSP
	// the stapled OCSP response (DER). Set by Append from the JWS, and
	// filled in by Get and Find.
	Chain [][]byte
	OCSP  []byte
	// SignerCertHash and OCSPHash are the SHA-256 digests of Chain[0] and
	// OCSP: the keys of the tables that store them. Set by Append.
	SignerCertHash, OCSPHash []byte

	// BodySHA256 and BodySize describe the body, as the signed header does.
	BodySHA256 []byte
	BodySize   int64
	// Body is the body itself. On input it is required (nil only for an
	// empty body) when Log.WantsBody reports true, and ignored otherwise.
	// Get and Find return it when it was logged and its key is available.
	Body []byte
	// BodyLogged reports that the body was stored (encrypted), and
	// BodyKeyID names the key it was encrypted with. Set by Append.
	BodyLogged bool
	BodyKeyID  string
}

// RequestRecord returns the record of a signed request: h is the request's
// header and signature its compact JWS (from message.SignRequest, or
// Verified.Signature on the provider's side). The caller sets Body.
func RequestRecord(side Side, h message.RequestHeader, signature string) Record {
	return Record{
		Direction:        Request,
		Side:             side,
		MessageID:        h.ID,
		RequestDigest:    h.Digest(),
		Client:           h.Client,
		Service:          h.Service,
		UserID:           h.UserID,
		Issue:            h.Issue,
		RepresentedParty: h.RepresentedParty,
		Time:             h.Time.UTC().Truncate(time.Millisecond),
		Method:           h.Method,
		Path:             h.Path,
		Query:            h.RawQuery,
		SignedHeader:     h.Canonical(),
		Signature:        signature,
		BodySHA256:       bytes.Clone(h.BodyDigest),
		BodySize:         h.BodySize,
	}
}

// ResponseRecord returns the record of a signed response h to the request
// req, with signature its compact JWS. The caller sets Body.
func ResponseRecord(side Side, req message.RequestHeader, h message.ResponseHeader, signature string) Record {
	return Record{
		Direction:        Response,
		Side:             side,
		MessageID:        req.ID,
		RequestDigest:    bytes.Clone(h.RequestDigest),
		Client:           req.Client,
		Service:          req.Service,
		UserID:           req.UserID,
		Issue:            req.Issue,
		RepresentedParty: req.RepresentedParty,
		Time:             h.Time.UTC().Truncate(time.Millisecond),
		Status:           h.Status,
		SignedHeader:     h.Canonical(),
		Signature:        signature,
		BodySHA256:       bytes.Clone(h.BodyDigest),
		BodySize:         h.BodySize,
	}
}

// localSubsystem is the client of this security server the record
// concerns: the consumer on the consumer's side, the provider on the
// provider's.
func (r *Record) localSubsystem() xroad.ClientID {
	if r.Side == Provider {
		return r.Service.Provider
	}
	return r.Client
}

// protectedHeader is the JWS protected header jisr signs with, in the
// member order message's canonical form has ({"alg","jisr.ocsp","typ",
// "x5c"}, encoding/json).
type protectedHeader struct {
	Alg  string   `json:"alg"`
	OCSP string   `json:"jisr.ocsp"`
	Typ  string   `json:"typ"`
	X5C  []string `json:"x5c"`
}

// prepared is a validated record with everything the writer needs: the
// parts of its JWS, and the digests of its certificates and OCSP response.
type prepared struct {
	rec          Record   // a copy of the caller's record, normalised
	certHashes   [][]byte // SHA-256 of each of rec.Chain
	jwsAlg       string
	jwsTyp       string
	jwsProtected []byte // the raw protected header, only if it cannot be rebuilt
	jwsSignature []byte
	body         []byte // the plaintext to encrypt, nil when not logged
}

// Limits of what a record may carry, beyond those message enforces on the
// signed header.
const (
	// MaxBodySize bounds a logged body (the body is held in memory while
	// it is encrypted and written).
	MaxBodySize = 64 << 20
	// DefaultMaxLoggedBody is the default largest body stored: X-Road's
	// 10 MiB. Larger bodies are logged by digest and size.
	DefaultMaxLoggedBody = 10 << 20
	// maxSignatureLength bounds the compact JWS.
	maxSignatureLength = 1 << 20
)

// invalid returns an error wrapping ErrInvalidRecord.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRecord, fmt.Sprintf(format, args...))
}

// prepare checks r and derives what the log stores beyond it. It runs in
// the appending goroutine, so its cost is paid in parallel. withBody says
// whether the body is to be logged.
func prepare(r *Record, withBody bool, signers *signerCache) (*prepared, error) {
	p := &prepared{rec: *r}
	rec := &p.rec
	rec.ID, rec.LoggedAt, rec.PrevHash, rec.Hash = 0, time.Time{}, nil, nil
	rec.BodyLogged, rec.BodyKeyID = false, ""
	rec.Time = rec.Time.UTC()

	switch rec.Side {
	case Consumer, Provider:
	default:
		return nil, invalid("side %q", rec.Side)
	}
	if err := rec.Client.Validate(); err != nil {
		return nil, invalid("client: %v", err)
	}
	if err := rec.Service.Validate(); err != nil {
		return nil, invalid("service: %v", err)
	}
	for _, f := range []struct{ name, v string }{
		{"message id", rec.MessageID}, {"user id", rec.UserID}, {"issue", rec.Issue},
		{"represented party", rec.RepresentedParty}, {"method", rec.Method}, {"path", rec.Path}, {"query", rec.Query},
	} {
		// PostgreSQL TEXT refuses NUL and invalid UTF-8: refuse them here,
		// for this record alone, rather than fail a whole batch.
		if !utf8.ValidString(f.v) || strings.IndexByte(f.v, 0) >= 0 {
			return nil, invalid("%s is not valid UTF-8 without NUL", f.name)
		}
	}
	if len(rec.BodySHA256) != sha256.Size || rec.BodySize < 0 {
		return nil, invalid("body digest must be %d bytes and size non-negative", sha256.Size)
	}
	if len(rec.RequestDigest) != sha256.Size {
		return nil, invalid("request digest must be %d bytes", sha256.Size)
	}
	if err := checkSigned(rec); err != nil {
		return nil, err
	}
	if err := p.splitJWS(signers); err != nil {
		return nil, err
	}
	if withBody {
		if rec.Body == nil && rec.BodySize != 0 {
			return nil, invalid("body logging is on for %s but the record has no body", rec.localSubsystem())
		}
		if rec.BodySize > MaxBodySize {
			return nil, invalid("body of %d bytes exceeds the logged maximum of %d", rec.BodySize, MaxBodySize)
		}
		if int64(len(rec.Body)) != rec.BodySize {
			return nil, invalid("body is %d bytes, the header says %d", len(rec.Body), rec.BodySize)
		}
		if d := sha256.Sum256(rec.Body); !bytes.Equal(d[:], rec.BodySHA256) {
			return nil, invalid("body does not match its signed digest")
		}
		p.body = rec.Body
		if p.body == nil {
			p.body = []byte{}
		}
	}
	rec.Body = nil
	return p, nil
}

// checkSigned checks that the record's metadata is what its signed header
// says.
func checkSigned(rec *Record) error {
	mismatch := func(field string) error { return invalid("%s differs from the signed header", field) }
	switch rec.Direction {
	case Request:
		h, err := message.ParseCanonicalRequest(rec.SignedHeader)
		if err != nil {
			return invalid("signed header: %v", err)
		}
		switch {
		case rec.MessageID != h.ID:
			return mismatch("message id")
		case rec.Client != h.Client:
			return mismatch("client")
		case rec.Service != h.Service:
			return mismatch("service")
		case rec.UserID != h.UserID:
			return mismatch("user id")
		case rec.Issue != h.Issue:
			return mismatch("issue")
		case rec.RepresentedParty != h.RepresentedParty:
			return mismatch("represented party")
		case !rec.Time.Equal(h.Time):
			return mismatch("time")
		case rec.Method != h.Method || rec.Path != h.Path || rec.Query != h.RawQuery:
			return mismatch("request line")
		case rec.Status != 0:
			return invalid("a request has no status")
		case !bytes.Equal(rec.BodySHA256, h.BodyDigest) || rec.BodySize != h.BodySize:
			return mismatch("body digest or size")
		case !bytes.Equal(rec.RequestDigest, h.Digest()):
			return mismatch("request digest")
		}
	case Response:
		h, err := message.ParseCanonicalResponse(rec.SignedHeader)
		if err != nil {
			return invalid("signed header: %v", err)
		}
		switch {
		case rec.MessageID == "":
			return invalid("a response record needs the request's message id")
		case rec.Method != "" || rec.Path != "" || rec.Query != "":
			return invalid("a response has no request line")
		case rec.Status != h.Status:
			return mismatch("status")
		case !rec.Time.Equal(h.Time):
			return mismatch("time")
		case !bytes.Equal(rec.BodySHA256, h.BodyDigest) || rec.BodySize != h.BodySize:
			return mismatch("body digest or size")
		case !bytes.Equal(rec.RequestDigest, h.RequestDigest):
			return mismatch("request digest")
		}
	default:
		return invalid("direction %q", rec.Direction)
	}
	return nil
}

// splitJWS takes the compact JWS apart: the payload must be the signed
// header; the certificates and OCSP response of the protected header are
// stored in their own tables, and the protected header is kept verbatim
// only if it cannot be rebuilt from them byte for byte.
func (p *prepared) splitJWS(signers *signerCache) error {
	rec := &p.rec
	if len(rec.Signature) > maxSignatureLength {
		return invalid("signature longer than %d bytes", maxSignatureLength)
	}
	parts := strings.Split(rec.Signature, ".")
	if len(parts) != 3 {
		return invalid("signature is not a compact JWS")
	}
	var raw [3][]byte
	for i, s := range parts {
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil {
			return invalid("signature part %d: %v", i+1, err)
		}
		raw[i] = b
	}
	if !bytes.Equal(raw[1], rec.SignedHeader) {
		return invalid("the signature's payload is not the signed header")
	}
	var h protectedHeader
	if err := json.Unmarshal(raw[0], &h); err != nil {
		return invalid("protected header: %v", err)
	}
	if h.Alg == "" || h.Typ == "" || len(h.X5C) == 0 || h.OCSP == "" {
		return invalid("protected header lacks alg, typ, x5c or %s", message.HeaderOCSP)
	}
	ocsp, err := base64.StdEncoding.Strict().DecodeString(h.OCSP)
	if err != nil || len(ocsp) == 0 {
		return invalid("protected header: %s is not base64", message.HeaderOCSP)
	}
	rec.OCSP = ocsp
	rec.OCSPHash = digest(ocsp)
	rec.Chain = make([][]byte, len(h.X5C))
	p.certHashes = make([][]byte, len(h.X5C))
	for i, s := range h.X5C {
		der, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || len(der) == 0 {
			return invalid("protected header: x5c[%d] is not base64", i)
		}
		rec.Chain[i] = der
		p.certHashes[i] = digest(der)
	}
	rec.SignerCertHash = p.certHashes[0]
	signer, err := signers.member(rec.Chain[0], p.certHashes[0])
	if err != nil {
		return invalid("signer certificate: %v", err)
	}
	if rec.Signer != (xroad.MemberID{}) && rec.Signer != signer {
		return invalid("signer %s, but the certificate names %s", rec.Signer, signer)
	}
	rec.Signer = signer
	p.jwsAlg, p.jwsTyp, p.jwsSignature = h.Alg, h.Typ, raw[2]
	if !bytes.Equal(rebuildProtected(h.Alg, h.Typ, rec.Chain, ocsp), raw[0]) {
		p.jwsProtected = raw[0]
	}
	return nil
}

// rebuildProtected returns the protected header jisr's signer writes for
// these parts.
func rebuildProtected(alg, typ string, chain [][]byte, ocsp []byte) []byte {
	h := protectedHeader{Alg: alg, Typ: typ, OCSP: base64.StdEncoding.EncodeToString(ocsp), X5C: make([]string, len(chain))}
	for i, der := range chain {
		h.X5C[i] = base64.StdEncoding.EncodeToString(der)
	}
	b, err := json.Marshal(h)
	if err != nil {
		// Marshalling strings cannot fail.
		panic(err)
	}
	return b
}

// compactJWS rebuilds the compact JWS from its stored parts.
func compactJWS(protected, payload, signature []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString(protected) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString(signature)
}

// digest returns the SHA-256 digest of b.
func digest(b []byte) []byte {
	d := sha256.Sum256(b)
	return d[:]
}

// signerCache remembers the member each signer certificate names, so that
// a certificate is parsed once rather than for every record it signed. It
// is safe for concurrent use; a nil cache parses every time.
type signerCache struct {
	mu sync.Mutex
	m  map[string]xroad.MemberID
}

// maxSigners bounds signerCache.
const maxSigners = 4096

func newSignerCache() *signerCache { return &signerCache{m: map[string]xroad.MemberID{}} }

// member returns the member the certificate der (with SHA-256 hash) names
// under the sign profile.
func (c *signerCache) member(der, hash []byte) (xroad.MemberID, error) {
	if c != nil {
		c.mu.Lock()
		m, ok := c.m[string(hash)]
		c.mu.Unlock()
		if ok {
			return m, nil
		}
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return xroad.MemberID{}, err
	}
	m, err := profile.MemberIDFromCert(leaf)
	if err != nil {
		return xroad.MemberID{}, err
	}
	if c != nil {
		c.mu.Lock()
		if len(c.m) >= maxSigners {
			clear(c.m)
		}
		c.m[string(hash)] = m
		c.mu.Unlock()
	}
	return m, nil
}
