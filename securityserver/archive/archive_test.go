package archive

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"encoding/pem"

	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/testutil"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver/message"
)

func TestWriteVerify(t *testing.T) {
	w := newWorld(t, 1, 2)
	b, m := w.write(t, 0, 0, nil)
	if m.From != 1 || m.To != 12 {
		t.Fatalf("manifest range %d..%d, want 1..12", m.From, m.To)
	}
	rep, err := verifyBytes(b, w.trust)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Records != 12 || rep.Bodies != 12 || rep.Tokens != 2 || rep.FirstID != 1 || rep.LastID != 12 ||
		!bytes.Equal(rep.Manifest.Hash, m.Hash) || !rep.CreatedAt.Equal(m.CreatedAt) {
		t.Errorf("report %+v", rep)
	}
	// Deterministic: writing again gives the same file but for the
	// manifest's (randomised ECDSA) signature.
	b2, m2 := w.write(t, 0, 0, nil)
	if !bytes.Equal(m.Hash, m2.Hash) {
		t.Errorf("manifests differ")
	}
	e1, e2 := readTar(t, b), readTar(t, b2)
	for i := range e1[:len(e1)-1] {
		if e1[i].name != e2[i].name || !bytes.Equal(e1[i].data, e2[i].data) {
			t.Fatalf("entry %d differs between two writes", i)
		}
	}
}

func TestWriteRange(t *testing.T) {
	w := newWorld(t, 1, 1, 1)
	w.exchanges(t, 1) // records 13..16, not stamped
	for _, tc := range []struct {
		name           string
		from, to       int64
		wantFrom, want int64
		wantErr        bool
	}{
		{"all stamped", 0, 0, 1, 12, false},
		{"up to an unstamped record", 5, 11, 5, 8, false},
		{"middle of a range", 3, 0, 0, 0, true},
		{"nothing stamped", 13, 0, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			m, err := Write(w.ctx, &buf, w.log, WriteOptions{Server: serverID, From: tc.from, To: tc.to, Signer: w.signer, Clock: w.clk})
			if tc.wantErr {
				if err == nil {
					t.Fatal("Write succeeded")
				}
				return
			}
			if err != nil || m.From != tc.wantFrom || m.To != tc.want {
				t.Fatalf("Write = %d..%d, %v; want %d..%d", m.From, m.To, err, tc.wantFrom, tc.want)
			}
			if _, err := verifyBytes(buf.Bytes(), w.trust); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestChainedArchives(t *testing.T) {
	w := newWorld(t, 1, 1)
	first, m1 := w.write(t, 1, 4, nil)
	second, m2 := w.write(t, 5, 0, m1.Hash)
	tr := w.trust
	tr.PrevManifestHash = []byte{}
	if _, err := verifyBytes(first, tr); err != nil {
		t.Fatalf("first: %v", err)
	}
	tr.PrevManifestHash = m1.Hash
	if rep, err := verifyBytes(second, tr); err != nil || rep.FirstID != 5 || !bytes.Equal(rep.Manifest.PrevHash, m1.HeadHash) {
		t.Fatalf("second: %+v, %v", rep, err)
	}
	_ = m2
	t.Run("wrong link", func(t *testing.T) {
		tr.PrevManifestHash = bytes.Repeat([]byte{1}, 32)
		_, err := verifyBytes(second, tr)
		wantFailure(t, err, 0, "previous manifest hash")
	})
}

// TestTampering changes the archive and, as an operator holding the
// signing key could, re-signs the manifest: the records' chain, the
// signatures and the tokens still catch it, naming the record.
func TestTampering(t *testing.T) {
	w := newWorld(t, 1, 1)
	orig, _ := w.write(t, 0, 0, nil)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, e []tarEntry) []tarEntry
		id     int64
		want   string
	}{
		{"record deleted", func(t *testing.T, e []tarEntry) []tarEntry {
			i := index(t, e, recordName(3))
			return append(e[:i:i], e[i+2:]...) // the record and its body
		}, 3, "record 3 is missing"},
		{"record field altered", func(t *testing.T, e []tarEntry) []tarEntry {
			i := index(t, e, recordName(3))
			e[i].data = bytes.Replace(e[i].data, []byte(`"userId":"user-1"`), []byte(`"userId":"user-2"`), 1)
			return e
		}, 3, "altered"},
		{"body byte altered", func(t *testing.T, e []tarEntry) []tarEntry {
			i := index(t, e, bodyName(6))
			e[i].data = bytes.Clone(e[i].data)
			e[i].data[2] ^= 1
			return e
		}, 6, "body does not match its signed digest"},
		{"records reordered", func(t *testing.T, e []tarEntry) []tarEntry {
			i, j := index(t, e, recordName(3)), index(t, e, recordName(4))
			e[i], e[i+1], e[j], e[j+1] = e[j], e[j+1], e[i], e[i+1]
			return e
		}, 3, "out of order"},
		{"record contents swapped", func(t *testing.T, e []tarEntry) []tarEntry {
			i, j := index(t, e, recordName(3)), index(t, e, recordName(4))
			e[i].data, e[j].data = e[j].data, e[i].data
			e[i+1].data, e[j+1].data = e[j+1].data, e[i+1].data
			return e
		}, 3, "holds record 4"},
		{"token for another range", func(t *testing.T, e []tarEntry) []tarEntry {
			e[index(t, e, tokenName(2))].data = e[index(t, e, tokenName(1))].data
			return e
		}, 0, "token over records 5..8 does not verify"},
		{"extra entry", func(t *testing.T, e []tarEntry) []tarEntry {
			i := index(t, e, recordName(2))
			return append(e[:i+1:i+1], append([]tarEntry{{"notes.txt", []byte("hi")}}, e[i+1:]...)...)
		}, 0, "entry name not in the format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.change(t, readTar(t, orig))
			_, err := verifyBytes(resign(t, e, w.signer), w.trust)
			wantFailure(t, err, tc.id, tc.want)
		})
	}
}

