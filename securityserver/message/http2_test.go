package message

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHTTP2Hop sends a signed request and its signed response through a
// real HTTP/2 connection (TLS, Go's client and server), as the two security
// servers would, and verifies both on arrival: the canonical header
// survives HTTP/2's transformations (lower-cased names, split and re-joined
// cookies, added User-Agent and Content-Length).
func TestHTTP2Hop(t *testing.T) {
	w := newWorld(t)
	reqBody, respBody := []byte(`{"year":2025}`), []byte(`{"id":7}`)
	req := testRequest(SumBytes(reqBody))
	req.Headers["Cookie"] = []string{"a=1; b=2; c=3"}
	reqSig, err := SignRequest(req, w.consumer)
	if err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			t.Errorf("protocol %s, want HTTP/2", r.Proto)
		}
		h, sig, err := DecodeRequest(r.Header)
		if err != nil {
			t.Errorf("provider: decode: %v", err)
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		spool, err := NewSpool(r.Body, 1<<10, 1<<20, t.TempDir())
		if err != nil {
			t.Errorf("provider: spool: %v", err)
			return
		}
		defer spool.Close()
		v, err := w.verifier.VerifyRequest(sig, h, spool.Sum())
		if err != nil {
			t.Errorf("provider: verify: %v", err)
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		resp := testResponse(h, SumBytes(respBody))
		resp.RequestDigest = v.Digest
		resp.Headers.Del("Content-Type") // net/http must not sniff one
		rsig, err := SignResponse(resp, w.provider)
		if err != nil {
			t.Errorf("provider: sign: %v", err)
			return
		}
		for k, vv := range EncodeResponse(resp, rsig) {
			rw.Header()[k] = vv
		}
		rw.WriteHeader(resp.Status)
		_, _ = rw.Write(respBody)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	hreq, err := http.NewRequest(req.Method, srv.URL+"/jisr/1", bytes.NewReader(reqBody))
	if err != nil {
		t.Fatal(err)
	}
	hreq.Header = EncodeRequest(req, reqSig)
	// Names as an HTTP/2 peer might spell them.
	hreq.Header["content-type"] = hreq.Header["Content-Type"]
	delete(hreq.Header, "Content-Type")
	client := srv.Client()
	client.Transport.(*http.Transport).DisableCompression = true // bodies are signed as sent
	hresp, err := client.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer hresp.Body.Close()
	if hresp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", hresp.Proto)
	}
	got, gotSig, err := DecodeResponse(hresp.Header)
	if err != nil {
		t.Fatalf("consumer: decode: %v", err)
	}
	spool, err := NewSpool(hresp.Body, 1<<10, 1<<20, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	if _, err := w.verifier.VerifyResponse(gotSig, got, spool.Sum(), req); err != nil {
		t.Fatalf("consumer: verify: %v", err)
	}
	r, _ := spool.Open()
	defer r.Close()
	if b, _ := io.ReadAll(r); !bytes.Equal(b, respBody) || !strings.Contains(got.Headers.Get("Location"), "/7") {
		t.Errorf("response body %q, headers %v", b, got.Headers)
	}
}
