package backup

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/msglog/msglogtest"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestRoundTripWhileRunning backs up a directory whose databases are open
// and written to (a running server), then restores it into a fresh
// directory: every file comes back byte for byte with its mode, the spool
// stays out, and the databases hold exactly what was committed when the
// backup was taken, with an intact hash chain.
func TestRoundTripWhileRunning(t *testing.T) {
	f := newFixture(t)
	b, m := f.write(t)
	// The server goes on after the backup; none of this is in it.
	f.append(t, msglogtest.NewFixture(t).Records(t, 4, 10))
	if err := f.conf.AddClient(t.Context(), conf.Client{ID: testServer.Owner.Subsystem("late"), Connection: conf.ConnHTTP,
		Status: conf.StatusRegistered, BodyLogging: conf.BodyLoggingFull}); err != nil {
		t.Fatal(err)
	}
	f.closeDBs(t)

	if m.Server != testServer || !m.CreatedAt.Equal(now) || m.JisrVersion != "test" || m.Database.Driver != DriverSQLite {
		t.Errorf("manifest %+v", m)
	}
	var paths []string
	for _, file := range m.Files {
		paths = append(paths, file.Path)
	}
	for _, want := range []string{"dir/ss.yaml", "dir/anchor.json", "dir/admin-api-key", "dir/keys/auth.key",
		"dir/keys/msglog-body.key", "dir/certs/sign-GOV-MOI.pem", "dir/globalconf/globalconf.jws", "dir/archives/a-1.tar",
		"dir/conf.db", "dir/msglog.db"} {
		if !slices.Contains(paths, want) {
			t.Errorf("backup lacks %s: %v", want, paths)
		}
	}
	for _, p := range paths {
		if strings.HasPrefix(p, "dir/spool") || strings.HasSuffix(p, "-wal") || strings.HasSuffix(p, "-shm") || strings.Contains(p, ".tmp") {
			t.Errorf("backup holds %s", p)
		}
	}

	target := filepath.Join(t.TempDir(), "restored")
	got, err := Restore(t.Context(), bytes.NewReader(b), f.restoreOptions(target))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.SHA256, m.SHA256) || got.Signer.Subject.CommonName != testServer.Owner.String() {
		t.Errorf("restored manifest %x signed by %s, wrote %x", got.SHA256, got.Signer.Subject, m.SHA256)
	}
	for _, name := range []string{"ss.yaml", "anchor.json", "admin-api-key", "keys/auth.key", "keys/sign-GOV-MOI.key",
		"keys/msglog-body.key", "certs/sign-GOV-MOI.pem", "globalconf/globalconf.jws", "archives/a-1.tar"} {
		want, err := os.ReadFile(filepath.Join(f.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		have, err := os.ReadFile(filepath.Join(target, name))
		if err != nil || !bytes.Equal(have, want) {
			t.Errorf("%s: restored %d bytes (%v), want the original %d", name, len(have), err, len(want))
		}
		wfi, _ := os.Stat(filepath.Join(f.dir, name))
		hfi, err := os.Stat(filepath.Join(target, name))
		if err != nil || hfi.Mode() != wfi.Mode() {
			t.Errorf("%s: mode %v, want %v", name, hfi.Mode(), wfi.Mode())
		}
	}
	if _, err := os.Stat(filepath.Join(target, "spool")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spool restored: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(target, "keys")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("keys directory: %v %v", fi.Mode(), err)
	}

	cs, err := conf.OpenSQLite(t.Context(), filepath.Join(target, "conf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	clients, err := cs.Clients(t.Context())
	if err != nil || len(clients) != 1 || clients[0].ID != testClient {
		t.Errorf("restored clients %v (%v), want only %s", clients, err, testClient)
	}
	l, err := msglog.OpenSQLite(t.Context(), filepath.Join(target, "msglog.db"), msglog.MetadataOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res, err := l.VerifyChain(t.Context(), 0, 0)
	if err != nil || res.From != 1 || res.To != int64(f.records) || !res.Head {
		t.Errorf("restored log: %+v %v, want %d records with an intact chain", res, err, f.records)
	}
	if names := listDir(t, filepath.Dir(target)); !slices.Equal(names, []string{"restored"}) {
		t.Errorf("left beside the target: %v", names)
	}
}

// TestRestoreReplacesDirectory restores over an existing directory: its
// files are replaced, not merged, and the old directory is gone.
func TestRestoreReplacesDirectory(t *testing.T) {
	f := newFixture(t)
	b, _ := f.write(t)
	f.closeDBs(t)
	target := filepath.Join(t.TempDir(), "ss")
	if err := os.MkdirAll(filepath.Join(target, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"stray", "keys/auth.key", "ss.yaml"} {
		if err := os.WriteFile(filepath.Join(target, name), []byte("damaged"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Restore(t.Context(), bytes.NewReader(b), f.restoreOptions(target)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(target, "stray")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file of the old directory survived: %v", err)
	}
	if err := os.Remove(filepath.Join(f.dir, "archives", ".archive-1.tmp")); err != nil {
		t.Fatal(err)
	}
	if want, have := treeHashExcept(t, f.dir, "spool"), treeHashExcept(t, target, ""); want != have {
		t.Error("the restored tree differs from the original")
	}
	if names := listDir(t, filepath.Dir(target)); !slices.Equal(names, []string{"ss"}) {
		t.Errorf("left beside the target: %v", names)
	}
}

// treeHashExcept is treeHash of a copy of root without the databases and
// without skip.
func treeHashExcept(t *testing.T, root, skip string) string {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "cp")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if (skip != "" && (rel == skip || strings.HasPrefix(rel, skip+"/"))) || strings.Contains(rel, ".db") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(cp, rel), fi.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(cp, rel), b, 0o600); err != nil {
			return err
		}
		return os.Chmod(filepath.Join(cp, rel), fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return treeHash(t, cp)
}

// TestRefused feeds Restore broken, forged or foreign backups: each is
// refused with ErrRefused, the target directory stays byte-identical
// (compared by a hash of the whole tree) and nothing is left beside it.
func TestRefused(t *testing.T) {
	f := newFixture(t)
	good, _ := f.write(t)
	other := testpki.New(t, now, testpki.Name("Rogue"))
	rogueKey, rogueChain := other.Leaf(t, profile.Sign, testServer.Owner)
	mofKey, mofChain := f.pki.Leaf(t, profile.Sign, xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOF"})
	recipient, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	encrypted, _ := f.write(t, func(o *WriteOptions) { o.Recipient = recipient.Public() })
	f.clk.Set(now.Add(400 * 24 * time.Hour)) // after the signer certificate expired
	late, _ := f.write(t)
	f.clk.Set(now)
	f.closeDBs(t)

	// rewrite takes the good backup apart, changes it and puts it together.
	rewrite := func(change func([]entry) []entry) []byte {
		return writeEntries(t, change(readEntries(t, good)))
	}
	resign := func(s Signer) []byte {
		return rewrite(func(es []entry) []entry {
			signed, err := signManifest(manifestPayload(t, es), s)
			if err != nil {
				t.Fatal(err)
			}
			es[0].data = signed
			return es
		})
	}
	flip := func(b []byte, at int) []byte {
		c := bytes.Clone(b)
		c[at] ^= 0x01
		return c
	}

	cases := []struct {
		name   string
		backup []byte
		change func(*RestoreOptions)
		want   error
	}{
		{name: "one byte of a file changed", backup: rewrite(func(es []entry) []entry {
			i := entryIndex(t, es, "dir/keys/msglog-body.key")
			es[i].data = flip(es[i].data, 5)
			return es
		})},
		{name: "one byte of a database changed", backup: rewrite(func(es []entry) []entry {
			i := entryIndex(t, es, "dir/msglog.db")
			es[i].data = flip(es[i].data, len(es[i].data)/2)
			return es
		})},
		{name: "manifest changed to match a changed file", backup: rewrite(func(es []entry) []entry {
			i := entryIndex(t, es, "dir/admin-api-key")
			es[i].data = []byte("attacker's key")
			var mj manifestJSON
			if err := json.Unmarshal(manifestPayload(t, es), &mj); err != nil {
				t.Fatal(err)
			}
			for j := range mj.Files {
				if mj.Files[j].Path == "dir/admin-api-key" {
					d := sha256Hex(es[i].data)
					mj.Files[j].SHA256, mj.Files[j].Size = d, int64(len(es[i].data))
				}
			}
			payload, _ := json.Marshal(mj)
			es[0].data = withPayload(t, es[0].data, payload)
			return es
		})},
		{name: "manifest signature changed", backup: rewrite(func(es []entry) []entry {
			parts := strings.Split(string(es[0].data), ".")
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			parts[2] = b64(flip(sig, 3))
			es[0].data = []byte(strings.Join(parts, "."))
			return es
		})},
		{name: "signed by another member", backup: resign(Signer{Key: mofKey, Chain: mofChain})},
		{name: "signed under an untrusted CA", backup: resign(Signer{Key: rogueKey, Chain: rogueChain})},
		{name: "signed with an expired certificate", backup: late, change: func(o *RestoreOptions) {
			o.Clock = fixedClock(now.Add(400 * 24 * time.Hour))
		}},
		{name: "another server's backup", backup: good, change: func(o *RestoreOptions) {
			o.Server = xroad.ServerID{Owner: testServer.Owner, Code: "ss2"}
		}, want: ErrForeignServer},
		{name: "created in the future", backup: good, change: func(o *RestoreOptions) {
			o.Clock = fixedClock(now.Add(-time.Hour))
		}},
		{name: "entry missing", backup: rewrite(func(es []entry) []entry {
			return slices.Delete(es, entryIndex(t, es, "dir/certs/sign-GOV-MOI.pem"), entryIndex(t, es, "dir/certs/sign-GOV-MOI.pem")+1)
		})},
		{name: "entry the manifest does not list", backup: rewrite(func(es []entry) []entry {
			return append(es, entry{hdr: es[1].hdr, data: []byte("extra")})
		})},
		{name: "entry renamed to escape the directory", backup: rewrite(func(es []entry) []entry {
			es[2].hdr.Name = "dir/../../escape"
			return es
		})},
		{name: "entries reordered", backup: rewrite(func(es []entry) []entry {
			es[1], es[2] = es[2], es[1]
			return es
		})},
		{name: "manifest not first", backup: rewrite(func(es []entry) []entry {
			es[0], es[1] = es[1], es[0]
			return es
		})},
		{name: "truncated", backup: good[:len(good)/2]},
		{name: "data after the end", backup: append(bytes.Clone(good), "trailing"...)},
		{name: "not a backup", backup: []byte("hello, this is not a backup at all")},
		{name: "encrypted, no key", backup: encrypted, want: ErrEncrypted},
		{name: "encrypted, another key", backup: encrypted, change: func(o *RestoreOptions) { o.DecryptKey = stranger }},
		{name: "encrypted, one ciphertext byte changed", backup: flip(encrypted, len(encrypted)-100),
			change: func(o *RestoreOptions) { o.DecryptKey = recipient }},
		{name: "encrypted, truncated", backup: encrypted[:len(encrypted)-1],
			change: func(o *RestoreOptions) { o.DecryptKey = recipient }},
	}
	parent := t.TempDir()
	target := filepath.Join(parent, "ss")
	if err := os.CopyFS(target, os.DirFS(f.dir)); err != nil {
		t.Fatal(err)
	}
	before, names := treeHash(t, target), listDir(t, parent)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := f.restoreOptions(target)
			if tc.change != nil {
				tc.change(&o)
			}
			_, err := Restore(t.Context(), bytes.NewReader(tc.backup), o)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v, want a refusal", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			t.Log(err)
			if after := treeHash(t, target); after != before {
				t.Error("the refused restore changed the target directory")
			}
			if after := listDir(t, parent); !slices.Equal(after, names) {
				t.Errorf("beside the target: %v, before %v", after, names)
			}
			o.VerifyOnly = true
			if _, err := Restore(t.Context(), bytes.NewReader(tc.backup), o); !errors.Is(err, ErrRefused) {
				t.Errorf("verify only: %v, want a refusal", err)
			}
		})
	}
	// The same checks pass the good backup.
	o := f.restoreOptions(target)
	o.VerifyOnly = true
	if _, err := Restore(t.Context(), bytes.NewReader(good), o); err != nil {
		t.Fatalf("the good backup: %v", err)
	}
	if treeHash(t, target) != before {
		t.Error("verify-only changed the target directory")
	}
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestRestorePrepareRefuses: a staged configuration the caller rejects
// changes nothing either.
func TestRestorePrepareRefuses(t *testing.T) {
	f := newFixture(t)
	b, _ := f.write(t)
	f.closeDBs(t)
	target := filepath.Join(t.TempDir(), "ss")
	if err := os.CopyFS(target, os.DirFS(f.dir)); err != nil {
		t.Fatal(err)
	}
	before := treeHash(t, target)
	o := f.restoreOptions(target)
	o.Prepare = func(_ context.Context, staged string, _ *Manifest) (string, error) {
		return "", errors.New("ss.yaml names another server")
	}
	if _, err := Restore(t.Context(), bytes.NewReader(b), o); !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v", err)
	}
	if treeHash(t, target) != before || len(listDir(t, filepath.Dir(target))) != 1 {
		t.Error("the refused restore changed something")
	}
}

// TestEncryptedRoundTrip encrypts to RSA and ECDSA recipients (a public key
// or a certificate in PEM) and restores with the private key.
func TestEncryptedRoundTrip(t *testing.T) {
	f := newFixture(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256 := testpki.NewKey(t)
	certDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: testpki.RandomSerial(t),
		NotBefore: now, NotAfter: now.Add(time.Hour)}, &x509.Certificate{SerialNumber: testpki.RandomSerial(t)}, p256.Public(), p256)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := func(k any) []byte {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	privPEM := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	ecPEM, err := x509.MarshalECPrivateKey(p256)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name            string
		recipient, priv []byte
	}{
		{"RSA-OAEP-256", pubPEM(rsaKey.Public()), privPEM(rsaKey)},
		{"RSA-OAEP-256, PKCS#1 key", pubPEM(rsaKey.Public()), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})},
		{"ECDH-ES+A256KW P-384", pubPEM(p384.Public()), privPEM(p384)},
		{"ECDH-ES+A256KW P-256 certificate, SEC 1 key", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecPEM})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcpt, err := ParseRecipient(tc.recipient)
			if err != nil {
				t.Fatal(err)
			}
			key, err := ParseDecryptionKey(tc.priv)
			if err != nil {
				t.Fatal(err)
			}
			b, m := f.write(t, func(o *WriteOptions) { o.Recipient = rcpt })
			if !bytes.HasPrefix(b, []byte(encryptedMagic)) {
				t.Fatalf("not encrypted: %q", b[:40])
			}
			body, err := os.ReadFile(filepath.Join(f.dir, "keys", "msglog-body.key"))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, body) || bytes.Contains(b, []byte(testServer.String())) {
				t.Error("the encrypted backup shows plaintext")
			}
			target := filepath.Join(t.TempDir(), "ss")
			o := f.restoreOptions(target)
			o.DecryptKey = key
			got, err := Restore(t.Context(), bytes.NewReader(b), o)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.SHA256, m.SHA256) {
				t.Error("another manifest came out")
			}
			have, err := os.ReadFile(filepath.Join(target, "keys", "msglog-body.key"))
			if err != nil || !bytes.Equal(have, body) {
				t.Errorf("restored body key %x (%v)", have, err)
			}
		})
	}
	if _, err := ParseRecipient(pubPEM(testpki.NewKey(t).Public())[:20]); err == nil {
		t.Error("ParseRecipient accepted a broken PEM")
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseRecipient(pubPEM(small.Public())); err == nil {
		t.Error("ParseRecipient accepted a 1024-bit RSA key")
	}
}

