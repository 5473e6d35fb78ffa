package globalconf

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

// ETag returns a strong entity tag for a signed document (quoted, derived
// from its SHA-256 digest), for the get function of Handler.
func ETag(signed []byte) string {
	sum := sha256.Sum256(signed)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// Handler serves the signed document for download by security servers.
// get returns the current signed document and its entity tag (quoted, as
// ETag returns; an unquoted tag is quoted). GET and HEAD are allowed; the
// answer has Content-Type MediaType, the ETag, and Cache-Control no-cache;
// If-None-Match matching the tag (or "*") gives 304 Not Modified. When get
// fails the answer is 503 and no detail leaves the server.
func Handler(get func() (signed []byte, etag string, err error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		signed, etag, err := get()
		if err != nil || len(signed) == 0 {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "global configuration unavailable", http.StatusServiceUnavailable)
			return
		}
		if etag == "" {
			etag = ETag(signed)
		} else if !strings.HasPrefix(etag, `"`) && !strings.HasPrefix(etag, `W/"`) {
			etag = `"` + etag + `"`
		}
		h := w.Header()
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		if etagMatch(r.Header.Values("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", MediaType)
		h.Set("Content-Length", strconv.Itoa(len(signed)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(signed)
		}
	})
}

// etagMatch applies the weak comparison of RFC 9110 §13.1.2 (If-None-Match)
// between the header values and etag.
func etagMatch(values []string, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || (t != "" && strings.TrimPrefix(t, "W/") == want) {
				return true
			}
		}
	}
	return false
}
