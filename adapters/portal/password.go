package portal

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters of new password hashes.
// Hashes keep their own parameters, so changing these affects only
// passwords set afterwards.
type Argon2Params struct {
	// Memory in KiB, Time (passes) and Threads (lanes).
	Memory  uint32
	Time    uint32
	Threads uint8
}

// DefaultArgon2 returns OWASP's argon2id recommendation (19 MiB, two
// passes, one lane).
func DefaultArgon2() Argon2Params { return Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1} }

const (
	saltLen = 16
	keyLen  = 32
	// MinPasswordLen is the shortest password a citizen may set.
	MinPasswordLen = 10
	// maxPasswordLen bounds the work an attacker can ask for.
	maxPasswordLen = 256
)

// HashPassword returns password hashed with argon2id in the PHC string
// format: $argon2id$v=19$m=M,t=T,p=P$salt$hash (unpadded base64).
func HashPassword(password string, p Argon2Params) (string, error) {
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 {
		return "", errors.New("password: argon2 parameters must not be zero")
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// ErrBadHash is returned by VerifyPassword for a hash it cannot read.
var ErrBadHash = errors.New("password: not an argon2id hash")

// VerifyPassword reports whether password matches hash (from
// HashPassword), in constant time with respect to the key.
func VerifyPassword(password, hash string) (bool, error) {
	p, salt, key, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	if len(password) > maxPasswordLen {
		return false, nil
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

func parseHash(hash string) (Argon2Params, []byte, []byte, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Argon2Params{}, nil, nil, ErrBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Argon2Params{}, nil, nil, ErrBadHash
	}
	var p Argon2Params
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || n != 3 ||
		p.Memory == 0 || p.Memory > 1<<20 || p.Time == 0 || p.Time > 16 || p.Threads == 0 {
		return Argon2Params{}, nil, nil, ErrBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Argon2Params{}, nil, nil, ErrBadHash
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return Argon2Params{}, nil, nil, ErrBadHash
	}
	return p, salt, key, nil
}
