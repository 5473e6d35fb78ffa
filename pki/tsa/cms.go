package tsa

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Context-specific constructed tags [0], [1], [4], and primitive [0].
const (
	tagContext0          cbasn1.Tag = 0xa0
	tagContext1          cbasn1.Tag = 0xa1
	tagContext4          cbasn1.Tag = 0xa4
	tagContext0Primitive cbasn1.Tag = 0x80
)

// signingCertificateV2 encodes the ESS SigningCertificateV2 (RFC 5035) value
// naming cert: one ESSCertIDv2 with the default SHA-256 hash and the
// certificate's issuer and serial.
func signingCertificateV2(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.Raw)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SigningCertificateV2
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // certs
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ESSCertIDv2
				b.AddASN1OctetString(sum[:])
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // IssuerSerial
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // GeneralNames
						b.AddASN1(tagContext4, func(b *cryptobyte.Builder) { // directoryName
							b.AddBytes(cert.RawIssuer)
						})
					})
					b.AddASN1BigInt(cert.SerialNumber)
				})
			})
		})
	})
	return b.BytesOrPanic()
}

// tsaGeneralName encodes TSTInfo's tsa field: [0] { directoryName [4] Name }.
func tsaGeneralName(cert *x509.Certificate) []byte {
	var b cryptobyte.Builder
	b.AddASN1(tagContext0, func(b *cryptobyte.Builder) {
		b.AddASN1(tagContext4, func(b *cryptobyte.Builder) { b.AddBytes(cert.RawSubject) })
	})
	return b.BytesOrPanic()
}

// attribute encodes a CMS Attribute with a single value.
func attribute(oid asn1.ObjectIdentifier, value func(*cryptobyte.Builder)) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddASN1(cbasn1.SET, value)
	})
	return b.BytesOrPanic()
}

// addAlgorithm appends an AlgorithmIdentifier.
func addAlgorithm(b *cryptobyte.Builder, alg pkix.AlgorithmIdentifier) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(alg.Algorithm)
		if len(alg.Parameters.FullBytes) != 0 {
			b.AddBytes(alg.Parameters.FullBytes)
		}
	})
}

// signedData builds a CMS ContentInfo holding SignedData (RFC 5652 §5) over
// a TSTInfo, with signed attributes contentType, messageDigest and
// signingCertificateV2, signed by signer for cert. certs, if any, go into
// the certificates field.
func signedData(content []byte, cert *x509.Certificate, certs []*x509.Certificate, signer crypto.Signer,
	digest crypto.Hash, sigAlg pkix.AlgorithmIdentifier, essCertID []byte) ([]byte, error) {
	digestAlg := pkix.AlgorithmIdentifier{Algorithm: hashOID(digest)}
	h := digest.New()
	h.Write(content)
	contentDigest := h.Sum(nil)

	attrs := [][]byte{
		attribute(oidContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidTSTInfo) }),
		attribute(oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(contentDigest) }),
		attribute(oidSigningCertV2, func(b *cryptobyte.Builder) { b.AddBytes(essCertID) }),
	}
	// DER orders the elements of a SET OF by their encodings.
	slices.SortFunc(attrs, bytes.Compare)
	var ab cryptobyte.Builder
	ab.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	// The signature covers the attributes encoded as a SET (RFC 5652
	// §5.4); in SignerInfo they appear with the implicit tag [0].
	signedAttrs, err := ab.Bytes()
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding signed attributes: %w", err)
	}
	h = digest.New()
	h.Write(signedAttrs)
	sig, err := signer.Sign(rand.Reader, h.Sum(nil), digest)
	if err != nil {
		return nil, fmt.Errorf("tsa: signing: %w", err)
	}
	implicitAttrs := bytes.Clone(signedAttrs)
	implicitAttrs[0] = byte(tagContext0)

	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(tagContext0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(3) // eContentType is not id-data
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { addAlgorithm(b, digestAlg) })
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // EncapsulatedContentInfo
					b.AddASN1ObjectIdentifier(oidTSTInfo)
					b.AddASN1(tagContext0, func(b *cryptobyte.Builder) { b.AddASN1OctetString(content) })
				})
				if len(certs) > 0 {
					b.AddASN1(tagContext0, func(b *cryptobyte.Builder) {
						for _, c := range certs {
							b.AddBytes(c.Raw)
						}
					})
				}
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { // SignerInfos
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignerInfo
						b.AddASN1Int64(1) // sid is issuerAndSerialNumber
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddBytes(cert.RawIssuer)
							b.AddASN1BigInt(cert.SerialNumber)
						})
						addAlgorithm(b, digestAlg)
						b.AddBytes(implicitAttrs)
						addAlgorithm(b, sigAlg)
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	token, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding SignedData: %w", err)
	}
	return token, nil
}

