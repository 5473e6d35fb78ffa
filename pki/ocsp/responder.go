// Package ocsp is jisr's RFC 6960 OCSP responder and the small OCSP client
// security servers use to fetch (and later staple) OCSP responses.
//
// A Responder answers for the certificates of exactly one issuing CA. It
// signs either with the CA key itself or, preferably, with a delegated
// responder certificate issued by that CA (extended key usage OCSPSigning and
// the id-pkix-ocsp-nocheck extension). Certificate status comes from a
// StatusSource, normally the CA's database; signed answers for known serials
// are cached for Config.CacheFor and the CA calls Invalidate when it revokes a
// certificate so that the revocation is visible at once.
//
// The responder implements the request/response profile of RFC 6960 as
// restricted by RFC 5019 (the "lightweight" profile used by the web PKI):
//
//   - Requests are accepted over HTTP POST (Content-Type
//     application/ocsp-request) and GET (base64 request in the URL path).
//   - Only the first certificate ID of a request is answered, as in
//     golang.org/x/crypto/ocsp; signed requests are rejected as malformed.
//   - The request nonce extension is ignored (answers are cached, so they
//     cannot echo a nonce); clients see "no nonce in response", which
//     RFC 5019 §4 permits.
//   - CertIDs hashed with SHA-1, SHA-256, SHA-384 and SHA-512 are accepted,
//     and the answer uses the hash algorithm of the request.
//
// It is not a CRL server, does not pre-sign responses, and does not answer
// for more than one issuer; run one Responder per issuing CA.
package ocsp

import (
	"bytes"
	"context"
	"crypto"
	_ "crypto/sha1" // CertID hashes
	"crypto/sha256"
	_ "crypto/sha512" // CertID hashes
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/clock"
)

// Defaults and limits of a Responder.
const (
	// DefaultValidity is the default interval between ThisUpdate and
	// NextUpdate of a response.
	DefaultValidity = time.Hour
	// NoCache, used as Config.CacheFor, disables the response cache.
	NoCache time.Duration = -1
	// MaxRequestSize is the largest POST body the responder reads. An OCSP
	// request for one certificate is about 100 bytes.
	MaxRequestSize = 10 << 10
	// DefaultMaxCacheEntries bounds the response cache when
	// Config.MaxCacheEntries is zero.
	DefaultMaxCacheEntries = 100_000

	contentTypeRequest  = "application/ocsp-request"
	contentTypeResponse = "application/ocsp-response"
)

// Values of the status label of the jisr_pki_ocsp_responses_total counter.
const (
	statusGood         = "good"
	statusRevoked      = "revoked"
	statusUnknown      = "unknown"
	statusMalformed    = "malformed"
	statusUnauthorized = "unauthorized"
	statusError        = "error"
)

// oidOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1).
var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// Config configures a Responder. Issuer, ResponderCert, Signer and Source are
// required.
type Config struct {
	// Issuer is the CA certificate whose certificates the responder answers
	// for.
	Issuer *x509.Certificate
	// ResponderCert is the certificate whose key signs responses: either
	// Issuer itself or a delegated responder certificate issued by Issuer
	// with extended key usage OCSPSigning (and, as RFC 6960 §4.2.2.2.1
	// recommends, the id-pkix-ocsp-nocheck extension). A delegated
	// certificate is included in every response.
	ResponderCert *x509.Certificate
	// Signer holds the private key of ResponderCert.
	Signer crypto.Signer
	// Source reports certificate status.
	Source StatusSource
	// Validity is NextUpdate - ThisUpdate of every response. Zero means
	// DefaultValidity.
	Validity time.Duration
	// CacheFor is how long a signed answer for a known serial is reused.
	// Zero means Validity/4; NoCache (any negative value) disables caching.
	// It must be shorter than Validity. Answers "unknown" are never cached,
	// so a newly issued certificate is known at once.
	CacheFor time.Duration
	// MaxCacheEntries bounds the number of cached answers; zero means
	// DefaultMaxCacheEntries. When the cache is full and no entry has
	// expired, new answers are simply not cached.
	MaxCacheEntries int
	// Prefix is the URL path under which the responder is mounted, for
	// example "/ocsp". For GET requests everything after Prefix (and any
	// slashes following it) is the URL-escaped, standard base64 DER request;
	// it may itself contain "/". Requests whose path does not start with
	// Prefix get 404. Empty means the responder owns the whole path, which
	// is also right behind http.StripPrefix.
	Prefix string
	// Clock supplies ThisUpdate and cache expiry; nil means clock.System().
	// (golang.org/x/crypto/ocsp stamps ProducedAt from the wall clock.)
	Clock clock.Clock
	// Registerer, if not nil, receives the counter
	// jisr_pki_ocsp_responses_total{status}.
	Registerer prometheus.Registerer
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
}

