// Package tsa is jisr's RFC 3161 time-stamping authority (TSA) and the client
// side that obtains and verifies time-stamp tokens.
//
// Server is an http.Handler speaking the HTTP transport of RFC 3161 §3.4:
// a POSTed application/timestamp-query is answered with an
// application/timestamp-reply. Tokens are CMS SignedData (RFC 5652) over a
// TSTInfo, signed by the TSA certificate with the ESS signing-certificate-v2
// attribute (RFC 5816). Serial numbers come from a SerialSource; FileSerials
// provides unique, persistent, increasing serials for a single TSA process.
//
// Stamp and Verify are the client side: the message log uses them to
// time-stamp its records and to check tokens later.
//
// What this package does not do: it accepts only SHA-256, SHA-384 and SHA-512
// message imprints, supports no request extensions (they are rejected with
// unacceptedExtension, as RFC 3161 §2.4.2 requires), never sets the ordering
// flag, and signs with ECDSA or RSA PKCS #1 v1.5 keys only. genTime has
// one-second precision. It is not a long-term archive service: Verify checks
// the TSA chain as of the token's genTime and does no revocation checking.
//
// The token is built here rather than with
// github.com/digitorus/timestamp's CreateResponseWithOpts, because that
// function draws its own random serial number and its CMS layer stamps a
// signing time from the wall clock; neither is acceptable for a TSA whose
// serials must come from a SerialSource and whose time comes from an injected
// clock. The package still uses that library's types (Request, Timestamp,
// Status, FailureInfo).
package tsa

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/clock"
)

// Limits and defaults of a Server.
const (
	// MaxRequestSize is the largest time-stamp query the server reads.
	MaxRequestSize = 10 << 10
	// DefaultAccuracy is the accuracy claimed when Config.Accuracy is zero.
	DefaultAccuracy = time.Second

	contentTypeQuery = "application/timestamp-query"
	contentTypeReply = "application/timestamp-reply"
)

// DefaultPolicy returns the TSA policy OID used when Config.Policy is empty:
// 1.3.6.1.4.1.59999.1.1.
//
// This is a PLACEHOLDER under a private-enterprise arc that jisr does not
// own; every production instance must replace it with a policy OID under its
// own registered arc, documented in its TSA policy statement. It is a
// function, not a variable, so that no caller can modify it.
func DefaultPolicy() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 59999, 1, 1}
}

// TimeStampingEKUExtension returns the extension a TSA certificate must carry
// (RFC 3161 §2.3): extKeyUsage, marked critical, containing only
// id-kp-timeStamping. crypto/x509 encodes Certificate.ExtKeyUsage as
// non-critical, so a CA puts this into ExtraExtensions instead.
func TimeStampingEKUExtension() pkix.Extension {
	return pkix.Extension{
		Id:       asn1.ObjectIdentifier{2, 5, 29, 37},
		Critical: true,
		// SEQUENCE { OBJECT IDENTIFIER 1.3.6.1.5.5.7.3.8 }
		Value: []byte{0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08},
	}
}

// Config configures a Server. Certificate, Signer and Serials are required.
type Config struct {
	// Certificate is the TSA certificate. It must carry a critical
	// extKeyUsage extension containing only timeStamping (see
	// TimeStampingEKUExtension) and any key usage must be limited to
	// digitalSignature and nonRepudiation.
	Certificate *x509.Certificate
	// Chain holds the intermediate CA certificates from Certificate's issuer
	// upwards (without the root). They are included in tokens together with
	// Certificate when a request sets certReq.
	Chain []*x509.Certificate
	// Signer holds the private key of Certificate (ECDSA or RSA).
	Signer crypto.Signer
	// Policy is the TSA policy OID put in every token; requests asking for
	// another policy are rejected. Empty means DefaultPolicy().
	Policy asn1.ObjectIdentifier
	// Accuracy is the accuracy claimed in tokens. Zero means
	// DefaultAccuracy; it must not be below one second, the precision of
	// genTime.
	Accuracy time.Duration
	// Serials hands out token serial numbers.
	Serials SerialSource
	// Clock supplies genTime; nil means clock.System().
	Clock clock.Clock
	// Registerer, if not nil, receives the counters
	// jisr_pki_timestamps_issued_total and
	// jisr_pki_timestamp_failures_total{reason}.
	Registerer prometheus.Registerer
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
}

