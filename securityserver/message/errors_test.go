package message

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jisr-bus/jisr/internal/xerr"
)

func TestToXRoad(t *testing.T) {
	tests := []struct {
		err                error
		server, clientSide string
	}{
		{ErrMalformed, "Server.ServerProxy.InvalidRequest", "Server.ClientProxy.InvalidResponse"},
		{ErrBadSignature, "Server.ServerProxy.InvalidSignatureValue", "Server.ClientProxy.InvalidSignatureValue"},
		{ErrTampered, "Server.ServerProxy.InvalidSignatureValue", "Server.ClientProxy.InvalidSignatureValue"},
		{ErrBodyMismatch, "Server.ServerProxy.InvalidSignatureValue", "Server.ClientProxy.InvalidSignatureValue"},
		{ErrClockSkew, "Server.ServerProxy.InvalidRequest", "Server.ClientProxy.InvalidResponse"},
		{ErrUntrustedChain, "Server.ServerProxy.CertValidation", "Server.ClientProxy.CertValidation"},
		{ErrCertProfile, "Server.ServerProxy.CertValidation", "Server.ClientProxy.CertValidation"},
		{ErrWrongSigner, "Server.ServerProxy.CertValidation", "Server.ClientProxy.CertValidation"},
		{ErrRevoked, "Server.ServerProxy.CertValidation", "Server.ClientProxy.CertValidation"},
		{ErrOCSPInvalid, "Server.ServerProxy.IncorrectValidationInfo", "Server.ClientProxy.IncorrectValidationInfo"},
		{ErrOCSPStale, "Server.ServerProxy.IncorrectValidationInfo", "Server.ClientProxy.IncorrectValidationInfo"},
		{ErrReplay, "Server.ServerProxy.InvalidRequest", "Server.ClientProxy.InvalidResponse"},
		{ErrReplayCapacity, "Server.ServerProxy.InternalError", "Server.ClientProxy.InternalError"},
		{ErrResponseMismatch, "Server.ServerProxy.InconsistentResponse", "Server.ClientProxy.InconsistentResponse"},
		{&BodyTooLargeError{Limit: 1}, "Server.ServerProxy.InvalidRequest", "Server.ClientProxy.InvalidResponse"},
		{errors.New("disk on fire"), "Server.ServerProxy.InternalError", "Server.ClientProxy.InternalError"},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			wrapped := fmt.Errorf("context: %w", tt.err)
			for side, want := range map[Side]string{ServerProxy: tt.server, ClientProxy: tt.clientSide} {
				got := ToXRoad(wrapped, side)
				if got.Code != want {
					t.Errorf("side %d: code %q, want %q", side, got.Code, want)
				}
				if !errors.Is(got, tt.err) || got.Message == "" || got.Detail == "" {
					t.Errorf("side %d: %+v does not keep the cause or lacks message/detail", side, got)
				}
			}
		})
	}
	if ToXRoad(nil, ServerProxy) != nil {
		t.Error("ToXRoad(nil) != nil")
	}
	own := xerr.New("Server.ServerProxy.AccessDenied", "no", nil)
	if got := ToXRoad(fmt.Errorf("x: %w", own), ClientProxy); got != own {
		t.Error("an *xerr.Error was not passed through")
	}
	// Every sentinel has its own mapping (none falls through to InternalError
	// by accident, except the one meant to).
	for _, s := range sentinels() {
		if _, _, ok := classify(s); !ok {
			t.Errorf("%v has no mapping", s)
		}
	}
}