// parsedToken is a decoded, not yet verified, time-stamp token.
type parsedToken struct {
	content   []byte // DER TSTInfo
	certs     []*x509.Certificate
	signer    signerID
	digest    crypto.Hash
	sigAlgOID asn1.ObjectIdentifier
	signature []byte
	// signedAttrs is the DER SET of signed attributes, as signed.
	signedAttrs []byte
	// From the signed attributes:
	contentType   asn1.ObjectIdentifier
	messageDigest []byte
	essHash       crypto.Hash // hash of the ESS certificate ID
	essCertHash   []byte
}

type signerID struct {
	issuer []byte   // DER Name, with serial
	serial *big.Int //
	ski    []byte   // or subjectKeyIdentifier
}

func (id signerID) matches(c *x509.Certificate) bool {
	if id.ski != nil {
		return bytes.Equal(id.ski, c.SubjectKeyId)
	}
	return bytes.Equal(id.issuer, c.RawIssuer) && id.serial.Cmp(c.SerialNumber) == 0
}

var errMalformedToken = errors.New("tsa: malformed time-stamp token")

// parseToken decodes a DER ContentInfo with SignedData holding a TSTInfo and
// exactly one SignerInfo.
func parseToken(token []byte) (*parsedToken, error) {
	var (
		in                         = cryptobyte.String(token)
		ci, explicit, sd, algs     cryptobyte.String
		eci, econtent, sis, si     cryptobyte.String
		contentType, eContentType  asn1.ObjectIdentifier
		version                    int
		certsField                 cryptobyte.String
		hasCerts                   bool
		p                          parsedToken
		digestAlg, sigAlg, attrsEl cryptobyte.String
	)
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() ||
		!ci.ReadASN1ObjectIdentifier(&contentType) || !contentType.Equal(oidSignedData) ||
		!ci.ReadASN1(&explicit, tagContext0) || !ci.Empty() ||
		!explicit.ReadASN1(&sd, cbasn1.SEQUENCE) || !explicit.Empty() ||
		!sd.ReadASN1Integer(&version) ||
		!sd.ReadASN1(&algs, cbasn1.SET) ||
		!sd.ReadASN1(&eci, cbasn1.SEQUENCE) ||
		!eci.ReadASN1ObjectIdentifier(&eContentType) ||
		!eci.ReadASN1(&explicit, tagContext0) || !eci.Empty() ||
		!explicit.ReadASN1(&econtent, cbasn1.OCTET_STRING) || !explicit.Empty() ||
		!sd.ReadOptionalASN1(&certsField, &hasCerts, tagContext0) ||
		!sd.SkipOptionalASN1(tagContext1) ||
		!sd.ReadASN1(&sis, cbasn1.SET) || !sd.Empty() {
		return nil, errMalformedToken
	}
	if !eContentType.Equal(oidTSTInfo) {
		return nil, errors.New("tsa: token does not encapsulate a TSTInfo")
	}
	p.content = econtent
	for !certsField.Empty() {
		var c cryptobyte.String
		if !certsField.ReadASN1Element(&c, cbasn1.SEQUENCE) {
			return nil, errMalformedToken
		}
		cert, err := x509.ParseCertificate(c)
		if err != nil {
			return nil, fmt.Errorf("tsa: certificate in token: %w", err)
		}
		p.certs = append(p.certs, cert)
	}
	if !sis.ReadASN1(&si, cbasn1.SEQUENCE) || !sis.Empty() {
		return nil, errors.New("tsa: token must have exactly one signer")
	}

	var siVersion int
	if !si.ReadASN1Integer(&siVersion) {
		return nil, errMalformedToken
	}
	switch {
	case si.PeekASN1Tag(cbasn1.SEQUENCE):
		var ias, name cryptobyte.String
		p.signer.serial = new(big.Int)
		if !si.ReadASN1(&ias, cbasn1.SEQUENCE) || !ias.ReadASN1Element(&name, cbasn1.SEQUENCE) ||
			!ias.ReadASN1Integer(p.signer.serial) || !ias.Empty() {
			return nil, errMalformedToken
		}
		p.signer.issuer = name
	case si.PeekASN1Tag(tagContext0Primitive):
		var ski cryptobyte.String
		if !si.ReadASN1(&ski, tagContext0Primitive) {
			return nil, errMalformedToken
		}
		p.signer.ski = ski
	default:
		return nil, errMalformedToken
	}
	var digestOID asn1.ObjectIdentifier
	var sigBytes cryptobyte.String
	if !si.ReadASN1(&digestAlg, cbasn1.SEQUENCE) || !digestAlg.ReadASN1ObjectIdentifier(&digestOID) ||
		!si.ReadASN1Element(&attrsEl, tagContext0) ||
		!si.ReadASN1(&sigAlg, cbasn1.SEQUENCE) || !sigAlg.ReadASN1ObjectIdentifier(&p.sigAlgOID) ||
		!si.ReadASN1(&sigBytes, cbasn1.OCTET_STRING) ||
		!si.SkipOptionalASN1(tagContext1) || !si.Empty() {
		return nil, errMalformedToken
	}
	p.signature = sigBytes
	if p.digest = imprintHash(digestOID); p.digest == 0 {
		return nil, fmt.Errorf("tsa: unsupported CMS digest algorithm %v", digestOID)
	}
	p.signedAttrs = bytes.Clone(attrsEl)
	p.signedAttrs[0] = 0x31 // SET, as signed
	if err := p.parseAttributes(); err != nil {
		return nil, err
	}
	return &p, nil
}

