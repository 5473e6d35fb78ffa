package message

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

func TestRoundTrip(t *testing.T) {
	w := newWorld(t)
	ec, rsaK := ecKey(t), rsaKey(t)
	tests := []struct {
		name               string
		consumer, provider crypto.Signer
	}{
		{"ECDSA", ec, ec},
		{"RSA", rsaK, rsaK},
		{"bare ECDSA and bare RSA", bareSigner{ec}, bareSigner{rsaK}},
		{"ECDSA request, RSA response", ec, bareSigner{rsaK}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			consumer := w.ca.signer(t, consumerMember, tt.consumer)
			provider := w.ca.signer(t, providerMember, tt.provider)
			reqBody := SumBytes([]byte(`{"year":2025}`))
			req := testRequest(reqBody)
			sig, err := SignRequest(req, consumer)
			if err != nil {
				t.Fatal(err)
			}
			gotReq, gotSig, err := DecodeRequest(EncodeRequest(req, sig))
			if err != nil {
				t.Fatal(err)
			}
			if gotSig != sig || !bytes.Equal(gotReq.Canonical(), req.Canonical()) {
				t.Fatalf("decode(encode(h)) differs:\n%s\n%s", gotReq.Canonical(), req.Canonical())
			}
			vreq, err := w.verifier.VerifyRequest(gotSig, gotReq, reqBody)
			if err != nil {
				t.Fatal(err)
			}
			if vreq.Signer != consumerMember || !bytes.Equal(vreq.Digest, req.Digest()) ||
				!vreq.Chain[0].Equal(consumer.Chain[0]) || !vreq.Chain[len(vreq.Chain)-1].Equal(w.ca.root) ||
				vreq.OCSP.Status != xocsp.Good || !bytes.Equal(vreq.Payload, req.Canonical()) {
				t.Errorf("unexpected Verified: %+v", vreq)
			}

			respBody := SumBytes([]byte(`{"id":7}`))
			resp := testResponse(gotReq, respBody)
			resp.RequestDigest = vreq.Digest
			rsig, err := SignResponse(resp, provider)
			if err != nil {
				t.Fatal(err)
			}
			gotResp, gotRSig, err := DecodeResponse(EncodeResponse(resp, rsig))
			if err != nil {
				t.Fatal(err)
			}
			vresp, err := w.verifier.VerifyResponse(gotRSig, gotResp, respBody, req)
			if err != nil {
				t.Fatal(err)
			}
			if vresp.Signer != providerMember {
				t.Errorf("response signer %s", vresp.Signer)
			}
		})
	}
}

// requestCase is one signed request on its way to the verifier.
type requestCase struct {
	h      http.Header
	body   BodySum
	v      Verifier
	replay bool // verify twice with a replay cache
}

