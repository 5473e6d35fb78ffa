package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jisr-bus/jisr/internal/testutil"
	"github.com/jisr-bus/jisr/pki/keys"
)

const testPassphrase = "correct horse battery staple"

// newSoftware opens a software store in a fresh directory and closes it when
// the test ends.
func newSoftware(t *testing.T) *keys.Software {
	t.Helper()
	s, err := keys.NewSoftware(filepath.Join(t.TempDir(), "keys"), []byte(testPassphrase))
	if err != nil {
		t.Fatalf("NewSoftware: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSoftwareGenerate(t *testing.T) {
	t.Parallel()
	for _, alg := range []keys.Algorithm{keys.ECP256, keys.RSA2048, keys.RSA3072} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := newSoftware(t)
			sig, err := s.Generate(ctx, "sign", alg)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			checkSigns(t, sig, alg)
			if exposesPrivateKey(sig) {
				t.Errorf("Generate returned a %T, which exposes the private key", sig)
			}

			// The cached signer is the one Generate returned.
			again, err := s.Signer(ctx, "sign")
			if err != nil {
				t.Fatalf("Signer: %v", err)
			}
			samePublic(t, sig, again)

			fi, err := os.Stat(filepath.Join(s.Dir(), "sign.key"))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("key file mode = %04o, want 0600", got)
			}
			di, err := os.Stat(s.Dir())
			if err != nil {
				t.Fatal(err)
			}
			if got := di.Mode().Perm(); got != 0o700 {
				t.Errorf("store directory mode = %04o, want 0700", got)
			}
			data, err := os.ReadFile(filepath.Join(s.Dir(), "sign.key"))
			if err != nil {
				t.Fatal(err)
			}
			if block, _ := pem.Decode(data); block == nil || block.Type != "ENCRYPTED PRIVATE KEY" {
				t.Errorf("key file is not an ENCRYPTED PRIVATE KEY PEM block:\n%s", data)
			}
			if bytes.Contains(data, []byte(testPassphrase)) {
				t.Error("key file contains the passphrase")
			}

			// A second store on the same directory decrypts the file from
			// scratch and finds the same key.
			reopened, err := keys.NewSoftware(s.Dir(), []byte(testPassphrase))
			if err != nil {
				t.Fatalf("NewSoftware (reopen): %v", err)
			}
			defer func() { _ = reopened.Close() }()
			loaded, err := reopened.Signer(ctx, "sign")
			if err != nil {
				t.Fatalf("Signer after reopen: %v", err)
			}
			samePublic(t, sig, loaded)
			checkSigns(t, loaded, alg)
			if exposesPrivateKey(loaded) {
				t.Errorf("Signer returned a %T, which exposes the private key", loaded)
			}
		})
	}
}

// TestSoftwareWrongPassphrase checks that a store opened with another
// passphrase reports ErrBadPassphrase and echoes neither passphrase.
func TestSoftwareWrongPassphrase(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSoftware(t)
	if _, err := s.Generate(ctx, "sign", keys.ECP256); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	const wrong = "not the passphrase"
	bad, err := keys.NewSoftware(s.Dir(), []byte(wrong))
	if err != nil {
		t.Fatalf("NewSoftware: %v", err)
	}
	defer func() { _ = bad.Close() }()
	_, err = bad.Signer(ctx, "sign")
	if !errors.Is(err, keys.ErrBadPassphrase) {
		t.Fatalf("Signer with wrong passphrase: err = %v, want ErrBadPassphrase", err)
	}
	if msg := err.Error(); strings.Contains(msg, wrong) || strings.Contains(msg, testPassphrase) {
		t.Errorf("error %q reveals a passphrase", msg)
	}
	// The right passphrase still works: nothing was damaged.
	if _, err := s.Signer(ctx, "sign"); err != nil {
		t.Fatalf("Signer with right passphrase: %v", err)
	}
}

func TestSoftwareErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSoftware(t)
	if _, err := s.Generate(ctx, "taken", keys.ECP256); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // deliberately too small
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"generate taken label", func() error { _, err := s.Generate(ctx, "taken", keys.ECP256); return err }, keys.ErrExists},
		{"import over taken label", func() error { _, err := s.Import(ctx, "taken", ecKey); return err }, keys.ErrExists},
		{"signer for absent label", func() error { _, err := s.Signer(ctx, "absent"); return err }, keys.ErrNotFound},
		{"generate unknown algorithm", func() error { _, err := s.Generate(ctx, "new", keys.Algorithm("DSA-1024")); return err }, nil},
		{"import small RSA", func() error { _, err := s.Import(ctx, "small", smallRSA); return err }, nil},
		{"import foreign signer", func() error {
			sig, err := s.Signer(ctx, "taken")
			if err != nil {
				return err
			}
			_, err = s.Import(ctx, "copy", sig)
			return err
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	labels, err := s.Labels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"taken"}; !slices.Equal(labels, want) {
		t.Errorf("failed operations left keys behind: Labels = %q, want %q", labels, want)
	}
}

