package globalconf

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"
)

// hsmSigner hides the concrete key type behind crypto.Signer, as a PKCS#11
// key does.
type hsmSigner struct{ s crypto.Signer }

func (h hsmSigner) Public() crypto.PublicKey { return h.s.Public() }
func (h hsmSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return h.s.Sign(r, d, o)
}

func TestSignVerifyAlgorithms(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	p256 := newKey(t, "p256").Signer
	tests := []struct {
		name    string
		key     SigningKey
		wantAlg string
	}{
		{"ECDSA P-256", SigningKey{KeyID: "k", Signer: p256}, "ES256"},
		{"ECDSA P-256 behind crypto.Signer", SigningKey{KeyID: "k", Signer: hsmSigner{p256}}, "ES256"},
		{"ECDSA P-384", SigningKey{KeyID: "k", Signer: p384}, "ES384"},
		{"RSA", SigningKey{KeyID: "k", Signer: rsaKey}, "RS256"},
		{"RSA behind crypto.Signer", SigningKey{KeyID: "k", Signer: hsmSigner{rsaKey}}, "RS256"},
		{"RSA-PSS", SigningKey{KeyID: "k", Signer: rsaKey, Algorithm: "PS256"}, "PS256"},
		{"Ed25519", SigningKey{KeyID: "k", Signer: edKey}, "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signed := mustSign(t, testDoc(t), tt.key)
			if _, err := NewAnchor("PS", t0, []string{"https://c.example/gc"}, nil); err == nil {
				t.Fatal("NewAnchor without keys succeeded")
			}
			a := &Anchor{Schema: AnchorSchema, Instance: "PS", GeneratedAt: t0, ConfigurationURLs: []string{"https://c.example/gc"}}
			if err := a.AddKey("k", tt.key.Signer.Public(), tt.key.Algorithm); err != nil {
				t.Fatal(err)
			}
			doc, err := Verify(signed, a, t0.Add(time.Minute))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if doc.Serial != 1 || doc.Instance != "PS" {
				t.Errorf("Verify returned %+v", doc)
			}
			var env envelope
			if err := json.Unmarshal(signed, &env); err != nil {
				t.Fatal(err)
			}
			hb, _ := base64.RawURLEncoding.DecodeString(env.Signatures[0].Protected)
			if want := `{"alg":"` + tt.wantAlg + `","kid":"k","typ":"` + JOSEType + `"}`; string(hb) != want {
				t.Errorf("protected header %s, want %s", hb, want)
			}
		})
	}
}

