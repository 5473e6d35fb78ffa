package msglogtest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"sync"
)

// Errors of FakeTSA.
var (
	// ErrTSADown is what FakeTSA.Stamp returns while the TSA is down.
	ErrTSADown = errors.New("fake TSA down")
	// ErrFakeImprint is what FakeTSA.Verify returns for a token over
	// another digest.
	ErrFakeImprint = errors.New("fake token time-stamps another digest")
	// ErrFakeSignature is what FakeTSA.Verify returns for a token it did
	// not issue (or one altered since).
	ErrFakeSignature = errors.New("fake token signature invalid")
)

// fakeTokenTag opens every FakeTSA token.
const fakeTokenTag = "msglogtest fake time-stamp token\x00"

// FakeTSA is a msglog.TSAClient whose tokens are
// tag ‖ digest ‖ HMAC-SHA256(key, digest) under a random key of its own,
// and which can be taken down. It is safe for concurrent use.
type FakeTSA struct {
	key []byte

	mu    sync.Mutex
	down  bool
	calls int
	// beforeIssue, when set, runs in Stamp before the token is issued
	// (outside the lock), so that a test can hold a round mid-way.
	beforeIssue func()
}

// NewFakeTSA returns a FakeTSA that is up.
func NewFakeTSA() *FakeTSA {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	return &FakeTSA{key: key}
}

// SetDown takes the TSA down (every Stamp fails with ErrTSADown) or brings
// it back.
func (f *FakeTSA) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// SetBeforeIssue installs a hook Stamp runs before issuing a token.
func (f *FakeTSA) SetBeforeIssue(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.beforeIssue = fn
}

// Calls returns how many times Stamp was called, successfully or not.
func (f *FakeTSA) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Stamp implements msglog.TSAClient.
func (f *FakeTSA) Stamp(ctx context.Context, digest []byte) ([]byte, error) {
	f.mu.Lock()
	f.calls++
	down, hook := f.down, f.beforeIssue
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if down {
		return nil, ErrTSADown
	}
	if len(digest) != sha256.Size {
		return nil, errors.New("fake TSA: digest is not SHA-256")
	}
	return append(append([]byte(fakeTokenTag), digest...), f.mac(digest)...), nil
}

// Verify checks a token of this TSA against digest: it is the verify
// function for msglog.Log.VerifyTimestamps.
func (f *FakeTSA) Verify(token, digest []byte) error {
	rest, ok := bytes.CutPrefix(token, []byte(fakeTokenTag))
	if !ok || len(rest) != 2*sha256.Size {
		return ErrFakeSignature
	}
	got, mac := rest[:sha256.Size], rest[sha256.Size:]
	if !hmac.Equal(mac, f.mac(got)) {
		return ErrFakeSignature
	}
	if !bytes.Equal(got, digest) {
		return ErrFakeImprint
	}
	return nil
}

func (f *FakeTSA) mac(digest []byte) []byte {
	m := hmac.New(sha256.New, f.key)
	m.Write(digest)
	return m.Sum(nil)
}
