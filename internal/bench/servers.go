package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jisr-bus/jisr/internal/daemon"
)

// EchoHandler answers every request with its own body (status 200, the
// request's Content-Type, a Content-Length). The body is read in full
// before the answer starts, as a security server does, so no hop needs
// full-duplex HTTP/1.1.
func EchoHandler() http.Handler {
	bufs := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := bufs.Get().(*bytes.Buffer)
		defer func() {
			// Keep only ordinary buffers; a 10 MiB one goes back to the GC.
			if b.Cap() <= 1<<20 {
				b.Reset()
				bufs.Put(b)
			}
		}()
		b.Reset()
		if _, err := b.ReadFrom(r.Body); err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		_, _ = w.Write(b.Bytes())
	})
}

// ServeEcho serves EchoHandler on listen until ctx ends. ready, if not
// nil, is called with the bound address once it listens.
func ServeEcho(ctx context.Context, listen string, log *slog.Logger, ready func(addr string)) error {
	return serve(ctx, "bench echo", log, daemon.Listener{Name: "echo", Addr: listen, Handler: EchoHandler()}, ready)
}

// serve runs one listener with daemon.Serve, telling ready its address.
func serve(ctx context.Context, component string, log *slog.Logger, l daemon.Listener, ready func(addr string)) error {
	var bound daemon.Bound
	return daemon.Serve(ctx, component, log, &bound, []daemon.Listener{l}, func() {
		if ready != nil {
			ready(bound.Addr(l.Name))
		}
	})
}

// ProxyConfig configures one reverse proxy of the baseline chain
// client → proxy 1 → (mTLS) → proxy 2 → echo.
type ProxyConfig struct {
	// Listen is the listen address.
	Listen string
	// CertFile and KeyFile, when set, make the proxy listen with TLS 1.3
	// and require a client certificate issued by ClientCAFile (proxy 2).
	CertFile, KeyFile, ClientCAFile string
	// Upstream is the URL requests are forwarded to.
	Upstream string
	// UpstreamCAFile, UpstreamCertFile and UpstreamKeyFile are the trust
	// root and client certificate for an https upstream (proxy 1).
	UpstreamCAFile, UpstreamCertFile, UpstreamKeyFile string
}

// ServeProxy runs a bare reverse proxy (net/http/httputil) until ctx ends.
// It does what the security servers' transport does — TLS 1.3 only, mutual
// authentication, pooled HTTP/2 towards an https upstream, pooled
// HTTP/1.1 keep-alive towards an http one, no transparent compression —
// and nothing else: no signature, no log, no access check. It is the limit
// of the topology the security servers add to an exchange. ready, if not
// nil, is called with the bound address once it listens.
func ServeProxy(ctx context.Context, c ProxyConfig, log *slog.Logger, ready func(addr string)) error {
	up, err := url.Parse(c.Upstream)
	if err != nil || (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" {
		return fmt.Errorf("bench proxy: upstream %q: want an http or https URL", c.Upstream)
	}
	tr := &http.Transport{
		Proxy:              nil,
		DialContext:        (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		DisableCompression: true,
		ForceAttemptHTTP2:  true,
		// As the security servers: 2 idle connections per provider
		// (HTTP/2 multiplexes), 16 per service.
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	if up.Scheme == "https" {
		roots, err := loadPool(c.UpstreamCAFile)
		if err != nil {
			return fmt.Errorf("bench proxy: upstream CA: %w", err)
		}
		cert, err := tls.LoadX509KeyPair(c.UpstreamCertFile, c.UpstreamKeyFile)
		if err != nil {
			return fmt.Errorf("bench proxy: upstream client certificate: %w", err)
		}
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
			RootCAs: roots, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
		tr.MaxIdleConnsPerHost = 2
	}
	defer tr.CloseIdleConnections()
	rp := &httputil.ReverseProxy{
		Rewrite:    func(r *httputil.ProxyRequest) { r.SetURL(up) },
		Transport:  tr,
		BufferPool: newBufferPool(),
		ErrorLog:   slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	l := daemon.Listener{Name: "proxy", Addr: c.Listen, Handler: rp}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return fmt.Errorf("bench proxy: certificate: %w", err)
		}
		clientCAs, err := loadPool(c.ClientCAFile)
		if err != nil {
			return fmt.Errorf("bench proxy: client CA: %w", err)
		}
		l.TLS = &tls.Config{MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
			Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs,
			NextProtos: []string{"h2", "http/1.1"}}
	}
	return serve(ctx, "bench proxy", log, l, ready)
}

func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, errors.New("no certificate in " + path)
	}
	return p, nil
}

// bufferPool is httputil.ReverseProxy's copy buffer pool.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(p []byte) { b.p.Put(&p) }

var _ httputil.BufferPool = (*bufferPool)(nil)
