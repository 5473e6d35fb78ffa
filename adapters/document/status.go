package document

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// StatusPath is the path, below an issuer's base URL, where its document
// status is read: GET {base}/v1/documents/{number}/status.
const StatusPath = "/v1/documents/%s/status"

// CodeUnknownDocument is the problem code (RFC 9457 "code" member) of an
// issuer's 404 answer for a number it never issued. StatusClient treats
// only that answer as ErrUnknownDocument.
const CodeUnknownDocument = "Client.UnknownDocument"

// StatusJSON is the body of a status answer (adapters/interior writes it).
type StatusJSON struct {
	Number     string     `json:"number"`
	Type       string     `json:"type"`
	Status     Status     `json:"status"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	CodeSHA256 string     `json:"codeSha256"`
}

// StatusClient is a StatusSource over HTTP: for each issuer, BaseURL gives
// the base URL of its document service (an issuer's own server, or a path
// through the caller's security server such as
// http://ss:8080/r1/PS/GOV/MOI/civil-registry/documents), and every request
// carries Header (X-Road-Client, say).
type StatusClient struct {
	// BaseURL returns the base URL for an issuer, or false for an issuer
	// the client cannot ask.
	BaseURL func(issuer xroad.MemberID) (string, bool)
	// HTTP is the client used; nil means one with a 10-second timeout.
	HTTP *http.Client
	// Header is added to every request.
	Header http.Header
}

var _ StatusSource = (*StatusClient)(nil)

// DocumentStatus implements StatusSource.
func (c *StatusClient) DocumentStatus(ctx context.Context, issuer xroad.MemberID, number string) (StatusReport, error) {
	base, ok := c.BaseURL(issuer)
	if !ok {
		return StatusReport{}, fmt.Errorf("document: no status service known for %s", issuer)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+fmt.Sprintf(StatusPath, url.PathEscape(number)), nil)
	if err != nil {
		return StatusReport{}, fmt.Errorf("document: status of %s: %w", number, err)
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return StatusReport{}, fmt.Errorf("document: status of %s: %w", number, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return StatusReport{}, fmt.Errorf("document: status of %s: %w", number, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		// Only the issuer's own "no such document" counts, not any 404 (a
		// wrong base URL must not make genuine documents forged).
		var p struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(body, &p) == nil && p.Code == CodeUnknownDocument && resp.Header.Get("X-Road-Error") == "" {
			return StatusReport{}, fmt.Errorf("%w: %s", ErrUnknownDocument, number)
		}
		return StatusReport{}, fmt.Errorf("document: status of %s: HTTP %d", number, resp.StatusCode)
	default:
		return StatusReport{}, fmt.Errorf("document: status of %s: HTTP %d", number, resp.StatusCode)
	}
	var s StatusJSON
	if err := json.Unmarshal(body, &s); err != nil {
		return StatusReport{}, fmt.Errorf("document: status of %s: %w", number, err)
	}
	if s.Status != StatusValid && s.Status != StatusRevoked {
		return StatusReport{}, errors.New("document: status answer without a known status")
	}
	rep := StatusReport{Number: s.Number, Type: s.Type, Status: s.Status, Reason: s.Reason, CodeSHA256: s.CodeSHA256}
	if s.RevokedAt != nil {
		rep.RevokedAt = *s.RevokedAt
	}
	return rep, nil
}
