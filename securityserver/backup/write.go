package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// Plan says what a backup holds.
type Plan struct {
	// Server is the security server backed up.
	Server xroad.ServerID
	// Dir is the security server directory. Every regular file under it is
	// included, except
	//   - Exclude;
	//   - temporary files of atomic writes in progress (names beginning
	//     with "." and containing ".tmp", as jisr writes them);
	//   - SQLite databases, found by their header, which are copied
	//     consistently with VACUUM INTO instead, and their -wal, -shm and
	//     -journal companions.
	// Symbolic links and other special files are refused.
	Dir string
	// Exclude are paths relative to Dir (files or whole directories) left
	// out, such as the spool of message bodies in transit.
	Exclude []string
	// PostgresDSN, when not empty, names the PostgreSQL database (its
	// search_path schema) whose tables of Schemas are dumped, with the
	// schemas' versions.
	PostgresDSN string
	// Schemas are the security server's database schemas in PostgreSQL.
	Schemas []Schema
}

// WriteOptions configures Write.
type WriteOptions struct {
	// Signer signs the manifest: the owner's sign key. Required.
	Signer Signer
	// Recipient, when set, is the public key (RSA or ECDSA, see
	// ParseRecipient) the backup is encrypted to.
	Recipient crypto.PublicKey
	// Clock dates the backup (default: the system clock).
	Clock clock.Clock
	// Version is the jisr version recorded (default: BuildVersion()).
	Version string
	// TempDir is where the contents are staged before they are written
	// (default: os.TempDir()). It needs room for a copy of the databases.
	TempDir string
}

// BuildVersion returns the running binary's module version and VCS
// revision as far as the build recorded them.
func BuildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev != "" {
		v += " " + rev + modified
	}
	return v
}

// Write stages the plan's contents in a private temporary directory,
// signs their manifest and writes the backup to w (encrypted when
// o.Recipient is set). It returns the manifest. Nothing in p.Dir or the
// database is changed; the security server may be running.
func Write(ctx context.Context, w io.Writer, p Plan, o WriteOptions) (*Manifest, error) {
	if err := p.Server.Validate(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := o.Signer.check(p.Server); err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = clock.System()
	}
	if o.Version == "" {
		o.Version = BuildVersion()
	}
	if o.Recipient != nil {
		if _, err := keyAlgorithm(o.Recipient); err != nil {
			return nil, fmt.Errorf("backup: recipient: %w", err)
		}
	}
	stage, err := os.MkdirTemp(o.TempDir, "jisr-backup-")
	if err != nil {
		return nil, fmt.Errorf("backup: staging: %w", err)
	}
	defer os.RemoveAll(stage)

	m := &Manifest{Server: p.Server, CreatedAt: o.Clock.Now().UTC().Truncate(time.Microsecond), JisrVersion: o.Version}
	m.Database = Database{Driver: DriverSQLite, Schema: map[string]int64{}}
	if m.Files, err = stageDir(ctx, p, filepath.Join(stage, "dir")); err != nil {
		return nil, err
	}
	if p.PostgresDSN != "" {
		db, files, err := dumpPostgres(ctx, p.PostgresDSN, filepath.Join(stage, "postgres"), p.Schemas)
		if err != nil {
			return nil, err
		}
		m.Database = db
		m.Files = append(m.Files, files...)
	}
	slices.SortFunc(m.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })

	payload, err := m.marshal()
	if err != nil {
		return nil, err
	}
	signed, err := signManifest(payload, o.Signer)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(signed)
	m.SHA256, m.Signer = sum[:], o.Signer.Chain[0]
	if err := writeArchive(ctx, w, stage, m, signed, o.Recipient); err != nil {
		return nil, err
	}
	return m, nil
}

