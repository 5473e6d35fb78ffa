package globalconf

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/lestrrat-go/jwx/v3/jws"
)

// MaxSignatures bounds the number of signatures a document may carry.
const MaxSignatures = 16

// Verify checks a signed document against an anchor at time now and returns
// the document, with its lookup tables built.
//
// The rules, in order (the first that fails decides the error):
//
//  1. signed must be a JWS in the JSON general serialization with only
//     "payload" and "signatures" members, each signature with only
//     "protected" and "signature", at most MaxSignatures, all base64url
//     without padding; else ErrMalformed.
//  2. Signatures whose protected "kid" the anchor does not list are ignored.
//     Every signature whose kid the anchor lists must have the protected
//     header exactly {"alg":…,"kid":…,"typ":…} (these members, this order,
//     no white space) with typ JOSEType and alg the
//     algorithm the anchor pins for that key, and must verify; else
//     ErrBadSignature. If no signature names an anchored key: ErrUnknownKey.
//  3. The payload must be a canonical, valid document (ParseDocument); else
//     ErrMalformed.
//  4. Its instance must be the anchor's; else ErrWrongInstance.
//  5. generatedAt must not lie more than settings.maxClockSkewSeconds after
//     now; else ErrNotYetValid.
//  6. now must be before expiresAt; else ErrExpired.
func Verify(signed []byte, anchor *Anchor, now time.Time) (*Document, error) {
	doc, err := verifyAuthentic(signed, anchor)
	if err != nil {
		return nil, err
	}
	if err := checkTime(doc, now); err != nil {
		return nil, err
	}
	return doc, nil
}

// verifyAuthentic applies rules 1 to 4 of Verify.
func verifyAuthentic(signed []byte, anchor *Anchor) (*Document, error) {
	if anchor == nil {
		return nil, fmt.Errorf("%w: no anchor", ErrMalformed)
	}
	keys, err := anchor.keys()
	if err != nil {
		return nil, fmt.Errorf("%w: anchor: %w", ErrMalformed, err)
	}
	if len(signed) > MaxDocumentSize*4/3+64*1024 {
		return nil, fmt.Errorf("%w: signed document too large", ErrMalformed)
	}
	var env envelope
	if err := strictUnmarshal(signed, &env); err != nil {
		return nil, fmt.Errorf("%w: not a JWS in the JSON general serialization: %w", ErrMalformed, err)
	}
	if len(env.Signatures) == 0 || len(env.Signatures) > MaxSignatures {
		return nil, fmt.Errorf("%w: want 1 to %d signatures, got %d", ErrMalformed, MaxSignatures, len(env.Signatures))
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	verified := 0
	for i, s := range env.Signatures {
		if _, err := base64.RawURLEncoding.Strict().DecodeString(s.Signature); err != nil {
			return nil, fmt.Errorf("%w: signature %d: %w", ErrMalformed, i, err)
		}
		hb, err := base64.RawURLEncoding.Strict().DecodeString(s.Protected)
		if err != nil {
			return nil, fmt.Errorf("%w: signature %d protected header: %w", ErrMalformed, i, err)
		}
		// First find the kid, tolerating headers of keys we do not know.
		var probe struct {
			Kid string `json:"kid"`
		}
		if err := strictJSONObject(hb, &probe); err != nil {
			return nil, fmt.Errorf("%w: signature %d protected header: %w", ErrMalformed, i, err)
		}
		key, anchored := keys[probe.Kid]
		if !anchored {
			continue
		}
		var h protectedHeader
		if err := strictUnmarshal(hb, &h); err != nil {
			return nil, fmt.Errorf("%w: signature %d (kid %q): protected header: %w", ErrBadSignature, i, probe.Kid, err)
		}
		if canon, _ := json.Marshal(h); !bytes.Equal(canon, hb) {
			return nil, fmt.Errorf("%w: signature %d (kid %q): protected header is not exactly {\"alg\",\"kid\",\"typ\"}", ErrBadSignature, i, probe.Kid)
		}
		if h.Typ != JOSEType {
			return nil, fmt.Errorf("%w: signature %d (kid %q): typ %q, want %q", ErrBadSignature, i, h.Kid, h.Typ, JOSEType)
		}
		if h.Alg != key.alg.String() {
			return nil, fmt.Errorf("%w: signature %d (kid %q): alg %q, anchor pins %q", ErrBadSignature, i, h.Kid, h.Alg, key.alg)
		}
		compact := s.Protected + "." + env.Payload + "." + s.Signature
		if _, err := jws.VerifyCompactFast(key.pub, []byte(compact), key.alg); err != nil {
			return nil, fmt.Errorf("%w: signature %d (kid %q): %w", ErrBadSignature, i, h.Kid, err)
		}
		verified++
	}
	if verified == 0 {
		return nil, fmt.Errorf("%w: none of %d signatures is by a key of the anchor", ErrUnknownKey, len(env.Signatures))
	}
	doc, err := ParseDocument(payload)
	if err != nil {
		return nil, err
	}
	if doc.Instance != anchor.Instance {
		return nil, fmt.Errorf("%w: document for %q, anchor for %q", ErrWrongInstance, doc.Instance, anchor.Instance)
	}
	return doc, nil
}

// checkTime applies rules 5 and 6 of Verify.
func checkTime(doc *Document, now time.Time) error {
	if doc.GeneratedAt.Sub(now) > doc.Settings.MaxClockSkew() {
		return fmt.Errorf("%w: generated at %s, now %s", ErrNotYetValid,
			doc.GeneratedAt.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !now.Before(doc.ExpiresAt) {
		return fmt.Errorf("%w: expired at %s, now %s", ErrExpired,
			doc.ExpiresAt.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// strictJSONObject decodes a single JSON object into v, ignoring members v
// does not name, refusing trailing data.
func strictJSONObject(b []byte, v any) error {
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("not a JSON object")
	}
	dec := newDecoder(b)
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

// VerifyAuthentic applies rules 1 to 4 of Verify and not the time rules: it
// tells whether signed is a document the anchor's keys published for the
// anchor's instance, however old. Auditors use it to learn what was
// trusted when an archive was written; a security server never does (it
// must refuse an expired document: use Verify).
func VerifyAuthentic(signed []byte, anchor *Anchor) (*Document, error) {
	return verifyAuthentic(signed, anchor)
}
