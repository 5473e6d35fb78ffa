package tsa

import (
	"crypto"
	_ "crypto/sha256" // message imprint and CMS digests
	_ "crypto/sha512" // message imprint and CMS digests
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"time"

	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers. They are never modified.
var (
	oidExtKeyUsage       = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidSHA256            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidECDSAWithSHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidECPublicKey       = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidRSAEncryption     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA256WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidSignedData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningCert       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidSigningCertV2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidTSTInfo           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidQCStatements      = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 3}
	oidTimeStampingUsage = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
)

// imprintHash maps an accepted message-imprint algorithm to its hash.
func imprintHash(oid asn1.ObjectIdentifier) crypto.Hash {
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256
	case oid.Equal(oidSHA384):
		return crypto.SHA384
	case oid.Equal(oidSHA512):
		return crypto.SHA512
	}
	return 0
}

// hashOID is the inverse of imprintHash.
func hashOID(h crypto.Hash) asn1.ObjectIdentifier {
	switch h {
	case crypto.SHA256:
		return oidSHA256
	case crypto.SHA384:
		return oidSHA384
	case crypto.SHA512:
		return oidSHA512
	}
	return nil
}

// timeStampReq is TimeStampReq of RFC 3161 §2.4.1.
type timeStampReq struct {
	Version        int
	MessageImprint messageImprint
	ReqPolicy      asn1.ObjectIdentifier `asn1:"optional"`
	Nonce          *big.Int              `asn1:"optional"`
	CertReq        bool                  `asn1:"optional,default:false"`
	Extensions     []pkix.Extension      `asn1:"optional,tag:0"`
}

type messageImprint struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	HashedMessage []byte
}

// tstInfo is TSTInfo of RFC 3161 §2.4.2, as the server encodes it.
type tstInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint messageImprint
	SerialNumber   *big.Int
	GenTime        time.Time        `asn1:"generalized"`
	Accuracy       accuracy         `asn1:"optional"`
	Ordering       bool             `asn1:"optional,default:false"`
	Nonce          *big.Int         `asn1:"optional"`
	TSA            asn1.RawValue    `asn1:"optional,tag:0"`
	Extensions     []pkix.Extension `asn1:"optional,tag:1"`
}

// tstInfoIn is TSTInfo as Verify decodes it: genTime is kept raw because
// encoding/asn1 rejects the fractional seconds other TSAs may send.
type tstInfoIn struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint messageImprint
	SerialNumber   *big.Int
	GenTime        asn1.RawValue
	Accuracy       accuracy         `asn1:"optional"`
	Ordering       bool             `asn1:"optional,default:false"`
	Nonce          *big.Int         `asn1:"optional"`
	TSA            asn1.RawValue    `asn1:"optional,tag:0"`
	Extensions     []pkix.Extension `asn1:"optional,tag:1"`
}

type accuracy struct {
	Seconds int `asn1:"optional"`
	Millis  int `asn1:"optional,tag:0"`
	Micros  int `asn1:"optional,tag:1"`
}

func accuracyOf(d time.Duration) accuracy {
	return accuracy{
		Seconds: int(d / time.Second),
		Millis:  int(d % time.Second / time.Millisecond),
		Micros:  int(d % time.Millisecond / time.Microsecond),
	}
}

func (a accuracy) duration() time.Duration {
	return time.Duration(a.Seconds)*time.Second + time.Duration(a.Millis)*time.Millisecond + time.Duration(a.Micros)*time.Microsecond
}

// request is a parsed, accepted time-stamp query.
type request struct {
	hash    crypto.Hash
	imprint messageImprint
	nonce   *big.Int
	certReq bool
}

// rejection is a time-stamp request the server refuses.
type rejection struct {
	info   timestamp.FailureInfo
	text   string
	server bool // the server, not the client, is at fault
}

// parseRequest decodes a DER TimeStampReq and checks it against what the
// server supports: version 1, a SHA-256/384/512 imprint of the right length,
// the server's policy (if one is requested) and no extensions.
func parseRequest(der []byte, policy asn1.ObjectIdentifier) (*request, *rejection) {
	var req timeStampReq
	rest, err := asn1.Unmarshal(der, &req)
	if err != nil {
		return nil, &rejection{info: timestamp.BadDataFormat, text: "malformed TimeStampReq"}
	}
	if len(rest) != 0 {
		return nil, &rejection{info: timestamp.BadDataFormat, text: "trailing data after TimeStampReq"}
	}
	if req.Version != 1 {
		return nil, &rejection{info: timestamp.BadDataFormat, text: "unsupported TimeStampReq version"}
	}
	alg := req.MessageImprint.HashAlgorithm
	h := imprintHash(alg.Algorithm)
	if h == 0 {
		return nil, &rejection{info: timestamp.BadAlgorithm, text: "message imprint must use SHA-256, SHA-384 or SHA-512"}
	}
	if len(alg.Parameters.FullBytes) != 0 && !isNull(alg.Parameters) {
		return nil, &rejection{info: timestamp.BadAlgorithm, text: "unexpected hash algorithm parameters"}
	}
	if len(req.MessageImprint.HashedMessage) != h.Size() {
		return nil, &rejection{info: timestamp.BadDataFormat, text: "message imprint length does not match its algorithm"}
	}
	if len(req.ReqPolicy) != 0 && !req.ReqPolicy.Equal(policy) {
		return nil, &rejection{info: timestamp.UnacceptedPolicy, text: "requested TSA policy is not supported"}
	}
	if len(req.Extensions) != 0 {
		return nil, &rejection{info: timestamp.UnacceptedExtension, text: "request extensions are not supported"}
	}
	return &request{
		hash:    h,
		imprint: req.MessageImprint,
		nonce:   req.Nonce,
		certReq: req.CertReq,
	}, nil
}

func isNull(v asn1.RawValue) bool {
	return v.Class == asn1.ClassUniversal && v.Tag == asn1.TagNull && len(v.Bytes) == 0
}

// grantedResponse wraps token in a TimeStampResp with status granted.
func grantedResponse(token []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // PKIStatusInfo
			b.AddASN1Int64(int64(timestamp.Granted))
		})
		b.AddBytes(token)
	})
	return b.BytesOrPanic()
}

// rejectionResponse is a TimeStampResp with status rejection, a status
// string and one failure-info bit.
func rejectionResponse(rej *rejection) []byte {
	bit := int(rej.info)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // PKIStatusInfo
			b.AddASN1Int64(int64(timestamp.Rejection))
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // PKIFreeText
				b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(rej.text)) })
			})
			// PKIFailureInfo: a named BIT STRING, DER without trailing
			// zero bits.
			bits := make([]byte, bit/8+1)
			bits[bit/8] = 0x80 >> (bit % 8)
			b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
				b.AddUint8(uint8(7 - bit%8))
				b.AddBytes(bits)
			})
		})
	})
	return b.BytesOrPanic()
}
