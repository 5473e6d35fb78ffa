//go:build !pkcs11

package keys

// openPKCS11 is the stand-in for builds without the pkcs11 tag, which stay
// free of cgo: it always fails with ErrPKCS11Unsupported.
func openPKCS11(_, _ string, _ []byte) (Store, error) {
	return nil, ErrPKCS11Unsupported
}