func TestVerifyRequestRefusals(t *testing.T) {
	w := newWorld(t)
	body := SumBytes([]byte(`{"year":2025}`))
	signWith := func(t *testing.T, s Signer) http.Header {
		t.Helper()
		h := testRequest(body)
		sig, err := sign(h.Canonical(), TypeRequest, s) // bypasses SignRequest's own checks
		if err != nil {
			t.Fatal(err)
		}
		return EncodeRequest(h, sig)
	}
	set := func(name, value string) func(*testing.T, *requestCase) {
		return func(_ *testing.T, c *requestCase) { c.h[name] = []string{value} }
	}
	withOCSP := func(der func(t *testing.T) []byte) func(*testing.T, *requestCase) {
		return func(t *testing.T, c *requestCase) {
			s := w.consumer
			s.OCSP = der(t)
			c.h = signWith(t, s)
		}
	}
	tests := []struct {
		name   string
		mutate func(*testing.T, *requestCase)
		want   error
	}{
		{"accepted", func(*testing.T, *requestCase) {}, nil},
		{"tampered body", func(_ *testing.T, c *requestCase) { c.body = SumBytes([]byte(`{"year":2024}`)) }, ErrBodyMismatch},
		{"truncated body", func(_ *testing.T, c *requestCase) { c.body.Size-- }, ErrBodyMismatch},
		{"tampered id", set(HeaderID, "other-id"), ErrTampered},
		{"tampered client", set(HeaderClient, "PS/GOV/MOI/other"), ErrTampered},
		{"tampered service", set(HeaderService, "PS/GOV/MOF/tax/refunds"), ErrTampered},
		{"tampered user id", set(HeaderUserID, "PS0000000000"), ErrTampered},
		{"removed user id", func(_ *testing.T, c *requestCase) { delete(c.h, HeaderUserID) }, ErrTampered},
		{"tampered issue", set(HeaderIssue, "case #43"), ErrTampered},
		{"tampered represented party", set(HeaderRepresentedParty, "ACME"), ErrTampered},
		{"tampered time", set(HeaderTime, "2026-05-01T10:00:00.124Z"), ErrTampered},
		{"tampered method", set(HeaderMethod, "DELETE"), ErrTampered},
		{"tampered path", set(HeaderPath, "/v1/returns/2024"), ErrTampered},
		{"tampered query", set(HeaderQuery, "lang=en&full=1"), ErrTampered},
		{"tampered body digest header", set(HeaderBodyDigest, formatDigest(make([]byte, 32))), ErrTampered},
		{"tampered end-to-end header", set("Authorization", "Bearer other"), ErrTampered},
		{"added end-to-end header", set("X-Extra", "1"), ErrTampered},
		{"removed end-to-end header", func(_ *testing.T, c *requestCase) { delete(c.h, "Accept") }, ErrTampered},
		{"reordered header values", func(_ *testing.T, c *requestCase) { c.h["Accept"] = []string{"text/plain", "application/json"} }, ErrTampered},
		{"flipped signature", func(_ *testing.T, c *requestCase) {
			s := c.h[HeaderSignature][0]
			i := strings.LastIndexByte(s, '.') + 5
			b := []byte(s)
			b[i] = map[bool]byte{true: 'B', false: 'A'}[b[i] == 'A']
			c.h[HeaderSignature] = []string{string(b)}
		}, ErrBadSignature},
		{"response signature as request", func(t *testing.T, c *requestCase) {
			sig, err := sign(testRequest(body).Canonical(), TypeResponse, w.consumer)
			if err != nil {
				t.Fatal(err)
			}
			c.h[HeaderSignature] = []string{sig}
		}, ErrMalformed},
		{"signed by another member", func(t *testing.T, c *requestCase) {
			c.h = signWith(t, w.ca.signer(t, otherMember, ecKey(t)))
		}, ErrWrongSigner},
		{"signed by the provider member", func(t *testing.T, c *requestCase) { c.h = signWith(t, w.provider) }, ErrWrongSigner},
		{"chain to an unapproved CA", func(t *testing.T, c *requestCase) {
			c.h = signWith(t, w.rogue.signer(t, consumerMember, ecKey(t)))
		}, ErrUntrustedChain},
		{"leaf alone, unapproved CA", func(t *testing.T, c *requestCase) {
			s := w.rogue.signer(t, consumerMember, ecKey(t))
			s.Chain = s.Chain[:1]
			c.h = signWith(t, s)
		}, ErrUntrustedChain},
		{"signed with an auth certificate", func(t *testing.T, c *requestCase) {
			k := ecKey(t)
			leaf := w.ca.leaf(t, profile.Auth, xroad.ServerID{Owner: consumerMember, Code: "ss1"}, k)
			c.h = signWith(t, Signer{Key: k, Chain: []*x509.Certificate{leaf, w.ca.inter}, OCSP: w.ca.ocsp(t, leaf, xocsp.Good, testNow)})
		}, ErrCertProfile},
		{"revoked", withOCSP(func(t *testing.T) []byte {
			return w.ca.ocsp(t, w.consumer.Chain[0], xocsp.Revoked, testNow.Add(-time.Minute))
		}), ErrRevoked},
		{"status unknown", withOCSP(func(t *testing.T) []byte {
			return w.ca.ocsp(t, w.consumer.Chain[0], xocsp.Unknown, testNow.Add(-time.Minute))
		}), ErrRevoked},
		{"stale OCSP", withOCSP(func(t *testing.T) []byte {
			return w.ca.ocsp(t, w.consumer.Chain[0], xocsp.Good, testNow.Add(-61*time.Minute))
		}), ErrOCSPStale},
		{"OCSP from the future", withOCSP(func(t *testing.T) []byte {
			return w.ca.ocsp(t, w.consumer.Chain[0], xocsp.Good, testNow.Add(time.Hour))
		}), ErrOCSPStale},
		{"OCSP for another certificate", withOCSP(func(t *testing.T) []byte {
			return w.ca.ocsp(t, w.provider.Chain[0], xocsp.Good, testNow.Add(-time.Minute))
		}), ErrOCSPInvalid},
		{"OCSP signed by another CA", withOCSP(func(t *testing.T) []byte {
			return w.rogue.ocsp(t, w.consumer.Chain[0], xocsp.Good, testNow.Add(-time.Minute))
		}), ErrOCSPInvalid},
		{"OCSP not DER", withOCSP(func(*testing.T) []byte { return []byte("not an OCSP response") }), ErrOCSPInvalid},
		{"clock ahead of message", func(_ *testing.T, c *requestCase) { c.v.Clock = fakeAt(testNow.Add(5*time.Minute + time.Millisecond)) }, ErrClockSkew},
		{"clock behind message", func(_ *testing.T, c *requestCase) { c.v.Clock = fakeAt(testNow.Add(-5*time.Minute - time.Millisecond)) }, ErrClockSkew},
		{"skew at the limit", func(_ *testing.T, c *requestCase) { c.v.Clock = fakeAt(testNow.Add(5 * time.Minute)) }, nil},
		{"replayed id", func(_ *testing.T, c *requestCase) { c.replay = true }, ErrReplay},
		{"duplicate id header", func(_ *testing.T, c *requestCase) { c.h[HeaderID] = []string{"a", "a"} }, ErrMalformed},
		{"duplicate header in two spellings", func(_ *testing.T, c *requestCase) { c.h["x-jisr-id"] = c.h[HeaderID] }, ErrMalformed},
		{"duplicate signature", func(_ *testing.T, c *requestCase) { c.h.Add(HeaderSignature, c.h.Get(HeaderSignature)) }, ErrMalformed},
		{"missing signature", func(_ *testing.T, c *requestCase) { delete(c.h, HeaderSignature) }, ErrMalformed},
		{"missing client", func(_ *testing.T, c *requestCase) { delete(c.h, HeaderClient) }, ErrMalformed},
		{"empty optional header", set(HeaderIssue, ""), ErrMalformed},
		{"unknown X-Jisr header", set("X-Jisr-Status", "200"), ErrMalformed},
		{"bad base64 digest", set(HeaderBodyDigest, "sha256:!!!"), ErrMalformed},
		{"non-canonical base64 digest", set(HeaderBodyDigest, strings.TrimRight(formatDigest(body.SHA256), "=")), ErrMalformed},
		{"bad base64 signature", func(_ *testing.T, c *requestCase) { c.h[HeaderSignature] = []string{"a=.b.c"} }, ErrMalformed},
		{"signature with two parts", set(HeaderSignature, "abc.def"), ErrMalformed},
		{"huge signature", set(HeaderSignature, strings.Repeat("A", MaxSignatureLength+1)), ErrMalformed},
		{"huge header", set("X-Big", strings.Repeat("x", MaxHeaderBytes)), ErrMalformed},
		{"bad time", set(HeaderTime, "2026-05-01T10:00:00Z"), ErrMalformed},
		{"bad size", set(HeaderBodySize, "013"), ErrMalformed},
		{"bad client", set(HeaderClient, "PS/GOV"), ErrMalformed},
		{"wrong version", set(HeaderVersion, "jisr/2"), ErrMalformed},
	}
	// Each case runs without a verification cache and with one shared by
	// all cases, so that what an earlier case cached never lets a later
	// one through.
	cache := NewVerifyCache(0)
	for _, cached := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/cached=%v", tt.name, cached), func(t *testing.T) {
				c := &requestCase{h: signWith(t, w.consumer), body: body, v: *w.verifier}
				if cached {
					c.v.Cache = cache
				}
				tt.mutate(t, c)
				var err error
				h, sig, err := DecodeRequest(c.h)
				if err == nil {
					if c.replay {
						rc, rerr := NewReplayCache(c.v.Clock, c.v.MaxSkew, 10)
						if rerr != nil {
							t.Fatal(rerr)
						}
						c.v.Replay = rc
						if _, err := c.v.VerifyRequest(sig, h, c.body); err != nil {
							t.Fatalf("first delivery: %v", err)
						}
					}
					_, err = c.v.VerifyRequest(sig, h, c.body)
				}
				if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
				if err != nil {
					t.Log(err)
					assertOnlySentinel(t, err, tt.want)
				}
			})
		}
	}
}

