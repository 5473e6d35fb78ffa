package mgmt_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine (a TLS server or client
// connection) outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
