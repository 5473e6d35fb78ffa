package proxy

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/securityserver/message"
)

// Defaults of the proxies' configuration.
const (
	// DefaultMaxSkew is how far a message time may lie from the verifier's
	// clock when the configuration does not say.
	DefaultMaxSkew = 30 * time.Second
	// DefaultMemoryLimit is how much of a body is held in memory before it
	// is spooled to a temporary file.
	DefaultMemoryLimit = 1 << 20
	// DefaultMaxBodySize bounds request and response bodies (X-Road's
	// default maximum loggable REST body is 10 MiB; jisr allows more).
	DefaultMaxBodySize = 100 << 20
	// DefaultServiceTimeout bounds a call to a service whose configuration
	// gives no timeout.
	DefaultServiceTimeout = 60 * time.Second
	// DefaultExchangeTimeout bounds one SS↔SS exchange on the client side.
	DefaultExchangeTimeout = 5 * time.Minute
	// DefaultDownFor is how long a provider address that failed to connect
	// is skipped.
	DefaultDownFor = 30 * time.Second
)

// Headers of the X-Road REST protocol (PR-REST §4.3).
const (
	HeaderClient           = "X-Road-Client"
	HeaderService          = "X-Road-Service"
	HeaderID               = "X-Road-Id"
	HeaderUserID           = "X-Road-UserId"
	HeaderIssue            = "X-Road-Issue"
	HeaderRepresentedParty = "X-Road-Represented-Party"
	HeaderSecurityServer   = "X-Road-Security-Server"
	HeaderRequestID        = "X-Road-Request-Id"
	HeaderRequestHash      = "X-Road-Request-Hash"
)

// HopPath is the request path of every SS↔SS request. The hop is always
// "POST /jisr/r1"; method, path and query of the exchange travel in the
// signed X-Jisr-* headers (docs/protocol.md, "Signed messages between security servers").
const HopPath = "/jisr/r1"

// The reserved service codes of the REST metaservices (PR-MREST).
const (
	MetaListMethods    = "listMethods"
	MetaAllowedMethods = "allowedMethods"
	MetaGetOpenAPI     = "getOpenAPI"
)

// isMetaservice reports whether code is a reserved metaservice code.
func isMetaservice(code string) bool {
	return code == MetaListMethods || code == MetaAllowedMethods || code == MetaGetOpenAPI
}

// verifierFor returns a message verifier for the trust established by doc.
// cache (one per proxy) spares re-verifying the signatures of a signer's
// chain and OCSP response on every message; it is keyed to doc's pools.
func verifierFor(doc *globalconf.Document, clk clock.Clock, maxSkew time.Duration, replay message.ReplayGuard, cache *message.VerifyCache) *message.Verifier {
	return &message.Verifier{
		Cache:          cache,
		Roots:          doc.ApprovedCAPool(),
		Intermediates:  doc.IntermediatePool(),
		OCSPResponders: func(issuer *x509.Certificate) []*x509.Certificate { return pinnedResponders(doc, issuer) },
		OCSPFreshness:  doc.Settings.OCSPFreshness(),
		MaxSkew:        maxSkew,
		Clock:          clk,
		Replay:         replay,
	}
}

// pinnedResponders returns the responder certificates the configuration
// pins for issuer's CA.
func pinnedResponders(doc *globalconf.Document, issuer *x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, r := range doc.OCSPResponders(issuer) {
		if len(r.Certificate) == 0 {
			continue
		}
		if c, err := x509.ParseCertificate(r.Certificate); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// newUUID returns a random version-4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// lastHeader returns the last value of header name in h and whether it is
// present (PR-REST: the last one wins when a header is repeated).
func lastHeader(h http.Header, name string) (string, bool) {
	vv := h.Values(name)
	if len(vv) == 0 {
		return "", false
	}
	return strings.TrimSpace(vv[len(vv)-1]), true
}

// copyBody writes the whole body held by b to w.
func copyBody(w io.Writer, b *message.Spool) error {
	r, err := b.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(w, r)
	return err
}

// setEndToEnd copies verified end-to-end headers into dst. Content-Type is
// mapped to nil when the service sent none, so that net/http does not sniff
// one (PR-REST: Content-Type passes unmodified, and absent stays absent).
func setEndToEnd(dst, src http.Header) {
	for k, vv := range src {
		dst[k] = append([]string(nil), vv...)
	}
	if _, ok := src["Content-Type"]; !ok {
		dst["Content-Type"] = nil
	}
}

// hasDotSegment reports whether the escaped path has a "." or ".."
// segment, literally or percent-encoded; such paths are refused so that a
// client cannot walk out of the service's base URL.
func hasDotSegment(path string) bool {
	for _, seg := range strings.Split(path, "/") {
		s := strings.ReplaceAll(strings.ToLower(seg), "%2e", ".")
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}

// digest returns the SHA-256 digest of b.
func digest(b []byte) []byte {
	d := sha256.Sum256(b)
	return d[:]
}

// signedTime is the time put in a signed header: UTC at the millisecond
// precision of the canonical encoding, so that the header in memory, the
// signed bytes and the log record agree.
func signedTime(c clock.Clock) time.Time { return c.Now().UTC().Truncate(time.Millisecond) }
