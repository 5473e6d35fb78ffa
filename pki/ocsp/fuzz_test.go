package ocsp

import (
	"crypto"
	"errors"
	"testing"

	"golang.org/x/crypto/ocsp"
)

// FuzzOCSPRequest feeds arbitrary bytes to the request decoding path, both as
// a POST body and as the path of a GET request. Whatever the input, the
// responder must return a well-formed OCSP response (an error response for
// bad input) signed by its responder when successful, and never panic.
func FuzzOCSPRequest(f *testing.F) {
	fx := newFixture(f, nil)
	other := newTestPKI(f, testNow)
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384} {
		f.Add(ocspRequest(f, fx.good, fx.pki.Issuer, h))
	}
	f.Add(ocspRequest(f, fx.absent, fx.pki.Issuer, crypto.SHA1))
	f.Add(ocspRequest(f, other.leaf(f, 100), other.Issuer, crypto.SHA1))
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	f.Add([]byte("MFQwUjBQME4wTDAJBgUrDgMCGgUABBQ="))

	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(a answer) {
			if len(a.der) == 0 {
				t.Fatal("empty answer")
			}
			resp, err := ocsp.ParseResponse(a.der, fx.pki.Issuer)
			var re ocsp.ResponseError
			switch {
			case errors.As(err, &re):
				if a.status == statusGood || a.status == statusRevoked || a.status == statusUnknown {
					t.Fatalf("status label %q with OCSP error %v", a.status, re.Status)
				}
			case err != nil:
				t.Fatalf("responder produced an unparseable response: %v", err)
			default:
				req, err := ocsp.ParseRequest(data)
				if err != nil {
					// Success must only follow a parseable request; the
					// GET path decodes base64 first.
					return
				}
				if resp.SerialNumber.Cmp(req.SerialNumber) != 0 || resp.IssuerHash != req.HashAlgorithm {
					t.Fatalf("response for %v/%v, request for %v/%v", resp.SerialNumber, resp.IssuerHash, req.SerialNumber, req.HashAlgorithm)
				}
			}
		}
		check(fx.r.respond(t.Context(), data))
		if der, err := decodeGET(string(data)); err == nil {
			check(fx.r.respond(t.Context(), der))
		}
	})
}
