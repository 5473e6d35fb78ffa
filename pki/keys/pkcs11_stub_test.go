//go:build !pkcs11

package keys_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jisr-bus/jisr/pki/keys"
)

// TestOpenPKCS11Unsupported checks that a build without the pkcs11 tag says
// how to get PKCS#11 support instead of failing obscurely.
func TestOpenPKCS11Unsupported(t *testing.T) {
	t.Setenv("JISR_TEST_PIN", "1234")
	st, err := keys.Open(keys.Config{
		Type:   keys.TypePKCS11,
		PKCS11: keys.PKCS11Config{Module: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "t", PINEnv: "JISR_TEST_PIN"},
	})
	if !errors.Is(err, keys.ErrPKCS11Unsupported) {
		t.Fatalf("Open: err = %v, want ErrPKCS11Unsupported", err)
	}
	if st != nil {
		t.Errorf("Open returned a non-nil Store %v", st)
	}
	if !strings.Contains(err.Error(), "-tags pkcs11") {
		t.Errorf("error %q does not say how to enable PKCS#11", err)
	}
}
