package message

import (
	"crypto/sha512"
	"encoding/base64"
	"testing"
)

func TestRequestHash(t *testing.T) {
	canonical := []byte(`{"version":"jisr/1"}`)
	body := []byte("hello")
	// Computed independently of RequestHash, step by step as PR-REST states it.
	hp := sha512.Sum512(canonical)
	hb := sha512.Sum512(body)
	withBody := sha512.Sum512(append(hp[:], hb[:]...))
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"with body", hb[:], base64.StdEncoding.EncodeToString(withBody[:])},
		{"without body", nil, base64.StdEncoding.EncodeToString(hp[:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RequestHash(canonical, tt.body); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	h := testRequest(SumBytes(body))
	if got, want := h.RequestHash(SumBytes(body)), RequestHash(h.Canonical(), SumBytes(body).SHA512); got != want {
		t.Errorf("RequestHeader.RequestHash with body: %s, want %s", got, want)
	}
	if got, want := h.RequestHash(SumBytes(nil)), RequestHash(h.Canonical(), nil); got != want {
		t.Errorf("RequestHeader.RequestHash without body: %s, want %s", got, want)
	}
}