// Responder is an RFC 6960 OCSP responder for one issuer. It implements
// http.Handler and is safe for concurrent use.
type Responder struct {
	issuer        *x509.Certificate
	responderCert *x509.Certificate
	signer        crypto.Signer
	source        StatusSource
	validity      time.Duration
	cacheFor      time.Duration
	maxEntries    int
	prefix        string
	clock         clock.Clock
	log           *slog.Logger
	responses     *prometheus.CounterVec

	// issuerHashes maps each supported CertID hash to the issuer's name
	// and key hashes under it.
	issuerHashes map[crypto.Hash]issuerHash

	mu    sync.Mutex
	cache map[cacheKey]cacheEntry
	// epoch counts Invalidate calls; an answer computed while it changed is
	// not cached, so a revocation racing with a lookup cannot be hidden.
	epoch uint64
}

type issuerHash struct{ name, key []byte }

type cacheKey struct {
	serial string // big.Int.Text(16)
	hash   crypto.Hash
}

type cacheEntry struct {
	der        []byte
	status     string
	thisUpdate time.Time
	nextUpdate time.Time
	expires    time.Time
}

// New checks cfg and returns a Responder.
func New(cfg Config) (*Responder, error) {
	if cfg.Issuer == nil || cfg.ResponderCert == nil || cfg.Signer == nil || cfg.Source == nil {
		return nil, errors.New("ocsp: Issuer, ResponderCert, Signer and Source are required")
	}
	if !cfg.Issuer.IsCA {
		return nil, errors.New("ocsp: Issuer is not a CA certificate")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := checkResponderCert(cfg.Issuer, cfg.ResponderCert, log); err != nil {
		return nil, err
	}
	pub, ok := cfg.ResponderCert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cfg.Signer.Public()) {
		return nil, errors.New("ocsp: Signer does not hold the key of ResponderCert")
	}
	validity := cfg.Validity
	if validity == 0 {
		validity = DefaultValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("ocsp: negative Validity %v", validity)
	}
	cacheFor := cfg.CacheFor
	switch {
	case cacheFor == 0:
		cacheFor = validity / 4
	case cacheFor < 0:
		cacheFor = 0
	case cacheFor >= validity:
		return nil, fmt.Errorf("ocsp: CacheFor %v must be shorter than Validity %v", cacheFor, validity)
	}
	maxEntries := cfg.MaxCacheEntries
	if maxEntries <= 0 {
		maxEntries = DefaultMaxCacheEntries
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.System()
	}
	hashes, err := issuerHashes(cfg.Issuer)
	if err != nil {
		return nil, err
	}
	responses := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jisr_pki_ocsp_responses_total",
		Help: "OCSP responses sent, by certificate status or OCSP error.",
	}, []string{"status"})
	for _, s := range []string{statusGood, statusRevoked, statusUnknown, statusMalformed, statusUnauthorized, statusError} {
		responses.WithLabelValues(s)
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(responses); err != nil {
			return nil, fmt.Errorf("ocsp: registering metrics: %w", err)
		}
	}
	return &Responder{
		issuer:        cfg.Issuer,
		responderCert: cfg.ResponderCert,
		signer:        cfg.Signer,
		source:        cfg.Source,
		validity:      validity,
		cacheFor:      cacheFor,
		maxEntries:    maxEntries,
		prefix:        strings.TrimSuffix(cfg.Prefix, "/"),
		clock:         clk,
		log:           log,
		responses:     responses,
		issuerHashes:  hashes,
		cache:         make(map[cacheKey]cacheEntry),
	}, nil
}

// checkResponderCert accepts the issuer itself or a delegated responder
// certificate issued by it for OCSP signing.
func checkResponderCert(issuer, rc *x509.Certificate, log *slog.Logger) error {
	if bytes.Equal(issuer.Raw, rc.Raw) {
		return nil
	}
	if err := rc.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("ocsp: ResponderCert is not issued by Issuer: %w", err)
	}
	hasEKU := false
	for _, eku := range rc.ExtKeyUsage {
		if eku == x509.ExtKeyUsageOCSPSigning {
			hasEKU = true
		}
	}
	if !hasEKU {
		return errors.New("ocsp: ResponderCert lacks extended key usage OCSPSigning")
	}
	noCheck := false
	for _, ext := range rc.Extensions {
		if ext.Id.Equal(oidOCSPNoCheck) {
			noCheck = true
		}
	}
	if !noCheck {
		log.Warn("OCSP responder certificate lacks id-pkix-ocsp-nocheck; clients may try to check its revocation status",
			"subject", rc.Subject.String())
	}
	return nil
}

