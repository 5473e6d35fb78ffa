package mgmtproto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xerr"
)

// Path is the path of the management endpoint on the central server's
// management listener: requests are submitted to it (POST) and, followed by
// "/{id}", queried (GET).
const Path = "/managementrequests"

// RequestStatus is where a management request is in its life.
type RequestStatus string

// The statuses. A request is submitted PENDING and decided once.
const (
	// StatusPending: stored, waiting for a registration officer.
	StatusPending RequestStatus = "PENDING"
	// StatusApproved: approved and applied to the registry.
	StatusApproved RequestStatus = "APPROVED"
	// StatusRejected: rejected by a registration officer.
	StatusRejected RequestStatus = "REJECTED"
	// StatusFailed: approved, but it could not be applied (Comment says
	// why), so the registry is unchanged.
	StatusFailed RequestStatus = "FAILED"
)

// Status is the central server's answer about a management request.
type Status struct {
	// ID is the central server's number for the request; query the status
	// with it.
	ID int64 `json:"id"`
	// RequestID is the request's own ID (Request.ID).
	RequestID string `json:"requestId"`
	// Type is the request's type.
	Type Type `json:"type"`
	// Status is PENDING, APPROVED, REJECTED or FAILED.
	Status RequestStatus `json:"status"`
	// Comment is the registration officer's comment, or why applying the
	// request failed.
	Comment string `json:"comment,omitempty"`
}

// maxStatusSize bounds a status response body.
const maxStatusSize = 64 << 10

// Client submits signed management requests to the central server and asks
// for their status. The zero value is not usable: set URL and
// TrustedCerts. A Client is safe for concurrent use once set up; do not
// change its fields after the first call.
//
// The connection is TLS 1.3. The central server's certificate is verified
// the standard way (chain and host name of URL) against TrustedCerts as the
// only roots — the global configuration's
// centralServer.managementTLSCertificates, self-signed certificates that
// the signed configuration vouches for — and VerifyConnection, which also
// runs on resumed sessions, additionally requires the presented
// certificate to be one of them. No other CA is consulted.
type Client struct {
	// URL is the management endpoint, the global configuration's
	// centralServer.managementURL, e.g.
	// "https://central.example:4402/managementrequests": requests are
	// POSTed to it and statuses read from URL/{id}. A URL without a path
	// ("https://central.example:4402") stands for that URL plus Path.
	URL string
	// TrustedCerts are the DER certificates the central server may present;
	// at least one.
	TrustedCerts [][]byte
	// ClientCert is the security server's registered authentication
	// certificate with its key, presented when the server asks (required
	// for every request type but authCertRegistration, and for Status).
	// Nil for the first registration.
	ClientCert *tls.Certificate
	// Clock is the time source for TLS (session ticket ages); nil means
	// the system clock.
	Clock clock.Clock
	// Timeout bounds each call; zero means 30 seconds.
	Timeout time.Duration

	once     sync.Once
	hc       *http.Client
	endpoint string
	initErr  error
}

