package peer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xroad"
	pkiocsp "github.com/jisr-bus/jisr/pki/ocsp"
	"github.com/jisr-bus/jisr/pki/profile"
)

// verifier holds what both sides need to judge a peer.
type verifier struct {
	docs  DocSource
	ocsp  *OCSPCache
	clock clock.Clock
}

// verifiedPeer is what verifyPeer learned.
type verifiedPeer struct {
	server globalconf.Server
	chain  []*x509.Certificate // verified, leaf first, ending at a trust anchor
}

// verifyPeer applies every check of the package documentation to the peer of
// a completed handshake, under the document current now. usage is the
// extended key usage the peer's role needs (serverAuth for a provider,
// clientAuth for a consumer). A stapled OCSP response in cs is used when it
// verifies and is fresh.
func (v *verifier) verifyPeer(ctx context.Context, cs *tls.ConnectionState, usage x509.ExtKeyUsage) (verifiedPeer, error) {
	if cs.Version != tls.VersionTLS13 {
		return verifiedPeer{}, fmt.Errorf("peer: TLS version %#04x, want TLS 1.3", cs.Version)
	}
	doc, err := currentDoc(v.docs)
	if err != nil {
		return verifiedPeer{}, err
	}
	p, err := v.identify(doc, cs.PeerCertificates, usage)
	if err != nil {
		return verifiedPeer{}, err
	}
	if err := v.checkStatus(ctx, doc, p.chain, cs.OCSPResponse); err != nil {
		return verifiedPeer{}, fmt.Errorf("peer %s: %w", p.server.ID, err)
	}
	return p, nil
}

// identify verifies the chain, the profile and the registration of a peer's
// certificates (leaf first) under doc. It does not look at OCSP.
func (v *verifier) identify(doc *globalconf.Document, certs []*x509.Certificate, usage x509.ExtKeyUsage) (verifiedPeer, error) {
	if len(certs) == 0 {
		return verifiedPeer{}, fmt.Errorf("%w: no certificate presented", ErrUnknownPeer)
	}
	leaf := certs[0]
	chain, err := verifyChain(doc, certs, v.clock.Now(), usage)
	if err != nil {
		return verifiedPeer{}, err
	}
	named, err := profile.ServerIDFromCert(leaf)
	if err != nil {
		return verifiedPeer{}, fmt.Errorf("%w: %w", ErrNotAuthCert, err)
	}
	srv, err := registeredServer(doc, leaf, named)
	if err != nil {
		return verifiedPeer{}, err
	}
	return verifiedPeer{server: srv, chain: chain}, nil
}

// registeredServer returns the server the leaf's hash is registered for and
// checks that it is the server the certificate names.
func registeredServer(doc *globalconf.Document, leaf *x509.Certificate, named xroad.ServerID) (globalconf.Server, error) {
	hash := globalconf.AuthCertHash(leaf)
	srv, ok := doc.ServerByAuthCertHash(hash)
	if !ok {
		return globalconf.Server{}, fmt.Errorf("%w: certificate %s (naming %s) is not registered in configuration serial %d",
			ErrUnknownPeer, hash, named, doc.Serial)
	}
	if srv.ID != named {
		return globalconf.Server{}, fmt.Errorf("%w: certificate %s names %s but is registered for %s",
			ErrUnknownPeer, hash, named, srv.ID)
	}
	return srv, nil
}

// verifyChain verifies certs (leaf first, then whatever intermediates the
// holder sent) up to an approved CA of doc at now, and returns the first
// verified chain. Errors wrap ErrUntrustedChain.
func verifyChain(doc *globalconf.Document, certs []*x509.Certificate, now time.Time, usage x509.ExtKeyUsage) ([]*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no certificate", ErrUntrustedChain)
	}
	inter := doc.IntermediatePool().Clone()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         doc.ApprovedCAPool(),
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrustedChain, err)
	}
	if len(chains) == 0 || len(chains[0]) < 2 {
		return nil, fmt.Errorf("%w: certificate %q is itself a trust anchor", ErrUntrustedChain, certs[0].Subject)
	}
	return chains[0], nil
}

// respondersFor returns the OCSP responders for the leaf of a verified
// chain: those of the approved CA of the nearest certificate above the leaf
// that the configuration lists (an intermediate the holder sent but the
// configuration does not list belongs to the CA of the anchor above it).
func respondersFor(doc *globalconf.Document, chain []*x509.Certificate) []globalconf.OCSPResponder {
	for _, c := range chain[1:] {
		if ca, ok := doc.ApprovedCAFor(c); ok {
			return ca.OCSPResponders
		}
	}
	return nil
}

// checkStatus checks the OCSP status of chain's leaf, from staple when it
// verifies and is fresh, otherwise from the cache. Errors wrap ErrRevoked or
// ErrOCSPUnavailable.
func (v *verifier) checkStatus(ctx context.Context, doc *globalconf.Document, chain []*x509.Certificate, staple []byte) error {
	leaf, issuer := chain[0], chain[1]
	freshness := doc.Settings.OCSPFreshness()
	if len(staple) > 0 {
		if resp, err := pkiocsp.ParseResponse(staple, leaf, issuer); err == nil {
			err := Check(resp, v.clock.Now(), freshness)
			if err == nil || errors.Is(err, ErrRevoked) {
				v.ocsp.offer(leaf, issuer, resp, staple, freshness)
				return err
			}
		}
		// A staple that does not verify or is stale is ignored: the
		// responders decide.
	}
	_, _, err := v.ocsp.status(ctx, doc, leaf, issuer, respondersFor(doc, chain))
	return err
}

// addressListed reports whether addr ("host:port") is among the server's
// registered addresses (host compared without regard to case).
func addressListed(srv globalconf.Server, addr string) bool {
	for _, a := range srv.Addresses {
		if strings.EqualFold(a, addr) {
			return true
		}
	}
	return false
}