// issuerHashes computes the CertID name and key hashes of issuer for every
// hash algorithm golang.org/x/crypto/ocsp can parse.
func issuerHashes(issuer *x509.Certificate) (map[crypto.Hash]issuerHash, error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, fmt.Errorf("ocsp: parsing issuer public key: %w", err)
	} else if len(rest) != 0 {
		return nil, errors.New("ocsp: trailing data after issuer public key")
	}
	m := make(map[crypto.Hash]issuerHash)
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		m[h] = issuerHash{
			name: digest(h.New(), issuer.RawSubject),
			key:  digest(h.New(), spki.PublicKey.RightAlign()),
		}
	}
	return m, nil
}

func digest(h hash.Hash, b []byte) []byte {
	h.Write(b)
	return h.Sum(nil)
}

// Invalidate drops any cached answer for serial. The CA calls it after it
// changes the status of a certificate (revocation), so that the next request
// sees the new status.
func (r *Responder) Invalidate(serial *big.Int) {
	if serial == nil {
		return
	}
	s := serial.Text(16)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.epoch++
	for k := range r.cache {
		if k.serial == s {
			delete(r.cache, k)
		}
	}
}

// answer is the outcome of one OCSP request.
type answer struct {
	der        []byte
	status     string // metrics label
	thisUpdate time.Time
	nextUpdate time.Time // zero for OCSP error responses
}

// ServeHTTP answers OCSP requests sent by GET (request in the path after
// Config.Prefix) or POST (request in the body, at any path; Content-Type
// application/ocsp-request or none). Every OCSP outcome, including
// malformedRequest, unauthorized and tryLater, is sent with HTTP 200 and
// Content-Type application/ocsp-response; answers to GET also carry RFC 5019
// caching headers (Cache-Control max-age up to NextUpdate, Expires,
// Last-Modified, ETag). Other methods get 405, other content types 415, and
// GET paths outside Prefix 404.
func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var (
		der []byte
		err error
	)
	switch req.Method {
	case http.MethodGet:
		rest, ok := strings.CutPrefix(req.URL.Path, r.prefix)
		if !ok || (rest != "" && rest[0] != '/' && r.prefix != "") {
			http.NotFound(w, req)
			return
		}
		der, err = decodeGET(rest)
	case http.MethodPost:
		if ct := req.Header.Get("Content-Type"); ct != "" {
			if mt, _, perr := mime.ParseMediaType(ct); perr != nil || mt != contentTypeRequest {
				http.Error(w, "Content-Type must be "+contentTypeRequest, http.StatusUnsupportedMediaType)
				return
			}
		}
		der, err = io.ReadAll(http.MaxBytesReader(w, req.Body, MaxRequestSize))
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var a answer
	if err != nil {
		r.log.Debug("unreadable OCSP request", "method", req.Method, "err", err)
		a = answer{der: ocsp.MalformedRequestErrorResponse, status: statusMalformed}
	} else {
		a = r.respond(req.Context(), der)
	}
	r.responses.WithLabelValues(a.status).Inc()

	h := w.Header()
	h.Set("Content-Type", contentTypeResponse)
	h.Set("Content-Length", strconv.Itoa(len(a.der)))
	if req.Method == http.MethodGet {
		setCacheHeaders(h, a, r.clock.Now())
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(a.der)
}

// decodeGET decodes the path remainder of a GET request: URL-unescaped
// already by net/http, standard base64 (RFC 6960 Appendix A.1), possibly
// containing "/" and possibly without padding.
func decodeGET(path string) ([]byte, error) {
	s := strings.TrimLeft(path, "/")
	if s == "" {
		return nil, errors.New("empty GET request")
	}
	// Some clients fail to escape "+", which then arrives as a space.
	s = strings.ReplaceAll(s, " ", "+")
	if der, err := base64.StdEncoding.DecodeString(s); err == nil {
		return der, nil
	}
	der, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("decoding base64 GET request: %w", err)
	}
	return der, nil
}

