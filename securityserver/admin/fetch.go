package admin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Defaults of Fetcher.
const (
	// DefaultMaxDocumentSize bounds a fetched service description.
	DefaultMaxDocumentSize = 4 << 20
	// DefaultFetchTimeout bounds one fetch.
	DefaultFetchTimeout = 30 * time.Second
)

// Fetcher downloads service descriptions (OpenAPI documents) from the URLs
// administrators give, within a size limit and a timeout. Redirects are
// followed as http.Client does (at most 10).
type Fetcher struct {
	// Client makes the request (a client with default settings when nil;
	// its own Timeout applies too).
	Client *http.Client
	// MaxSize bounds the document (DefaultMaxDocumentSize when 0).
	MaxSize int64
	// Timeout bounds the whole fetch (DefaultFetchTimeout when 0).
	Timeout time.Duration
}

// Fetch returns the document at rawURL (http or https). Every failure —
// a malformed URL, a network error, a status other than 200, a document
// over the limit or an empty one — wraps ErrInvalid: the URL is the
// administrator's input.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: description URL %q: want an http or https URL", ErrInvalid, rawURL)
	}
	maxSize, timeout, client := f.MaxSize, f.Timeout, f.Client
	if maxSize <= 0 {
		maxSize = DefaultMaxDocumentSize
	}
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	if client == nil {
		client = &http.Client{}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: description URL %q: %w", ErrInvalid, rawURL, err)
	}
	req.Header.Set("Accept", "application/yaml, application/json;q=0.9, */*;q=0.5")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetching %s: %w", ErrInvalid, u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: fetching %s: HTTP status %d", ErrInvalid, u.Redacted(), resp.StatusCode)
	}
	if resp.ContentLength > maxSize {
		return nil, fmt.Errorf("%w: fetching %s: the document is larger than %d bytes", ErrInvalid, u.Redacted(), maxSize)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: fetching %s: %w", ErrInvalid, u.Redacted(), err)
	}
	if int64(len(b)) > maxSize {
		return nil, fmt.Errorf("%w: fetching %s: the document is larger than %d bytes", ErrInvalid, u.Redacted(), maxSize)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: fetching %s: empty document", ErrInvalid, u.Redacted())
	}
	return b, nil
}
