package message

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
)

// TestThirdPartyVerify checks a request signature with nothing but the
// standard library, as any JOSE implementation would (RFC 7515 §5.2,
// RFC 7518 §3.3 and §3.4): this is what makes the format standard JWS.
func TestThirdPartyVerify(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"ES256", ecKey(t)}, {"RS256", rsaKey(t)}} {
		t.Run(tc.name, func(t *testing.T) {
			s := w.ca.signer(t, consumerMember, tc.key)
			h := testRequest(SumBytes([]byte("body")))
			compact, err := SignRequest(h, s)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(compact, ".")
			if len(parts) != 3 {
				t.Fatalf("%d parts", len(parts))
			}
			dec := func(s string) []byte {
				b, err := base64.RawURLEncoding.DecodeString(s)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			var hdr struct {
				Alg  string   `json:"alg"`
				Typ  string   `json:"typ"`
				X5C  []string `json:"x5c"`
				OCSP string   `json:"jisr.ocsp"`
			}
			if err := json.Unmarshal(dec(parts[0]), &hdr); err != nil {
				t.Fatal(err)
			}
			if hdr.Alg != tc.name || hdr.Typ != TypeRequest || hdr.OCSP == "" || len(hdr.X5C) != 2 {
				t.Fatalf("protected header %+v", hdr)
			}
			der, err := base64.StdEncoding.DecodeString(hdr.X5C[0])
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dec(parts[1]), h.Canonical()) {
				t.Fatal("payload is not the canonical header")
			}
			digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
			sig := dec(parts[2])
			switch pub := leaf.PublicKey.(type) {
			case *ecdsa.PublicKey:
				if len(sig) != 64 {
					t.Fatalf("ES256 signature of %d bytes, want r||s of 64", len(sig))
				}
				r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
				if !ecdsa.Verify(pub, digest[:], r, s) {
					t.Fatal("ecdsa.Verify failed")
				}
			case *rsa.PublicKey:
				if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatalf("key type %T", pub)
			}
		})
	}
}
