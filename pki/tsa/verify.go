package tsa

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/digitorus/timestamp"
)

// ErrImprintMismatch is returned (wrapped) by Verify and Stamp when a token
// time-stamps other data than the caller's digest.
var ErrImprintMismatch = errors.New("tsa: token time-stamps different data")

// Verify checks that token is a valid time-stamp token over digest (the
// hash, with algorithm hash, of the time-stamped data) and returns its
// contents. It checks:
//
//   - the CMS structure, the messageDigest and contentType signed
//     attributes, and the signature over them;
//   - that the ESS signing-certificate(-v2) attribute names the signing
//     certificate;
//   - that the token's message imprint is digest under hash;
//   - that the signing certificate carries the critical timeStamping-only
//     extended key usage (CheckCertificate) and chains to roots, at the
//     token's genTime, through the certificates in the token and
//     intermediates, with extended key usage timeStamping.
//
// The signing certificate is taken from the token or, for tokens issued
// without certReq, from intermediates. roots must not be nil: the system
// roots are never used. Verify does not check revocation.
func Verify(token []byte, digest []byte, hash crypto.Hash, roots *x509.CertPool, intermediates []*x509.Certificate) (*timestamp.Timestamp, error) {
	if err := checkDigest(digest, hash); err != nil {
		return nil, err
	}
	if roots == nil {
		return nil, errors.New("tsa: Verify needs a root pool")
	}
	p, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	if !p.contentType.Equal(oidTSTInfo) {
		return nil, errors.New("tsa: contentType attribute is not id-ct-TSTInfo")
	}
	h := p.digest.New()
	h.Write(p.content)
	if p.messageDigest == nil || !bytes.Equal(h.Sum(nil), p.messageDigest) {
		return nil, errors.New("tsa: messageDigest attribute does not match the TSTInfo")
	}
	var signer *x509.Certificate
	for _, c := range append(append([]*x509.Certificate(nil), p.certs...), intermediates...) {
		if p.signer.matches(c) {
			signer = c
			break
		}
	}
	if signer == nil {
		return nil, errors.New("tsa: signing certificate is neither in the token nor among intermediates")
	}
	if !p.essMatches(signer) {
		return nil, errors.New("tsa: ESS signing-certificate attribute missing or not naming the signer")
	}
	alg := x509SignatureAlgorithm(p.sigAlgOID, p.digest)
	if alg == x509.UnknownSignatureAlgorithm {
		return nil, fmt.Errorf("tsa: unsupported signature algorithm %v", p.sigAlgOID)
	}
	if err := signer.CheckSignature(alg, p.signedAttrs, p.signature); err != nil {
		return nil, fmt.Errorf("tsa: bad token signature: %w", err)
	}
	info, genTime, err := parseTSTInfo(p.content)
	if err != nil {
		return nil, err
	}
	if err := checkImprint(info, digest, hash); err != nil {
		return nil, err
	}
	if err := CheckCertificate(signer); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range p.certs {
		pool.AddCert(c)
	}
	for _, c := range intermediates {
		pool.AddCert(c)
	}
	if _, err := signer.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: pool,
		CurrentTime:   genTime,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	}); err != nil {
		return nil, fmt.Errorf("tsa: TSA certificate does not chain to the roots: %w", err)
	}

	ts := &timestamp.Timestamp{
		RawToken:          bytes.Clone(token),
		HashAlgorithm:     hash,
		HashedMessage:     bytes.Clone(info.MessageImprint.HashedMessage),
		Time:              genTime,
		Accuracy:          info.Accuracy.duration(),
		SerialNumber:      info.SerialNumber,
		Policy:            info.Policy,
		Ordering:          info.Ordering,
		Nonce:             info.Nonce,
		Certificates:      p.certs,
		AddTSACertificate: len(p.certs) > 0,
		Extensions:        info.Extensions,
	}
	for _, e := range info.Extensions {
		if e.Id.Equal(oidQCStatements) {
			ts.Qualified = true
		}
	}
	return ts, nil
}

func checkDigest(digest []byte, hash crypto.Hash) error {
	if hashOID(hash) == nil {
		return fmt.Errorf("tsa: unsupported hash %v (want SHA-256, SHA-384 or SHA-512)", hash)
	}
	if len(digest) != hash.Size() {
		return fmt.Errorf("tsa: digest is %d bytes, %v needs %d", len(digest), hash, hash.Size())
	}
	return nil
}

func checkImprint(info *tstInfoIn, digest []byte, hash crypto.Hash) error {
	if imprintHash(info.MessageImprint.HashAlgorithm.Algorithm) != hash ||
		!bytes.Equal(info.MessageImprint.HashedMessage, digest) {
		return ErrImprintMismatch
	}
	return nil
}

// parseTSTInfo decodes a DER TSTInfo of version 1 and its genTime.
func parseTSTInfo(der []byte) (*tstInfoIn, time.Time, error) {
	var info tstInfoIn
	rest, err := asn1.Unmarshal(der, &info)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("tsa: decoding TSTInfo: %w", err)
	}
	if len(rest) != 0 || info.Version != 1 || info.SerialNumber == nil {
		return nil, time.Time{}, errors.New("tsa: malformed TSTInfo")
	}
	genTime, err := parseGeneralizedTime(info.GenTime)
	if err != nil {
		return nil, time.Time{}, err
	}
	return &info, genTime, nil
}

// parseGeneralizedTime parses RFC 3161 genTime: YYYYMMDDhhmmss[.s...]Z.
func parseGeneralizedTime(v asn1.RawValue) (time.Time, error) {
	s := string(v.Bytes)
	if v.Class != asn1.ClassUniversal || v.Tag != asn1.TagGeneralizedTime || !strings.HasSuffix(s, "Z") {
		return time.Time{}, errors.New("tsa: genTime is not a UTC GeneralizedTime")
	}
	// time.Parse accepts a fractional second after the seconds field.
	t, err := time.Parse("20060102150405Z", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("tsa: genTime: %w", err)
	}
	return t, nil
}
