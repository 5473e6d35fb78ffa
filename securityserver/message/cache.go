package message

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/pki/ocsp"
)

// DefaultCacheEntries bounds a VerifyCache made by NewVerifyCache(0).
const DefaultCacheEntries = 4096

// VerifyCache remembers the results of the two costly checks of a signed
// message that do not depend on the message or on the time: that a
// certificate chain's signatures lead to an approved root, and that an
// OCSP response is signed by the certificate's issuer. Every message from
// one signer carries the same chain and, for an hour or so, the same OCSP
// response, so a security server (or an auditor verifying an archive)
// verifies each once instead of once per message; it also keeps the parsed
// x5c certificates by the hash of their DER. What depends on the
// time — validity periods, OCSP freshness, status — is checked on every
// message, cached or not.
//
// Chain results are tied to the root and intermediate pools they were
// verified against (by identity): a new global configuration, with new
// pools, starts afresh. A VerifyCache is safe for concurrent use; when full
// it is emptied.
type VerifyCache struct {
	mu     sync.Mutex
	max    int
	chains map[[32]byte]cachedChain
	ocsps  map[[32]byte]*xocsp.Response
	certs  map[[32]byte]*x509.Certificate
}

// parseCertificate parses der, or returns the certificate parsed from the
// same bytes before (shared: callers must not modify it). A nil cache
// parses every time.
func (c *VerifyCache) parseCertificate(der []byte) (*x509.Certificate, error) {
	if c == nil {
		return x509.ParseCertificate(der)
	}
	k := sha256.Sum256(der)
	c.mu.Lock()
	cert, ok := c.certs[k]
	c.mu.Unlock()
	if ok {
		return cert, nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.certs) >= c.max {
		clear(c.certs)
	}
	c.certs[k] = cert
	return cert, nil
}

type cachedChain struct {
	roots, inter *x509.CertPool
	chain        []*x509.Certificate
}

// NewVerifyCache returns a cache of at most entries chains and as many OCSP
// responses (DefaultCacheEntries when entries ≤ 0).
func NewVerifyCache(entries int) *VerifyCache {
	if entries <= 0 {
		entries = DefaultCacheEntries
	}
	return &VerifyCache{max: entries, chains: map[[32]byte]cachedChain{}, ocsps: map[[32]byte]*xocsp.Response{},
		certs: map[[32]byte]*x509.Certificate{}}
}

func chainKey(x5c []*x509.Certificate) [32]byte {
	h := sha256.New()
	for _, c := range x5c {
		s := sha256.Sum256(c.Raw)
		h.Write(s[:])
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// chain returns the cached verified chain of x5c for these pools if every
// certificate of it is valid at at.
func (c *VerifyCache) chain(x5c []*x509.Certificate, roots, inter *x509.CertPool, at time.Time) ([]*x509.Certificate, [32]byte, bool) {
	k := chainKey(x5c)
	c.mu.Lock()
	e, ok := c.chains[k]
	c.mu.Unlock()
	if !ok || e.roots != roots || e.inter != inter {
		return nil, k, false
	}
	for _, cert := range e.chain {
		if at.Before(cert.NotBefore) || at.After(cert.NotAfter) {
			return nil, k, false
		}
	}
	return e.chain, k, true
}

func (c *VerifyCache) putChain(k [32]byte, roots, inter *x509.CertPool, chain []*x509.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.chains) >= c.max {
		clear(c.chains)
	}
	c.chains[k] = cachedChain{roots: roots, inter: inter, chain: chain}
}

func ocspKey(der []byte, leaf, issuer *x509.Certificate) [32]byte {
	h := sha256.New()
	for _, b := range [][]byte{der, leaf.Raw, issuer.Raw} {
		s := sha256.Sum256(b)
		h.Write(s[:])
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// parseOCSP parses der as a response about leaf signed by issuer (or a
// responder it delegated to), remembering the result. The response is
// shared: callers must not modify it.
func (c *VerifyCache) parseOCSP(der []byte, leaf, issuer *x509.Certificate) (*xocsp.Response, error) {
	k := ocspKey(der, leaf, issuer)
	c.mu.Lock()
	resp, ok := c.ocsps[k]
	c.mu.Unlock()
	if ok {
		return resp, nil
	}
	resp, err := ocsp.ParseResponse(der, leaf, issuer)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ocsps) >= c.max {
		clear(c.ocsps)
	}
	c.ocsps[k] = resp
	return resp, nil
}
