package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	pkiocsp "github.com/jisr-bus/jisr/pki/ocsp"
)

// negativeCase is one refused exchange: the X-Road error the information
// system must get, and how many requests the service may have seen.
type negativeCase struct {
	name   string
	opts   worldOpts
	setup  func(t *testing.T, w *world)
	req    request
	code   string
	status int
	// backendHits is the number of requests the service must have seen in
	// total (setup included); -1 skips the check.
	backendHits int
	check       func(t *testing.T, w *world, e xroadError)
}

// swapBody replaces a request's or response's body with b.
func swapBody(body *io.ReadCloser, b []byte) {
	_ = (*body).Close()
	*body = io.NopCloser(bytes.NewReader(b))
}

func negativeCases() []negativeCase {
	get := request{path: personsPath + "/v1/persons/4001"}
	post := request{method: http.MethodPost, path: personsPath + "/v1/persons", body: `{"name":"Layla"}`}
	hdr := func(r request, kv ...string) request {
		r.header = http.Header{}
		for i := 0; i < len(kv); i += 2 {
			r.header[http.CanonicalHeaderKey(kv[i])] = append(r.header[http.CanonicalHeaderKey(kv[i])], kv[i+1])
		}
		return r
	}
	noClient := request{path: get.path, header: http.Header{HeaderClient: nil}}
	return []negativeCase{
		// The information system's request.
		{name: "missing X-Road-Client", req: noClient, code: "Client.MissingHeaderField", status: 400},
		{name: "malformed X-Road-Client", req: hdr(get, HeaderClient, "PS/GOV"), code: "Client.BadRequest", status: 400},
		{name: "X-Road-Client with bad character", req: hdr(get, HeaderClient, "PS/GOV/CAB/por tal"), code: "Client.BadRequest", status: 400},
		{name: "unknown client", req: hdr(get, HeaderClient, "PS/GOV/NOPE/portal"), code: "Server.ClientProxy.UnknownMember", status: 500},
		{name: "client hosted by another security server", req: hdr(get, HeaderClient, civil.String()), code: "Server.ClientProxy.UnknownMember", status: 500},
		{name: "client not in the local configuration", req: get, code: "Server.ClientProxy.UnknownMember", status: 500,
			setup: func(_ *testing.T, w *world) { w.consumer.clients.remove(portal) }},
		{name: "information system not authorised", req: get, code: "Server.ClientProxy.SslAuthenticationFailed", status: 500,
			setup: func(_ *testing.T, w *world) {
				w.consumer.clients.authorize = errors.New("no registered TLS certificate")
			}},
		{name: "not an r1 path", req: request{path: "/r2/PS/GOV/MOI/civil-registry/persons"}, code: "Client.BadRequest", status: 400},
		{name: "root path", req: request{path: "/"}, code: "Client.BadRequest", status: 400},
		{name: "too few segments", req: request{path: "/r1/PS/GOV/MOI/civil-registry"}, code: "Client.BadRequest", status: 400},
		{name: "empty segment", req: request{path: "/r1/PS/GOV//civil-registry/persons"}, code: "Client.BadRequest", status: 400},
		{name: "space in a segment", req: request{path: "/r1/PS/GOV/MOI/civil%20registry/persons"}, code: "Client.BadRequest", status: 400},
		{name: "escaped slash in a segment", req: request{path: "/r1/PS/GOV/MOI/civil%2Fregistry/persons"}, code: "Client.BadRequest", status: 400},
		{name: "escaped NUL in a segment", req: request{path: "/r1/PS/GOV/MOI%00/civil-registry/persons"}, code: "Client.BadRequest", status: 400},
		{name: "non-ASCII in a segment", req: request{path: "/r1/PS/GOV/M%C3%89/civil-registry/persons"}, code: "Client.BadRequest", status: 400},
		{name: "dot-dot segment in the service path", req: request{path: personsPath + "/v1/../admin"}, code: "Client.BadRequest", status: 400},
		{name: "encoded dot-dot segment", req: request{path: personsPath + "/v1/%2e%2E/admin"}, code: "Client.BadRequest", status: 400},
		{name: "invalid X-Road-Id", req: hdr(get, HeaderID, "msg 1"), code: "Client.BadRequest", status: 400},
		{name: "X-Road-UserId too long", req: hdr(get, HeaderUserID, strings.Repeat("u", 300)), code: "Client.BadRequest", status: 400},
		{name: "invalid X-Road-Represented-Party", req: hdr(get, HeaderRepresentedParty, "GOV/MOH/x"), code: "Client.BadRequest", status: 400},
		{name: "request body too large", req: post, code: "Client.BadRequest", status: 400, backendHits: 0,
			opts: worldOpts{clientCfg: func(c *ClientConfig) { c.MaxBodySize = 8 }}},
		{name: "metaservice with POST", req: request{method: http.MethodPost, path: "/r1/PS/GOV/MOI/civil-registry/listMethods"}, code: "Client.BadRequest", status: 400},
		{name: "getOpenAPI without serviceCode", req: request{path: "/r1/PS/GOV/MOI/civil-registry/getOpenAPI"}, code: "Client.BadRequest", status: 400},

		// Provider selection on the consumer side.
		{name: "malformed X-Road-Security-Server", req: hdr(get, HeaderSecurityServer, "PS/GOV/MOI"), code: "Client.BadRequest", status: 400},
		{name: "unknown X-Road-Security-Server", req: hdr(get, HeaderSecurityServer, "PS/GOV/MOI/ss9"), code: "Server.ClientProxy.InvalidSecurityServer", status: 500},
		{name: "X-Road-Security-Server not hosting the provider", req: hdr(get, HeaderSecurityServer, ssCAB.String()), code: "Server.ClientProxy.InvalidSecurityServer", status: 500},
		{name: "provider hosted nowhere", req: request{path: "/r1/PS/GOV/MOI/nowhere/persons"}, code: "Server.ClientProxy.UnknownMember", status: 500},
		{name: "provider in maintenance", req: get, code: "Server.ClientProxy.MaintenanceMode", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) { w.providers[0].maintenance = true; w.publish() }},
		{name: "expired configuration", req: get, code: "Server.ClientProxy.OutdatedGlobalConf", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) { w.consumer.docs.fail(globalconf.ErrExpired) }},

		// Keys, logs and the SS↔SS hop on the consumer side.
		{name: "consumer message log failing", req: post, code: "Server.ClientProxy.LoggingFailed", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) { w.consumer.log.failRequest.Store(true) },
			check: func(t *testing.T, w *world, _ xroadError) {
				if n := w.providers[0].served.Load(); n != 0 || w.hook.calls.Load() != 0 {
					t.Errorf("provider served %d requests, transport called %d times; want nothing forwarded", n, w.hook.calls.Load())
				}
			}},
		{name: "consumer time-stamping failed beyond the grace period", req: get, code: "Server.ClientProxy.TimestampingFailed", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) { w.consumer.log.untimestamped.Store(true) }},
		{name: "provider time-stamping failed beyond the grace period", req: get, code: "Server.ServerProxy.TimestampingFailed", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) { w.providers[0].log.untimestamped.Store(true) }},
		{name: "consumer response log failing", req: get, code: "Server.ClientProxy.LoggingFailed", status: 500, backendHits: 1,
			setup: func(_ *testing.T, w *world) { w.consumer.log.failResp.Store(true) }},
		{name: "consumer sign certificate revoked", req: get, code: "Server.ClientProxy.OcspFailed", status: 500, backendHits: 0,
			setup: func(t *testing.T, w *world) {
				w.clk.Add(31 * time.Minute) // past half the freshness: the cache asks the responder again
				w.src.revoke(w.consumer.signChain[cab][0])
				if err := w.consumer.identity.Refresh(t.Context()); err == nil {
					t.Fatal("refresh of a revoked certificate succeeded")
				}
			}},
		{name: "provider auth certificate not registered", req: get, code: "Server.ClientProxy.SslAuthenticationFailed", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) {
				w.docs.set(w.documentWith(func(d *globalconf.Document) {
					serverEntry(d, ssMOI1).AuthCertHashes = []string{strings.Repeat("ab", 32)}
				}))
			}},
		{name: "consumer auth certificate not registered", req: get, code: "Server.ClientProxy.NetworkError", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) {
				w.providers[0].docs.set(w.documentWith(func(d *globalconf.Document) {
					serverEntry(d, ssCAB).AuthCertHashes = []string{strings.Repeat("cd", 32)}
				}))
			}},
		{name: "provider configuration expired", req: get, code: "Server.ClientProxy.NetworkError", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) { w.providers[0].docs.fail(globalconf.ErrExpired) }},
		{name: "response header tampered", req: get, code: "Server.ClientProxy.InvalidSignatureValue", status: 500, backendHits: 1,
			setup: func(_ *testing.T, w *world) {
				w.hook.set(nil, func(r *http.Response) { r.Header.Set("X-Backend", "forged") })
			}},
		{name: "response body tampered", req: get, code: "Server.ClientProxy.InvalidSignatureValue", status: 500, backendHits: 1,
			setup: func(_ *testing.T, w *world) {
				w.hook.set(nil, func(r *http.Response) {
					b, _ := io.ReadAll(r.Body)
					b[0] ^= 1
					swapBody(&r.Body, b)
				})
			}},
		{name: "response status tampered", req: get, code: "Server.ClientProxy.InvalidSignatureValue", status: 500, backendHits: 1,
			setup: func(_ *testing.T, w *world) {
				w.hook.set(nil, func(r *http.Response) { r.Header.Set("X-Jisr-Status", "201") })
			}},
		{name: "response to another request", req: get, code: "Server.ClientProxy.InconsistentResponse", status: 500, backendHits: 2,
			setup: func(t *testing.T, w *world) {
				var old http.Header
				var oldBody []byte
				w.hook.set(nil, func(r *http.Response) {
					old = r.Header.Clone()
					oldBody, _ = io.ReadAll(r.Body)
					swapBody(&r.Body, oldBody)
				})
				if resp := w.do(get); resp.status != 200 {
					t.Fatalf("setup exchange: %d %s", resp.status, resp.body)
				}
				w.hook.set(nil, func(r *http.Response) {
					r.Header = old.Clone()
					swapBody(&r.Body, oldBody)
				})
			}},

		// The provider's security server.
		{name: "unknown service", req: request{path: "/r1/PS/GOV/MOI/civil-registry/nosuch/v1"}, code: "Server.ServerProxy.UnknownService", status: 500, backendHits: 0},
		{name: "access not granted", req: hdr(get, HeaderClient, other.String()), code: "Server.ServerProxy.AccessDenied", status: 500, backendHits: 0},
		{name: "endpoint not granted", req: request{method: http.MethodPost, path: "/r1/PS/GOV/MOI/civil-registry/births/v1/births/7"},
			code: "Server.ServerProxy.AccessDenied", status: 500, backendHits: 0},
		{name: "endpoint path not granted", req: request{path: "/r1/PS/GOV/MOI/civil-registry/births/v2/births/7"},
			code: "Server.ServerProxy.AccessDenied", status: 500, backendHits: 0},
		{name: "service disabled", req: get, code: "Server.ServerProxy.ServiceDisabled", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) {
				w.access.setService("persons", Service{URL: mustURL(w.t, w.backend.URL()), Disabled: true, DisabledNotice: "closed until 12:00"})
			},
			check: func(t *testing.T, _ *world, e xroadError) {
				if !strings.Contains(e.Message, "closed until 12:00") {
					t.Errorf("message %q does not carry the disabled notice", e.Message)
				}
			}},
		{name: "provider subsystem not hosted at the provider", req: get, code: "Server.ServerProxy.UnknownMember", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) { w.providers[0].clients.remove(civil) }},
		{name: "client not hosted by the calling security server", req: get, code: "Server.ServerProxy.SslAuthenticationFailed", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) {
				w.providers[0].docs.set(w.documentWith(func(d *globalconf.Document) {
					serverEntry(d, ssCAB).Clients = []string{other.String()}
				}))
			}},
		{name: "request body tampered in transit", req: post, code: "Server.ServerProxy.InvalidSignatureValue", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) {
				w.hook.set(func(r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					b[len(b)-2] ^= 1
					swapBody(&r.Body, b)
					r.GetBody = nil
				}, nil)
			}},
		{name: "request header injected in transit", req: get, code: "Server.ServerProxy.InvalidSignatureValue", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) {
				w.hook.set(func(r *http.Request) { r.Header.Set("X-Injected", "1") }, nil)
			}},
		{name: "signed path changed in transit", req: get, code: "Server.ServerProxy.InvalidSignatureValue", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) {
				w.hook.set(func(r *http.Request) { r.Header.Set("X-Jisr-Path", "/v1/persons/4002") }, nil)
			}},
		{name: "replayed message id", req: hdr(get, HeaderID, "portal-dup-1"), code: "Server.ServerProxy.InvalidRequest", status: 500, backendHits: 1,
			setup: func(t *testing.T, w *world) {
				if resp := w.do(hdr(get, HeaderID, "portal-dup-1")); resp.status != 200 {
					t.Fatalf("first exchange: %d %s", resp.status, resp.body)
				}
			}},
		{name: "consumer clock far from the provider's", req: get, code: "Server.ServerProxy.InvalidRequest", status: 500, backendHits: 0,
			opts: worldOpts{serverCfg: func(c *ServerConfig) { c.Clock = clock.NewFake(t0.Add(time.Hour)) }}},
		{name: "revoked signer certificate stapled", req: get, code: "Server.ServerProxy.CertValidation", status: 500, backendHits: 0,
			setup: func(t *testing.T, w *world) {
				leaf := w.consumer.signChain[cab][0]
				w.src.revoke(leaf)
				_, der, err := pkiocsp.Fetch(t.Context(), w.ocspClient, w.ocspSrv.URL, leaf, w.pki.Issuer)
				if err != nil {
					t.Fatal(err)
				}
				w.reconfigureClient(func(c *ClientConfig) {
					c.Signer = fixedSigner{key: w.consumer.signKey[cab], chain: w.consumer.signChain[cab], staple: der}
				})
			}},
		{name: "stapled OCSP response about another certificate", req: get, code: "Server.ServerProxy.IncorrectValidationInfo", status: 500, backendHits: 0,
			setup: func(t *testing.T, w *world) {
				_, _, staple, err := w.providers[0].identity.SignMaterial(moi)
				if err != nil {
					t.Fatal(err)
				}
				w.reconfigureClient(func(c *ClientConfig) {
					c.Signer = fixedSigner{key: w.consumer.signKey[cab], chain: w.consumer.signChain[cab], staple: staple}
				})
			}},
		{name: "sign key of another member", req: get, code: "Signer.CannotCreateSignature", status: 500, backendHits: 0,
			setup: func(t *testing.T, w *world) {
				key, chain, staple, err := w.providers[0].identity.SignMaterial(moi)
				if err != nil {
					t.Fatal(err)
				}
				w.reconfigureClient(func(c *ClientConfig) { c.Signer = fixedSigner{key: key, chain: chain, staple: staple} })
			}},
		{name: "provider holds no sign key", req: get, code: "Signer.CannotCreateSignature", status: 500, backendHits: 0,
			opts: worldOpts{noMOISignAt: true}},
		{name: "provider request log failing", req: post, code: "Server.ServerProxy.LoggingFailed", status: 500, backendHits: 0,
			setup: func(_ *testing.T, w *world) { w.providers[0].log.failRequest.Store(true) }},
		{name: "provider response log failing", req: get, code: "Server.ServerProxy.LoggingFailed", status: 500, backendHits: 1,
			setup: func(_ *testing.T, w *world) { w.providers[0].log.failResp.Store(true) }},
		{name: "service unreachable", req: get, code: "Server.ServerProxy.NetworkError", status: 500,
			setup: func(t *testing.T, w *world) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := ln.Addr().String()
				ln.Close()
				w.access.setService("persons", Service{URL: mustURL(t, "http://"+addr), Timeout: 5 * time.Second})
			}},
		{name: "service does not answer in time", req: request{path: personsPath + "/v1/hang"}, code: "Server.ServerProxy.ServiceFailed", status: 500, backendHits: 1,
			setup: func(t *testing.T, w *world) {
				w.access.setService("persons", Service{URL: mustURL(t, w.backend.URL()), Timeout: 100 * time.Millisecond})
			}},
		{name: "getOpenAPI of an unknown service", req: request{path: "/r1/PS/GOV/MOI/civil-registry/getOpenAPI?serviceCode=births"},
			code: "Server.ServerProxy.UnknownService", status: 500, backendHits: 0},
	}
}

// TestNegative runs the table of refused exchanges, each in a fresh world
// over real TLS.
func TestNegative(t *testing.T) {
	cases := negativeCases()
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, c.opts)
			if c.setup != nil {
				c.setup(t, w)
			}
			e := wantError(t, w.do(c.req), c.code, c.status)
			if c.backendHits >= 0 {
				if n := len(w.backend.requests()); n != c.backendHits {
					t.Errorf("backend saw %d requests, want %d", n, c.backendHits)
				}
			}
			if c.check != nil {
				c.check(t, w, e)
			}
		})
	}
}
