package globalconf

import (
	"crypto"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

func TestAnchorJSONRoundTrip(t *testing.T) {
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	a := anchorFor(t, []string{"https://c1.example/gc", "https://c2.example/gc"}, k1, k2)
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseAnchor(b)
	if err != nil {
		t.Fatalf("ParseAnchor(%s): %v", b, err)
	}
	if back.Instance != "PS" || !back.GeneratedAt.Equal(t0) || strings.Join(back.ConfigurationURLs, " ") != "https://c1.example/gc https://c2.example/gc" {
		t.Errorf("round trip lost fields: %+v", back)
	}
	again, _ := json.Marshal(back)
	if string(again) != string(b) {
		t.Errorf("anchor encoding not stable:\n%s\n%s", b, again)
	}
	// The keys are a standard JWK Set, usable by jwx's own verifier.
	var w struct{ Keys json.RawMessage }
	_ = json.Unmarshal(b, &w)
	set, err := jwk.Parse(w.Keys)
	if err != nil || set.Len() != 2 {
		t.Fatalf("keys are not a JWK Set: %v", err)
	}
	signed := mustSign(t, testDoc(t), k2)
	if _, err := jws.Verify(signed, jws.WithKeySet(set)); err != nil {
		t.Errorf("jws.Verify with the anchor's JWK Set: %v", err)
	}
	if _, err := Verify(signed, back, t0); err != nil {
		t.Errorf("Verify with decoded anchor: %v", err)
	}
}

func TestAnchorRefuses(t *testing.T) {
	k := newKey(t, "k1")
	good, err := json.Marshal(anchorFor(t, nil, k))
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := jwk.Import(k.Signer)
	_ = priv.Set(jwk.KeyIDKey, "k1")
	_ = priv.Set(jwk.AlgorithmKey, jwa.ES256())
	privJSON, _ := json.Marshal(priv)
	pub, _ := jwk.Import(k.Signer.Public())
	_ = pub.Set(jwk.KeyIDKey, "k1")
	noAlg, _ := json.Marshal(pub)
	_ = pub.Set(jwk.AlgorithmKey, jwa.RS256())
	wrongAlg, _ := json.Marshal(pub)
	_ = pub.Remove(jwk.KeyIDKey)
	_ = pub.Set(jwk.AlgorithmKey, jwa.ES256())
	noKid, _ := json.Marshal(pub)
	hmac, _ := jwk.Import([]byte("0123456789abcdef0123456789abcdef"))
	_ = hmac.Set(jwk.KeyIDKey, "k1")
	_ = hmac.Set(jwk.AlgorithmKey, jwa.HS256())
	hmacJSON, _ := json.Marshal(hmac)

	setKeys := func(raw string) string {
		var m map[string]json.RawMessage
		_ = json.Unmarshal(good, &m)
		m["keys"] = json.RawMessage(raw)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	withKeys := func(keys ...[]byte) string {
		s := `{"keys":[`
		for i, k := range keys {
			if i > 0 {
				s += ","
			}
			s += string(k)
		}
		return setKeys(s + `]}`)
	}
	replace := func(old, new string) string {
		if !strings.Contains(string(good), old) {
			t.Fatalf("%q not in %s", old, good)
		}
		return strings.Replace(string(good), old, new, 1)
	}
	tests := []struct {
		name, in string
	}{
		{"not JSON", "nope"},
		{"unknown member", replace(`"instance":"PS"`, `"instance":"PS","x":1`)},
		{"wrong schema", replace(AnchorSchema, "jisr.anchor/v0")},
		{"bad instance", replace(`"instance":"PS"`, `"instance":"P S"`)},
		{"no URLs", replace(`"configurationURLs":["https://central1.ps.example:4401/globalconf"]`, `"configurationURLs":[]`)},
		{"relative URL", replace(`https://central1.ps.example:4401/globalconf`, `/globalconf`)},
		{"no generation time", replace(`"generatedAt":"2026-05-01T10:00:00Z"`, `"generatedAt":"0001-01-01T00:00:00Z"`)},
		{"keys an array", setKeys(`[` + string(mustJSON(t, anchorKeyJWK(t, "k1", k.Signer.Public()))) + `]`)},
		{"keys null", setKeys(`null`)},
		{"no keys", withKeys()},
		{"private key", withKeys(privJSON)},
		{"key without alg", withKeys(noAlg)},
		{"key with wrong alg", withKeys(wrongAlg)},
		{"key without kid", withKeys(noKid)},
		{"symmetric key", withKeys(hmacJSON)},
		{"duplicate kid", withKeys(mustJSON(t, anchorKeyJWK(t, "k1", k.Signer.Public())), mustJSON(t, anchorKeyJWK(t, "k1", newKey(t, "x").Signer.Public())))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAnchor([]byte(tt.in))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseAnchor = %v, want ErrMalformed", err)
			}
			t.Log(err)
		})
	}
}

func anchorKeyJWK(t *testing.T, kid string, pub crypto.PublicKey) jwk.Key {
	t.Helper()
	k, err := jwk.Import(pub)
	if err != nil {
		t.Fatal(err)
	}
	_ = k.Set(jwk.KeyIDKey, kid)
	_ = k.Set(jwk.AlgorithmKey, jwa.ES256())
	return k
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
