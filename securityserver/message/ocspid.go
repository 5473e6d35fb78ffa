package message

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // CertIDs may use SHA-1 (RFC 5019)
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	xocsp "golang.org/x/crypto/ocsp"
)

// The ASN.1 of an OCSP ResponseData (RFC 6960 §4.2.1), as far as needed to
// read the CertID of each SingleResponse, which golang.org/x/crypto/ocsp
// does not expose.
type ocspCertID struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	NameHash      []byte
	IssuerKeyHash []byte
	SerialNumber  *big.Int
}

type ocspSingleResponse struct {
	CertID           ocspCertID
	Status           asn1.RawValue
	ThisUpdate       time.Time        `asn1:"generalized"`
	NextUpdate       time.Time        `asn1:"generalized,explicit,tag:0,optional"`
	SingleExtensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
}

type ocspResponseData struct {
	Raw                asn1.RawContent
	Version            int `asn1:"optional,default:0,explicit,tag:0"`
	RawResponderID     asn1.RawValue
	ProducedAt         time.Time `asn1:"generalized"`
	Responses          []ocspSingleResponse
	ResponseExtensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
}

// ocspHash maps CertID hash algorithm OIDs to hashes.
func ocspHash(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	switch {
	case oid.Equal(asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}):
		return crypto.SHA1, true
	case oid.Equal(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}):
		return crypto.SHA256, true
	case oid.Equal(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}):
		return crypto.SHA384, true
	case oid.Equal(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}):
		return crypto.SHA512, true
	}
	return 0, false
}

// checkCertID checks that the single response about leaf's serial names
// leaf's issuer: its issuerNameHash is the hash of leaf's issuer name and
// its issuerKeyHash the hash of issuer's public key (RFC 6960 §4.1.1).
// x/crypto/ocsp matches responses by serial number only, which is not
// enough when one responder serves several CAs.
func checkCertID(resp *xocsp.Response, leaf, issuer *x509.Certificate) error {
	var rd ocspResponseData
	rest, err := asn1.Unmarshal(resp.TBSResponseData, &rd)
	if err != nil || len(rest) != 0 {
		return errors.New("ocsp: cannot read the response's CertID")
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return fmt.Errorf("ocsp: issuer public key: %w", err)
	}
	for _, sr := range rd.Responses {
		id := sr.CertID
		if id.SerialNumber == nil || id.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			continue
		}
		h, ok := ocspHash(id.HashAlgorithm.Algorithm)
		if !ok || !h.Available() {
			return fmt.Errorf("ocsp: unsupported CertID hash algorithm %v", id.HashAlgorithm.Algorithm)
		}
		name, key := h.New(), h.New()
		name.Write(leaf.RawIssuer)
		key.Write(spki.PublicKey.RightAlign())
		if !bytes.Equal(name.Sum(nil), id.NameHash) || !bytes.Equal(key.Sum(nil), id.IssuerKeyHash) {
			return errors.New("ocsp: response is about a certificate of another issuer")
		}
		return nil
	}
	return errors.New("ocsp: response is about another serial number")
}
