package globalconf

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	body := []byte(`{"payload":"e30","signatures":[]}`)
	tag := ETag(body)
	ok := Handler(func() ([]byte, string, error) { return body, tag, nil })
	unquoted := Handler(func() ([]byte, string, error) { return body, "v42", nil })
	broken := Handler(func() ([]byte, string, error) { return nil, "", errors.New("db down: secret detail") })

	tests := []struct {
		name       string
		h          http.Handler
		method     string
		inm        string
		wantStatus int
		wantBody   bool
		wantETag   string
	}{
		{"GET", ok, http.MethodGet, "", http.StatusOK, true, tag},
		{"HEAD", ok, http.MethodHead, "", http.StatusOK, false, tag},
		{"matching If-None-Match", ok, http.MethodGet, tag, http.StatusNotModified, false, tag},
		{"weak matching If-None-Match", ok, http.MethodGet, "W/" + tag, http.StatusNotModified, false, tag},
		{"list with match", ok, http.MethodGet, `"other", ` + tag, http.StatusNotModified, false, tag},
		{"star", ok, http.MethodGet, "*", http.StatusNotModified, false, tag},
		{"other tag", ok, http.MethodGet, `"other"`, http.StatusOK, true, tag},
		{"unquoted tag is quoted", unquoted, http.MethodGet, `"v42"`, http.StatusNotModified, false, `"v42"`},
		{"POST", ok, http.MethodPost, "", http.StatusMethodNotAllowed, false, ""},
		{"source fails", broken, http.MethodGet, "", http.StatusServiceUnavailable, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/globalconf", nil)
			if tt.inm != "" {
				req.Header.Set("If-None-Match", tt.inm)
			}
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("ETag"); got != tt.wantETag {
				t.Errorf("ETag %q, want %q", got, tt.wantETag)
			}
			if (rec.Body.String() == string(body)) != tt.wantBody {
				t.Errorf("body %q, want body: %v", rec.Body, tt.wantBody)
			}
			if rec.Code == http.StatusOK {
				if ct := rec.Header().Get("Content-Type"); ct != MediaType {
					t.Errorf("Content-Type %q, want %q", ct, MediaType)
				}
			}
			if rec.Code == http.StatusOK || rec.Code == http.StatusNotModified {
				if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
					t.Errorf("Cache-Control %q, want no-cache", cc)
				}
			}
			if rec.Code == http.StatusServiceUnavailable && strings.Contains(rec.Body.String(), "secret") {
				t.Error("error detail leaked to the client")
			}
		})
	}
}
