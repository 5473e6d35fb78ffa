package tsa

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"

	"github.com/digitorus/timestamp"
)

// FuzzParseRequest runs arbitrary bytes through the server's request
// handling. Bad input must yield a rejection reply (never a panic or a
// server-side failure); accepted input must yield a token that verifies for
// the requested imprint and that the digitorus parser also accepts as a
// request.
func FuzzParseRequest(f *testing.F) {
	fx := newFixture(f, nil)
	d := sha256.Sum256([]byte("seed"))
	f.Add(query(f, oidSHA256, d[:], nil))
	f.Add(query(f, oidSHA256, d[:], func(r *timeStampReq) { r.CertReq, r.Nonce = false, nil }))
	f.Add(query(f, oidSHA256, d[:], func(r *timeStampReq) { r.ReqPolicy = DefaultPolicy() }))
	f.Add(query(f, oidSHA256, d[:], func(r *timeStampReq) { r.Nonce = new(big.Int).Neg(big.NewInt(1)) }))
	f.Add(query(f, oidSHA256, d[:], func(r *timeStampReq) {
		r.Extensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{5, 0}}}
	}))
	f.Add(query(f, asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, d[:20], nil))
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00})

	f.Fuzz(func(t *testing.T, data []byte) {
		resp, rej := fx.s.handle(t.Context(), data)
		if rej != nil {
			if rej.server {
				t.Fatalf("client input caused a server failure: %s", rej.text)
			}
			_, err := parseResponse(rejectionResponse(rej))
			var se *StatusError
			if !errors.As(err, &se) || se.FailureInfo != rej.info {
				t.Fatalf("rejection reply does not round-trip: %v", err)
			}
			return
		}
		req, err := timestamp.ParseRequest(data)
		if err != nil {
			t.Fatalf("accepted a request the digitorus parser rejects: %v", err)
		}
		token, err := parseResponse(resp)
		if err != nil {
			t.Fatalf("granted reply does not parse: %v", err)
		}
		ts, err := Verify(token, req.HashedMessage, req.HashAlgorithm, fx.pki.Roots(), []*x509.Certificate{fx.pki.tsa, fx.pki.Issuer})
		if err != nil {
			t.Fatalf("issued token does not verify: %v", err)
		}
		if (req.Nonce == nil) != (ts.Nonce == nil) || (req.Nonce != nil && req.Nonce.Cmp(ts.Nonce) != 0) {
			t.Fatalf("nonce %v, token nonce %v", req.Nonce, ts.Nonce)
		}
	})
}