// TestManifest checks the manifest's own protection.
func TestManifest(t *testing.T) {
	w := newWorld(t, 1)
	orig, _ := w.write(t, 0, 0, nil)
	t.Run("signature broken", func(t *testing.T) {
		e := readTar(t, orig)
		m := &e[len(e)-1]
		m.data = bytes.Clone(m.data)
		m.data[len(m.data)-5] ^= 2
		_, err := verifyBytes(writeTar(t, e), w.trust)
		wantFailure(t, err, 0, "manifest signature does not verify")
	})
	t.Run("entry hash mismatch", func(t *testing.T) {
		e := readTar(t, orig)
		i := index(t, e, recordName(2))
		e[i].data = bytes.Replace(e[i].data, []byte(`"status":0`), []byte(`"status":1`), 1)
		_, err := verifyBytes(writeTar(t, e), w.trust)
		wantFailure(t, err, 2, "does not match its SHA-256 in the manifest")
	})
	t.Run("entry missing", func(t *testing.T) {
		e := readTar(t, orig)
		i := index(t, e, certName(sum(w.fix.Consumer.Chain[0].Raw)))
		_, err := verifyBytes(writeTar(t, append(e[:i:i], e[i+1:]...)), w.trust)
		wantFailure(t, err, 0, "is missing")
	})
	t.Run("signed with the owner's sign key", func(t *testing.T) {
		key, chain := w.pki.Leaf(t, profile.Sign, serverID.Owner)
		_, err := verifyBytes(resign(t, readTar(t, orig), ManifestSigner{Key: key, Chain: chain}), w.trust)
		if err != nil {
			t.Fatalf("owner's sign certificate refused: %v", err)
		}
	})
	t.Run("signed by another server", func(t *testing.T) {
		other := serverID
		other.Code = "ss2"
		key, chain := w.pki.Leaf(t, profile.Auth, other, "ss2.example")
		_, err := verifyBytes(resign(t, readTar(t, orig), ManifestSigner{Key: key, Chain: chain}), w.trust)
		wantFailure(t, err, 0, "not server")
	})
	t.Run("untrusted roots", func(t *testing.T) {
		tr := w.trust
		tr.Roots = newWorld(t).pki.Roots()
		_, err := verifyBytes(orig, tr)
		wantFailure(t, err, 0, "manifest")
	})
}

