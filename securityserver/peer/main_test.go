package peer

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine (an HTTP server, a
// pooled connection, a shared OCSP fetch) outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
