package bench

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// chainCerts are the files of the bare mTLS chain's throw-away PKI: one CA,
// a server certificate for the second proxy (localhost, 127.0.0.1) and a
// client certificate for the first. Keys are ECDSA P-256, like jisr's
// authentication keys, so both topologies do the same handshake work.
type chainCerts struct {
	CA                    string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
}

// writeChainCerts creates the chain's PKI under dir, valid around now.
func writeChainCerts(dir string, now time.Time) (chainCerts, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return chainCerts{}, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jisr bench chain CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return chainCerts{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return chainCerts{}, err
	}
	c := chainCerts{CA: filepath.Join(dir, "chain-ca.pem"),
		ServerCert: filepath.Join(dir, "proxy2.pem"), ServerKey: filepath.Join(dir, "proxy2.key"),
		ClientCert: filepath.Join(dir, "proxy1.pem"), ClientKey: filepath.Join(dir, "proxy1.key")}
	if err := writePEM(c.CA, "CERTIFICATE", caDER); err != nil {
		return chainCerts{}, err
	}
	leaf := func(serial int64, cn string, eku x509.ExtKeyUsage, certPath, keyPath string) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{eku},
		}
		if eku == x509.ExtKeyUsageServerAuth {
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		if err != nil {
			return err
		}
		if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
			return err
		}
		return writeKey(keyPath, key)
	}
	if err := leaf(2, "proxy2", x509.ExtKeyUsageServerAuth, c.ServerCert, c.ServerKey); err != nil {
		return chainCerts{}, fmt.Errorf("bench: chain certificates: %w", err)
	}
	if err := leaf(3, "proxy1", x509.ExtKeyUsageClientAuth, c.ClientCert, c.ClientKey); err != nil {
		return chainCerts{}, fmt.Errorf("bench: chain certificates: %w", err)
	}
	return c, nil
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
