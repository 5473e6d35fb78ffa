package xerr

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	cause := errors.New("db password=secret rejected")
	tests := []struct {
		name       string
		err        error
		accept     string
		wantStatus int
		wantCode   string
		wantCT     string
	}{
		{"client fault json", New("Client.InvalidRequest", "bad header", nil), "", 400, "Client.InvalidRequest", "application/json"},
		{"server fault json", New("Server.ServerProxy.AccessDenied", "denied", cause), "application/json", 500, "Server.ServerProxy.AccessDenied", "application/json"},
		{"xml when asked", New("Server.ClientProxy.NetworkError", "down", nil), "text/xml", 500, "Server.ClientProxy.NetworkError", "text/xml"},
		{"plain error falls back", cause, "", 500, "Server.ClientProxy.InternalError", "application/json"},
		{"wrapped typed error", errors.Join(errors.New("ctx"), New("Client.BadRequest", "x", nil)), "", 400, "Client.BadRequest", "application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/", nil)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			Write(rec, req, nil, tc.err, "Server.ClientProxy.InternalError")
			if rec.Code != tc.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if got := rec.Header().Get(HeaderError); got != tc.wantCode {
				t.Errorf("X-Road-Error %q, want %q", got, tc.wantCode)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.wantCT) {
				t.Errorf("content type %q", rec.Header().Get("Content-Type"))
			}
			if strings.Contains(rec.Body.String(), "secret") {
				t.Errorf("internal cause leaked: %s", rec.Body)
			}
			if tc.wantCT == "application/json" {
				var body wireJSON
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Type != tc.wantCode || body.Detail == "" {
					t.Errorf("body %s: %v", rec.Body, err)
				}
			}
		})
	}
}

func TestDetailIDIsUUIDv4(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := NewDetailID(), NewDetailID()
	if !re.MatchString(a) || a == b {
		t.Fatalf("bad detail ids %q %q", a, b)
	}
}
