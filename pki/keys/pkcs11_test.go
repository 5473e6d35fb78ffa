//go:build pkcs11

package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/testutil"
	"github.com/jisr-bus/jisr/pki/keys"
)

const (
	hsmToken = "jisr-test"
	hsmPIN   = "1234"
	hsmSOPIN = "5678"
)

// softHSMModules are the places distributions install SoftHSM2's PKCS#11
// library; JISR_SOFTHSM2_MODULE, when set, wins.
var softHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",                   // Debian, Ubuntu
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",  // Debian multiarch
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", // Debian multiarch, arm64
	"/usr/lib64/pkcs11/libsofthsm2.so",                  // Fedora, RHEL
	"/usr/lib/pkcs11/libsofthsm2.so",                    // Arch
	"/usr/local/lib/softhsm/libsofthsm2.so",             // source build
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",          // macOS, Homebrew
}

// softHSM is a SoftHSM2 token initialised for one test.
type softHSM struct {
	module string
	tool   string // pkcs11-tool
}

// newSoftHSM makes a private SoftHSM2 configuration and token directory,
// points SOFTHSM2_CONF at it and initialises token hsmToken. Like
// testutil.RequireTool, it skips when SoftHSM2 is missing unless
// JISR_REQUIRE_TOOLS=1.
func newSoftHSM(t *testing.T) *softHSM {
	t.Helper()
	util := testutil.RequireTool(t, "softhsm2-util")
	tool := testutil.RequireTool(t, "pkcs11-tool")
	module := findSoftHSMModule(t)

	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)

	out, err := exec.CommandContext(t.Context(), util, "--init-token", "--free", "--label", hsmToken,
		"--pin", hsmPIN, "--so-pin", hsmSOPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return &softHSM{module: module, tool: tool}
}

