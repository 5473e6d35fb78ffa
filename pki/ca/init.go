package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// Key store labels of the keys Init asks for.
const (
	LabelRoot         = "root-ca"
	LabelIntermediate = "intermediate-ca"
	LabelOCSP         = "ocsp"
	LabelTSA          = "tsa"
	LabelTLS          = "ca-tls"
	LabelEnrolToken   = "enrol-token"
)

// File names inside the PKI directory (see the package documentation).
const (
	FileRoot            = "root-ca.pem"
	FileIntermediate    = "intermediate-ca.pem"
	FileOCSP            = "ocsp.pem"
	FileTSA             = "tsa.pem"
	FileTLS             = "ca-tls.pem"
	FileEnrolTokenKey   = "enrol-token.pub.pem"
	defaultRootLife     = 20 * 365 * 24 * time.Hour
	defaultInterLife    = 10 * 365 * 24 * time.Hour
	defaultOCSPLife     = 2 * 365 * 24 * time.Hour
	defaultTSALife      = 5 * 365 * 24 * time.Hour
	defaultTLSLife      = 2 * 365 * 24 * time.Hour
	notBeforeBackdating = time.Minute
)

// ErrExists is returned by Init when the directory already holds a PKI.
var ErrExists = errors.New("ca: PKI already initialised")

var (
	oidOCSPNoCheck    = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}
	oidExtKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidKPTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
)

// InitOptions configures Init. Instance, Dir and NewKey are required.
type InitOptions struct {
	// Instance is the X-Road instance code, e.g. "PS".
	Instance string
	// Dir receives the PEM files; it is created if missing and must not
	// already hold a PKI.
	Dir string
	// NewKey creates (in the key store) and returns the key for a label; Init
	// calls it once for each Label* constant. Keys must be ECDSA P-256 or
	// RSA (≥2048 bits).
	NewKey func(label string) (crypto.Signer, error)
	// Clock supplies the start of every validity period; clock.System() if nil.
	Clock clock.Clock
	// TLSNames are the DNS names and IP addresses of the CA's HTTPS API,
	// written into the ca-tls certificate; default "localhost", "127.0.0.1".
	// The first name is also the host enrolment tokens are addressed to.
	TLSNames []string
	// Lifetimes; zero means the default: root 20 years, intermediate 10, OCSP
	// 2, TSA 5, TLS 2.
	RootLifetime, IntermediateLifetime, OCSPLifetime, TSALifetime, TLSLifetime time.Duration
}

// Bundle is the public part of an instance PKI.
type Bundle struct {
	// Instance is the X-Road instance code (the root's Organization).
	Instance     string
	Root         *x509.Certificate
	Intermediate *x509.Certificate
	OCSP         *x509.Certificate
	TSA          *x509.Certificate
	TLS          *x509.Certificate
	// EnrolTokenKey verifies enrolment tokens.
	EnrolTokenKey crypto.PublicKey
}

// Roots returns a pool holding only the root certificate.
func (b *Bundle) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(b.Root)
	return p
}