// TestOpenSSL verifies the tokens extracted from an archive with
// `openssl ts -verify`.
func TestOpenSSL(t *testing.T) {
	openssl := testutil.RequireTool(t, "openssl")
	w := newWorld(t, 1, 1)
	b, _ := w.write(t, 0, 0, nil)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "root.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.tsa.root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	e := readTar(t, b)
	for id := int64(1); id <= 2; id++ {
		var sj stampJSON
		if err := strictUnmarshal(e[index(t, e, stampName(id))].data, &sj); err != nil {
			t.Fatal(err)
		}
		tok := filepath.Join(dir, "token.der")
		if err := os.WriteFile(tok, e[index(t, e, tokenName(id))].data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			digest []byte
			ok     bool
		}{{sj.Imprint, true}, {sha256.New().Sum(nil), false}} {
			cmd := exec.CommandContext(t.Context(), openssl, "ts", "-verify", "-digest", hex.EncodeToString(c.digest),
				"-in", tok, "-token_in", "-CAfile", filepath.Join(dir, "root.pem"))
			out, err := cmd.CombinedOutput()
			if ok := err == nil && strings.Contains(string(out), "Verification: OK"); ok != c.ok {
				t.Errorf("token %d, digest %x: openssl ok=%v, want %v\n%s", id, c.digest, ok, c.ok, out)
			}
		}
	}
}

// The stored archive: written once by TestGolden with
// JISR_UPDATE_ARCHIVE_TESTDATA=1, and verified from then on with the stored
// roots, as an auditor would years later (no live CA or TSA).
const (
	goldenArchive = "testdata/archive.tar"
	goldenCARoot  = "testdata/ca-root.pem"
	goldenTSARoot = "testdata/tsa-root.pem"
)

// goldenTrust loads the stored archive and its trust.
func goldenTrust(t testing.TB) ([]byte, Trust) {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pool := func(name string) *x509.CertPool {
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(read(name)) {
			t.Fatalf("%s: no certificates", name)
		}
		return p
	}
	return read(goldenArchive), Trust{Roots: pool(goldenCARoot), VerifyTimestamp: TSAVerifier(pool(goldenTSARoot), nil)}
}

func TestGolden(t *testing.T) {
	if os.Getenv("JISR_UPDATE_ARCHIVE_TESTDATA") == "1" {
		w := newWorld(t, 1, 1)
		b, _ := w.write(t, 0, 0, nil)
		for name, data := range map[string][]byte{
			goldenArchive: b,
			goldenCARoot:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.pki.Root.Raw}),
			goldenTSARoot: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.tsa.root.Raw}),
		} {
			if err := os.WriteFile(name, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, trust := goldenTrust(t)
	rep, err := verifyBytes(b, trust)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Records != 8 || rep.Tokens != 2 {
		t.Errorf("report %+v", rep)
	}
}

// FuzzVerify feeds arbitrary bytes to Verify, seeded with the stored
// archive and variants of it: it must never panic.
func FuzzVerify(f *testing.F) {
	b, trust := goldenTrust(f)
	trust.Cache = message.NewVerifyCache(0)
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = verifyBytes(data, trust)
	})
}

func TestEncrypted(t *testing.T) {
	w := newWorld(t, 1)
	auditor := testpki.NewKey(t)
	var buf bytes.Buffer
	m, err := Write(w.ctx, &buf, w.log, WriteOptions{Server: serverID, Signer: w.signer, Clock: w.clk, Recipient: &auditor.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyBytes(buf.Bytes(), w.trust); !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify of the encrypted file = %v, want ErrInvalid", err)
	}
	plain, err := Decrypt(buf.Bytes(), auditor)
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	rep, err := verifyBytes(plain, w.trust)
	if err != nil || !bytes.Equal(rep.Manifest.Hash, m.Hash) {
		t.Fatalf("Verify: %v", err)
	}
	if _, err := Decrypt(buf.Bytes(), testpki.NewKey(t)); err == nil {
		t.Error("Decrypt with another key succeeded")
	}
}

// TestVerifyMutations changes random bytes of the stored archive: Verify
// must refuse every variant without panicking (a quick, deterministic
// complement to FuzzVerify).
func TestVerifyMutations(t *testing.T) {
	b, trust := goldenTrust(t)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		c := bytes.Clone(b)
		changed := false
		for range 1 + r.IntN(4) {
			j, v := r.IntN(len(c)), byte(r.IntN(256))
			changed = changed || c[j] != v
			c[j] = v
		}
		if _, err := verifyBytes(c, trust); err == nil && changed {
			// A change in tar padding or an ignored header field (such as
			// the modification time) does not alter any entry's content.
			if e1, e2 := readTar(t, b), readTar(t, c); !sameEntries(e1, e2) {
				t.Errorf("mutation %d accepted", i)
			}
		}
	}
}

func sameEntries(a, b []tarEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].name != b[i].name || !bytes.Equal(a[i].data, b[i].data) {
			return false
		}
	}
	return true
}
