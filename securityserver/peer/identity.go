package peer

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// Identity is the security server's own key material: its auth key and
// certificate chain (for TLS with other security servers) and the sign keys
// and chains of the members it signs for, each with the newest OCSP response
// for its certificate. It is safe for concurrent use.
//
// OCSP responses are obtained by Refresh (and Run, which calls it
// periodically) through the OCSPCache. Until the first successful Refresh,
// the auth certificate is presented without a staple and SignMaterial fails:
// an Identity never hands out sign material without fresh OCSP status.
//
// An Identity also is a prometheus.Collector of the gauge
// jisr_ss_own_ocsp_age_seconds{kind,id} (now − ThisUpdate of the response
// held for each own certificate; +Inf while there is none); register it
// where wanted.
type Identity struct {
	cache *OCSPCache
	clock clock.Clock

	mu   sync.RWMutex
	auth *ownCert
	sign map[xroad.MemberID]*ownCert
}

// ownCert is one own key with its chain and its newest OCSP response. key
// and chain never change; a renewal replaces the whole ownCert.
type ownCert struct {
	kind   profile.Kind
	id     xroad.ID // the server or member the certificate names
	key    crypto.Signer
	chain  []*x509.Certificate
	raw    [][]byte
	status atomic.Pointer[ownStatus]
}

// ownStatus is a verified OCSP response for an ownCert.
type ownStatus struct {
	resp *ocsp.Response
	der  []byte
}

var ownAgeDesc = prometheus.NewDesc("jisr_ss_own_ocsp_age_seconds",
	"Age (now − thisUpdate) of the OCSP response held for each of the security server's own certificates; +Inf when there is none.",
	[]string{"kind", "id"}, nil)

var _ prometheus.Collector = (*Identity)(nil)

// NewIdentity returns an Identity for the auth key and its chain (leaf
// first, then the intermediates up to, optionally, the trust anchor; the
// chain is what the TLS peer receives). The certificate must fit the auth
// profile and certify auth's public key. cache supplies OCSP responses;
// clk (nil: wall clock) judges freshness.
func NewIdentity(auth crypto.Signer, authChain []*x509.Certificate, cache *OCSPCache, clk clock.Clock) (*Identity, error) {
	if cache == nil {
		return nil, errors.New("peer: identity: an OCSP cache is required")
	}
	if clk == nil {
		clk = clock.System()
	}
	a, err := newOwnCert(profile.Auth, auth, authChain)
	if err != nil {
		return nil, fmt.Errorf("peer: identity: auth: %w", err)
	}
	return &Identity{cache: cache, clock: clk, auth: a, sign: make(map[xroad.MemberID]*ownCert)}, nil
}

func newOwnCert(kind profile.Kind, key crypto.Signer, chain []*x509.Certificate) (*ownCert, error) {
	if key == nil || len(chain) == 0 || slices.Contains(chain, nil) {
		return nil, errors.New("a key and a certificate chain are required")
	}
	leaf := chain[0]
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("the key does not match the certificate")
	}
	k, id, err := profile.IDFromCert(leaf)
	if err != nil {
		return nil, err
	}
	if k != kind {
		return nil, fmt.Errorf("%w: want a %s certificate, got a %s certificate", profile.ErrProfile, kind, k)
	}
	oc := &ownCert{kind: kind, id: id, key: key, chain: slices.Clone(chain)}
	for _, c := range chain {
		oc.raw = append(oc.raw, c.Raw)
	}
	return oc, nil
}

// SetAuth replaces the auth key and chain, after a renewal. The new
// certificate is presented from the next handshake on, without a staple
// until the next Refresh; established connections are not affected.
func (id *Identity) SetAuth(auth crypto.Signer, authChain []*x509.Certificate) error {
	a, err := newOwnCert(profile.Auth, auth, authChain)
	if err != nil {
		return fmt.Errorf("peer: identity: auth: %w", err)
	}
	id.mu.Lock()
	id.auth = a
	id.mu.Unlock()
	return nil
}

// AddSignKey adds (or, after a renewal, replaces) the sign key and chain of
// member. The certificate must fit the sign profile and name member.
func (id *Identity) AddSignKey(member xroad.MemberID, key crypto.Signer, chain []*x509.Certificate) error {
	s, err := newOwnCert(profile.Sign, key, chain)
	if err != nil {
		return fmt.Errorf("peer: identity: sign key of %s: %w", member, err)
	}
	if s.id != member {
		return fmt.Errorf("peer: identity: sign certificate names %s, not %s", s.id, member)
	}
	id.mu.Lock()
	id.sign[member] = s
	id.mu.Unlock()
	return nil
}

// certs returns the auth certificate and the sign certificates.
func (id *Identity) certs() []*ownCert {
	id.mu.RLock()
	defer id.mu.RUnlock()
	out := []*ownCert{id.auth}
	for _, s := range id.sign {
		out = append(out, s)
	}
	return out
}

