package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"golang.org/x/crypto/ocsp"
)

// MaxResponseSize is the largest OCSP response Fetch reads.
const MaxResponseSize = 64 << 10

// MaxClockSkew is how far in the future VerifyFresh tolerates a ThisUpdate.
const MaxClockSkew = 5 * time.Minute

// Fetch asks the OCSP responder at url for the status of cert, which must be
// issued by issuer, and returns the parsed response and its DER bytes (for
// stapling).
//
// The request is sent by POST and identifies cert with SHA-1 CertID hashes,
// which RFC 5019 §2.1.1 requires every responder to support. Fetch accepts
// only a successful response about cert's serial, signed by issuer itself or
// by a responder certificate that issuer signed for OCSPSigning. It does not
// judge time: call VerifyFresh with the caller's clock before relying on the
// response. A non-successful OCSP status (tryLater, unauthorized, …) is
// returned as an error wrapping ocsp.ResponseError.
func Fetch(ctx context.Context, client *http.Client, url string, cert, issuer *x509.Certificate) (*ocsp.Response, []byte, error) {
	if cert == nil || issuer == nil {
		return nil, nil, errors.New("ocsp: Fetch needs cert and issuer")
	}
	if !bytes.Equal(cert.RawIssuer, issuer.RawSubject) {
		return nil, nil, errors.New("ocsp: cert is not issued by issuer (issuer name mismatch)")
	}
	if client == nil {
		client = http.DefaultClient
	}
	reqDER, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		return nil, nil, fmt.Errorf("ocsp: creating request: %w", err)
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(reqDER))
	if err != nil {
		return nil, nil, fmt.Errorf("ocsp: building HTTP request: %w", err)
	}
	httpReq.Header.Set("Content-Type", contentTypeRequest)
	httpReq.Header.Set("Accept", contentTypeResponse)
	httpResp, err := client.Do(httpReq)
	if err != nil {
		return nil, nil, fmt.Errorf("ocsp: POST %s: %w", url, err)
	}
	defer httpResp.Body.Close()
	if httpResp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("ocsp: POST %s: HTTP status %s", url, httpResp.Status)
	}
	if mt, _, err := mime.ParseMediaType(httpResp.Header.Get("Content-Type")); err != nil || mt != contentTypeResponse {
		return nil, nil, fmt.Errorf("ocsp: POST %s: unexpected Content-Type %q", url, httpResp.Header.Get("Content-Type"))
	}
	raw, err := io.ReadAll(io.LimitReader(httpResp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("ocsp: reading response from %s: %w", url, err)
	}
	if len(raw) > MaxResponseSize {
		return nil, nil, fmt.Errorf("ocsp: response from %s exceeds %d bytes", url, MaxResponseSize)
	}
	resp, err := ParseResponse(raw, cert, issuer)
	if err != nil {
		return nil, nil, err
	}
	return resp, raw, nil
}

// ParseResponse parses a DER OCSP response about cert and checks that it is
// signed by issuer or by a delegated responder certificate that issuer signed
// for OCSPSigning. It is what Fetch uses, exported for responses obtained
// otherwise (a staple received from a peer, say). Like Fetch it does not
// check times; see VerifyFresh.
func ParseResponse(der []byte, cert, issuer *x509.Certificate) (*ocsp.Response, error) {
	// ParseResponseForCert checks the response signature, and, when the
	// response carries a certificate, that issuer signed that certificate;
	// it also picks the single response matching cert's serial.
	resp, err := ocsp.ParseResponseForCert(der, cert, issuer)
	if err != nil {
		return nil, fmt.Errorf("ocsp: parsing response: %w", err)
	}
	if resp.SerialNumber == nil || resp.SerialNumber.Cmp(cert.SerialNumber) != 0 {
		return nil, errors.New("ocsp: response is about another serial number")
	}
	if rc := resp.Certificate; rc != nil && !bytes.Equal(rc.Raw, issuer.Raw) {
		if !bytes.Equal(rc.RawIssuer, issuer.RawSubject) {
			return nil, errors.New("ocsp: delegated responder certificate is not issued by issuer")
		}
		ok := false
		for _, eku := range rc.ExtKeyUsage {
			if eku == x509.ExtKeyUsageOCSPSigning {
				ok = true
			}
		}
		if !ok {
			return nil, errors.New("ocsp: delegated responder certificate lacks extended key usage OCSPSigning")
		}
	}
	return resp, nil
}

// VerifyFresh checks, at time now, that resp is current: ThisUpdate is not
// more than MaxClockSkew in the future and not older than maxAge, NextUpdate
// (when present) has not passed, and a delegated responder certificate
// embedded in resp is within its validity period. A maxAge of zero or less
// skips the age check. It does not look at the certificate status.
func VerifyFresh(resp *ocsp.Response, now time.Time, maxAge time.Duration) error {
	if resp == nil {
		return errors.New("ocsp: nil response")
	}
	if resp.ThisUpdate.After(now.Add(MaxClockSkew)) {
		return fmt.Errorf("ocsp: response ThisUpdate %s is in the future", resp.ThisUpdate.Format(time.RFC3339))
	}
	if maxAge > 0 && now.Sub(resp.ThisUpdate) > maxAge {
		return fmt.Errorf("ocsp: response from %s is older than %v", resp.ThisUpdate.Format(time.RFC3339), maxAge)
	}
	if !resp.NextUpdate.IsZero() && !now.Before(resp.NextUpdate) {
		return fmt.Errorf("ocsp: response expired at NextUpdate %s", resp.NextUpdate.Format(time.RFC3339))
	}
	if rc := resp.Certificate; rc != nil && (now.Before(rc.NotBefore) || now.After(rc.NotAfter)) {
		return fmt.Errorf("ocsp: responder certificate %q is not valid at %s", rc.Subject.String(), now.Format(time.RFC3339))
	}
	return nil
}