func TestSoftwareBadLabels(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSoftware(t)
	for _, label := range []string{
		"",
		".hidden",
		"..",
		"../escape",
		"a/b",
		`a\b`,
		"/etc/passwd",
		"-flag",
		"_under",
		"with space",
		"nul\x00byte",
		"new\nline",
		"ünïcode",
		strings.Repeat("a", 65),
	} {
		t.Run(label, func(t *testing.T) {
			if err := keys.ValidateLabel(label); !errors.Is(err, keys.ErrInvalidLabel) {
				t.Errorf("ValidateLabel: err = %v, want ErrInvalidLabel", err)
			}
			if _, err := s.Generate(ctx, label, keys.ECP256); !errors.Is(err, keys.ErrInvalidLabel) {
				t.Errorf("Generate: err = %v, want ErrInvalidLabel", err)
			}
			if _, err := s.Signer(ctx, label); !errors.Is(err, keys.ErrInvalidLabel) {
				t.Errorf("Signer: err = %v, want ErrInvalidLabel", err)
			}
		})
	}
	for _, label := range []string{"a", "0", "sign-2026.01_A", strings.Repeat("z", 64)} {
		if err := keys.ValidateLabel(label); err != nil {
			t.Errorf("ValidateLabel(%q) = %v, want nil", label, err)
		}
	}
	entries, err := os.ReadDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("bad labels created files: %v", entries)
	}
}

func TestSoftwareLabels(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSoftware(t)
	if labels, err := s.Labels(ctx); err != nil || len(labels) != 0 {
		t.Fatalf("Labels on empty store = %q, %v; want none", labels, err)
	}
	ed := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	if _, err := s.Import(ctx, "b-imported", ed); err != nil {
		t.Fatalf("Import: %v", err)
	}
	if _, err := s.Generate(ctx, "a-generated", keys.ECP256); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	// Files that are not keys of the store are ignored.
	for _, name := range []string{"README", ".a-generated.key.123.tmp", "bad label.key", "c.key.bak"} {
		if err := os.WriteFile(filepath.Join(s.Dir(), name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(s.Dir(), "dir.key"), 0o700); err != nil {
		t.Fatal(err)
	}
	labels, err := s.Labels(ctx)
	if err != nil {
		t.Fatalf("Labels: %v", err)
	}
	if want := []string{"a-generated", "b-imported"}; !slices.Equal(labels, want) {
		t.Errorf("Labels = %q, want %q", labels, want)
	}

	// The imported key survives a reopen and is the same key.
	reopened, err := keys.NewSoftware(s.Dir(), []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reopened.Close() }()
	sig, err := reopened.Signer(ctx, "b-imported")
	if err != nil {
		t.Fatalf("Signer: %v", err)
	}
	if !ed.Public().(ed25519.PublicKey).Equal(sig.Public()) {
		t.Error("imported key changed on reload")
	}
	checkSigns(t, sig, "")
}

// TestSoftwareConcurrent races Generate calls for one label (exactly one must
// win, the rest get ErrExists) and Signer calls that all decrypt the same
// file (all must agree). Run it with -race.
func TestSoftwareConcurrent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSoftware(t)
	const n = 3
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []crypto.Signer
		errs    []error
	)
	for range n {
		wg.Go(func() {
			sig, err := s.Generate(ctx, "contended", keys.ECP256)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			winners = append(winners, sig)
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d concurrent Generate calls succeeded, want 1 (errors: %v)", len(winners), errs)
	}
	for _, err := range errs {
		if !errors.Is(err, keys.ErrExists) {
			t.Errorf("losing Generate: err = %v, want ErrExists", err)
		}
	}

	reopened, err := keys.NewSoftware(s.Dir(), []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reopened.Close() }()
	sigs := make([]crypto.Signer, n)
	loadErrs := make([]error, n)
	for i := range n {
		wg.Go(func() { sigs[i], loadErrs[i] = reopened.Signer(ctx, "contended") })
	}
	wg.Wait()
	for i := range n {
		if loadErrs[i] != nil {
			t.Fatalf("Signer: %v", loadErrs[i])
		}
		samePublic(t, winners[0], sigs[i])
	}
}

func TestNewSoftwareRefuses(t *testing.T) {
	t.Parallel()
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, pass string
	}{
		{"empty passphrase", filepath.Join(t.TempDir(), "k"), ""},
		{"empty dir", "", testPassphrase},
		{"group-readable dir", open, testPassphrase},
		{"dir is a file", file, testPassphrase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := keys.NewSoftware(tt.dir, []byte(tt.pass))
			if err == nil {
				_ = s.Close()
				t.Fatal("NewSoftware succeeded")
			}
		})
	}
}