// Server is an RFC 3161 time-stamping authority. It implements http.Handler
// and is safe for concurrent use.
type Server struct {
	cert     *x509.Certificate
	chain    []*x509.Certificate
	signer   crypto.Signer
	policy   asn1.ObjectIdentifier
	accuracy time.Duration
	serials  SerialSource
	clock    clock.Clock
	log      *slog.Logger

	// Precomputed from the certificate and key.
	digest     crypto.Hash // CMS digest algorithm
	sigAlg     pkix.AlgorithmIdentifier
	essCertID  []byte // DER SigningCertificateV2
	tsaName    []byte // DER [0] GeneralName for TSTInfo.tsa
	issued     prometheus.Counter
	failures   *prometheus.CounterVec
	certReqAll []*x509.Certificate // Certificate followed by Chain
}

// failuresUsed lists the failure infos the server sends.
func failuresUsed() []timestamp.FailureInfo {
	return []timestamp.FailureInfo{
		timestamp.BadAlgorithm, timestamp.BadRequest, timestamp.BadDataFormat,
		timestamp.UnacceptedPolicy, timestamp.UnacceptedExtension, timestamp.SystemFailure,
	}
}

// failureReason is the jisr_pki_timestamp_failures_total label for f.
func failureReason(f timestamp.FailureInfo) string {
	switch f {
	case timestamp.BadAlgorithm:
		return "bad_alg"
	case timestamp.BadRequest:
		return "bad_request"
	case timestamp.BadDataFormat:
		return "bad_data_format"
	case timestamp.UnacceptedPolicy:
		return "unaccepted_policy"
	case timestamp.UnacceptedExtension:
		return "unaccepted_extension"
	case timestamp.SystemFailure:
		return "system_failure"
	}
	return "other"
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Certificate == nil || cfg.Signer == nil || cfg.Serials == nil {
		return nil, errors.New("tsa: Certificate, Signer and Serials are required")
	}
	if err := CheckCertificate(cfg.Certificate); err != nil {
		return nil, err
	}
	pub, ok := cfg.Certificate.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cfg.Signer.Public()) {
		return nil, errors.New("tsa: Signer does not hold the key of Certificate")
	}
	child := cfg.Certificate
	for i, c := range cfg.Chain {
		if err := child.CheckSignatureFrom(c); err != nil {
			return nil, fmt.Errorf("tsa: Chain[%d] did not issue the certificate before it: %w", i, err)
		}
		child = c
	}
	digest, sigAlg, err := signatureParams(cfg.Signer.Public())
	if err != nil {
		return nil, err
	}
	policy := cfg.Policy
	if len(policy) == 0 {
		policy = DefaultPolicy()
	}
	if len(policy) < 2 {
		return nil, fmt.Errorf("tsa: invalid Policy %v", policy)
	}
	accuracy := cfg.Accuracy
	if accuracy == 0 {
		accuracy = DefaultAccuracy
	}
	if accuracy < time.Second {
		return nil, fmt.Errorf("tsa: Accuracy %v is below the one-second precision of genTime", accuracy)
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.System()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	issued := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "jisr_pki_timestamps_issued_total",
		Help: "Time-stamp tokens issued.",
	})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jisr_pki_timestamp_failures_total",
		Help: "Time-stamp requests answered with a rejection, by RFC 3161 failure info.",
	}, []string{"reason"})
	for _, f := range failuresUsed() {
		failures.WithLabelValues(failureReason(f))
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{issued, failures} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("tsa: registering metrics: %w", err)
			}
		}
	}
	s := &Server{
		cert:       cfg.Certificate,
		chain:      append([]*x509.Certificate(nil), cfg.Chain...),
		signer:     cfg.Signer,
		policy:     append(asn1.ObjectIdentifier(nil), policy...),
		accuracy:   accuracy,
		serials:    cfg.Serials,
		clock:      clk,
		log:        log,
		digest:     digest,
		sigAlg:     sigAlg,
		essCertID:  signingCertificateV2(cfg.Certificate),
		tsaName:    tsaGeneralName(cfg.Certificate),
		issued:     issued,
		failures:   failures,
		certReqAll: append([]*x509.Certificate{cfg.Certificate}, cfg.Chain...),
	}
	return s, nil
}

// CheckCertificate reports whether c is usable as a TSA certificate under
// RFC 3161 §2.3: a critical extKeyUsage extension containing only
// timeStamping, and key usage (if present) limited to digitalSignature and
// nonRepudiation. New and Verify apply it.
func CheckCertificate(c *x509.Certificate) error {
	found := false
	for _, ext := range c.Extensions {
		if ext.Id.Equal(oidExtKeyUsage) {
			if !ext.Critical {
				return errors.New("tsa: certificate extKeyUsage extension is not critical")
			}
			found = true
		}
	}
	if !found || len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(c.UnknownExtKeyUsage) != 0 {
		return errors.New("tsa: certificate extKeyUsage must be exactly timeStamping")
	}
	const allowed = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	if c.KeyUsage != 0 && (c.KeyUsage&^allowed != 0 || c.KeyUsage&allowed == 0) {
		return errors.New("tsa: certificate key usage must be digitalSignature and/or nonRepudiation")
	}
	return nil
}

