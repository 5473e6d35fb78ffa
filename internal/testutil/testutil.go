// Package testutil holds small helpers shared by jisr's tests. It is imported
// only from _test.go files.
package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// RequireTool returns the path of an external program a test needs (openssl,
// softhsm2-util, …). When the program is missing the test is skipped, unless
// JISR_REQUIRE_TOOLS=1 is set (as .ci/run does), in which case it fails: in CI
// a missing tool must never turn a third-party check into a silent pass.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("JISR_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is required (JISR_REQUIRE_TOOLS=1) but not found: %v", name, err)
	}
	t.Skipf("%s not installed: %v", name, err)
	return ""
}
