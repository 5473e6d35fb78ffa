package webui

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
)

// session is one signed-in operator. The API key secret lives here, in
// the server's memory, and nowhere else.
type session struct {
	secret   string
	identity Identity
	// csrf is the token every POST of this session must carry.
	csrf    string
	created time.Time
	seen    time.Time
	// expires is the session's absolute end: MaxLifetime after sign-in,
	// or the key's expiry when that is sooner.
	expires time.Time
	// flash is a one-shot message for the next page (post/redirect/get).
	flash string
}

// sessions holds the sessions of one console, keyed by the SHA-256 of the
// cookie value (so a lookup does not compare secrets byte by byte).
type sessions struct {
	clk   clock.Clock
	idle  time.Duration
	life  time.Duration
	limit int

	mu sync.Mutex
	m  map[string]*session
}

func newSessions(clk clock.Clock, idle, life time.Duration, limit int) *sessions {
	return &sessions{clk: clk, idle: idle, life: life, limit: limit, m: map[string]*session{}}
}

// randomToken returns 256 random bits, base64url.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func sessionKey(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// create starts a session for secret and returns the cookie value that
// names it. When the store is full, expired sessions go first, then the
// least recently used one.
func (s *sessions) create(secret string, id Identity) (string, *session) {
	now := s.clk.Now()
	sess := &session{secret: secret, identity: id, csrf: randomToken(), created: now, seen: now, expires: now.Add(s.life)}
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(sess.expires) {
		sess.expires = id.ExpiresAt
	}
	cookie := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.limit {
		s.evictLocked(now)
	}
	s.m[sessionKey(cookie)] = sess
	return cookie, sess
}

func (s *sessions) evictLocked(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k, v := range s.m {
		if s.expiredLocked(v, now) {
			delete(s.m, k)
			continue
		}
		if oldestKey == "" || v.seen.Before(oldest) {
			oldestKey, oldest = k, v.seen
		}
	}
	if len(s.m) >= s.limit && oldestKey != "" {
		delete(s.m, oldestKey)
	}
}

func (s *sessions) expiredLocked(v *session, now time.Time) bool {
	return !now.Before(v.expires) || now.Sub(v.seen) >= s.idle
}

// get returns a copy of the live session the cookie names and marks it
// used; ok is false when there is none (unknown, idle too long, or past
// its end), and an expired one is dropped.
func (s *sessions) get(cookie string) (session, bool) {
	if cookie == "" {
		return session{}, false
	}
	now := s.clk.Now()
	k := sessionKey(cookie)
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	if !ok {
		return session{}, false
	}
	if s.expiredLocked(v, now) {
		delete(s.m, k)
		return session{}, false
	}
	v.seen = now
	return *v, true
}

// takeFlash returns and clears the session's flash message.
func (s *sessions) takeFlash(cookie string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[sessionKey(cookie)]
	if !ok {
		return ""
	}
	f := v.flash
	v.flash = ""
	return f
}

// setFlash sets the message the session's next page shows.
func (s *sessions) setFlash(cookie, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[sessionKey(cookie)]; ok {
		v.flash = msg
	}
}

// drop ends the session the cookie names.
func (s *sessions) drop(cookie string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sessionKey(cookie))
}

// len returns the number of sessions held (live or not yet swept).
func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
