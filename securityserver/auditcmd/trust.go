package auditcmd

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/securityserver/archive"
)

// maxConfiguration bounds a downloaded global configuration.
const maxConfiguration = 16 << 20

// trustFromRoots trusts the CA certificates of a PEM file for everything:
// certificate chains, OCSP responders (issuer-signed or delegated), TSAs.
func trustFromRoots(path string) (archive.Trust, error) {
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		return archive.Trust{}, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return archive.Trust{}, errors.New("--roots: no certificates")
	}
	return archive.Trust{Roots: pool, VerifyTimestamp: archive.TSAVerifier(pool, nil)}, nil
}

// trustFromAnchor trusts what a global configuration of the instance says:
// its approved CAs (roots and intermediates), the OCSP responders it pins,
// and TSAs chaining to its approved CAs. The configuration is the file
// confPath or, when that is "", downloaded from the anchor's URLs; either
// way it must be signed by a key the anchor lists for the anchor's
// instance. It may be old: an auditor asks what was trusted, not what is.
func trustFromAnchor(ctx context.Context, anchorPath, confPath string) (archive.Trust, *globalconf.Document, error) {
	b, err := os.ReadFile(anchorPath)
	if err != nil {
		return archive.Trust{}, nil, err
	}
	anchor, err := globalconf.ParseAnchor(b)
	if err != nil {
		return archive.Trust{}, nil, fmt.Errorf("--anchor: %w", err)
	}
	var signed []byte
	if confPath != "" {
		if signed, err = os.ReadFile(confPath); err != nil {
			return archive.Trust{}, nil, err
		}
	} else if signed, err = download(ctx, anchor.ConfigurationURLs); err != nil {
		return archive.Trust{}, nil, err
	}
	doc, err := globalconf.VerifyAuthentic(signed, anchor)
	if err != nil {
		return archive.Trust{}, nil, fmt.Errorf("global configuration: %w", err)
	}
	roots := doc.ApprovedCAPool()
	trust := archive.Trust{Roots: roots, Intermediates: doc.IntermediatePool(),
		OCSPResponders: func(issuer *x509.Certificate) []*x509.Certificate {
			var out []*x509.Certificate
			for _, r := range doc.OCSPResponders(issuer) {
				if c, err := x509.ParseCertificate(r.Certificate); err == nil {
					out = append(out, c)
				}
			}
			return out
		},
		OCSPFreshness:   doc.Settings.OCSPFreshness(),
		VerifyTimestamp: archive.TSAVerifier(roots, nil)}
	return trust, doc, nil
}

// download fetches the signed configuration from the first URL that
// answers.
func download(ctx context.Context, urls []string) ([]byte, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	var errs []error
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		resp, err := client.Do(req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxConfiguration+1))
		resp.Body.Close()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
		case resp.StatusCode != http.StatusOK:
			errs = append(errs, fmt.Errorf("%s: %s", u, resp.Status))
		case len(b) > maxConfiguration:
			errs = append(errs, fmt.Errorf("%s: larger than %d bytes", u, maxConfiguration))
		default:
			return b, nil
		}
	}
	if len(errs) == 0 {
		return nil, errors.New("the anchor lists no configuration URL")
	}
	return nil, fmt.Errorf("downloading the global configuration: %w", errors.Join(errs...))
}
