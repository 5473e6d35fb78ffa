package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"
)

// startServer runs serve in the background and returns its address; the
// server stops when the test ends.
func startServer(t *testing.T, serve func(ctx context.Context, ready func(string)) error) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, func(a string) { addrc <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	})
	select {
	case a := <-addrc:
		return a
	case err := <-errc:
		errc <- err
		t.Fatalf("server did not start: %v", err)
	}
	return ""
}

// TestProxyChain runs the baseline chain in process: client → proxy 1 →
// (TLS 1.3, mutual) → proxy 2 → echo. Bodies come back unchanged; proxy 2
// speaks HTTP/2 and refuses clients without a certificate and TLS 1.2.
func TestProxyChain(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	certs, err := writeChainCerts(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	echo := startServer(t, func(ctx context.Context, ready func(string)) error {
		return ServeEcho(ctx, "127.0.0.1:0", log, ready)
	})
	p2 := startServer(t, func(ctx context.Context, ready func(string)) error {
		return ServeProxy(ctx, ProxyConfig{Listen: "127.0.0.1:0", CertFile: certs.ServerCert, KeyFile: certs.ServerKey,
			ClientCAFile: certs.CA, Upstream: "http://" + echo}, log, ready)
	})
	p1 := startServer(t, func(ctx context.Context, ready func(string)) error {
		return ServeProxy(ctx, ProxyConfig{Listen: "127.0.0.1:0", Upstream: "https://localhost:" + port(p2),
			UpstreamCAFile: certs.CA, UpstreamCertFile: certs.ClientCert, UpstreamKeyFile: certs.ClientKey}, log, ready)
	})

	client := NewClient(4)
	defer client.CloseIdleConnections()
	tg := Target{URL: "http://" + p1 + "/echo", Client: client}
	buf := make([]byte, 32<<10)
	for _, n := range []int{0, 1, 1 << 10, 300 << 10} {
		if err := tg.exchange(context.Background(), body(n), buf); err != nil {
			t.Fatalf("%d-byte body through the chain: %v", n, err)
		}
	}

	caPEM, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(c *tls.Config) (*tls.Conn, error) {
		c.RootCAs, c.ServerName = roots, "localhost"
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p2, c)
		if err != nil {
			return nil, err
		}
		// In TLS 1.3 the server judges the client certificate after the
		// client's side of the handshake: a refusal shows on first read.
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			_ = conn.Close()
			return nil, err
		}
		return conn, nil
	}
	conn, err := dial(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("proxy 2 refused the client certificate: %v", err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Errorf("proxy 2 negotiated %q, want h2", p)
	}
	_ = conn.Close()
	if conn, err := dial(&tls.Config{}); err == nil {
		_ = conn.Close()
		t.Error("proxy 2 admitted a client without a certificate")
	}
	if conn, err := dial(&tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12}); err == nil {
		_ = conn.Close()
		t.Error("proxy 2 accepted TLS 1.2")
	}
}

func TestServeProxyRefusesBadUpstream(t *testing.T) {
	for _, up := range []string{"", "ftp://x", "localhost:80", "http://"} {
		if err := ServeProxy(context.Background(), ProxyConfig{Listen: "127.0.0.1:0", Upstream: up}, slog.New(slog.DiscardHandler), nil); err == nil {
			t.Errorf("upstream %q accepted", up)
		}
	}
}
