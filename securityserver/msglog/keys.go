package msglog

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
)

// KeySize is the length of a body encryption key: AES-256.
const KeySize = 32

// MaxKeyIDLength bounds a key id.
const MaxKeyIDLength = 64

// KeyProvider supplies the AES-256 keys that encrypt logged bodies. Keys
// are named by an id that the log stores beside each body, so keys can be
// rotated: CurrentKey may change, and Key must keep returning retired keys
// for as long as bodies encrypted under them are to be read.
//
// Implementations must be safe for concurrent use. A key must be KeySize
// bytes, and an id 1 to MaxKeyIDLength bytes of printable ASCII.
type KeyProvider interface {
	// CurrentKey returns the key new bodies are encrypted under, and its
	// id. An error fails the appends waiting for it (with
	// ErrLogUnavailable).
	CurrentKey(ctx context.Context) (keyID string, key []byte, err error)
	// Key returns the key with the given id, or an error wrapping
	// ErrKeyNotFound when there is none (the body is then returned
	// absent, not as an error).
	Key(ctx context.Context, keyID string) ([]byte, error)
}

// StaticKeys is a KeyProvider over a fixed set of keys, such as keys read
// from files at start-up. It is immutable and safe for concurrent use.
type StaticKeys struct {
	current string
	keys    map[string][]byte
}

// Compile-time guard.
var _ KeyProvider = (*StaticKeys)(nil)

// NewStaticKeys returns a KeyProvider with the given keys, encrypting under
// the one named current. The map and keys are copied.
func NewStaticKeys(current string, keys map[string][]byte) (*StaticKeys, error) {
	s := &StaticKeys{current: current, keys: make(map[string][]byte, len(keys))}
	for id, k := range maps.All(keys) {
		if err := checkKey(id, k); err != nil {
			return nil, err
		}
		s.keys[id] = bytes.Clone(k)
	}
	if _, ok := s.keys[current]; !ok {
		return nil, fmt.Errorf("msglog: current key %q is not among the keys", current)
	}
	return s, nil
}

// CurrentKey implements KeyProvider.
func (s *StaticKeys) CurrentKey(context.Context) (string, []byte, error) {
	return s.current, s.keys[s.current], nil
}

// Key implements KeyProvider.
func (s *StaticKeys) Key(_ context.Context, id string) ([]byte, error) {
	k, ok := s.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrKeyNotFound, id)
	}
	return k, nil
}

// checkKey checks a key and its id.
func checkKey(id string, key []byte) error {
	if id == "" || len(id) > MaxKeyIDLength {
		return fmt.Errorf("msglog: key id %q: want 1 to %d bytes", id, MaxKeyIDLength)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("msglog: key id %q: want printable ASCII", id)
		}
	}
	if len(key) != KeySize {
		return fmt.Errorf("msglog: key %q is %d bytes, want %d", id, len(key), KeySize)
	}
	return nil
}

// newAEAD returns AES-256-GCM under key.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts body with a fresh random nonce; the record's chain hash is
// the additional data, binding the ciphertext to its record.
func seal(aead cipher.AEAD, body, recordHash []byte) (nonce, ciphertext []byte, err error) {
	nonce = make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, fmt.Errorf("nonce: %w", err)
	}
	return nonce, aead.Seal(nil, nonce, body, recordHash), nil
}

// errUndecryptable is what open returns for a body that fails
// authentication.
var errUndecryptable = errors.New("body does not decrypt")

// open decrypts a body sealed by seal.
func open(aead cipher.AEAD, nonce, ciphertext, recordHash []byte) ([]byte, error) {
	if len(nonce) != aead.NonceSize() {
		return nil, errUndecryptable
	}
	body, err := aead.Open(nil, nonce, ciphertext, recordHash)
	if err != nil {
		return nil, errUndecryptable
	}
	return body, nil
}