// setCacheHeaders sets RFC 5019 §6 caching headers for a GET answer.
func setCacheHeaders(h http.Header, a answer, now time.Time) {
	if a.nextUpdate.IsZero() {
		h.Set("Cache-Control", "no-cache, no-store")
		return
	}
	maxAge := max(int64(a.nextUpdate.Sub(now)/time.Second), 0)
	h.Set("Cache-Control", fmt.Sprintf("max-age=%d, public, no-transform, must-revalidate", maxAge))
	h.Set("Last-Modified", a.thisUpdate.UTC().Format(http.TimeFormat))
	h.Set("Expires", a.nextUpdate.UTC().Format(http.TimeFormat))
	sum := sha256.Sum256(a.der)
	h.Set("ETag", fmt.Sprintf("%q", base64.RawURLEncoding.EncodeToString(sum[:16])))
}

// respond decodes one DER OCSP request and returns the DER answer. It never
// fails: problems become OCSP error responses.
func (r *Responder) respond(ctx context.Context, der []byte) answer {
	req, err := ocsp.ParseRequest(der)
	if err != nil {
		r.log.Debug("malformed OCSP request", "err", err)
		return answer{der: ocsp.MalformedRequestErrorResponse, status: statusMalformed}
	}
	ih, ok := r.issuerHashes[req.HashAlgorithm]
	if !ok || !bytes.Equal(req.IssuerNameHash, ih.name) || !bytes.Equal(req.IssuerKeyHash, ih.key) {
		r.log.Debug("OCSP request for another issuer", "serial", req.SerialNumber.Text(16))
		return answer{der: ocsp.UnauthorizedErrorResponse, status: statusUnauthorized}
	}

	key := cacheKey{serial: req.SerialNumber.Text(16), hash: req.HashAlgorithm}
	now := r.clock.Now()
	r.mu.Lock()
	e, hit := r.cache[key]
	epoch := r.epoch
	r.mu.Unlock()
	if hit && now.Before(e.expires) {
		return answer{der: e.der, status: e.status, thisUpdate: e.thisUpdate, nextUpdate: e.nextUpdate}
	}

	st, err := r.source.CertStatus(ctx, req.SerialNumber)
	if err != nil {
		r.log.Warn("OCSP status lookup failed", "serial", key.serial, "err", err)
		return answer{der: ocsp.TryLaterErrorResponse, status: statusError}
	}
	a, err := r.sign(req, st, now)
	if err != nil {
		r.log.Error("signing OCSP response failed", "serial", key.serial, "err", err)
		return answer{der: ocsp.InternalErrorErrorResponse, status: statusError}
	}
	if r.cacheFor > 0 && st.Known {
		r.store(key, a, now, epoch)
	}
	return a
}

// sign builds and signs the response for one status.
func (r *Responder) sign(req *ocsp.Request, st CertStatus, now time.Time) (answer, error) {
	thisUpdate := now.UTC().Truncate(time.Second)
	tmpl := ocsp.Response{
		SerialNumber: req.SerialNumber,
		ThisUpdate:   thisUpdate,
		NextUpdate:   thisUpdate.Add(r.validity),
		IssuerHash:   req.HashAlgorithm,
	}
	status := statusGood
	switch {
	case !st.Known:
		tmpl.Status = ocsp.Unknown
		status = statusUnknown
	case st.Revoked:
		tmpl.Status = ocsp.Revoked
		tmpl.RevokedAt = st.RevokedAt.UTC()
		tmpl.RevocationReason = st.Reason
		status = statusRevoked
	default:
		tmpl.Status = ocsp.Good
	}
	if !bytes.Equal(r.responderCert.Raw, r.issuer.Raw) {
		tmpl.Certificate = r.responderCert
	}
	der, err := ocsp.CreateResponse(r.issuer, r.responderCert, tmpl, r.signer)
	if err != nil {
		return answer{}, fmt.Errorf("ocsp: creating response: %w", err)
	}
	return answer{der: der, status: status, thisUpdate: tmpl.ThisUpdate, nextUpdate: tmpl.NextUpdate}, nil
}

// store caches a unless Invalidate ran since epoch was read.
func (r *Responder) store(key cacheKey, a answer, now time.Time, epoch uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epoch != epoch {
		return
	}
	if len(r.cache) >= r.maxEntries {
		for k, e := range r.cache {
			if !now.Before(e.expires) {
				delete(r.cache, k)
			}
		}
		if len(r.cache) >= r.maxEntries {
			return
		}
	}
	r.cache[key] = cacheEntry{
		der:        a.der,
		status:     a.status,
		thisUpdate: a.thisUpdate,
		nextUpdate: a.nextUpdate,
		expires:    now.Add(r.cacheFor),
	}
}
