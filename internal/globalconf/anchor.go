package globalconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// AnchorSchema is the value of an anchor's "schema" member.
const AnchorSchema = "jisr.globalconf.anchor/v1"

// MaxAnchorSize bounds the size of an anchor ParseAnchor accepts.
const MaxAnchorSize = 1 << 20

// Anchor is what a security server trusts before it has any configuration:
// the instance, where to download the configuration, and the public keys
// that sign it. It is delivered out of band (by the central server's
// operator) and changes only when keys or URLs change.
//
// Its JSON form is
//
//	{"schema": AnchorSchema, "instance": "PS", "generatedAt": "…Z",
//	 "configurationURLs": ["https://…"], "keys": {"keys": [JWK, …]}}
//
// where "keys" is a standard JWK Set (RFC 7517 §5) of public keys, each with
// "kid" and "alg".
type Anchor struct {
	// Schema is always AnchorSchema.
	Schema string
	// Instance is the X-Road instance the anchor is for.
	Instance string
	// GeneratedAt is when the anchor was made (UTC, whole seconds).
	GeneratedAt time.Time
	// ConfigurationURLs are the document's download URLs, tried in order.
	ConfigurationURLs []string
	// Keys are the configuration verification keys: public keys with "kid"
	// and "alg".
	Keys jwk.Set
}

// anchorJSON is the wire form of Anchor.
type anchorJSON struct {
	Schema            string          `json:"schema"`
	Instance          string          `json:"instance"`
	GeneratedAt       time.Time       `json:"generatedAt"`
	ConfigurationURLs []string        `json:"configurationURLs"`
	Keys              json.RawMessage `json:"keys"`
}

