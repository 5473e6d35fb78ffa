package adminapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseHeader(t *testing.T) {
	for h, want := range map[string]string{
		"X-Road-ApiKey token=abc":     "abc",
		"x-road-apikey token=abc":     "abc",
		"  X-Road-ApiKey  token=abc ": "abc",
		"X-Road-ApiKey token=":        "",
		"X-Road-ApiKey abc":           "",
		"Bearer abc":                  "",
		"":                            "",
	} {
		got, ok := ParseHeader(h)
		if got != want || ok != (want != "") {
			t.Errorf("ParseHeader(%q) = %q, %v; want %q", h, got, ok, want)
		}
	}
}

func TestNewSecret(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if len(a) != 43 || a == b {
		t.Fatalf("secrets %q, %q", a, b)
	}
}

func TestDecodeJSON(t *testing.T) {
	type body struct{ Name string }
	for _, tc := range []struct {
		in      string
		wantErr string
	}{
		{`{"Name":"x"}`, ""},
		{``, "empty"},
		{`{"Name":"x","Other":1}`, "unknown field"},
		{`{"Name":"x"} {}`, "trailing data"},
		{`{"Name":"` + strings.Repeat("x", 100) + `"}`, "too large"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.in))
		var v body
		err := DecodeJSON(httptest.NewRecorder(), r, &v, 64)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: %v, want an error about %q", tc.in, err, tc.wantErr)
		}
		if tc.in == "" && !errors.Is(err, ErrEmptyBody) {
			t.Errorf("empty body: %v, want ErrEmptyBody", err)
		}
	}
}

func TestStatusRecorder(t *testing.T) {
	w := httptest.NewRecorder()
	rec := &StatusRecorder{ResponseWriter: w}
	_, _ = rec.Write([]byte("x"))
	rec.WriteHeader(http.StatusTeapot) // too late: the first status counts
	if rec.Code != http.StatusOK {
		t.Fatalf("code %d, want 200", rec.Code)
	}
	rec2 := &StatusRecorder{ResponseWriter: httptest.NewRecorder()}
	rec2.WriteHeader(http.StatusNotFound)
	if rec2.Code != http.StatusNotFound || rec2.Unwrap() == nil {
		t.Fatalf("code %d", rec2.Code)
	}
}
