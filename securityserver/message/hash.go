package message

import (
	"crypto/sha512"
	"encoding/base64"
)

// RequestHash returns the value of X-Road's X-Road-Request-Hash response
// header for a REST request, as X-Road computes it:
//
//	base64(SHA-512(SHA-512(header part) ‖ SHA-512(body)))  with a body,
//	base64(SHA-512(header part))                              without,
//
// with standard base64 (padded). For jisr the header part is the request's
// canonical encoding (RequestHeader.Canonical, the signed JWS payload), so
// anyone holding the logged request can recompute the hash. bodySHA512 is
// the body's SHA-512 digest (BodySum.SHA512); pass nil when the request has
// no body, which jisr takes to mean a body of zero bytes.
func RequestHash(canonicalRequest []byte, bodySHA512 []byte) string {
	head := sha512.Sum512(canonicalRequest)
	if bodySHA512 == nil {
		return base64.StdEncoding.EncodeToString(head[:])
	}
	h := sha512.New()
	h.Write(head[:])
	h.Write(bodySHA512)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// RequestHash returns RequestHash for h and its body: without a body part
// when body.Size is zero.
func (h RequestHeader) RequestHash(body BodySum) string {
	if body.Size == 0 {
		return RequestHash(h.Canonical(), nil)
	}
	if len(body.SHA512) != sha512.Size {
		// A spool made with SHA256Only: a programming error that must not
		// yield a wrong hash.
		panic("message: RequestHash of a body without its SHA-512 digest")
	}
	return RequestHash(h.Canonical(), body.SHA512)
}