// sentinels lists every refusal sentinel.
func sentinels() []error {
	return []error{ErrMalformed, ErrBadSignature, ErrTampered, ErrBodyMismatch, ErrClockSkew,
		ErrUntrustedChain, ErrCertProfile, ErrWrongSigner, ErrOCSPInvalid, ErrRevoked, ErrOCSPStale,
		ErrReplay, ErrReplayCapacity, ErrResponseMismatch, ErrBodyTooLarge}
}

// assertOnlySentinel checks that err wraps want and no other sentinel.
func assertOnlySentinel(t *testing.T, err, want error) {
	t.Helper()
	for _, s := range sentinels() {
		if s != want && errors.Is(err, s) {
			t.Errorf("%v also wraps %v", err, s)
		}
	}
}

func TestVerifyResponseRefusals(t *testing.T) {
	w := newWorld(t)
	reqBody, respBody := SumBytes([]byte("q")), SumBytes([]byte("answer"))
	req := testRequest(reqBody)
	other := req
	other.ID = "another-request"
	tests := []struct {
		name   string
		make   func(t *testing.T) (ResponseHeader, Signer)
		mutate func(http.Header)
		body   BodySum
		want   error
	}{
		{"accepted", func(*testing.T) (ResponseHeader, Signer) { return testResponse(req, respBody), w.provider }, nil, respBody, nil},
		{"bound to another request", func(*testing.T) (ResponseHeader, Signer) { return testResponse(other, respBody), w.provider }, nil, respBody, ErrResponseMismatch},
		{"signed by the consumer member", func(*testing.T) (ResponseHeader, Signer) { return testResponse(req, respBody), w.consumer }, nil, respBody, ErrWrongSigner},
		{"tampered status", func(*testing.T) (ResponseHeader, Signer) { return testResponse(req, respBody), w.provider },
			func(h http.Header) { h[HeaderStatus] = []string{"200"} }, respBody, ErrTampered},
		{"tampered request digest header", func(*testing.T) (ResponseHeader, Signer) { return testResponse(other, respBody), w.provider },
			func(h http.Header) { h[HeaderRequestDigest] = []string{formatDigest(req.Digest())} }, respBody, ErrTampered},
		{"tampered end-to-end header", func(*testing.T) (ResponseHeader, Signer) { return testResponse(req, respBody), w.provider },
			func(h http.Header) { h["Location"] = []string{"https://evil.example/"} }, respBody, ErrTampered},
		{"tampered body", func(*testing.T) (ResponseHeader, Signer) { return testResponse(req, respBody), w.provider }, nil, SumBytes([]byte("other")), ErrBodyMismatch},
		{"request signature as response", func(*testing.T) (ResponseHeader, Signer) { return testResponse(req, respBody), w.provider },
			func(h http.Header) {
				sig, _ := SignRequest(req, w.consumer)
				h[HeaderSignature] = []string{sig}
			}, respBody, ErrMalformed},
		{"duplicate status", func(*testing.T) (ResponseHeader, Signer) { return testResponse(req, respBody), w.provider },
			func(h http.Header) { h.Add(HeaderStatus, "201") }, respBody, ErrMalformed},
		{"status out of range", func(*testing.T) (ResponseHeader, Signer) { return testResponse(req, respBody), w.provider },
			func(h http.Header) { h[HeaderStatus] = []string{"99999999999"} }, respBody, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, s := tt.make(t)
			sig, err := sign(h.Canonical(), TypeResponse, s)
			if err != nil {
				t.Fatal(err)
			}
			hdr := EncodeResponse(h, sig)
			if tt.mutate != nil {
				tt.mutate(hdr)
			}
			got, gotSig, err := DecodeResponse(hdr)
			if err == nil {
				_, err = w.verifier.VerifyResponse(gotSig, got, tt.body, req)
			}
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err != nil {
				t.Log(err)
				assertOnlySentinel(t, err, tt.want)
			}
		})
	}
}