// stageDir copies every regular file of the plan's directory into dst,
// hashing as it copies, and returns their entries. SQLite databases are
// copied with VACUUM INTO.
func stageDir(ctx context.Context, plan Plan, dst string) ([]File, error) {
	root, err := filepath.Abs(plan.Dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("backup: %s is not a directory (%v)", root, err)
	}
	skip := map[string]bool{}
	for _, e := range plan.Exclude {
		skip[path.Clean(filepath.ToSlash(e))] = true
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return nil, err
	}
	var files []File
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != root {
				return nil // removed while we walked (a temporary file)
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if skip[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("backup: %s is not a regular file or directory (%s): refusing to back it up", p, d.Type())
		case isTemporary(d.Name()):
			return nil
		}
		if err := checkEntryPath(DirPrefix + rel); err != nil {
			return fmt.Errorf("backup: %s: %w", p, err)
		}
		if companion, err := isSQLiteCompanion(p); err != nil || companion {
			return err
		}
		staged := filepath.Join(dst, filepath.FromSlash(rel))
		sqlite, err := isSQLite(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return fmt.Errorf("backup: %w", err)
		case sqlite:
			f, err := stageSQLite(ctx, p, staged)
			if err != nil {
				return err
			}
			f.Path = DirPrefix + rel
			files = append(files, f)
			return nil
		}
		f, err := copyFile(p, staged)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		f.Path = DirPrefix + rel
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// isTemporary reports whether name is a temporary file of an atomic write
// in progress, as jisr names them (".name.tmp-…", ".label.….tmp").
func isTemporary(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp")
}

// isSQLiteCompanion reports whether p is the -wal, -shm or -journal file
// of an SQLite database.
func isSQLiteCompanion(p string) (bool, error) {
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if db, ok := strings.CutSuffix(p, suffix); ok {
			sqlite, err := isSQLite(db)
			if errors.Is(err, fs.ErrNotExist) {
				return false, nil
			}
			return sqlite, err
		}
	}
	return false, nil
}

// stageSQLite copies the database src to dst consistently.
func stageSQLite(ctx context.Context, src, dst string) (File, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return File{}, err
	}
	fi, err := os.Stat(src)
	if err != nil {
		return File{}, err
	}
	if err := snapshotSQLite(ctx, src, dst); err != nil {
		return File{}, err
	}
	f, err := hashFile(dst)
	if err != nil {
		return File{}, err
	}
	f.Mode = fi.Mode().Perm()
	return f, nil
}

// copyFile copies src to dst (mode 0600 while staged), returning its size,
// permission bits and SHA-256.
func copyFile(src, dst string) (File, error) {
	in, err := os.Open(src)
	if err != nil {
		return File{}, err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return File{}, err
	}
	if !fi.Mode().IsRegular() {
		return File{}, fmt.Errorf("%s is not a regular file", src)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return File{}, err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return File{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, fmt.Errorf("copying %s: %w", src, err)
	}
	return File{Mode: fi.Mode().Perm(), Size: n, SHA256: h.Sum(nil)}, nil
}

func hashFile(p string) (File, error) {
	f, err := os.Open(p)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, err
	}
	return File{Size: n, SHA256: h.Sum(nil)}, nil
}

// writeArchive writes the (optionally encrypted) gzip tar: the signed
// manifest, then every staged file in the manifest's order.
func writeArchive(ctx context.Context, w io.Writer, stage string, m *Manifest, signed []byte, recipient crypto.PublicKey) error {
	out := w
	var enc *encryptWriter
	if recipient != nil {
		var err error
		if enc, err = newEncryptWriter(w, recipient); err != nil {
			return err
		}
		out = enc
	}
	gz, err := gzip.NewWriterLevel(out, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	mtime := m.CreatedAt.Truncate(time.Second)
	header := func(name string, mode fs.FileMode, size int64) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(mode.Perm()), Size: size, ModTime: mtime}
	}
	if err := tw.WriteHeader(header(ManifestEntry, 0o644, int64(len(signed)))); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := tw.Write(signed); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	for _, f := range m.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := tw.WriteHeader(header(f.Path, f.Mode, f.Size)); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		in, err := os.Open(filepath.Join(stage, filepath.FromSlash(f.Path)))
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		n, err := io.Copy(tw, in)
		_ = in.Close()
		if err != nil {
			return fmt.Errorf("backup: writing %s: %w", f.Path, err)
		}
		if n != f.Size {
			return fmt.Errorf("backup: %s changed while staged", f.Path)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	return nil
}
