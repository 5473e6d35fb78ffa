package message

import (
	"bytes"
	"net/http"
	"testing"
)

// FuzzDecodeRequest feeds arbitrary header values to DecodeRequest: it
// must never panic, and whatever it accepts must encode and decode again to
// the same header and signature.
func FuzzDecodeRequest(f *testing.F) {
	h := testRequest(SumBytes([]byte("x")))
	enc := EncodeRequest(h, "aGVhZGVy.cGF5bG9hZA.c2ln")
	f.Add(enc.Get(HeaderID), enc.Get(HeaderClient), enc.Get(HeaderService), enc.Get(HeaderUserID),
		enc.Get(HeaderTime), enc.Get(HeaderPath), enc.Get(HeaderQuery), enc.Get(HeaderBodyDigest),
		enc.Get(HeaderBodySize), enc.Get(HeaderSignature), "Cookie", "a=1;b=2")
	f.Add("", "PS/GOV/MOI", "PS/GOV/MOF/tax/taxes/v1", "", "0001-01-01T00:00:00.000Z", "/", "",
		"sha256:", "0", "a.b.c", "X-Road-Client", "x")
	f.Fuzz(func(t *testing.T, id, client, service, user, tm, path, query, digest, size, sig, name, value string) {
		hdr := http.Header{}
		for k, v := range map[string]string{
			HeaderVersion: Version, HeaderMethod: "GET", HeaderID: id, HeaderClient: client,
			HeaderService: service, HeaderUserID: user, HeaderTime: tm, HeaderPath: path,
			HeaderQuery: query, HeaderBodyDigest: digest, HeaderBodySize: size, HeaderSignature: sig,
		} {
			hdr[k] = []string{v}
		}
		hdr[name] = append(hdr[name], value)
		got, gotSig, err := DecodeRequest(hdr)
		if err != nil {
			return
		}
		again, againSig, err := DecodeRequest(EncodeRequest(got, gotSig))
		if err != nil {
			t.Fatalf("decode(encode(decode(h))) failed: %v", err)
		}
		if againSig != gotSig || !bytes.Equal(again.Canonical(), got.Canonical()) {
			t.Fatalf("decode → encode → decode not stable:\n%s\n%s", got.Canonical(), again.Canonical())
		}
		if p, err := ParseCanonicalRequest(got.Canonical()); err != nil || !bytes.Equal(p.Canonical(), got.Canonical()) {
			t.Fatalf("canonical of a decoded header does not parse back: %v", err)
		}
	})
}

// FuzzCanonical parses arbitrary bytes as canonical request and response
// headers: anything accepted must be reproduced byte for byte.
func FuzzCanonical(f *testing.F) {
	req := testRequest(SumBytes([]byte("x")))
	f.Add(req.Canonical())
	f.Add(testResponse(req, SumBytes(nil)).Canonical())
	f.Add([]byte(`{"version":"jisr/1","headers":{"A":["1"],"A":["2"]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := ParseCanonicalRequest(b); err == nil {
			if got := h.Canonical(); !bytes.Equal(got, b) {
				t.Fatalf("request round trip:\n%q\n%q", b, got)
			}
			if err := h.Validate(); err != nil {
				t.Fatalf("parsed request is invalid: %v", err)
			}
		}
		if h, err := ParseCanonicalResponse(b); err == nil {
			if got := h.Canonical(); !bytes.Equal(got, b) {
				t.Fatalf("response round trip:\n%q\n%q", b, got)
			}
		}
	})
}