// signatureParams picks the CMS digest and signature algorithm for pub.
func signatureParams(pub crypto.PublicKey) (crypto.Hash, pkix.AlgorithmIdentifier, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return crypto.SHA256, pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256}, nil
		case elliptic.P384():
			return crypto.SHA384, pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA384}, nil
		case elliptic.P521():
			return crypto.SHA512, pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA512}, nil
		}
		return 0, pkix.AlgorithmIdentifier{}, errors.New("tsa: unsupported ECDSA curve")
	case *rsa.PublicKey:
		return crypto.SHA256, pkix.AlgorithmIdentifier{Algorithm: oidSHA256WithRSA, Parameters: asn1.NullRawValue}, nil
	}
	return 0, pkix.AlgorithmIdentifier{}, fmt.Errorf("tsa: unsupported key type %T (want ECDSA or RSA)", pub)
}

// ServeHTTP answers one time-stamp query POSTed with Content-Type
// application/timestamp-query (or none). The reply is an
// application/timestamp-reply: HTTP 200 with status granted or, for a bad
// request (including one over MaxRequestSize), status rejection with the
// failure info; HTTP 500 with failure info systemFailure when the server
// itself fails. Other methods get 405 and other content types 415.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != contentTypeQuery {
			http.Error(w, "Content-Type must be "+contentTypeQuery, http.StatusUnsupportedMediaType)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestSize))
	if err != nil {
		s.reject(w, &rejection{info: timestamp.BadDataFormat, text: "request unreadable or larger than " + strconv.Itoa(MaxRequestSize) + " bytes"})
		return
	}
	resp, rej := s.handle(r.Context(), body)
	if rej != nil {
		s.reject(w, rej)
		return
	}
	s.write(w, http.StatusOK, resp)
}

// handle turns a DER TimeStampReq into a DER TimeStampResp, or a rejection.
func (s *Server) handle(ctx context.Context, der []byte) ([]byte, *rejection) {
	req, rej := parseRequest(der, s.policy)
	if rej != nil {
		return nil, rej
	}
	now := s.clock.Now()
	if now.Before(s.cert.NotBefore) || now.After(s.cert.NotAfter) {
		s.log.Error("TSA certificate is not valid now", "not_before", s.cert.NotBefore, "not_after", s.cert.NotAfter)
		return nil, &rejection{info: timestamp.SystemFailure, text: "TSA certificate not valid", server: true}
	}
	serial, err := s.serials.Next(ctx)
	if err != nil {
		s.log.Error("no time-stamp serial number", "err", err)
		return nil, &rejection{info: timestamp.SystemFailure, text: "serial number unavailable", server: true}
	}
	token, err := s.token(req, serial, now)
	if err != nil {
		s.log.Error("signing time-stamp token failed", "serial", serial, "err", err)
		return nil, &rejection{info: timestamp.SystemFailure, text: "signing failed", server: true}
	}
	s.issued.Inc()
	s.log.Debug("time-stamp issued", "serial", serial, "hash", req.hash.String())
	return grantedResponse(token), nil
}

// reject writes a TimeStampResp with status rejection. Client errors use HTTP
// 200 (the TSP status carries the verdict); server failures use 500.
func (s *Server) reject(w http.ResponseWriter, rej *rejection) {
	s.failures.WithLabelValues(failureReason(rej.info)).Inc()
	s.log.Debug("time-stamp request rejected", "failure", rej.info.String(), "detail", rej.text)
	code := http.StatusOK
	if rej.server {
		code = http.StatusInternalServerError
	}
	s.write(w, code, rejectionResponse(rej))
}

func (s *Server) write(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", contentTypeReply)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// token builds and signs the TimeStampToken for req.
func (s *Server) token(req *request, serial *big.Int, now time.Time) ([]byte, error) {
	info := tstInfo{
		Version:        1,
		Policy:         s.policy,
		MessageImprint: req.imprint,
		SerialNumber:   serial,
		GenTime:        now.UTC().Truncate(time.Second),
		Accuracy:       accuracyOf(s.accuracy),
		Nonce:          req.nonce,
		TSA:            asn1.RawValue{FullBytes: s.tsaName},
	}
	content, err := asn1.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding TSTInfo: %w", err)
	}
	var certs []*x509.Certificate
	if req.certReq {
		certs = s.certReqAll
	}
	return signedData(content, s.cert, certs, s.signer, s.digest, s.sigAlg, s.essCertID)
}
