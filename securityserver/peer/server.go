package peer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// ALPN protocols offered on SS↔SS connections, most preferred first.
var nextProtos = []string{"h2", "http/1.1"}

// ServerConfig configures a Server. Docs, Identity and OCSP are required.
type ServerConfig struct {
	// Docs supplies the configuration current at each handshake.
	Docs DocSource
	// Identity supplies the certificate (and staple) presented to peers.
	Identity *Identity
	// OCSP supplies the OCSP status of client certificates that arrive
	// without a usable staple.
	OCSP *OCSPCache
	// Clock is used for certificate validity and OCSP freshness
	// (tls.Config.Time). Nil means the wall clock.
	Clock clock.Clock
	// Logger receives refused handshakes at info level. Nil discards.
	Logger *slog.Logger
	// Registerer, when set, receives the counter
	// jisr_ss_peer_handshakes_total{side="server",outcome}. Handshakes that
	// crypto/tls refuses before VerifyConnection runs (no certificate, a
	// chain crypto/tls cannot verify, TLS 1.2) are not counted; http.Server
	// logs them to its ErrorLog.
	Registerer prometheus.Registerer
}

// Server is the provider side of SS↔SS trust: it builds the tls.Config of
// the listener other security servers connect to, admitting only peers that
// pass every check of the package documentation, and tells HTTP handlers
// which security server sent a request. It is safe for concurrent use.
type Server struct {
	v          verifier
	identity   *Identity
	log        *slog.Logger
	handshakes *prometheus.CounterVec

	mu     sync.Mutex
	serial uint64      // serial of the document conf was built from
	conf   *tls.Config // per-document base configuration
}

// NewServer checks cfg and returns a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Docs == nil || cfg.Identity == nil || cfg.OCSP == nil {
		return nil, errors.New("peer: server: Docs, Identity and OCSP are required")
	}
	s := &Server{
		v:        verifier{docs: cfg.Docs, ocsp: cfg.OCSP, clock: cfg.Clock},
		identity: cfg.Identity,
		log:      cfg.Logger,
	}
	if s.v.clock == nil {
		s.v.clock = clock.System()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer != nil {
		cv, err := handshakeCounter(cfg.Registerer)
		if err != nil {
			return nil, fmt.Errorf("peer: server: registering metrics: %w", err)
		}
		s.handshakes = cv
	}
	return s, nil
}

func handshakeCounter(r prometheus.Registerer) (*prometheus.CounterVec, error) {
	return registerCounterVec(r, prometheus.CounterOpts{
		Name: "jisr_ss_peer_handshakes_total",
		Help: "TLS handshakes with other security servers by side (client: we connected, server: they connected) and outcome.",
	}, "side", "outcome")
}

// TLSConfig returns the tls.Config for the SS↔SS listener (http.Server's
// TLSConfig, or tls.NewListener). Every handshake gets, through
// GetConfigForClient, a configuration built from the document current at
// that moment (cached per document serial): TLS 1.3 only,
// RequireAndVerifyClientCert with the approved CAs as ClientCAs, the
// Identity's certificate and staple, ALPN h2 and http/1.1, Time from the
// clock, and VerifyConnection applying the remaining checks. When there is
// no usable configuration every handshake fails.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		MaxVersion:         tls.VersionTLS13,
		ClientAuth:         tls.RequireAndVerifyClientCert,
		NextProtos:         nextProtos,
		Time:               s.v.clock.Now,
		GetCertificate:     s.getCertificate,
		GetConfigForClient: s.configForClient,
		// Without GetConfigForClient's answer nobody is admitted; this
		// pool is never used but keeps the outer configuration closed.
		ClientCAs: x509.NewCertPool(),
	}
}

func (s *Server) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.identity.TLSCertificate(), nil
}

func (s *Server) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	doc, err := currentDoc(s.v.docs)
	if err != nil {
		s.count(err)
		s.log.Warn("refusing SS↔SS handshake", "remote", remoteAddr(hello), "err", err)
		return nil, err
	}
	s.mu.Lock()
	if s.conf == nil || s.serial != doc.Serial {
		s.conf = &tls.Config{
			MinVersion:     tls.VersionTLS13,
			MaxVersion:     tls.VersionTLS13,
			ClientAuth:     tls.RequireAndVerifyClientCert,
			ClientCAs:      doc.ApprovedCAPool(),
			NextProtos:     nextProtos,
			Time:           s.v.clock.Now,
			GetCertificate: s.getCertificate,
		}
		s.serial = doc.Serial
	}
	conf := s.conf.Clone()
	s.mu.Unlock()
	ctx := hello.Context()
	remote := remoteAddr(hello)
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		p, err := s.v.verifyPeer(ctx, &cs, x509.ExtKeyUsageClientAuth)
		s.count(err)
		if err != nil {
			s.log.Info("refused SS↔SS connection", "remote", remote, "err", err)
			return err
		}
		s.log.Debug("accepted SS↔SS connection", "remote", remote, "peer", p.server.ID.String(), "resumed", cs.DidResume)
		return nil
	}
	return conf, nil
}

func remoteAddr(hello *tls.ClientHelloInfo) string {
	if hello.Conn == nil {
		return ""
	}
	return hello.Conn.RemoteAddr().String()
}

func (s *Server) count(err error) {
	if s.handshakes != nil {
		s.handshakes.WithLabelValues("server", outcome(err)).Inc()
	}
}

// PeerServer returns the security server that sent r over a connection
// admitted by TLSConfig. It repeats the cheap checks under the configuration
// current now — the certificate is registered for the server it names, is
// within its validity period, and its verified chain still ends at an
// approved CA — and checks that its OCSP status is good and fresh (from the
// cache, so normally without network traffic). A long-lived connection thus
// stops being served once its peer is deregistered, its CA withdrawn or its
// certificate revoked. Errors wrap the sentinels of this package
// (ErrUnknownPeer when r did not arrive over mutually authenticated TLS).
func (s *Server) PeerServer(r *http.Request) (xroad.ServerID, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || len(r.TLS.VerifiedChains) == 0 {
		return xroad.ServerID{}, fmt.Errorf("%w: request did not arrive over mutually authenticated TLS", ErrUnknownPeer)
	}
	doc, err := currentDoc(s.v.docs)
	if err != nil {
		return xroad.ServerID{}, err
	}
	chain := r.TLS.VerifiedChains[0]
	leaf := chain[0]
	if len(chain) < 2 {
		return xroad.ServerID{}, fmt.Errorf("%w: verified chain of one certificate", ErrUntrustedChain)
	}
	if now := s.v.clock.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return xroad.ServerID{}, fmt.Errorf("%w: certificate not valid at %s", ErrUntrustedChain, now.Format(time.RFC3339))
	}
	if _, ok := doc.ApprovedCAFor(chain[len(chain)-1]); !ok {
		return xroad.ServerID{}, fmt.Errorf("%w: CA %q is no longer approved", ErrUntrustedChain, chain[len(chain)-1].Subject)
	}
	named, err := profile.ServerIDFromCert(leaf)
	if err != nil {
		return xroad.ServerID{}, fmt.Errorf("%w: %w", ErrNotAuthCert, err)
	}
	srv, err := registeredServer(doc, leaf, named)
	if err != nil {
		return xroad.ServerID{}, err
	}
	if err := s.v.checkStatus(r.Context(), doc, chain, nil); err != nil {
		return xroad.ServerID{}, fmt.Errorf("peer %s: %w", srv.ID, err)
	}
	return srv.ID, nil
}
