package ca

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/smallstep/certificates/acme"
	"github.com/smallstep/nosql/database"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// acmeNamesTable maps a lower-case DNS name to the URI of the security server
// allowed to enrol with it.
const acmeNamesTable = "jisr_acme_names"

// ErrACMENameNotAllowed is returned (wrapped) when a DNS name is not
// registered for ACME enrolment.
var ErrACMENameNotAllowed = errors.New("ca: DNS name not registered for ACME enrolment")

// AllowACME registers (persistently) that the security server may enrol over
// ACME after proving control of dnsName: for its auth certificate, and for
// its owner's sign certificate. A name maps to one server; registering it for
// another fails until DisallowACME removes it.
func (a *Authority) AllowACME(server xroad.ServerID, dnsName string) error {
	if err := server.Validate(); err != nil {
		return fmt.Errorf("ca: AllowACME: %w", err)
	}
	if server.Owner.Instance != a.bundle.Instance {
		return fmt.Errorf("ca: AllowACME: %s is not in instance %q", server.Typed(), a.bundle.Instance)
	}
	if err := checkHostName(dnsName); err != nil || net.ParseIP(dnsName) != nil {
		return fmt.Errorf("ca: AllowACME: %q is not a DNS name", dnsName)
	}
	key := []byte(strings.ToLower(dnsName))
	old, ok, err := a.db.CmpAndSwap([]byte(acmeNamesTable), key, nil, []byte(server.URI()))
	if err != nil {
		return fmt.Errorf("ca: AllowACME: %w", err)
	}
	if !ok && string(old) != server.URI() {
		return fmt.Errorf("ca: AllowACME: %s is already registered for %s", dnsName, old)
	}
	return nil
}

// DisallowACME removes a DNS name's ACME registration.
func (a *Authority) DisallowACME(dnsName string) error {
	if err := a.db.Del([]byte(acmeNamesTable), []byte(strings.ToLower(dnsName))); err != nil && !database.IsErrNotFound(err) {
		return fmt.Errorf("ca: DisallowACME: %w", err)
	}
	return nil
}

// ACMEServer returns the security server a DNS name is registered for.
func (a *Authority) ACMEServer(dnsName string) (xroad.ServerID, error) {
	v, err := a.db.Get([]byte(acmeNamesTable), []byte(strings.ToLower(dnsName)))
	if err != nil {
		if database.IsErrNotFound(err) {
			return xroad.ServerID{}, fmt.Errorf("%w: %s", ErrACMENameNotAllowed, dnsName)
		}
		return xroad.ServerID{}, fmt.Errorf("ca: ACME registration of %s: %w", dnsName, err)
	}
	id, err := xroad.ParseURI(string(v))
	if err != nil {
		return xroad.ServerID{}, fmt.Errorf("ca: ACME registration of %s: %w", dnsName, err)
	}
	s, ok := id.(xroad.ServerID)
	if !ok {
		return xroad.ServerID{}, fmt.Errorf("ca: ACME registration of %s names %s", dnsName, id.Typed())
	}
	return s, nil
}

// challengeClient is the acme.Client step-ca uses to validate challenges.
// It dials through the configured dialer, ignores proxies and keeps no idle
// connections.
type challengeClient struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	http *http.Client
}

const challengeTimeout = 30 * time.Second

func newChallengeClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *challengeClient {
	if dial == nil {
		dial = (&net.Dialer{Timeout: challengeTimeout}).DialContext
	}
	return &challengeClient{
		dial: dial,
		http: &http.Client{
			Timeout: challengeTimeout,
			Transport: &http.Transport{
				Proxy:             nil,
				DialContext:       dial,
				DisableKeepAlives: true,
			},
		},
	}
}

var _ acme.Client = (*challengeClient)(nil)

// Get fetches an http-01 challenge response.
func (c *challengeClient) Get(url string) (*http.Response, error) { return c.http.Get(url) }

// LookupTxt resolves dns-01 records (dns-01 is not enabled; kept for the
// interface).
func (c *challengeClient) LookupTxt(name string) ([]string, error) { return net.LookupTXT(name) }

// TLSDial connects for tls-alpn-01 (not enabled; kept for the interface).
func (c *challengeClient) TLSDial(network, addr string, config *tls.Config) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), challengeTimeout)
	defer cancel()
	conn, err := c.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(conn, config)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}