func TestSignRefusals(t *testing.T) {
	w := newWorld(t)
	body := SumBytes(nil)
	tests := []struct {
		name   string
		h      func() RequestHeader
		signer func() Signer
	}{
		{"client of another member", func() RequestHeader {
			h := testRequest(body)
			h.Client = otherMember.Client()
			return h
		}, func() Signer { return w.consumer }},
		{"invalid header", func() RequestHeader { h := testRequest(body); h.ID = ""; return h }, func() Signer { return w.consumer }},
		{"key does not match certificate", func() RequestHeader { return testRequest(body) }, func() Signer {
			s := w.consumer
			s.Key = ecKey(t)
			return s
		}},
		{"no OCSP", func() RequestHeader { return testRequest(body) }, func() Signer { s := w.consumer; s.OCSP = nil; return s }},
		{"no chain", func() RequestHeader { return testRequest(body) }, func() Signer { s := w.consumer; s.Chain = nil; return s }},
		{"no key", func() RequestHeader { return testRequest(body) }, func() Signer { s := w.consumer; s.Key = nil; return s }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if sig, err := SignRequest(tt.h(), tt.signer()); err == nil {
				t.Fatalf("signed: %s", sig)
			}
		})
	}
}

func TestVerifierConfiguration(t *testing.T) {
	w := newWorld(t)
	body := SumBytes(nil)
	h := testRequest(body)
	sig, err := SignRequest(h, w.consumer)
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Verifier){
		"nil roots":      func(v *Verifier) { v.Roots = nil },
		"nil clock":      func(v *Verifier) { v.Clock = nil },
		"zero freshness": func(v *Verifier) { v.OCSPFreshness = 0 },
		"zero skew":      func(v *Verifier) { v.MaxSkew = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			v := *w.verifier
			mutate(&v)
			_, err := v.VerifyRequest(sig, h, body)
			if err == nil {
				t.Fatal("accepted with a broken configuration")
			}
			assertOnlySentinel(t, err, nil)
		})
	}
}

