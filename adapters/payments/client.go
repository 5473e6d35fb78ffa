package payments

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/jisr-bus/jisr/adapters/kit"
)

// Client checks payment order references at the payments service over
// HTTP; it implements kit.PaymentVerifier for the ministries that deliver
// paid services. BaseURL is the service's base: the adapter itself, or the
// path to it through the caller's security server (for example
// http://ss:8080/r1/PS/GOV/PMA/payments/orders). Header is added to every
// request (X-Road-Client, X-Road-UserId, X-Road-Issue).
type Client struct {
	BaseURL string
	// HTTP is the client used; nil means one with a 10-second timeout.
	HTTP   *http.Client
	Header http.Header
}

var _ kit.PaymentVerifier = (*Client)(nil)

// validOrderID reports whether s has the form of an order id,
// PO-YYYY-NNNNNNNN (checked before asking).
func validOrderID(s string) bool {
	if len(s) != 16 || s[:3] != "PO-" || s[7] != '-' {
		return false
	}
	return digits(s[3:7]) && digits(s[8:])
}

// VerifyPaid implements kit.PaymentVerifier.
func (c *Client) VerifyPaid(ctx context.Context, chk kit.PaymentCheck) (kit.PaymentProof, error) {
	refuse := func(format string, args ...any) (kit.PaymentProof, error) {
		return kit.PaymentProof{}, &kit.PaymentRefusal{Reason: fmt.Sprintf(format, args...)}
	}
	if !validOrderID(chk.OrderID) {
		return refuse("%q is not a payment order reference", chk.OrderID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+PaymentOrderPath+url.PathEscape(chk.OrderID), nil)
	if err != nil {
		return kit.PaymentProof{}, fmt.Errorf("payments client: %w", err)
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
		return kit.PaymentProof{}, fmt.Errorf("payments client: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return kit.PaymentProof{}, fmt.Errorf("payments client: %w", err)
	}
	if resp.StatusCode == http.StatusNotFound && resp.Header.Get("X-Road-Error") == "" {
		var p kit.Problem
		if json.Unmarshal(body, &p) == nil && p.Code == kit.CodeNotFound {
			return refuse("no payment order %s", chk.OrderID)
		}
	}
	if resp.StatusCode != http.StatusOK {
		return kit.PaymentProof{}, fmt.Errorf("payments client: order %s: HTTP %d", chk.OrderID, resp.StatusCode)
	}
	var o Order
	if err := json.Unmarshal(body, &o); err != nil {
		return kit.PaymentProof{}, fmt.Errorf("payments client: order %s: %w", chk.OrderID, err)
	}
	switch {
	case o.ID != chk.OrderID:
		return kit.PaymentProof{}, fmt.Errorf("payments client: asked for %s, got %s", chk.OrderID, o.ID)
	case o.Status != StatusPaid || o.PaidAt == nil:
		return refuse("payment order %s is %s, not paid", o.ID, o.Status)
	case chk.Service != "" && o.Purpose.Service != chk.Service:
		return refuse("payment order %s pays for %s, not %s", o.ID, o.Purpose.Service, chk.Service)
	case chk.Reference != "" && o.Purpose.Reference != chk.Reference:
		return refuse("payment order %s pays for %s, not %s", o.ID, o.Purpose.Reference, chk.Reference)
	case !chk.Payer.IsZero() && o.Payer.NationalID != chk.Payer.String():
		return refuse("payment order %s was paid for another person", o.ID)
	case !chk.Amount.IsZero() && (o.Amount.Currency != chk.Amount.Currency || o.Amount.Minor < chk.Amount.Minor):
		return refuse("payment order %s is for %s, not %s", o.ID, o.Amount, chk.Amount)
	}
	return kit.PaymentProof{
		OrderID: o.ID, ReceiptNumber: o.ReceiptNumber, Service: o.Purpose.Service, Payer: o.Payer.NationalID,
		Reference: o.Purpose.Reference, Amount: o.Amount, PaidAt: *o.PaidAt,
	}, nil
}
