package admin

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFetcher(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok.yaml":
			_, _ = io.WriteString(w, personsOpenAPI)
		case "/big-declared":
			w.Header().Set("Content-Length", "2048")
			_, _ = w.Write(make([]byte, 2048))
		case "/big-streamed":
			// No Content-Length: the limit is found while reading.
			for range 4 {
				_, _ = w.Write(make([]byte, 512))
				w.(http.Flusher).Flush()
			}
		case "/empty":
		case "/slow":
			// Answers only once the client gave up (or the test ends).
			select {
			case <-r.Context().Done():
			case <-release:
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	defer close(release)
	f := &Fetcher{Client: srv.Client(), MaxSize: 1024, Timeout: 50 * time.Millisecond}
	b, err := f.Fetch(t.Context(), srv.URL+"/ok.yaml")
	if err != nil || string(b) != personsOpenAPI {
		t.Fatalf("Fetch = %q, %v", b, err)
	}
	for _, tc := range []struct{ name, url, want string }{
		{"not found", srv.URL + "/missing", "status 404"},
		{"declared too large", srv.URL + "/big-declared", "larger than 1024"},
		{"streamed too large", srv.URL + "/big-streamed", "larger than 1024"},
		{"empty", srv.URL + "/empty", "empty"},
		{"timeout", srv.URL + "/slow", "fetching"},
		{"not http", "ftp://example.test/x", "http or https"},
		{"no host", "http:///x", "http or https"},
		{"unreachable", "http://127.0.0.1:1/x", "fetching"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.Fetch(t.Context(), tc.url)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Fetch(%s) = %v, want ErrInvalid with %q", tc.url, err, tc.want)
			}
		})
	}
}
