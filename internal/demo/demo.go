// Package demo runs `jisr demo`: the parts of the federation that exist, on
// the embedded default (software keys, files under one folder), on loopback,
// with a guided tour printed for the operator.
//
// Today that is the instance PKI of instance PS-DEV: the demo initialises it
// on first run, serves it, enrols a demonstration security server through a
// one-time token, checks the new certificate over OCSP, time-stamps a
// document, and prints the commands to explore further.
package demo

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki"
	"github.com/jisr-bus/jisr/pki/ca"
	"github.com/jisr-bus/jisr/pki/enrol"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/pki/ocsp"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/pki/tsa"
)

// Instance is the demo world's X-Road instance.
const Instance = "PS-DEV"

// Options configures Run.
type Options struct {
	// Dir holds everything the demo creates; reused across runs.
	Dir string
	// Once makes Run return after the guided checks instead of serving until
	// ctx is cancelled (used by tests).
	Once bool
	// Listen overrides the PKI's listen addresses (ca, ocsp, tsa, admin);
	// empty means the default ports on 127.0.0.1.
	Listen map[string]string
	// Out receives the guided tour; Log the services' logs.
	Out io.Writer
	Log *slog.Logger
}

// Run runs the demo.
func Run(ctx context.Context, o Options) error {
	if o.Dir == "" {
		return errors.New("demo: dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}

	pkiDir := filepath.Join(dir, "pki")
	cfgPath := filepath.Join(pkiDir, pki.ConfigFile)
	if _, err := os.Stat(cfgPath); errors.Is(err, os.ErrNotExist) {
		if err := initPKI(ctx, dir, pkiDir, o.Listen); err != nil {
			return err
		}
		fmt.Fprintf(out, "initialised instance PKI %s in %s\n", Instance, pkiDir)
	}
	var cfg pki.Config
	if err := config.Load(cfgPath, &cfg); err != nil {
		return err
	}
	cfg.Resolve(pkiDir)
	if err := cfg.Validate(); err != nil {
		return err
	}
	svc, err := pki.New(cfg, pki.WithLogger(log.With("component", "pki")))
	if err != nil {
		return err
	}
	defer svc.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- svc.Serve(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-errc:
		return fmt.Errorf("demo: starting the PKI (are the ports free?): %w", err)
	}

	if err := tour(ctx, out, dir, svc); err != nil {
		cancel()
		<-errc
		return err
	}
	if o.Once {
		cancel()
		return <-errc
	}
	fmt.Fprintln(out, "\nthe PKI keeps running; press Ctrl-C to stop.")
	return <-errc
}

func initPKI(ctx context.Context, dir, pkiDir string, listen map[string]string) error {
	pass := filepath.Join(dir, "passphrase")
	if _, err := os.Stat(pass); errors.Is(err, os.ErrNotExist) {
		var b [24]byte
		_, _ = rand.Read(b[:])
		if err := os.WriteFile(pass, []byte(base64.RawURLEncoding.EncodeToString(b[:])+"\n"), 0o600); err != nil {
			return err
		}
	}
	tmpl := &pki.Config{
		CA:    pki.CAConfig{Listen: or(listen["ca"], "127.0.0.1:4443")},
		OCSP:  pki.OCSPConfig{Listen: or(listen["ocsp"], "127.0.0.1:4480")},
		TSA:   pki.TSAConfig{Listen: or(listen["tsa"], "127.0.0.1:4318")},
		Admin: pki.AdminConfig{Listen: or(listen["admin"], "127.0.0.1:4490")},
	}
	_, err := pki.Init(ctx, pki.InitOptions{
		Instance: Instance,
		Dir:      pkiDir,
		Keys:     keys.Config{Type: keys.TypeSoftware, PassphraseFile: pass},
		CANames:  []string{"localhost", "127.0.0.1"},
		Template: tmpl,
	})
	return err
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// tour enrols a demonstration security server and shows the PKI at work.
func tour(ctx context.Context, out io.Writer, dir string, svc *pki.Service) error {
	b := svc.Authority().Bundle()
	roots := b.Roots()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
	caURL := "https://" + svc.Addr("ca")
	server := xroad.ServerID{Owner: xroad.MemberID{Instance: Instance, Class: "GOV", Code: "MOI"}, Code: "ss1"}
	ssDir := filepath.Join(dir, "ss-moi")
	if err := os.MkdirAll(ssDir, 0o700); err != nil {
		return err
	}

	fmt.Fprintf(out, "\n== instance PKI %s is up ==\n", b.Instance)
	fmt.Fprintf(out, "  CA API + ACME  %s   (ACME directory %s/acme/acme/directory)\n", caURL, caURL)
	fmt.Fprintf(out, "  OCSP           http://%s\n", svc.Addr("ocsp"))
	fmt.Fprintf(out, "  TSA (RFC 3161) http://%s\n", svc.Addr("tsa"))
	fmt.Fprintf(out, "  admin, metrics http://%s   (/healthz, /metrics)\n", svc.Addr("admin"))

	// 1. One-time token enrolment of the Ministry of Interior's security server.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tok, err := svc.Authority().NewEnrolmentToken(profile.Auth, server, []string{"localhost"}, 10*time.Minute)
	if err != nil {
		return err
	}
	chain, err := enrol.WithToken(ctx, enrol.Options{CAURL: caURL, HTTPClient: client, Roots: roots},
		tok, key, profile.Auth, server, []string{"localhost"})
	if err != nil {
		return fmt.Errorf("demo: enrolment: %w", err)
	}
	got, err := profile.ServerIDFromCert(chain[0])
	if err != nil {
		return err
	}
	leafPath := filepath.Join(ssDir, "auth.pem")
	if err := writeCerts(leafPath, chain[0]); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n1. enrolled security server %s with a one-time token\n", server)
	fmt.Fprintf(out, "   auth certificate serial %s names %s, valid until %s\n", chain[0].SerialNumber, got.Typed(),
		chain[0].NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "   written to %s\n", leafPath)

	// 2. OCSP.
	resp, _, err := ocsp.Fetch(ctx, client, "http://"+svc.Addr("ocsp"), chain[0], b.Intermediate)
	if err != nil {
		return fmt.Errorf("demo: OCSP: %w", err)
	}
	fmt.Fprintf(out, "\n2. OCSP says %s (signed by %q, next update %s)\n", ocspStatus(resp.Status),
		b.OCSP.Subject.CommonName, resp.NextUpdate.UTC().Format(time.RFC3339))

	// 3. Time-stamp.
	doc := []byte("Birth certificate PS-DEV/2026/000001 issued by the Ministry of Interior")
	digest := sha256.Sum256(doc)
	token, err := tsa.Stamp(ctx, client, "http://"+svc.Addr("tsa"), digest[:], crypto.SHA256)
	if err != nil {
		return fmt.Errorf("demo: time-stamp: %w", err)
	}
	ts, err := tsa.Verify(token, digest[:], crypto.SHA256, roots, []*x509.Certificate{b.Intermediate})
	if err != nil {
		return fmt.Errorf("demo: time-stamp verification: %w", err)
	}
	fmt.Fprintf(out, "\n3. time-stamped a document: serial %s at %s, policy %s\n", ts.SerialNumber, ts.Time.UTC().Format(time.RFC3339), ts.Policy)

	cfg := filepath.Join(dir, "pki", pki.ConfigFile)
	certs := filepath.Join(dir, "pki", pki.CertsDir)
	fmt.Fprintf(out, "\ntry it yourself:\n")
	fmt.Fprintf(out, "  openssl ocsp -issuer %s/%s -cert %s -url http://%s -CAfile %s/%s\n",
		certs, ca.FileIntermediate, leafPath, svc.Addr("ocsp"), certs, ca.FileRoot)
	fmt.Fprintf(out, "  bin/jisr pki token --config %s --kind sign --id MEMBER:%s/GOV/MOT\n", cfg, Instance)
	fmt.Fprintf(out, "  bin/jisr pki revoke --config %s --serial %s --reason superseded\n", cfg, chain[0].SerialNumber)
	fmt.Fprintf(out, "  curl -s http://%s/metrics | grep jisr_pki\n", svc.Addr("admin"))
	return nil
}

func ocspStatus(s int) string {
	switch s {
	case 0:
		return "good"
	case 1:
		return "revoked"
	}
	return "unknown"
}

func writeCerts(path string, certs ...*x509.Certificate) error {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return os.WriteFile(path, b, 0o644)
}
