package mgmtproto_test

import (
	"bytes"
	"testing"

	"github.com/jisr-bus/jisr/internal/mgmtproto"
)

// FuzzParse checks that Parse never panics and that whatever it accepts is
// reproduced byte for byte by Marshal and parses again to the same request:
// there is exactly one encoding of every accepted request.
func FuzzParse(f *testing.F) {
	fx := newFixture(f)
	for _, typ := range allTypes {
		r := request(typ, fx.auth.Cert.Raw)
		signers := []mgmtproto.Signer{fx.pki.Signer(fx.sign, now)}
		if typ == mgmtproto.TypeAuthCertRegistration {
			signers = append(signers, fx.pki.Signer(fx.auth, now))
		}
		b, err := mgmtproto.Sign(r, signers)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"payload":"","signatures":[{"protected":"","signature":""}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := mgmtproto.Parse(b)
		if err != nil {
			return
		}
		if out := p.Marshal(); !bytes.Equal(out, b) {
			t.Fatalf("Marshal does not reproduce the input:\n%q\n%q", b, out)
		}
		payload, err := mgmtproto.MarshalPayload(p.Request)
		if err != nil || !bytes.Equal(payload, p.Payload) {
			t.Fatalf("payload does not re-encode: %v", err)
		}
		// Verification of garbage must fail cleanly, not panic.
		_ = p.VerifySignatures()
	})
}
