package pki

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// AdminClient calls a running PKI's admin API (what `jisr pki token`,
// `acme-allow`, `revoke` and `status` use).
type AdminClient struct {
	// BaseURL is e.g. "http://127.0.0.1:4490".
	BaseURL string
	// Token is the admin bearer token.
	Token string
	// HTTP is the client used; http.DefaultClient if nil.
	HTTP *http.Client
}

// NewAdminClient returns a client for the PKI that cfg configures, reading
// the admin token from its token file.
func NewAdminClient(cfg Config) (*AdminClient, error) {
	tok, err := readSecretFile(cfg.Admin.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("pki: admin token: %w", err)
	}
	host, port, err := net.SplitHostPort(cfg.Admin.Listen)
	if err != nil {
		return nil, fmt.Errorf("pki: admin.listen: %w", err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return &AdminClient{BaseURL: "http://" + net.JoinHostPort(host, port), Token: tok}, nil
}

// NewToken asks for a one-time enrolment token.
func (c *AdminClient) NewToken(ctx context.Context, req TokenRequest) (*TokenResponse, error) {
	var out TokenResponse
	return &out, c.call(ctx, http.MethodPost, "/v1/tokens", req, &out)
}

// AllowACME registers a DNS name for a security server's ACME enrolment.
func (c *AdminClient) AllowACME(ctx context.Context, req ACMEAllowRequest) error {
	return c.call(ctx, http.MethodPost, "/v1/acme/allow", req, nil)
}

// Revoke revokes a certificate and returns its new status.
func (c *AdminClient) Revoke(ctx context.Context, req RevokeRequest) (*CertificateStatus, error) {
	var out CertificateStatus
	return &out, c.call(ctx, http.MethodPost, "/v1/revoke", req, &out)
}

// Status returns a certificate's status.
func (c *AdminClient) Status(ctx context.Context, serial string) (*CertificateStatus, error) {
	var out CertificateStatus
	return &out, c.call(ctx, http.MethodGet, "/v1/certificates/"+serial, nil, &out)
}

func (c *AdminClient) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("pki admin API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("pki admin API: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e apiError
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("pki admin API: %s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("pki admin API: %s", resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("pki admin API: decoding answer: %w", err)
		}
	}
	return nil
}