// TestApprovedResponder checks OCSP responses signed by a responder the
// configuration approves for the issuer, which the issuer did not certify.
func TestApprovedResponder(t *testing.T) {
	w := newWorld(t)
	respKey := ecKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: w.ca.inter.SerialNumber, // any
		NotBefore:    testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
	}
	tmpl.Subject.CommonName = "Approved OCSP responder"
	responder := mustCert(t, tmpl, tmpl, respKey.Public(), respKey) // self-signed
	leaf := w.consumer.Chain[0]
	der, err := xocsp.CreateResponse(w.ca.inter, responder, xocsp.Response{
		Status: xocsp.Good, SerialNumber: leaf.SerialNumber, ThisUpdate: testNow.Add(-time.Minute),
		NextUpdate: testNow.Add(time.Hour), IssuerHash: crypto.SHA1,
	}, respKey)
	if err != nil {
		t.Fatal(err)
	}
	s := w.consumer
	s.OCSP = der
	body := SumBytes(nil)
	h := testRequest(body)
	sig, err := SignRequest(h, s)
	if err != nil {
		t.Fatal(err)
	}
	v := *w.verifier
	if _, err := v.VerifyRequest(sig, h, body); !errors.Is(err, ErrOCSPInvalid) {
		t.Fatalf("without approval: got %v, want ErrOCSPInvalid", err)
	}
	v.OCSPResponders = func(issuer *x509.Certificate) []*x509.Certificate {
		if issuer.Equal(w.ca.inter) {
			return []*x509.Certificate{responder}
		}
		return nil
	}
	if _, err := v.VerifyRequest(sig, h, body); err != nil {
		t.Fatalf("with approval: %v", err)
	}
	// The same responder's statement about the same serial of another
	// issuer must not count for this one.
	der, err = xocsp.CreateResponse(w.rogue.inter, responder, xocsp.Response{
		Status: xocsp.Good, SerialNumber: leaf.SerialNumber, ThisUpdate: testNow.Add(-time.Minute),
		NextUpdate: testNow.Add(time.Hour), IssuerHash: crypto.SHA256,
	}, respKey)
	if err != nil {
		t.Fatal(err)
	}
	s.OCSP = der
	if sig, err = SignRequest(h, s); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyRequest(sig, h, body); !errors.Is(err, ErrOCSPInvalid) {
		t.Fatalf("response about another issuer: got %v, want ErrOCSPInvalid", err)
	} else {
		t.Log(err)
	}
}