func TestSignRefuses(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	k := newKey(t, "k")
	bad := testDoc(t)
	bad.Serial = 0
	tests := []struct {
		name string
		doc  *Document
		keys []SigningKey
	}{
		{"no keys", testDoc(t), nil},
		{"invalid document", bad, []SigningKey{k}},
		{"key without id", testDoc(t), []SigningKey{{Signer: k.Signer}}},
		{"duplicate key id", testDoc(t), []SigningKey{k, k}},
		{"small RSA key", testDoc(t), []SigningKey{{KeyID: "r", Signer: small}}},
		{"P-224", testDoc(t), []SigningKey{{KeyID: "e", Signer: p224}}},
		{"algorithm not for key", testDoc(t), []SigningKey{{KeyID: "k", Signer: k.Signer, Algorithm: "RS256"}}},
		{"HMAC", testDoc(t), []SigningKey{{KeyID: "k", Signer: k.Signer, Algorithm: "HS256"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Sign(tt.doc, tt.keys); err == nil {
				t.Error("Sign succeeded")
			}
		})
	}
}

// TestSignFormat checks the envelope: JSON general serialization even with
// one key, one signature per key, nothing else.
func TestSignFormat(t *testing.T) {
	for _, n := range []int{1, 3} {
		var keys []SigningKey
		for i := range n {
			keys = append(keys, newKey(t, "k"+string(rune('1'+i))))
		}
		signed := mustSign(t, testDoc(t), keys...)
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(signed, &raw); err != nil {
			t.Fatal(err)
		}
		if len(raw) != 2 || raw["payload"] == nil || raw["signatures"] == nil {
			t.Errorf("%d keys: members %v, want payload and signatures", n, raw)
		}
		var env envelope
		_ = json.Unmarshal(signed, &env)
		if len(env.Signatures) != n {
			t.Errorf("%d keys: %d signatures", n, len(env.Signatures))
		}
		payload, _ := base64.RawURLEncoding.DecodeString(env.Payload)
		if want, _ := Marshal(testDoc(t)); !bytes.Equal(payload, want) {
			t.Errorf("payload is not Marshal(doc)")
		}
	}
}

// TestVerifyWithoutJWX verifies a signature with nothing but the standard
// library, following RFC 7515 §5.2 and RFC 7518 §3.4, to show that the
// format is plain JWS.
func TestVerifyWithoutJWX(t *testing.T) {
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	signed := mustSign(t, testDoc(t), k1, k2)

	var env struct {
		Payload    string `json:"payload"`
		Signatures []struct {
			Protected string `json:"protected"`
			Signature string `json:"signature"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(signed, &env); err != nil {
		t.Fatal(err)
	}
	for i, key := range []SigningKey{k1, k2} {
		s := env.Signatures[i]
		hb, err := base64.RawURLEncoding.DecodeString(s.Protected)
		if err != nil {
			t.Fatal(err)
		}
		var hdr struct{ Alg, Kid, Typ string }
		if err := json.Unmarshal(hb, &hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Alg != "ES256" || hdr.Kid != key.KeyID || hdr.Typ != JOSEType {
			t.Fatalf("signature %d header %+v", i, hdr)
		}
		sig, err := base64.RawURLEncoding.DecodeString(s.Signature)
		if err != nil || len(sig) != 64 {
			t.Fatalf("signature %d: %d bytes, %v; want 64 (r||s)", i, len(sig), err)
		}
		digest := sha256.Sum256([]byte(s.Protected + "." + env.Payload))
		r, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(key.Signer.Public().(*ecdsa.PublicKey), digest[:], r, ss) {
			t.Errorf("signature %d does not verify with crypto/ecdsa", i)
		}
	}
	payload, _ := base64.RawURLEncoding.DecodeString(env.Payload)
	if _, err := ParseDocument(payload); err != nil {
		t.Errorf("payload: %v", err)
	}
}

func TestVerifyErrors(t *testing.T) {
	k1, k2, k3 := newKey(t, "k1"), newKey(t, "k2"), newKey(t, "k3")
	anchor := anchorFor(t, nil, k1, k2)
	good := mustSign(t, testDoc(t), k1)
	canon, _ := Marshal(testDoc(t))
	now := t0.Add(time.Minute)

	other := testDoc(t)
	other.Serial = 2
	otherPayload := mustSign(t, other, k1)

	// replacePayload swaps in the payload of another signed document.
	replacePayload := func(signed, from []byte) []byte {
		var a, b envelope
		_ = json.Unmarshal(signed, &a)
		_ = json.Unmarshal(from, &b)
		a.Payload = b.Payload
		out, _ := json.Marshal(a)
		return out
	}
	// editSig edits the envelope of a signed document.
	editSig := func(signed []byte, f func(e *envelope)) []byte {
		var e envelope
		_ = json.Unmarshal(signed, &e)
		f(&e)
		out, _ := json.Marshal(e)
		return out
	}
	flipSig := func(s string) string {
		b, _ := base64.RawURLEncoding.DecodeString(s)
		b[5] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	wrongInst := testDoc(t)
	wrongInst.Instance = "XX"
	wrongInst.SecurityServers = nil
	for i := range wrongInst.GlobalGroups {
		wrongInst.GlobalGroups[i].Members = []string{"XX/GOV/MOI"}
	}

	tests := []struct {
		name   string
		signed []byte
		anchor *Anchor
		now    time.Time
		want   error
	}{
		{"valid", good, anchor, now, nil},
		{"valid, one anchored and one unknown signature", mustSign(t, testDoc(t), k3, k1), anchor, now, nil},
		{"valid at generation minus allowed skew", good, anchor, t0.Add(-30 * time.Second), nil},
		{"valid one second before expiry", good, anchor, t0.Add(10*time.Minute - time.Second), nil},

		{"tampered payload", replacePayload(good, otherPayload), anchor, now, ErrBadSignature},
		{"tampered signature", editSig(good, func(e *envelope) { e.Signatures[0].Signature = flipSig(e.Signatures[0].Signature) }), anchor, now, ErrBadSignature},
		{"one good, one anchored bad", editSig(mustSign(t, testDoc(t), k1, k2), func(e *envelope) {
			e.Signatures[1].Signature = flipSig(e.Signatures[1].Signature)
		}), anchor, now, ErrBadSignature},
		{"signature moved to another kid", editSig(mustSign(t, testDoc(t), k1, k2), func(e *envelope) {
			e.Signatures[0].Signature, e.Signatures[1].Signature = e.Signatures[1].Signature, e.Signatures[0].Signature
		}), anchor, now, ErrBadSignature},
		{"wrong typ", signRaw(t, canon, k1, map[string]any{"kid": "k1", "typ": "JWT"}), anchor, now, ErrBadSignature},
		{"no typ", signRaw(t, canon, k1, map[string]any{"kid": "k1"}), anchor, now, ErrBadSignature},
		{"extra protected header", signRaw(t, canon, k1, map[string]any{"kid": "k1", "typ": JOSEType, "cty": "json"}), anchor, now, ErrBadSignature},
		{"crit header", signRaw(t, canon, k1, map[string]any{"kid": "k1", "typ": JOSEType, "crit": []string{"exp"}, "exp": 1}), anchor, now, ErrBadSignature},

		{"unknown key", mustSign(t, testDoc(t), k3), anchor, now, ErrUnknownKey},
		{"no kid", signRaw(t, canon, k1, map[string]any{"typ": JOSEType}), anchor, now, ErrUnknownKey},

		{"expired at expiresAt", good, anchor, t0.Add(10 * time.Minute), ErrExpired},
		{"expired later", good, anchor, t0.Add(time.Hour), ErrExpired},
		{"not yet valid", good, anchor, t0.Add(-31 * time.Second), ErrNotYetValid},
		{"wrong instance", mustSign(t, wrongInst, k1), anchor, now, ErrWrongInstance},

		{"non-canonical payload, correctly signed", signRaw(t, append(canon, ' '), k1, map[string]any{"kid": "k1", "typ": JOSEType}), anchor, now, ErrMalformed},
		{"payload not a document", signRaw(t, []byte(`{"hello":1}`), k1, map[string]any{"kid": "k1", "typ": JOSEType}), anchor, now, ErrMalformed},
		{"empty", nil, anchor, now, ErrMalformed},
		{"not JSON", []byte("eyJhbGciOiJFUzI1NiJ9.e30.c2ln"), anchor, now, ErrMalformed},
		{"flattened serialization", []byte(`{"payload":"e30","protected":"e30","signature":"c2ln"}`), anchor, now, ErrMalformed},
		{"unprotected header", editSigJSON(t, good, `"signature":`, `"header":{"kid":"k1"},"signature":`), anchor, now, ErrMalformed},
		{"no signatures", []byte(`{"payload":"e30","signatures":[]}`), anchor, now, ErrMalformed},
		{"padded base64", editSig(good, func(e *envelope) { e.Payload += "=" }), anchor, now, ErrMalformed},
		{"protected not JSON", editSig(good, func(e *envelope) { e.Signatures[0].Protected = "bm9wZQ" }), anchor, now, ErrMalformed},
		{"trailing data", append(bytes.Clone(good), []byte(" {}")...), anchor, now, ErrMalformed},
		{"too many signatures", editSig(good, func(e *envelope) {
			for range MaxSignatures {
				e.Signatures = append(e.Signatures, e.Signatures[0])
			}
		}), anchor, now, ErrMalformed},
		{"no anchor", good, nil, now, ErrMalformed},
	}
	sentinels := []error{ErrMalformed, ErrUnknownKey, ErrBadSignature, ErrExpired, ErrNotYetValid, ErrWrongInstance}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Verify(tt.signed, tt.anchor, tt.now)
			if tt.want == nil {
				if err != nil || doc == nil {
					t.Fatalf("Verify = %v, want success", err)
				}
				return
			}
			if doc != nil {
				t.Error("Verify returned a document with an error")
			}
			for _, s := range sentinels {
				if got, want := errors.Is(err, s), s == tt.want; got != want {
					t.Errorf("Verify = %v; errors.Is(%v) = %v, want %v", err, s, got, want)
				}
			}
		})
	}
}

func editSigJSON(t *testing.T, signed []byte, old, new string) []byte {
	t.Helper()
	s := string(signed)
	if !strings.Contains(s, old) {
		t.Fatalf("%q not in signed document", old)
	}
	return []byte(strings.Replace(s, old, new, 1))
}

// TestVerifyAlgorithmPinned checks that the anchor's alg, not the header's,
// decides: an RSA key anchored for PS256 refuses an RS256 signature.
func TestVerifyAlgorithmPinned(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signed := mustSign(t, testDoc(t), SigningKey{KeyID: "r", Signer: rsaKey}) // RS256
	a := &Anchor{Schema: AnchorSchema, Instance: "PS", GeneratedAt: t0, ConfigurationURLs: []string{"https://c.example/gc"}}
	if err := a.AddKey("r", rsaKey.Public(), "PS256"); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(signed, a, t0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify = %v, want ErrBadSignature", err)
	}
}

func TestRotation(t *testing.T) {
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	both := mustSign(t, testDoc(t), k1, k2)
	d2 := testDoc(t)
	d2.Serial = 2
	onlyK2 := mustSign(t, d2, k2)
	anchors := map[string]*Anchor{
		"{k1}":    anchorFor(t, nil, k1),
		"{k2}":    anchorFor(t, nil, k2),
		"{k1,k2}": anchorFor(t, nil, k1, k2),
	}
	tests := []struct {
		name   string
		signed []byte
		anchor string
		want   error
	}{
		{"k1+k2 under {k1}", both, "{k1}", nil},
		{"k1+k2 under {k2}", both, "{k2}", nil},
		{"k1+k2 under {k1,k2}", both, "{k1,k2}", nil},
		{"k2 under {k2}", onlyK2, "{k2}", nil},
		{"k2 under {k1,k2}", onlyK2, "{k1,k2}", nil},
		{"k2 under {k1}: k1 retired", onlyK2, "{k1}", ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(tt.signed, anchors[tt.anchor], t0)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestVerifyAuthentic: an expired document is still authentic (what an
// auditor asks), and everything but the time rules still applies.
func TestVerifyAuthentic(t *testing.T) {
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	anchor := anchorFor(t, nil, k1)
	good := mustSign(t, testDoc(t), k1)
	if _, err := Verify(good, anchor, t0.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("Verify an hour later = %v, want ErrExpired", err)
	}
	doc, err := VerifyAuthentic(good, anchor)
	if err != nil || doc.Serial != testDoc(t).Serial {
		t.Fatalf("VerifyAuthentic of an expired document = %v", err)
	}
	if _, err := VerifyAuthentic(mustSign(t, testDoc(t), k2), anchor); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("VerifyAuthentic with a key the anchor does not list = %v, want ErrUnknownKey", err)
	}
	tampered := bytes.Clone(good)
	tampered[len(tampered)/2] ^= 1
	if _, err := VerifyAuthentic(tampered, anchor); err == nil {
		t.Error("VerifyAuthentic accepted a changed document")
	}
}