func findSoftHSMModule(t *testing.T) string {
	t.Helper()
	candidates := softHSMModules
	if m := os.Getenv("JISR_SOFTHSM2_MODULE"); m != "" {
		candidates = []string{m}
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("JISR_REQUIRE_TOOLS") == "1" {
		t.Fatalf("libsofthsm2.so is required (JISR_REQUIRE_TOOLS=1) but not found in %v", candidates)
	}
	t.Skipf("libsofthsm2.so not found in %v", candidates)
	return ""
}

// pkcs11Tool runs pkcs11-tool against the test token, logged in.
func (h *softHSM) pkcs11Tool(t *testing.T, args ...string) []byte {
	t.Helper()
	args = append([]string{"--module", h.module, "--token-label", hsmToken, "--login", "--pin", hsmPIN}, args...)
	cmd := exec.CommandContext(t.Context(), h.tool, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pkcs11-tool %s: %v\n%s", strings.Join(args[6:], " "), err, stderr.Bytes())
	}
	return out
}

func (h *softHSM) open(t *testing.T) *keys.PKCS11 {
	t.Helper()
	s, err := keys.OpenPKCS11(h.module, hsmToken, []byte(hsmPIN))
	if err != nil {
		t.Fatalf("OpenPKCS11: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestPKCS11 runs against a fresh SoftHSM2 token. Its steps share the token
// and run in order; SOFTHSM2_CONF is process-wide, so nothing here is
// parallel.
func TestPKCS11(t *testing.T) {
	hsm := newSoftHSM(t)
	ctx := t.Context()

	// The wrong PIN comes first: while another store of this process is
	// logged in to the token, PKCS#11 login state is shared and a second
	// login is not checked.
	t.Run("wrong PIN", func(t *testing.T) {
		s, err := keys.OpenPKCS11(hsm.module, hsmToken, []byte("9999"))
		if err == nil {
			_ = s.Close()
			t.Fatal("OpenPKCS11 accepted a wrong PIN")
		}
		if strings.Contains(err.Error(), "9999") {
			t.Errorf("error %q reveals the PIN", err)
		}
		if _, err := keys.OpenPKCS11(hsm.module, "no-such-token", []byte(hsmPIN)); err == nil {
			t.Error("OpenPKCS11 found a token that does not exist")
		}
	})

	store := hsm.open(t)
	generated := map[string]crypto.Signer{}
	for _, tt := range []struct {
		label string
		alg   keys.Algorithm
	}{
		{"hsm-ec", keys.ECP256},
		{"hsm-rsa", keys.RSA2048},
	} {
		t.Run("generate "+string(tt.alg), func(t *testing.T) {
			sig, err := store.Generate(ctx, tt.label, tt.alg)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			checkSigns(t, sig, tt.alg)
			if _, ok := sig.(interface{ Delete() error }); ok {
				t.Error("signer exposes crypto11's Delete")
			}
			found, err := store.Signer(ctx, tt.label)
			if err != nil {
				t.Fatalf("Signer: %v", err)
			}
			samePublic(t, sig, found)
			generated[tt.label] = sig
		})
	}

	t.Run("errors", func(t *testing.T) {
		if _, err := store.Generate(ctx, "hsm-ec", keys.ECP256); !errors.Is(err, keys.ErrExists) {
			t.Errorf("Generate over existing label: err = %v, want ErrExists", err)
		}
		if _, err := store.Generate(ctx, "hsm-ec", keys.RSA2048); !errors.Is(err, keys.ErrExists) {
			t.Errorf("Generate over existing label, other algorithm: err = %v, want ErrExists", err)
		}
		if _, err := store.Signer(ctx, "absent"); !errors.Is(err, keys.ErrNotFound) {
			t.Errorf("Signer for absent label: err = %v, want ErrNotFound", err)
		}
		if _, err := store.Generate(ctx, "../bad", keys.ECP256); !errors.Is(err, keys.ErrInvalidLabel) {
			t.Errorf("Generate with bad label: err = %v, want ErrInvalidLabel", err)
		}
		if _, err := store.Generate(ctx, "dsa", keys.Algorithm("DSA-1024")); err == nil {
			t.Error("Generate accepted an unknown algorithm")
		}
	})

	t.Run("key made by pkcs11-tool", func(t *testing.T) {
		// Created while the store is open, as an HSM operator would.
		hsm.pkcs11Tool(t, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "ext-key", "--id", "0a0b")
		sig, err := store.Signer(ctx, "ext-key")
		if err != nil {
			t.Fatalf("Signer: %v", err)
		}
		checkSigns(t, sig, keys.ECP256)
		// pkcs11-tool's own view of the public key must match ours.
		der := hsm.pkcs11Tool(t, "--read-object", "--type", "pubkey", "--id", "0a0b")
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			t.Fatalf("parse pkcs11-tool's public key: %v", err)
		}
		if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(sig.Public()) {
			t.Error("pkcs11-tool and jisr disagree on ext-key's public key")
		}
		if _, err := store.Generate(ctx, "ext-key", keys.ECP256); !errors.Is(err, keys.ErrExists) {
			t.Errorf("Generate over a foreign key's label: err = %v, want ErrExists", err)
		}
	})

	t.Run("labels", func(t *testing.T) {
		labels, err := store.Labels(ctx)
		if err != nil {
			t.Fatalf("Labels: %v", err)
		}
		if want := []string{"ext-key", "hsm-ec", "hsm-rsa"}; !slices.Equal(labels, want) {
			t.Errorf("Labels = %q, want %q", labels, want)
		}
	})

	t.Run("mTLS handshake with token keys", func(t *testing.T) {
		// Server on the EC key, client on the RSA key (TLS 1.3 makes the
		// token sign RSA-PSS).
		tlsHandshake(t, generated["hsm-ec"], generated["hsm-rsa"])
	})

	t.Run("reopen through Open", func(t *testing.T) {
		if err := store.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := store.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := store.Signer(ctx, "hsm-ec"); err == nil {
			t.Error("Signer on a closed store succeeded")
		}
		pinFile := filepath.Join(t.TempDir(), "pin")
		if err := os.WriteFile(pinFile, []byte(hsmPIN+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		reopened, err := keys.Open(keys.Config{
			Type:   keys.TypePKCS11,
			PKCS11: keys.PKCS11Config{Module: hsm.module, TokenLabel: hsmToken, PINFile: pinFile},
		})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer func() { _ = reopened.Close() }()
		for label, sig := range generated {
			found, err := reopened.Signer(ctx, label)
			if err != nil {
				t.Fatalf("Signer(%q): %v", label, err)
			}
			samePublic(t, sig, found)
			checkSigns(t, found, "")
		}
	})
}

// tlsHandshake runs one mutually authenticated TLS 1.3 handshake over
// loopback, each side presenting a self-signed certificate for its signer,
// and exchanges a byte each way.
func tlsHandshake(t *testing.T, serverKey, clientKey crypto.Signer) {
	t.Helper()
	serverCert := selfSigned(t, serverKey, "jisr test server")
	clientCert := selfSigned(t, clientKey, "jisr test client")
	serverRoots, clientRoots := x509.NewCertPool(), x509.NewCertPool()
	serverRoots.AddCert(clientCert.Leaf)
	clientRoots.AddCert(serverCert.Leaf)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    serverRoots,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	serverErr := make(chan error, 1)
	go func() {
		serverErr <- func() error {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			defer func() { _ = c.Close() }()
			conn := c.(*tls.Conn)
			if err := conn.HandshakeContext(ctx); err != nil {
				return fmt.Errorf("server handshake: %w", err)
			}
			if peers := conn.ConnectionState().PeerCertificates; len(peers) != 1 || !peers[0].Equal(clientCert.Leaf) {
				return errors.New("server did not see the client certificate")
			}
			buf := make([]byte, 1)
			if _, err := io.ReadFull(conn, buf); err != nil {
				return fmt.Errorf("server read: %w", err)
			}
			_, err = conn.Write(buf)
			return err
		}()
	}()

	dialer := &tls.Dialer{Config: &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{clientCert},
		RootCAs:      clientRoots,
		ServerName:   "localhost",
	}}
	c, err := dialer.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Write([]byte{42}); err != nil {
		t.Fatalf("client write: %v", err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil || buf[0] != 42 {
		t.Fatalf("client read %v, %v; want 42", buf, err)
	}
	if err := <-serverErr; err != nil {
		t.Fatal(err)
	}
}

// selfSigned makes a certificate for key's public key, valid for localhost
// and 127.0.0.1 and signed by key itself.
func selfSigned(t *testing.T, key crypto.Signer, cn string) tls.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("CreateCertificate with token key: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