// TestWriteRefuses covers what Write will not back up or sign.
func TestWriteRefuses(t *testing.T) {
	f := newFixture(t)
	mofKey, mofChain := f.pki.Leaf(t, profile.Sign, xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOF"})
	authKey, authChain := f.pki.Leaf(t, profile.Auth, testServer, "localhost")
	otherKey := testpki.NewKey(t)
	for _, tc := range []struct {
		name   string
		signer Signer
		setup  func(t *testing.T)
	}{
		{name: "the signer is another member", signer: Signer{Key: mofKey, Chain: mofChain}},
		{name: "the signer is the auth key", signer: Signer{Key: authKey, Chain: authChain}},
		{name: "the key does not match the certificate", signer: Signer{Key: otherKey, Chain: f.signer.Chain}},
		{name: "a symbolic link in the directory", signer: f.signer, setup: func(t *testing.T) {
			link := filepath.Join(f.dir, "certs", "link.pem")
			if err := os.Symlink("/etc/passwd", link); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Remove(link) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			var buf bytes.Buffer
			if _, err := Write(t.Context(), &buf, f.plan(), WriteOptions{Signer: tc.signer, Clock: f.clk, TempDir: t.TempDir()}); err == nil {
				t.Fatal("Write succeeded")
			}
		})
	}
}
