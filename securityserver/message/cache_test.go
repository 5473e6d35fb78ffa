package message

import (
	"crypto/x509"
	"testing"
	"time"
)

// TestVerifyCacheChecksTimeAndPools: a cached chain is used only with the
// pools it was verified against and only while every certificate of it is
// valid at the message's time.
func TestVerifyCacheChecksTimeAndPools(t *testing.T) {
	w := newWorld(t)
	x5c := w.consumer.Chain
	v := *w.verifier
	v.Cache = NewVerifyCache(0)
	chain, err := v.verifyChain(x5c, testNow)
	if err != nil {
		t.Fatal(err)
	}
	leaf := chain[0]
	for _, tc := range []struct {
		name   string
		roots  *x509.CertPool
		at     time.Time
		wantOK bool
	}{
		{"same pools, valid", v.Roots, testNow, true},
		{"other root pool", x509.NewCertPool(), testNow, false},
		{"after the leaf expires", v.Roots, leaf.NotAfter.Add(time.Second), false},
		{"before the leaf is valid", v.Roots, leaf.NotBefore.Add(-time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, ok := v.Cache.chain(x5c, tc.roots, v.Intermediates, tc.at); ok != tc.wantOK {
				t.Fatalf("cache hit %v, want %v", ok, tc.wantOK)
			}
		})
	}
	// Full verification still refuses what the cache would not serve.
	if _, err := v.verifyChain(x5c, leaf.NotAfter.Add(time.Second)); err == nil {
		t.Fatal("expired chain accepted")
	}
	// A full cache empties itself rather than grow.
	small := NewVerifyCache(1)
	small.putChain([32]byte{1}, nil, nil, chain)
	small.putChain([32]byte{2}, nil, nil, chain)
	if len(small.chains) != 1 {
		t.Fatalf("%d entries in a cache of 1", len(small.chains))
	}
}
