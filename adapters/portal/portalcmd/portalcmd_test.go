package portalcmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/adapters/portal"
	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/testpki"
)

func TestHashPassword(t *testing.T) {
	var out bytes.Buffer
	c := New(&out, &out)
	c.SetArgs([]string{"hash-password"})
	c.SetIn(strings.NewReader("demo password\n"))
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	if ok, err := portal.VerifyPassword("demo password", strings.TrimSpace(out.String())); !ok || err != nil {
		t.Fatalf("hash %q: %v %v", out.String(), ok, err)
	}
}

func TestConfigBuild(t *testing.T) {
	dir := t.TempDir()
	p := testpki.New(t, time.Now())
	testpki.WritePEM(t, filepath.Join(dir, "roots.pem"), p.Issuer)
	h, err := portal.HashPassword("officer password", portal.Argon2Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "officer.hash"), []byte(h+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `listen: 127.0.0.1:0
securityServer: http://127.0.0.1:8080
client: PS-DEV/GOV/CAB/portal
services:
  mot: GOV/MOT/licensing/transport
database:
  path: ` + filepath.Join(dir, "portal.db") + `
trustRoots: ` + filepath.Join(dir, "roots.pem") + `
officers:
  - username: officer1
    passwordHashFile: ` + filepath.Join(dir, "officer.hash") + `
`
	path := filepath.Join(dir, "portal.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := config.Load(path, &cfg); err != nil {
		t.Fatal(err)
	}
	pc, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bus := pc.Bus.(*portal.HTTPBus)
	if got := bus.URL(portal.Transport, "/v1/fines"); got != "http://127.0.0.1:8080/r1/PS-DEV/GOV/MOT/licensing/transport/v1/fines" {
		t.Errorf("transport URL %s", got)
	}
	if got := bus.URL(portal.Interior, "/v1/persons/1"); got != "http://127.0.0.1:8080/r1/PS-DEV/GOV/MOI/civil-registry/registry/v1/persons/1" {
		t.Errorf("interior URL %s", got)
	}
	if len(pc.Officers) != 1 || pc.Officers[0].PasswordHash != h {
		t.Errorf("officers %+v", pc.Officers)
	}
	if err := config.Decode([]byte(yaml+"unknownField: 1\n"), &Config{}); err == nil {
		t.Error("unknown field accepted")
	}
	if err := config.Decode([]byte(strings.Replace(yaml, "  mot:", "  xyz:", 1)), &Config{}); err == nil {
		t.Error("unknown ministry accepted")
	}
}
