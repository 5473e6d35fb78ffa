package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestReadyHandler checks /readyz's answer: 200 when every check passes,
// 503 with each failing check's reason otherwise, and a check that hangs
// is cut off by the timeout and reported as failing.
func TestReadyHandler(t *testing.T) {
	for _, c := range []struct {
		name   string
		check  func(ctx context.Context) *Health
		status int
		checks map[string]string
	}{
		{"all pass", func(context.Context) *Health {
			h := NewHealth()
			h.Set("database", nil)
			h.Set("keys", nil)
			return h
		}, http.StatusOK, map[string]string{"database": "ok", "keys": "ok"}},
		{"one fails", func(context.Context) *Health {
			h := NewHealth()
			h.Set("database", nil)
			h.Set("timestamping", errors.New("no time-stamp for 5h"))
			return h
		}, http.StatusServiceUnavailable, map[string]string{"database": "ok", "timestamping": "no time-stamp for 5h"}},
		{"a hung check times out", func(ctx context.Context) *Health {
			h := NewHealth()
			<-ctx.Done()
			h.Set("database", ctx.Err())
			return h
		}, http.StatusServiceUnavailable, map[string]string{"database": context.DeadlineExceeded.Error()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			ReadyHandler(c.check, time.Millisecond).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d", rec.Code, c.status)
			}
			var h Health
			if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
				t.Fatal(err)
			}
			if want := map[int]string{200: "ok", 503: "fail"}[c.status]; h.Status != want {
				t.Errorf("status %q, want %q", h.Status, want)
			}
			if len(h.Checks) != len(c.checks) {
				t.Errorf("checks %v, want %v", h.Checks, c.checks)
			}
			for k, v := range c.checks {
				if h.Checks[k] != v {
					t.Errorf("check %s = %q, want %q", k, h.Checks[k], v)
				}
			}
		})
	}
}
