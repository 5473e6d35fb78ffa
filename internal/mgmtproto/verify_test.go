package mgmtproto_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/mgmtproto/mgmttest"
	"github.com/jisr-bus/jisr/pki/profile"
)

func TestSignParseVerify(t *testing.T) {
	f := newFixture(t)
	for _, typ := range allTypes {
		t.Run(string(typ), func(t *testing.T) {
			r := request(typ, f.auth.Cert.Raw)
			signers := []mgmtproto.Signer{f.pki.Signer(f.sign, now)}
			if typ == mgmtproto.TypeAuthCertRegistration {
				signers = append(signers, f.pki.Signer(f.auth, now))
			}
			if typ == mgmtproto.TypeServiceDescriptionPublish || typ == mgmtproto.TypeClientRegistration || typ == mgmtproto.TypeClientDeletion {
				// civil-registry belongs to MOI, so MOI signs.
				if r.ResponsibleMember() != moi {
					t.Fatalf("responsible member %s", r.ResponsibleMember())
				}
			}
			signed := mustSign(t, r, signers...)
			p, err := mgmtproto.Parse(signed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.Marshal(), signed) {
				t.Error("Marshal does not reproduce the input")
			}
			if len(p.Signatures) != len(signers) || p.Signatures[0].Algorithm != "ES256" || len(p.Signatures[0].Chain) != 2 {
				t.Errorf("signatures %+v", p.Signatures)
			}
			v, err := p.Verify(f.trust(), now.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if v.Signer != moi || len(v.SignChain) != 3 || v.SignChain[2].Equal(f.pki.Root) == false {
				t.Errorf("verified %+v", v)
			}
			if (v.AuthCert != nil) != (typ == mgmtproto.TypeAuthCertRegistration) {
				t.Errorf("AuthCert %v", v.AuthCert)
			}
		})
	}
}

func TestSignRefuses(t *testing.T) {
	f := newFixture(t)
	r := request(mgmtproto.TypeMaintenanceOn, nil)
	other := mgmttest.NewKey(t)
	good := f.pki.Signer(f.sign, now)
	for name, signers := range map[string][]mgmtproto.Signer{
		"no signers":      nil,
		"three signers":   {good, good, good},
		"key mismatch":    {{Key: other, Chain: good.Chain, OCSP: good.OCSP}},
		"no chain":        {{Key: good.Key, OCSP: good.OCSP}},
		"no OCSP":         {{Key: good.Key, Chain: good.Chain}},
		"invalid request": {good},
	} {
		t.Run(name, func(t *testing.T) {
			rr := r
			if name == "invalid request" {
				rr.ID = "x"
			}
			if _, err := mgmtproto.Sign(rr, signers); err == nil {
				t.Error("Sign succeeded")
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t)
	other := mgmttest.NewPKI(t, "XX", now)
	signMOF := f.pki.Issue(profile.Sign, mof, now)
	authSS2 := f.pki.Issue(profile.Auth, ss2, now)
	authOther := f.pki.Issue(profile.Auth, ss1, now)
	signForeign := other.Issue(profile.Sign, moi, now)
	good := func() mgmtproto.Signer { return f.pki.Signer(f.sign, now) }
	authGood := func() mgmtproto.Signer { return f.pki.Signer(f.auth, now) }

	tests := []struct {
		name string
		typ  mgmtproto.Type
		// signers builds the signatures; edit may change the signed bytes.
		signers func() []mgmtproto.Signer
		edit    func(t *testing.T, signed []byte) []byte
		want    error
	}{
		{"payload swapped", mgmtproto.TypeMaintenanceOn, func() []mgmtproto.Signer { return []mgmtproto.Signer{good()} }, swapPayload, mgmtproto.ErrBadSignature},
		{"sign cert of another member", mgmtproto.TypeMaintenanceOn, func() []mgmtproto.Signer {
			return []mgmtproto.Signer{f.pki.Signer(signMOF, now)}
		}, nil, mgmtproto.ErrWrongSigner},
		{"revoked", mgmtproto.TypeMaintenanceOn, func() []mgmtproto.Signer {
			s := good()
			s.OCSP = f.pki.OCSP(f.sign.Cert, ocsp.Revoked, now)
			return []mgmtproto.Signer{s}
		}, nil, mgmtproto.ErrRevoked},
		{"unknown status", mgmtproto.TypeMaintenanceOn, func() []mgmtproto.Signer {
			s := good()
			s.OCSP = f.pki.OCSP(f.sign.Cert, ocsp.Unknown, now)
			return []mgmtproto.Signer{s}
		}, nil, mgmtproto.ErrOCSP},
		{"stale OCSP", mgmtproto.TypeMaintenanceOn, func() []mgmtproto.Signer {
			s := good()
			s.OCSP = f.pki.OCSP(f.sign.Cert, ocsp.Good, now.Add(-2*time.Hour))
			return []mgmtproto.Signer{s}
		}, nil, mgmtproto.ErrOCSP},
		{"OCSP about another certificate", mgmtproto.TypeMaintenanceOn, func() []mgmtproto.Signer {
			s := good()
			s.OCSP = f.pki.OCSP(signMOF.Cert, ocsp.Good, now)
			return []mgmtproto.Signer{s}
		}, nil, mgmtproto.ErrOCSP},
		{"OCSP from another CA", mgmtproto.TypeMaintenanceOn, func() []mgmtproto.Signer {
			s := good()
			s.OCSP = other.OCSP(f.sign.Cert, ocsp.Good, now)
			return []mgmtproto.Signer{s}
		}, nil, mgmtproto.ErrOCSP},
		{"chain to an unapproved CA", mgmtproto.TypeMaintenanceOn, func() []mgmtproto.Signer {
			return []mgmtproto.Signer{other.Signer(signForeign, now)}
		}, nil, mgmtproto.ErrCertificate},
		{"auth cert as sign cert", mgmtproto.TypeMaintenanceOn, func() []mgmtproto.Signer {
			return []mgmtproto.Signer{authGood()}
		}, nil, mgmtproto.ErrMalformed},
		{"missing auth signature", mgmtproto.TypeAuthCertRegistration, func() []mgmtproto.Signer {
			return []mgmtproto.Signer{good()}
		}, nil, mgmtproto.ErrMissingSignature},
		{"only the auth signature", mgmtproto.TypeAuthCertRegistration, func() []mgmtproto.Signer {
			return []mgmtproto.Signer{authGood()}
		}, nil, mgmtproto.ErrMissingSignature},
		{"auth cert of another server", mgmtproto.TypeAuthCertRegistration, func() []mgmtproto.Signer {
			return []mgmtproto.Signer{good(), f.pki.Signer(authSS2, now)}
		}, nil, mgmtproto.ErrWrongSigner},
		{"auth signature by another key than authCert", mgmtproto.TypeAuthCertRegistration, func() []mgmtproto.Signer {
			return []mgmtproto.Signer{good(), f.pki.Signer(authOther, now)}
		}, nil, mgmtproto.ErrWrongSigner},
		{"auth signature on a non-registration request", mgmtproto.TypeAddressChange, func() []mgmtproto.Signer {
			return []mgmtproto.Signer{good(), authGood()}
		}, nil, mgmtproto.ErrMalformed},
		{"two sign signatures", mgmtproto.TypeAddressChange, func() []mgmtproto.Signer {
			return []mgmtproto.Signer{good(), good()}
		}, nil, mgmtproto.ErrMalformed},
		{"sign cert not yet valid at createdAt", mgmtproto.TypeMaintenanceOn, func() []mgmtproto.Signer {
			late := f.pki.Issue(profile.Sign, moi, now.Add(2*time.Hour))
			return []mgmtproto.Signer{f.pki.Signer(late, now)}
		}, nil, mgmtproto.ErrCertificate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			signed := mustSign(t, request(tc.typ, f.auth.Cert.Raw), tc.signers()...)
			if tc.edit != nil {
				signed = tc.edit(t, signed)
			}
			p, err := mgmtproto.Parse(signed)
			if err == nil {
				_, err = p.Verify(f.trust(), now)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// swapPayload replaces the payload by that of another valid request.
func swapPayload(t *testing.T, signed []byte) []byte {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(signed, &env); err != nil {
		t.Fatal(err)
	}
	r := request(mgmtproto.TypeMaintenanceOff, nil)
	b, err := mgmtproto.MarshalPayload(&r)
	if err != nil {
		t.Fatal(err)
	}
	env["payload"] = base64.RawURLEncoding.EncodeToString(b)
	out, err := json.Marshal(map[string]any{"payload": env["payload"], "signatures": env["signatures"]})
	if err != nil {
		t.Fatal(err)
	}
	// json.Marshal sorts map keys: payload, signatures; signature objects
	// are maps too (protected, signature), so the form stays canonical.
	return out
}

func TestParseRefuses(t *testing.T) {
	f := newFixture(t)
	signed := string(mustSign(t, request(mgmtproto.TypeMaintenanceOn, nil), f.pki.Signer(f.sign, now)))
	var env struct {
		Payload    string `json:"payload"`
		Signatures []struct {
			Protected string `json:"protected"`
			Signature string `json:"signature"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal([]byte(signed), &env); err != nil {
		t.Fatal(err)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(env.Signatures[0].Protected)
	withHeader := func(h string) string {
		return strings.Replace(signed, env.Signatures[0].Protected, base64.RawURLEncoding.EncodeToString([]byte(h)), 1)
	}
	tests := map[string]string{
		"empty":          "",
		"compact":        env.Signatures[0].Protected + "." + env.Payload + "." + env.Signatures[0].Signature,
		"flattened":      `{"payload":"` + env.Payload + `","protected":"` + env.Signatures[0].Protected + `","signature":"` + env.Signatures[0].Signature + `"}`,
		"white space":    strings.Replace(signed, `,"signatures"`, `, "signatures"`, 1),
		"no signatures":  `{"payload":"` + env.Payload + `","signatures":[]}`,
		"unprotected":    strings.Replace(signed, `"signature":`, `"header":{},"signature":`, 1),
		"padded payload": strings.Replace(signed, env.Payload, env.Payload+"=", 1),
		"typ":            withHeader(strings.Replace(string(hdr), mgmtproto.JOSEType, "JWT", 1)),
		"alg none":       withHeader(strings.Replace(string(hdr), `"ES256"`, `"none"`, 1)),
		"extra header":   withHeader(strings.Replace(string(hdr), `{`, `{"kid":"x",`, 1)),
		"header order":   withHeader(strings.Replace(strings.Replace(string(hdr), `"alg":"ES256",`, ``, 1), `}`, `,"alg":"ES256"}`, 1)),
		"no OCSP":        withHeader(strings.Replace(string(hdr), `"jisr.ocsp":"`, `"jisr.ocsp":"x`, 1)),
		"too large":      strings.Repeat(" ", mgmtproto.MaxSignedSize+1),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := mgmtproto.Parse([]byte(in)); !errors.Is(err, mgmtproto.ErrMalformed) {
				t.Errorf("Parse: %v, want ErrMalformed", err)
			}
		})
	}
}