// parseAttributes extracts the signed attributes Verify needs.
func (p *parsedToken) parseAttributes() error {
	in := cryptobyte.String(p.signedAttrs)
	var attrs cryptobyte.String
	if !in.ReadASN1(&attrs, cbasn1.SET) || !in.Empty() {
		return errMalformedToken
	}
	seen := make(map[string]bool)
	for !attrs.Empty() {
		var attr, values, value cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&oid) ||
			!attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			return errMalformedToken
		}
		if seen[oid.String()] {
			return fmt.Errorf("tsa: duplicate signed attribute %v", oid)
		}
		seen[oid.String()] = true
		switch {
		case oid.Equal(oidContentType):
			if !values.ReadASN1ObjectIdentifier(&p.contentType) || !values.Empty() {
				return errMalformedToken
			}
		case oid.Equal(oidMessageDigest):
			if !values.ReadASN1(&value, cbasn1.OCTET_STRING) || !values.Empty() {
				return errMalformedToken
			}
			p.messageDigest = value
		case oid.Equal(oidSigningCertV2), oid.Equal(oidSigningCert):
			if p.essCertHash != nil {
				continue // prefer whichever came first; both name the same certificate
			}
			v2 := oid.Equal(oidSigningCertV2)
			var sc, certIDs, certID, hashAlg, certHash cryptobyte.String
			if !values.ReadASN1(&sc, cbasn1.SEQUENCE) || !sc.ReadASN1(&certIDs, cbasn1.SEQUENCE) ||
				!certIDs.ReadASN1(&certID, cbasn1.SEQUENCE) {
				return errMalformedToken
			}
			p.essHash = crypto.SHA1
			if v2 {
				p.essHash = crypto.SHA256
				if certID.PeekASN1Tag(cbasn1.SEQUENCE) {
					var hashOIDv asn1.ObjectIdentifier
					if !certID.ReadASN1(&hashAlg, cbasn1.SEQUENCE) || !hashAlg.ReadASN1ObjectIdentifier(&hashOIDv) {
						return errMalformedToken
					}
					if p.essHash = imprintHash(hashOIDv); p.essHash == 0 {
						return fmt.Errorf("tsa: unsupported ESS certificate hash %v", hashOIDv)
					}
				}
			}
			if !certID.ReadASN1(&certHash, cbasn1.OCTET_STRING) {
				return errMalformedToken
			}
			p.essCertHash = certHash
		}
	}
	return nil
}

// essMatches reports whether the ESS certificate ID names cert.
func (p *parsedToken) essMatches(cert *x509.Certificate) bool {
	var sum []byte
	switch p.essHash {
	case crypto.SHA1:
		s := sha1.Sum(cert.Raw)
		sum = s[:]
	case 0:
		return false
	default:
		h := p.essHash.New()
		h.Write(cert.Raw)
		sum = h.Sum(nil)
	}
	return bytes.Equal(sum, p.essCertHash)
}

// x509SignatureAlgorithm maps a CMS signature algorithm (which may name only
// the key type) and digest to crypto/x509's algorithm.
func x509SignatureAlgorithm(sigOID asn1.ObjectIdentifier, digest crypto.Hash) x509.SignatureAlgorithm {
	switch {
	case sigOID.Equal(oidECDSAWithSHA256):
		return x509.ECDSAWithSHA256
	case sigOID.Equal(oidECDSAWithSHA384):
		return x509.ECDSAWithSHA384
	case sigOID.Equal(oidECDSAWithSHA512):
		return x509.ECDSAWithSHA512
	case sigOID.Equal(oidSHA256WithRSA):
		return x509.SHA256WithRSA
	case sigOID.Equal(oidSHA384WithRSA):
		return x509.SHA384WithRSA
	case sigOID.Equal(oidSHA512WithRSA):
		return x509.SHA512WithRSA
	case sigOID.Equal(oidECPublicKey):
		switch digest {
		case crypto.SHA256:
			return x509.ECDSAWithSHA256
		case crypto.SHA384:
			return x509.ECDSAWithSHA384
		case crypto.SHA512:
			return x509.ECDSAWithSHA512
		}
	case sigOID.Equal(oidRSAEncryption):
		switch digest {
		case crypto.SHA256:
			return x509.SHA256WithRSA
		case crypto.SHA384:
			return x509.SHA384WithRSA
		case crypto.SHA512:
			return x509.SHA512WithRSA
		}
	}
	return x509.UnknownSignatureAlgorithm
}