// NewAnchor returns an anchor for instance with the given download URLs
// (tried in order) and verification keys (by key id), each listed with
// DefaultAlgorithm of its key. Use AddKey for an RSA key that signs with
// PS256.
func NewAnchor(instance string, generatedAt time.Time, urls []string, pubKeys map[string]crypto.PublicKey) (*Anchor, error) {
	a := &Anchor{
		Schema:            AnchorSchema,
		Instance:          instance,
		GeneratedAt:       canonicalTime(generatedAt),
		ConfigurationURLs: slices.Clone(urls),
		Keys:              jwk.NewSet(),
	}
	for _, kid := range slices.Sorted(maps.Keys(pubKeys)) {
		if err := a.AddKey(kid, pubKeys[kid], ""); err != nil {
			return nil, err
		}
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

// AddKey adds a public verification key under kid with the JWS algorithm
// alg (empty: DefaultAlgorithm of the key).
func (a *Anchor) AddKey(kid string, pub crypto.PublicKey, alg string) error {
	if kid == "" {
		return fmt.Errorf("%w: anchor key without kid", ErrMalformed)
	}
	if a.Keys == nil {
		a.Keys = jwk.NewSet()
	}
	if _, dup := a.Keys.LookupKeyID(kid); dup {
		return fmt.Errorf("%w: anchor: duplicate kid %q", ErrMalformed, kid)
	}
	if alg == "" {
		var err error
		if alg, err = DefaultAlgorithm(pub); err != nil {
			return fmt.Errorf("%w: anchor key %q: %w", ErrMalformed, kid, err)
		}
	}
	walg, err := checkAlgorithm(alg, pub)
	if err != nil {
		return fmt.Errorf("%w: anchor key %q: %w", ErrMalformed, kid, err)
	}
	k, err := jwk.Import(pub)
	if err != nil {
		return fmt.Errorf("%w: anchor key %q: %w", ErrMalformed, kid, err)
	}
	if err := k.Set(jwk.KeyIDKey, kid); err != nil {
		return fmt.Errorf("anchor key %q: %w", kid, err)
	}
	if err := k.Set(jwk.AlgorithmKey, walg); err != nil {
		return fmt.Errorf("anchor key %q: %w", kid, err)
	}
	if err := k.Set(jwk.KeyUsageKey, jwk.ForSignature); err != nil {
		return fmt.Errorf("anchor key %q: %w", kid, err)
	}
	return a.Keys.AddKey(k)
}

// anchorKey is one verification key of an anchor, ready for use.
type anchorKey struct {
	alg jwa.SignatureAlgorithm
	pub crypto.PublicKey
}

// keys checks every key of the anchor and returns them by kid.
func (a *Anchor) keys() (map[string]anchorKey, error) {
	if a.Keys == nil || a.Keys.Len() == 0 {
		return nil, errors.New("no keys")
	}
	out := make(map[string]anchorKey, a.Keys.Len())
	for i := 0; i < a.Keys.Len(); i++ {
		k, _ := a.Keys.Key(i)
		kid, ok := k.KeyID()
		if !ok || kid == "" {
			return nil, fmt.Errorf("key %d has no kid", i)
		}
		if _, dup := out[kid]; dup {
			return nil, fmt.Errorf("duplicate kid %q", kid)
		}
		ka, ok := k.Algorithm()
		if !ok {
			return nil, fmt.Errorf("key %q has no alg", kid)
		}
		var raw any
		if err := jwk.Export(k, &raw); err != nil {
			return nil, fmt.Errorf("key %q: %w", kid, err)
		}
		var pub crypto.PublicKey
		switch r := raw.(type) {
		case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
			pub = r
		case ecdsa.PublicKey:
			pub = &r
		case rsa.PublicKey:
			pub = &r
		default:
			return nil, fmt.Errorf("key %q: %T is not a supported public key", kid, raw)
		}
		alg, err := checkAlgorithm(ka.String(), pub)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", kid, err)
		}
		out[kid] = anchorKey{alg: alg, pub: pub}
	}
	return out, nil
}

// Validate checks the anchor: schema, instance, at least one absolute
// HTTP(S) URL without duplicates, generation time, and at least one key,
// every key public, of a supported type, with a unique kid and an alg that
// fits it. Errors wrap ErrMalformed.
func (a *Anchor) Validate() error {
	if err := a.validate(); err != nil {
		return fmt.Errorf("%w: anchor: %w", ErrMalformed, err)
	}
	return nil
}

func (a *Anchor) validate() error {
	if a.Schema != AnchorSchema {
		return fmt.Errorf("schema %q, want %q", a.Schema, AnchorSchema)
	}
	if err := xroad.ValidatePart(a.Instance); err != nil {
		return fmt.Errorf("instance: %w", err)
	}
	if a.GeneratedAt.IsZero() {
		return errors.New("generatedAt is required")
	}
	if len(a.ConfigurationURLs) == 0 {
		return errors.New("at least one configuration URL is required")
	}
	if err := checkUnique(a.ConfigurationURLs, validateHTTPURL); err != nil {
		return fmt.Errorf("configurationURLs: %w", err)
	}
	if _, err := a.keys(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return nil
}

// MarshalJSON encodes the anchor in its wire form, with the keys as a
// standard JWK Set.
func (a Anchor) MarshalJSON() ([]byte, error) {
	var keys json.RawMessage = []byte(`{"keys":[]}`)
	if a.Keys != nil {
		b, err := json.Marshal(a.Keys)
		if err != nil {
			return nil, fmt.Errorf("globalconf: encoding anchor keys: %w", err)
		}
		keys = b
	}
	return json.Marshal(anchorJSON{
		Schema:            a.Schema,
		Instance:          a.Instance,
		GeneratedAt:       canonicalTime(a.GeneratedAt),
		ConfigurationURLs: nonNil(a.ConfigurationURLs),
		Keys:              keys,
	})
}

// UnmarshalJSON decodes an anchor's wire form strictly (unknown members
// refused) and validates it. Errors wrap ErrMalformed.
func (a *Anchor) UnmarshalJSON(b []byte) error {
	var w anchorJSON
	if err := strictUnmarshal(b, &w); err != nil {
		return fmt.Errorf("%w: anchor: %w", ErrMalformed, err)
	}
	if len(w.Keys) == 0 || w.Keys[0] != '{' {
		return fmt.Errorf("%w: anchor: keys must be a JWK Set object", ErrMalformed)
	}
	set, err := jwk.Parse(w.Keys)
	if err != nil {
		return fmt.Errorf("%w: anchor keys: %w", ErrMalformed, err)
	}
	n := Anchor{
		Schema:            w.Schema,
		Instance:          w.Instance,
		GeneratedAt:       w.GeneratedAt,
		ConfigurationURLs: w.ConfigurationURLs,
		Keys:              set,
	}
	if err := n.Validate(); err != nil {
		return err
	}
	*a = n
	return nil
}

// ParseAnchor decodes and validates an anchor's JSON form. Errors wrap
// ErrMalformed.
func ParseAnchor(b []byte) (*Anchor, error) {
	if len(b) > MaxAnchorSize {
		return nil, fmt.Errorf("%w: anchor larger than %d bytes", ErrMalformed, MaxAnchorSize)
	}
	var a Anchor
	if err := a.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return &a, nil
}