// Refresh obtains a good and fresh OCSP response for every own certificate
// (from the cache, which fetches when its copy is older than half the
// freshness), after verifying each chain against the current configuration.
// A certificate whose status cannot be obtained keeps its previous response
// until that goes stale; a revoked one loses it. The error joins the errors
// of all certificates that failed (each wrapping a sentinel of this
// package).
func (id *Identity) Refresh(ctx context.Context) error {
	doc, err := currentDoc(id.cache.docs)
	if err != nil {
		return fmt.Errorf("peer: identity: %w", err)
	}
	var errs []error
	for _, oc := range id.certs() {
		if err := id.refreshOne(ctx, doc, oc); err != nil {
			errs = append(errs, fmt.Errorf("peer: identity: %s certificate of %s: %w", oc.kind, oc.id, err))
		}
	}
	return errors.Join(errs...)
}

func (id *Identity) refreshOne(ctx context.Context, doc *globalconf.Document, oc *ownCert) error {
	usage := x509.ExtKeyUsageAny
	if oc.kind == profile.Auth {
		usage = x509.ExtKeyUsageClientAuth
	}
	chain, err := verifyChain(doc, oc.chain, id.clock.Now(), usage)
	if err != nil {
		return err
	}
	resp, der, err := id.cache.status(ctx, doc, chain[0], chain[1], respondersFor(doc, chain))
	switch {
	case err == nil:
		oc.status.Store(&ownStatus{resp: resp, der: der})
	case errors.Is(err, ErrRevoked):
		oc.status.Store(nil)
	}
	return err
}

// Run calls Refresh now and then every quarter of the configuration's OCSP
// freshness (so, with responders that answer with current responses, the
// response held is never older than three quarters of the freshness), and
// after a failure again after a sixteenth of it, until ctx is done. Failures are logged with the
// OCSP cache's logger. Run returns ctx.Err().
func (id *Identity) Run(ctx context.Context) error {
	for {
		err := id.Refresh(ctx)
		if err != nil && ctx.Err() == nil {
			id.cache.log.Error("refreshing OCSP status of own certificates failed", "err", err)
		}
		wait := time.Minute
		if doc, derr := id.cache.docs.Current(); derr == nil && doc != nil {
			f := doc.Settings.OCSPFreshness()
			wait = f / 4
			if err != nil {
				wait = retryDelay(f)
			}
		}
		wait = max(wait, time.Second)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// TLSCertificate returns the auth certificate for a TLS handshake, with the
// OCSP response held for it as staple when that is good and fresh under the
// current configuration. It is meant for tls.Config.GetCertificate and
// GetClientCertificate, so every handshake gets the current certificate and
// staple.
func (id *Identity) TLSCertificate() *tls.Certificate {
	id.mu.RLock()
	a := id.auth
	id.mu.RUnlock()
	tc := &tls.Certificate{Certificate: a.raw, PrivateKey: a.key, Leaf: a.chain[0]}
	if st := a.status.Load(); st != nil {
		if doc, err := id.cache.docs.Current(); err == nil && doc != nil &&
			Check(st.resp, id.clock.Now(), doc.Settings.OCSPFreshness()) == nil {
			tc.OCSPStaple = st.der
		}
	}
	return tc
}

// AuthCertificate returns the auth certificate currently presented.
func (id *Identity) AuthCertificate() *x509.Certificate {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.auth.chain[0]
}

// SignMaterial returns what message signing needs for member: the sign key,
// its certificate chain (leaf first; a copy) and the DER OCSP response that
// shows the certificate good and fresh now, to travel with the signature.
// It fails closed: with an error wrapping ErrNoSignKey when there is no key
// for member, ErrNoConfiguration without a usable configuration,
// ErrUntrustedChain when the certificate is outside its validity period, and
// ErrOCSPUnavailable (or ErrRevoked) when no good and fresh response is held
// (Refresh has not succeeded recently).
func (id *Identity) SignMaterial(member xroad.MemberID) (crypto.Signer, []*x509.Certificate, []byte, error) {
	id.mu.RLock()
	s := id.sign[member]
	id.mu.RUnlock()
	if s == nil {
		return nil, nil, nil, fmt.Errorf("%w: %s", ErrNoSignKey, member)
	}
	doc, err := currentDoc(id.cache.docs)
	if err != nil {
		return nil, nil, nil, err
	}
	now := id.clock.Now()
	if leaf := s.chain[0]; now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, nil, nil, fmt.Errorf("%w: sign certificate of %s is not valid at %s", ErrUntrustedChain, member, now.Format(time.RFC3339))
	}
	st := s.status.Load()
	if st == nil {
		return nil, nil, nil, fmt.Errorf("%w: no OCSP response held for the sign certificate of %s", ErrOCSPUnavailable, member)
	}
	if err := Check(st.resp, now, doc.Settings.OCSPFreshness()); err != nil {
		return nil, nil, nil, fmt.Errorf("sign certificate of %s: %w", member, err)
	}
	return s.key, slices.Clone(s.chain), st.der, nil
}

// Describe implements prometheus.Collector.
func (id *Identity) Describe(ch chan<- *prometheus.Desc) { ch <- ownAgeDesc }

// Collect implements prometheus.Collector.
func (id *Identity) Collect(ch chan<- prometheus.Metric) {
	now := id.clock.Now()
	for _, oc := range id.certs() {
		age := math.Inf(1)
		if st := oc.status.Load(); st != nil {
			age = now.Sub(st.resp.ThisUpdate).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(ownAgeDesc, prometheus.GaugeValue, age, oc.kind.String(), oc.id.String())
	}
}
