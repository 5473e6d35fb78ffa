package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"

	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// MaxResponseSize is the largest time-stamp reply Stamp reads.
const MaxResponseSize = 1 << 20

// StatusError is returned by Stamp when the TSA does not grant the request.
type StatusError struct {
	Status      timestamp.Status
	FailureInfo timestamp.FailureInfo // UnknownFailureInfo if none was given
	Text        string                // the TSA's statusString, if any
}

// Error describes the TSA's answer.
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("tsa: request not granted: %s", e.Status)
	if e.FailureInfo != timestamp.UnknownFailureInfo {
		msg += ": " + e.FailureInfo.String()
	}
	if e.Text != "" {
		msg += fmt.Sprintf(" (%q)", e.Text)
	}
	return msg
}

// Stamp asks the TSA at url for a time-stamp token over digest, the hash of
// the data under hash (SHA-256, SHA-384 or SHA-512). The request carries a
// random 64-bit nonce and certReq, so the token includes the TSA
// certificate.
//
// Stamp checks that the request was granted and that the token answers it
// (same nonce and message imprint, signing certificate included); it does
// not check the signature or the TSA's certificate chain. Call Verify for
// that before trusting the token. A refusal is returned as *StatusError.
func Stamp(ctx context.Context, client *http.Client, url string, digest []byte, hash crypto.Hash) ([]byte, error) {
	if err := checkDigest(digest, hash); err != nil {
		return nil, err
	}
	if client == nil {
		client = http.DefaultClient
	}
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, fmt.Errorf("tsa: generating nonce: %w", err)
	}
	reqDER, err := (&timestamp.Request{
		HashAlgorithm: hash,
		HashedMessage: digest,
		Certificates:  true,
		Nonce:         nonce,
	}).Marshal()
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding request: %w", err)
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(reqDER))
	if err != nil {
		return nil, fmt.Errorf("tsa: building HTTP request: %w", err)
	}
	httpReq.Header.Set("Content-Type", contentTypeQuery)
	httpReq.Header.Set("Accept", contentTypeReply)
	httpResp, err := client.Do(httpReq)
	if err != nil {
		return nil, fmt.Errorf("tsa: POST %s: %w", url, err)
	}
	defer httpResp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(httpResp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("tsa: reading reply from %s: %w", url, err)
	}
	if len(body) > MaxResponseSize {
		return nil, fmt.Errorf("tsa: reply from %s exceeds %d bytes", url, MaxResponseSize)
	}
	mt, _, _ := mime.ParseMediaType(httpResp.Header.Get("Content-Type"))
	if mt != contentTypeReply {
		return nil, fmt.Errorf("tsa: POST %s: HTTP %s, Content-Type %q", url, httpResp.Status, httpResp.Header.Get("Content-Type"))
	}
	token, err := parseResponse(body)
	if err != nil {
		return nil, err
	}
	if httpResp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("tsa: POST %s: HTTP %s", url, httpResp.Status)
	}
	if err := checkAnswer(token, digest, hash, nonce); err != nil {
		return nil, err
	}
	return token, nil
}

// checkAnswer checks that token answers a request for digest with nonce
// and certReq.
func checkAnswer(token, digest []byte, hash crypto.Hash, nonce *big.Int) error {
	p, err := parseToken(token)
	if err != nil {
		return err
	}
	info, _, err := parseTSTInfo(p.content)
	if err != nil {
		return err
	}
	if info.Nonce == nil || info.Nonce.Cmp(nonce) != 0 {
		return errors.New("tsa: token nonce does not match the request")
	}
	if err := checkImprint(info, digest, hash); err != nil {
		return err
	}
	for _, c := range p.certs {
		if p.signer.matches(c) {
			return nil
		}
	}
	return errors.New("tsa: token lacks the TSA certificate despite certReq")
}

// parseResponse decodes a DER TimeStampResp and returns its token, or a
// *StatusError if the request was not granted.
func parseResponse(der []byte) ([]byte, error) {
	in := cryptobyte.String(der)
	var resp, statusInfo cryptobyte.String
	var status int64
	if !in.ReadASN1(&resp, cbasn1.SEQUENCE) || !in.Empty() ||
		!resp.ReadASN1(&statusInfo, cbasn1.SEQUENCE) || !statusInfo.ReadASN1Int64WithTag(&status, cbasn1.INTEGER) {
		return nil, errors.New("tsa: malformed TimeStampResp")
	}
	if st := timestamp.Status(status); st != timestamp.Granted && st != timestamp.GrantedWithMods {
		serr := &StatusError{Status: st, FailureInfo: timestamp.UnknownFailureInfo}
		var texts cryptobyte.String
		var has bool
		if statusInfo.ReadOptionalASN1(&texts, &has, cbasn1.SEQUENCE) && has {
			for !texts.Empty() {
				var t cryptobyte.String
				if !texts.ReadASN1(&t, cbasn1.UTF8String) {
					break
				}
				if serr.Text != "" {
					serr.Text += "; "
				}
				serr.Text += string(t)
			}
		}
		var bits cryptobyte.String
		if statusInfo.ReadOptionalASN1(&bits, &has, cbasn1.BIT_STRING) && has && len(bits) > 1 {
			for i := 0; i < (len(bits)-1)*8; i++ {
				if bits[1+i/8]&(0x80>>(i%8)) != 0 {
					serr.FailureInfo = timestamp.FailureInfo(i)
					break
				}
			}
		}
		return nil, serr
	}
	var token cryptobyte.String
	if !resp.ReadASN1Element(&token, cbasn1.SEQUENCE) || !resp.Empty() {
		return nil, errors.New("tsa: granted TimeStampResp without a token")
	}
	return token, nil
}