func TestSoftwareClosed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSoftware(t)
	sig, err := s.Generate(ctx, "k", keys.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Signer(ctx, "k"); err == nil {
		t.Error("Signer after Close succeeded")
	}
	if _, err := s.Generate(ctx, "k2", keys.ECP256); err == nil {
		t.Error("Generate after Close succeeded")
	}
	if _, err := s.Labels(ctx); err == nil {
		t.Error("Labels after Close succeeded")
	}
	// Signers handed out earlier keep working.
	checkSigns(t, sig, keys.ECP256)

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	s2 := newSoftware(t)
	if _, err := s2.Generate(cancelled, "k", keys.ECP256); !errors.Is(err, context.Canceled) {
		t.Errorf("Generate with cancelled context: err = %v, want context.Canceled", err)
	}
}

// TestSoftwareOpenSSL checks the file format against OpenSSL in both
// directions: OpenSSL reads what the store writes (and gets the same public
// key), and the store reads what OpenSSL writes.
func TestSoftwareOpenSSL(t *testing.T) {
	t.Parallel()
	openssl := testutil.RequireTool(t, "openssl")
	ctx := t.Context()
	env := append(os.Environ(), "JISR_TEST_PASS="+testPassphrase, "JISR_TEST_WRONG=wrong")
	run := func(t *testing.T, args ...string) ([]byte, error) {
		t.Helper()
		cmd := exec.CommandContext(ctx, openssl, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, errors.New(err.Error() + ": " + stderr.String())
		}
		return out, nil
	}

	t.Run("openssl reads jisr keys", func(t *testing.T) {
		s := newSoftware(t)
		for _, alg := range []keys.Algorithm{keys.ECP256, keys.RSA2048} {
			t.Run(string(alg), func(t *testing.T) {
				label := strings.ToLower(string(alg))
				sig, err := s.Generate(ctx, label, alg)
				if err != nil {
					t.Fatalf("Generate: %v", err)
				}
				path := filepath.Join(s.Dir(), label+".key")
				if _, err := run(t, "pkey", "-in", path, "-passin", "env:JISR_TEST_PASS", "-noout"); err != nil {
					t.Fatalf("openssl pkey -noout: %v", err)
				}
				out, err := run(t, "pkey", "-in", path, "-passin", "env:JISR_TEST_PASS", "-pubout")
				if err != nil {
					t.Fatalf("openssl pkey -pubout: %v", err)
				}
				spki, err := x509.MarshalPKIXPublicKey(sig.Public())
				if err != nil {
					t.Fatal(err)
				}
				want := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
				if !bytes.Equal(out, want) {
					t.Errorf("openssl sees public key\n%s\nwant\n%s", out, want)
				}
				if _, err := run(t, "pkey", "-in", path, "-passin", "env:JISR_TEST_WRONG", "-noout"); err == nil {
					t.Error("openssl read the key with the wrong passphrase: is it encrypted at all?")
				}
			})
		}
	})

	t.Run("jisr reads openssl keys", func(t *testing.T) {
		s := newSoftware(t)
		for _, tt := range []struct {
			label string
			args  []string
		}{
			{"openssl-ec", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"}},
			{"openssl-rsa", []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"}},
		} {
			t.Run(tt.label, func(t *testing.T) {
				path := filepath.Join(s.Dir(), tt.label+".key")
				args := append([]string{"genpkey"}, tt.args...)
				args = append(args, "-aes-256-cbc", "-pass", "env:JISR_TEST_PASS", "-out", path)
				if _, err := run(t, args...); err != nil {
					t.Fatalf("openssl genpkey: %v", err)
				}
				out, err := run(t, "pkey", "-in", path, "-passin", "env:JISR_TEST_PASS", "-pubout")
				if err != nil {
					t.Fatalf("openssl pkey -pubout: %v", err)
				}
				sig, err := s.Signer(ctx, tt.label)
				if err != nil {
					t.Fatalf("Signer: %v", err)
				}
				checkSigns(t, sig, "")
				block, _ := pem.Decode(out)
				if block == nil {
					t.Fatalf("openssl printed no PEM: %s", out)
				}
				pub, err := x509.ParsePKIXPublicKey(block.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(sig.Public()) {
					t.Error("jisr and openssl disagree on the public key")
				}
			})
		}
	})
}
