package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// stoppableSS is a `jisr ss serve` process the test stops gracefully
// (SIGINT, then wait) and starts again.
type stoppableSS struct {
	t    *testing.T
	ss   *ssUnderTestProc
	cmd  *exec.Cmd
	logs bytes.Buffer
}

func (p *stoppableSS) start() {
	p.t.Helper()
	p.cmd = exec.Command(jisrBin, "ss", "serve", "--config", p.ss.cfg, "--log-format", "text")
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	waitHealthy(p.t, "http://"+p.ss.adminAddr+"/healthz", &p.logs)
}

func (p *stoppableSS) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// callUntilOK calls the provider's persons service through the consumer
// until the path is open, and returns the exchange's X-Road-Id.
func callUntilOK(t *testing.T, consumer *ssUnderTestProc) string {
	t.Helper()
	url := "http://" + consumer.clientAddr + "/r1/PS/GOV/MOI/civil-registry/persons/v1/persons/4001"
	deadline := time.Now().Add(45 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("X-Road-Client", "PS/GOV/CAB/portal")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return resp.Header.Get("X-Road-Id")
			}
			if time.Now().After(deadline) {
				t.Fatalf("exchange: %d %s %s", resp.StatusCode, resp.Header.Get("X-Road-Error"), body)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("exchange: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// dirDigest hashes every name, mode and content under dir.
func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s %s\n", rel, fi.Mode())
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%x\n", sha256.Sum256(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// rewriteBackup writes a copy of the backup in with one entry changed.
func rewriteBackup(t *testing.T, in, name string, change func([]byte) []byte) string {
	t.Helper()
	raw, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	changed := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name {
			data, changed = change(data), true
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if !changed {
		t.Fatalf("the backup has no entry %s", name)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "tampered.tar.gz")
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBackupAndRestoreSecurityServer backs up a running provider security
// server (once in clear, once encrypted to a recipient key), stops it,
// shows that tampered backups are refused without touching its directory,
// wipes the directory, restores the encrypted backup (trust from the
// global configuration through the anchor) and starts the server again:
// exchanges work, and the restored message log still holds the first one.
func TestBackupAndRestoreSecurityServer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: backup and restore of a running security server (make test and .ci/run never pass -short, so this runs on CI)")
	}
	var got seen
	p, c, provider, consumer, _ := exchangeWorld(t, &got)
	prov := &stoppableSS{t: t, ss: provider}
	prov.start()
	t.Cleanup(func() {
		prov.stop()
		if t.Failed() {
			t.Logf("provider logs:\n%s", prov.logs.String())
		}
	})
	consumer.serve(t)
	firstID := callUntilOK(t, consumer)
	dir := filepath.Dir(provider.cfg)

	// A recipient key pair for the encrypted backup (an auditor's or the
	// operator's offline key).
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	pubDER, _ := x509.MarshalPKIXPublicKey(key.Public())
	privDER, _ := x509.MarshalPKCS8PrivateKey(key)
	pubPEM, privPEM := filepath.Join(work, "recipient.pem"), filepath.Join(work, "recipient.key")
	if err := os.WriteFile(pubPEM, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(privPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		t.Fatal(err)
	}

	// Back up while the server runs.
	plain, enc := filepath.Join(work, "ss1.backup"), filepath.Join(work, "ss1.backup.enc")
	var rep struct {
		ServerID  string `json:"serverId"`
		Files     int    `json:"files"`
		Database  string `json:"database"`
		Encrypted bool   `json:"encrypted"`
	}
	out := run(t, false, "ss", "backup", "--config", provider.cfg, "--out", plain)
	t.Logf("jisr ss backup: %s", out)
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ServerID != "PS/GOV/MOI/ss1" || rep.Database != "sqlite" || rep.Encrypted || rep.Files < 8 {
		t.Errorf("backup report %+v", rep)
	}
	run(t, false, "ss", "backup", "--config", provider.cfg, "--out", enc, "--encrypt-to", pubPEM)
	run(t, true, "ss", "backup", "--config", provider.cfg, "--out", filepath.Join(dir, "inside.backup"))
	prov.stop()

	// Tampered backups are refused; the directory does not change.
	before := dirDigest(t, dir)
	brokenSig := rewriteBackup(t, plain, "manifest.jws", func(b []byte) []byte {
		parts := strings.Split(string(b), ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[len(sig)/2] ^= 0x40
		parts[2] = base64.RawURLEncoding.EncodeToString(sig)
		return []byte(strings.Join(parts, "."))
	})
	changedFile := rewriteBackup(t, plain, "dir/ss.yaml", func(b []byte) []byte {
		return bytes.Replace(b, []byte("localhost:"), []byte("127.0.0.9:"), 1) // same size, other content
	})
	for _, tc := range []struct{ name, file, want string }{
		{"broken signature", brokenSig, "signature does not verify"},
		{"a changed file", changedFile, "dir/ss.yaml: content changed"},
		{"encrypted, no key", enc, "encrypted"},
	} {
		msg := run(t, true, "ss", "restore", tc.file, "--dir", dir, "--trust", p.rootPEM)
		t.Logf("%s: %s", tc.name, msg)
		if !strings.Contains(msg, "backup refused") || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %s", tc.name, msg)
		}
		if dirDigest(t, dir) != before {
			t.Fatalf("%s: the refused restore changed %s", tc.name, dir)
		}
	}
	if out := run(t, false, "ss", "restore", plain, "--dir", dir, "--trust", p.rootPEM, "--verify-only"); !strings.Contains(out, `"verified": true`) {
		t.Errorf("verify-only: %s", out)
	}
	if dirDigest(t, dir) != before {
		t.Fatal("--verify-only changed the directory")
	}

	// The machine is lost: wipe the directory and restore the encrypted
	// backup, trusting the approved CAs of the global configuration.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	out = run(t, false, "ss", "restore", enc, "--dir", dir, "--server-id", "PS/GOV/MOI/ss1",
		"--anchor", filepath.Join(c.dir, "anchor.json"), "--decrypt-key", privPEM)
	t.Logf("jisr ss restore: %s", out)
	if !strings.Contains(out, `"verified": true`) || !strings.Contains(out, `"restoredTo"`) {
		t.Fatalf("restore: %s", out)
	}
	entries, err := os.ReadDir(filepath.Dir(dir))
	if err != nil || len(entries) != 1 {
		t.Errorf("beside the restored directory: %v (%v)", entries, err)
	}

	prov.start()
	if id := callUntilOK(t, consumer); id == firstID {
		t.Fatal("the second exchange reused the first's id")
	}
	l, err := msglog.OpenSQLite(context.Background(), filepath.Join(dir, "msglog.db"), msglog.MetadataOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	recs, err := l.Find(context.Background(), msglog.Query{MessageID: firstID})
	if err != nil || len(recs) != 2 {
		t.Errorf("the restored log holds %d records of the first exchange (%v), want its request and response", len(recs), err)
	}
	if _, err := l.VerifyChain(context.Background(), 0, 0); err != nil {
		t.Errorf("the restored log's chain: %v", err)
	}
}