// init builds the HTTP client once.
func (c *Client) init() error {
	c.once.Do(func() {
		u, err := url.Parse(c.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			c.initErr = fmt.Errorf("mgmtproto: client: URL %q is not an https URL without query", c.URL)
			return
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
		if u.Path == "" {
			u.Path = Path
		}
		c.endpoint = u.String()
		roots := x509.NewCertPool()
		pinned := make([][]byte, 0, len(c.TrustedCerts))
		for i, der := range c.TrustedCerts {
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				c.initErr = fmt.Errorf("mgmtproto: client: trusted certificate %d: %w", i, err)
				return
			}
			roots.AddCert(cert)
			pinned = append(pinned, cert.Raw)
		}
		if len(pinned) == 0 {
			c.initErr = errors.New("mgmtproto: client: no trusted central server certificates")
			return
		}
		clk := c.Clock
		if clk == nil {
			clk = clock.System()
		}
		cfg := &tls.Config{
			MinVersion: tls.VersionTLS13,
			Time:       clk.Now,
			RootCAs:    roots,
			ServerName: u.Hostname(),
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("mgmtproto: central server presented no certificate")
				}
				if !slices.ContainsFunc(pinned, func(der []byte) bool { return bytes.Equal(der, cs.PeerCertificates[0].Raw) }) {
					sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
					return fmt.Errorf("mgmtproto: central server certificate %x is not one the configuration lists", sum)
				}
				return nil
			},
		}
		if c.ClientCert != nil {
			cfg.Certificates = []tls.Certificate{*c.ClientCert}
		}
		timeout := c.Timeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		c.hc = &http.Client{
			Timeout: timeout,
			Transport: &http.Transport{
				TLSClientConfig:     cfg,
				ForceAttemptHTTP2:   true,
				TLSHandshakeTimeout: timeout,
				MaxIdleConnsPerHost: 2,
				IdleConnTimeout:     90 * time.Second,
			},
			// Management endpoints do not redirect; following one would
			// carry the request elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
	return c.initErr
}

// Submit sends a signed request (Sign's output) and returns the status the
// central server recorded (PENDING, or already decided when it approves
// automatically). A refusal by the central server is returned as an
// *xerr.Error with the server's code, message and detail id (its Err is
// nil); transport failures as other errors.
func (c *Client) Submit(ctx context.Context, signed []byte) (Status, error) {
	if err := c.init(); err != nil {
		return Status{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(signed))
	if err != nil {
		return Status{}, fmt.Errorf("mgmtproto: submit: %w", err)
	}
	req.Header.Set("Content-Type", MediaType)
	req.Header.Set("Accept", "application/json")
	return c.do(req, http.StatusAccepted)
}

// Status asks for the status of the request the central server numbered
// id. The central server answers only the security server that submitted
// the request, identified by ClientCert. Errors as for Submit.
func (c *Client) Status(ctx context.Context, id int64) (Status, error) {
	if err := c.init(); err != nil {
		return Status{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint+"/"+strconv.FormatInt(id, 10), nil)
	if err != nil {
		return Status{}, fmt.Errorf("mgmtproto: status: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	return c.do(req, http.StatusOK)
}

// CloseIdleConnections closes the client's idle connections.
func (c *Client) CloseIdleConnections() {
	if c.init() == nil {
		c.hc.CloseIdleConnections()
	}
}

func (c *Client) do(req *http.Request, wantStatus int) (Status, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return Status{}, fmt.Errorf("mgmtproto: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusSize+1))
	if err != nil {
		return Status{}, fmt.Errorf("mgmtproto: %s %s: reading response: %w", req.Method, req.URL.Path, err)
	}
	if len(body) > maxStatusSize {
		return Status{}, fmt.Errorf("mgmtproto: %s %s: response larger than %d bytes", req.Method, req.URL.Path, maxStatusSize)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != wantStatus {
		var e struct {
			Type    string `json:"type"`
			Message string `json:"message"`
			Detail  string `json:"detail"`
		}
		if mt == "application/json" && json.Unmarshal(body, &e) == nil && e.Type != "" {
			return Status{}, &xerr.Error{Code: e.Type, Message: e.Message, Detail: e.Detail}
		}
		return Status{}, fmt.Errorf("mgmtproto: %s %s: HTTP status %s", req.Method, req.URL.Path, resp.Status)
	}
	if mt != "application/json" {
		return Status{}, fmt.Errorf("mgmtproto: %s %s: unexpected Content-Type %q", req.Method, req.URL.Path, resp.Header.Get("Content-Type"))
	}
	var s Status
	if err := json.Unmarshal(body, &s); err != nil {
		return Status{}, fmt.Errorf("mgmtproto: %s %s: decoding status: %w", req.Method, req.URL.Path, err)
	}
	return s, nil
}