// Init creates an instance PKI: keys through opts.NewKey, certificates in
// opts.Dir. It refuses to touch a directory that already holds one
// (ErrExists). On error, files written so far are removed; keys already
// created stay in the key store.
func Init(opts InitOptions) (_ *Bundle, err error) {
	if err := xroad.ValidatePart(opts.Instance); err != nil {
		return nil, fmt.Errorf("ca: instance: %w", err)
	}
	if opts.Dir == "" || opts.NewKey == nil {
		return nil, errors.New("ca: InitOptions.Dir and NewKey are required")
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.System()
	}
	names := opts.TLSNames
	if len(names) == 0 {
		names = []string{"localhost", "127.0.0.1"}
	}
	life := func(d, def time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return def
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, FileRoot)); err == nil {
		return nil, fmt.Errorf("%w in %s", ErrExists, opts.Dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("ca: %w", err)
	}

	keys := map[string]crypto.Signer{}
	for _, l := range []string{LabelRoot, LabelIntermediate, LabelOCSP, LabelTSA, LabelTLS, LabelEnrolToken} {
		k, err := opts.NewKey(l)
		if err != nil {
			return nil, fmt.Errorf("ca: key %q: %w", l, err)
		}
		if err := checkKey(k.Public()); err != nil {
			return nil, fmt.Errorf("ca: key %q: %w", l, err)
		}
		keys[l] = k
	}

	now := clk.Now()
	nb := now.Add(-notBeforeBackdating)
	b := &Bundle{Instance: opts.Instance, EnrolTokenKey: keys[LabelEnrolToken].Public()}

	rootTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: opts.Instance + " Root CA", Organization: []string{opts.Instance}},
		NotBefore:             nb,
		NotAfter:              now.Add(life(opts.RootLifetime, defaultRootLife)),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if b.Root, err = sign(rootTmpl, nil, keys[LabelRoot].Public(), keys[LabelRoot]); err != nil {
		return nil, fmt.Errorf("ca: root: %w", err)
	}
	interTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: opts.Instance + " Issuing CA", Organization: []string{opts.Instance}},
		NotBefore:             nb,
		NotAfter:              now.Add(life(opts.IntermediateLifetime, defaultInterLife)),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	if b.Intermediate, err = sign(interTmpl, b.Root, keys[LabelIntermediate].Public(), keys[LabelRoot]); err != nil {
		return nil, fmt.Errorf("ca: intermediate: %w", err)
	}
	nullValue := []byte{0x05, 0x00} // ASN.1 NULL
	ocspTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: opts.Instance + " OCSP Responder", Organization: []string{opts.Instance}},
		NotBefore:             nb,
		NotAfter:              now.Add(life(opts.OCSPLifetime, defaultOCSPLife)),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		BasicConstraintsValid: true,
		ExtraExtensions:       []pkix.Extension{{Id: oidOCSPNoCheck, Value: nullValue}},
	}
	if b.OCSP, err = sign(ocspTmpl, b.Intermediate, keys[LabelOCSP].Public(), keys[LabelIntermediate]); err != nil {
		return nil, fmt.Errorf("ca: OCSP: %w", err)
	}
	// RFC 3161 §2.3: the TSA certificate's only ExtKeyUsage is timeStamping
	// and the extension MUST be critical. Go marks ExtKeyUsage non-critical,
	// so the extension is written raw.
	ekuValue, err := asn1.Marshal([]asn1.ObjectIdentifier{oidKPTimeStamping})
	if err != nil {
		return nil, fmt.Errorf("ca: TSA EKU: %w", err)
	}
	tsaTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: opts.Instance + " Time-Stamping Authority", Organization: []string{opts.Instance}},
		NotBefore:             nb,
		NotAfter:              now.Add(life(opts.TSALifetime, defaultTSALife)),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
		ExtraExtensions:       []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: ekuValue}},
	}
	if b.TSA, err = sign(tsaTmpl, b.Intermediate, keys[LabelTSA].Public(), keys[LabelIntermediate]); err != nil {
		return nil, fmt.Errorf("ca: TSA: %w", err)
	}
	tlsTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: names[0], Organization: []string{opts.Instance}},
		NotBefore:             nb,
		NotAfter:              now.Add(life(opts.TLSLifetime, defaultTLSLife)),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if _, ok := keys[LabelTLS].Public().(*rsa.PublicKey); ok {
		tlsTmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tlsTmpl.IPAddresses = append(tlsTmpl.IPAddresses, ip)
		} else {
			tlsTmpl.DNSNames = append(tlsTmpl.DNSNames, n)
		}
	}
	if b.TLS, err = sign(tlsTmpl, b.Intermediate, keys[LabelTLS].Public(), keys[LabelIntermediate]); err != nil {
		return nil, fmt.Errorf("ca: TLS: %w", err)
	}

	pubDER, err := x509.MarshalPKIXPublicKey(b.EnrolTokenKey)
	if err != nil {
		return nil, fmt.Errorf("ca: enrolment token key: %w", err)
	}
	files := []struct {
		name   string
		blocks []*pem.Block
	}{
		{FileIntermediate, certBlocks(b.Intermediate)},
		{FileOCSP, certBlocks(b.OCSP, b.Intermediate)},
		{FileTSA, certBlocks(b.TSA, b.Intermediate)},
		{FileTLS, certBlocks(b.TLS, b.Intermediate)},
		{FileEnrolTokenKey, []*pem.Block{{Type: "PUBLIC KEY", Bytes: pubDER}}},
		// The root goes last: its presence marks a complete PKI.
		{FileRoot, certBlocks(b.Root)},
	}
	var written []string
	defer func() {
		if err != nil {
			for _, p := range written {
				_ = os.Remove(p)
			}
		}
	}()
	for _, f := range files {
		p := filepath.Join(opts.Dir, f.name)
		if err = writeExclusive(p, f.blocks); err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		written = append(written, p)
	}
	return b, nil
}

// LoadBundle reads the public part of a PKI that Init wrote into dir.
func LoadBundle(dir string) (*Bundle, error) {
	b := &Bundle{}
	for _, f := range []struct {
		name string
		dst  **x509.Certificate
	}{
		{FileRoot, &b.Root}, {FileIntermediate, &b.Intermediate}, {FileOCSP, &b.OCSP},
		{FileTSA, &b.TSA}, {FileTLS, &b.TLS},
	} {
		certs, err := readCerts(filepath.Join(dir, f.name))
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		*f.dst = certs[0]
	}
	raw, err := os.ReadFile(filepath.Join(dir, FileEnrolTokenKey))
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	blk, _ := pem.Decode(raw)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("ca: %s: no PUBLIC KEY block", FileEnrolTokenKey)
	}
	if b.EnrolTokenKey, err = x509.ParsePKIXPublicKey(blk.Bytes); err != nil {
		return nil, fmt.Errorf("ca: %s: %w", FileEnrolTokenKey, err)
	}
	if len(b.Root.Subject.Organization) != 1 {
		return nil, fmt.Errorf("ca: root certificate has no single Organization (instance)")
	}
	b.Instance = b.Root.Subject.Organization[0]
	if err := b.Intermediate.CheckSignatureFrom(b.Root); err != nil {
		return nil, fmt.Errorf("ca: intermediate is not signed by the root: %w", err)
	}
	return b, nil
}

// readCerts parses every CERTIFICATE block of a PEM file; there must be one.
func readCerts(path string) ([]*x509.Certificate, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, raw = pem.Decode(raw)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no certificate", path)
	}
	return out, nil
}

func certBlocks(certs ...*x509.Certificate) []*pem.Block {
	out := make([]*pem.Block, len(certs))
	for i, c := range certs {
		out[i] = &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}
	}
	return out
}

func writeExclusive(path string, blocks []*pem.Block) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	for _, b := range blocks {
		if err := pem.Encode(f, b); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkKey accepts the CA's key types: ECDSA P-256/P-384 and RSA ≥ 2048.
func checkKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve.Params().Name {
		case "P-256", "P-384":
			return nil
		}
		return fmt.Errorf("ECDSA curve %s not supported", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits is too small", k.N.BitLen())
		}
		return nil
	}
	return fmt.Errorf("key type %T not supported", pub)
}

// sign issues tmpl for pub, signed by key; parent nil means self-signed.
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// newSerial returns a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	return s.Add(s, big.NewInt(1)), nil
}
