package mgmt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// peerCheckTimeout bounds the registry reads of a TLS client check during
// the handshake, which has no request context.
const peerCheckTimeout = 10 * time.Second

// Handler returns the management endpoint (mgmtproto.Path):
//
//	POST /managementrequests        body: a signed request, Content-Type application/jose+json,
//	                                at most mgmtproto.MaxSignedSize bytes → 202 and the Status (JSON)
//	GET  /managementrequests/{id}   → 200 and the Status, only for the security server that
//	                                submitted it (TLS client authentication required)
//
// Refusals are written by xerr.Write. Serve it with TLSConfig: the handler
// authenticates the sender from the TLS client certificate (checking it
// again, so a server configured otherwise cannot make it trust an
// unverified certificate); without TLS every sender is anonymous.
func (p *Processor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+mgmtproto.Path, p.handleSubmit)
	mux.HandleFunc("GET "+mgmtproto.Path+"/{id}", p.handleStatus)
	return p.authenticate(mux)
}

// TLSConfig returns the TLS configuration for the management listener,
// presenting cert (whose SHA-256 the global configuration pins as
// centralServer.managementTLSCertificates).
//
// TLS 1.3 only. A client certificate is requested but optional, because a
// security server registering its first authentication certificate has
// none that is registered. ClientAuth is tls.RequestClientCert rather than
// VerifyClientCertIfGiven because Go would verify against ClientCAs, a
// fixed pool; instead VerifyConnection (which also runs on resumed
// sessions) verifies a presented certificate against the registry as it
// is at that moment: the chain ends at an approved CA (now, per Clock),
// the certificate fits the auth profile, and its hash is registered for
// the server it names. A certificate failing that fails the handshake.
// Revocation of authentication certificates is handled by deleting them
// from the registry; no OCSP is asked during the handshake.
func (p *Processor) TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		Time:         p.clk.Now,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), peerCheckTimeout)
			defer cancel()
			_, err := p.peerServer(ctx, cs.PeerCertificates)
			return err
		},
	}
}

// peerServer checks a TLS client's certificates (leaf first) and returns
// the security server they authenticate.
func (p *Processor) peerServer(ctx context.Context, certs []*x509.Certificate) (xroad.ServerID, error) {
	if len(certs) == 0 || len(certs) > mgmtproto.MaxChainLength {
		return xroad.ServerID{}, fmt.Errorf("mgmt: client presented %d certificates", len(certs))
	}
	leaf := certs[0]
	trust, err := p.loadTrust(ctx)
	if err != nil {
		return xroad.ServerID{}, err
	}
	for _, c := range certs[1:] {
		trust.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         trust.Roots,
		Intermediates: trust.Intermediates,
		CurrentTime:   p.clk.Now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return xroad.ServerID{}, fmt.Errorf("mgmt: client certificate: %w", err)
	}
	id, err := profile.ServerIDFromCert(leaf)
	if err != nil {
		return xroad.ServerID{}, fmt.Errorf("mgmt: client certificate: %w", err)
	}
	srv, err := p.store.ServerByAuthCert(ctx, certHash(leaf.Raw))
	if err != nil {
		return xroad.ServerID{}, fmt.Errorf("mgmt: client certificate of %s is not registered: %w", id, err)
	}
	if srv.ID != id {
		return xroad.ServerID{}, fmt.Errorf("mgmt: client certificate names %s but is registered for %s", id, srv.ID)
	}
	return id, nil
}

// peerKey is the context key of the authenticated peer.
type peerKey struct{}

// peerFrom returns the security server the request's sender authenticated
// as, or the zero ServerID.
func peerFrom(ctx context.Context) xroad.ServerID {
	id, _ := ctx.Value(peerKey{}).(xroad.ServerID)
	return id
}

// authenticate stores the TLS-authenticated security server (if any) in
// the request context for the handlers.
func (p *Processor) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var peer xroad.ServerID
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			id, err := p.peerServer(r.Context(), r.TLS.PeerCertificates)
			if err != nil {
				xerr.Write(w, r, p.log, xerr.New(CodeAccessDenied, "the TLS client certificate is not a registered authentication certificate", err), CodeInternalError)
				return
			}
			peer = id
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), peerKey{}, peer)))
	})
}

func (p *Processor) handleSubmit(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != mgmtproto.MediaType {
		p.count("unknown", outcomeRefused)
		xerr.Write(w, r, p.log, xerr.Newf(CodeInvalidRequest, err, "Content-Type must be %s", mgmtproto.MediaType), CodeInternalError)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, mgmtproto.MaxSignedSize))
	if err != nil {
		p.count("unknown", outcomeRefused)
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			xerr.Write(w, r, p.log, xerr.Newf(CodeInvalidRequest, err, "request larger than %d bytes", mgmtproto.MaxSignedSize), CodeInternalError)
			return
		}
		xerr.Write(w, r, p.log, xerr.New(CodeInvalidRequest, "reading the request body failed", err), CodeInternalError)
		return
	}
	m, err := p.Submit(r.Context(), body, peerFrom(r.Context()))
	if err != nil {
		xerr.Write(w, r, p.log, err, CodeInternalError)
		return
	}
	writeStatus(w, http.StatusAccepted, m)
}

func (p *Processor) handleStatus(w http.ResponseWriter, r *http.Request) {
	peer := peerFrom(r.Context())
	if peer == (xroad.ServerID{}) {
		xerr.Write(w, r, p.log, xerr.New(CodeAccessDenied,
			"status queries need TLS client authentication with a registered authentication certificate", nil), CodeInternalError)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		xerr.Write(w, r, p.log, xerr.Newf(CodeInvalidRequest, err, "request id %q is not a positive integer", r.PathValue("id")), CodeInternalError)
		return
	}
	m, err := p.store.ManagementRequest(r.Context(), id)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		xerr.Write(w, r, p.log, dbError(err), CodeInternalError)
		return
	}
	if err != nil || m.Server != peer {
		// The same answer whether the request does not exist or is
		// another server's, so ids of other servers' requests cannot be
		// probed.
		xerr.Write(w, r, p.log, xerr.Newf(CodeAccessDenied, err, "security server %s has no management request %d", peer, id), CodeInternalError)
		return
	}
	writeStatus(w, http.StatusOK, m)
}

// StatusOf returns the wire status of a stored request.
func StatusOf(m registry.ManagementRequest) mgmtproto.Status {
	return mgmtproto.Status{
		ID:        m.ID,
		RequestID: payloadID(m.Payload),
		Type:      mgmtproto.Type(m.Type),
		Status:    mgmtproto.RequestStatus(m.Status),
		Comment:   m.Comment,
	}
}

func writeStatus(w http.ResponseWriter, code int, m registry.ManagementRequest) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(StatusOf(m))
}
