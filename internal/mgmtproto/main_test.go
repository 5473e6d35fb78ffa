package mgmtproto_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine (an HTTP connection of
// a Client) outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
