package central

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
)

// Client calls a central server's admin API with an API key; the
// `jisr central` API subcommands use it.
type Client struct {
	// BaseURL is e.g. "http://127.0.0.1:4400" (without /api/v1).
	BaseURL string
	// APIKey is the key's secret.
	APIKey string
	// HTTP is the client used; http.DefaultClient if nil.
	HTTP *http.Client
}

// NewClient returns a client for the admin listener of cfg, reading the
// API key secret from keyFile (which must not be readable by group or
// others).
func NewClient(cfg Config, keyFile string) (*Client, error) {
	secret, err := ReadSecretFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("central: API key: %w", err)
	}
	host, port, err := net.SplitHostPort(cfg.Listen.Admin)
	if err != nil {
		return nil, fmt.Errorf("central: listen.admin: %w", err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return &Client{BaseURL: "http://" + net.JoinHostPort(host, port), APIKey: secret}, nil
}

// ReadSecretFile reads a one-line secret file, refusing files readable by
// group or others.
func ReadSecretFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s: permissions %v are too open (want 0600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// ClientError is an error answer of the admin API.
type ClientError struct {
	// Status is the HTTP status.
	Status int
	// Type, Message and Detail are the error body's fields.
	Type, Message, Detail string
}

// Error implements error.
func (e *ClientError) Error() string {
	if e.Type == "" {
		return fmt.Sprintf("central admin API: HTTP %d", e.Status)
	}
	return fmt.Sprintf("central admin API: %s (HTTP %d): %s [detail %s]", e.Type, e.Status, e.Message, e.Detail)
}

// Call sends method path (relative to /api/v1, e.g. "/members") with in as
// the JSON body (none if nil) and decodes a JSON answer into out (ignored
// if nil). Error answers are returned as *ClientError.
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("central client: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+APIPrefix+path, body)
	if err != nil {
		return fmt.Errorf("central client: %w", err)
	}
	req.Header.Set("Authorization", APIKeyScheme+" token="+c.APIKey)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("central client: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("central client: %w", err)
	}
	if resp.StatusCode >= 300 {
		ce := &ClientError{Status: resp.StatusCode}
		var eb errorBody
		if json.Unmarshal(b, &eb) == nil {
			ce.Type, ce.Message, ce.Detail = eb.Type, eb.Message, eb.Detail
		}
		return ce
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = b
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("central client: decode answer: %w", err)
	}
	return nil
}
