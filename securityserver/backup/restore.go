package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/fsutil"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// RestoreOptions configures Restore.
type RestoreOptions struct {
	// Dir is the security server directory to restore into. It may be
	// missing (its parent must exist); an existing one is replaced.
	// Required unless VerifyOnly.
	Dir string
	// Server is the security server the backup must be of. Required.
	Server xroad.ServerID
	// Trust holds the roots the manifest signer's chain must end at.
	// Required.
	Trust Trust
	// DecryptKey opens an encrypted backup (see ParseDecryptionKey).
	DecryptKey crypto.Signer
	// Clock tells the time the creation time is checked against (default:
	// the system clock).
	Clock clock.Clock
	// VerifyOnly checks the whole backup and changes nothing.
	VerifyOnly bool
	// Schemas are the database schemas this security server knows (see
	// Plan.Schemas). A PostgreSQL backup of a schema not among them is
	// refused.
	Schemas []Schema
	// Prepare is called once every entry has been verified and written to
	// a staging directory, before anything is changed, with the staged
	// security server directory: it checks the staged configuration (an
	// error refuses the restore) and, for a PostgreSQL backup, returns the
	// DSN of the database to restore the tables into. Required unless
	// VerifyOnly.
	Prepare func(ctx context.Context, dir string, m *Manifest) (postgresDSN string, err error)
}

// Restore verifies the backup r and then restores it.
//
// Verification comes first and covers everything: the manifest's JWS and
// its signer (a sign certificate of o.Server's owner chaining to o.Trust at
// the backup's creation time), o.Server itself, then every entry, in the
// manifest's order, by name, type, size and SHA-256, and the end of the
// stream (no extra entries or data; for an encrypted backup, the final
// chunk authenticates). Entries are written to a staging directory beside
// o.Dir while they are checked. Any failure returns a *RefusedError
// (errors.Is(err, ErrRefused)) and leaves o.Dir and the database as they
// were.
//
// Then o.Prepare checks the staged configuration; a PostgreSQL backup's
// tables replace the database's in one transaction; and the staged
// directory takes o.Dir's place: the old directory is renamed aside, the new
// one renamed in, and the old one removed once that succeeded. The security
// server must be stopped (all its nodes, for PostgreSQL).
func Restore(ctx context.Context, r io.Reader, o RestoreOptions) (*Manifest, error) {
	if err := o.Server.Validate(); err != nil {
		return nil, fmt.Errorf("backup: restore: the expected server: %w", err)
	}
	if o.Trust.Roots == nil {
		return nil, errors.New("backup: restore: no trusted roots")
	}
	if o.Clock == nil {
		o.Clock = clock.System()
	}
	var target string
	if !o.VerifyOnly {
		if o.Dir == "" || o.Prepare == nil {
			return nil, errors.New("backup: restore: a directory and a Prepare function are required")
		}
		var err error
		if target, err = filepath.Abs(o.Dir); err != nil {
			return nil, err
		}
		if fi, err := os.Lstat(target); err == nil && !fi.IsDir() {
			return nil, fmt.Errorf("backup: restore: %s is not a directory", target)
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("backup: restore: %w", err)
		}
	}
	rs := &restoreState{ctx: ctx, o: o}
	in, err := rs.openInput(&ctxReader{ctx: ctx, r: r})
	if err != nil {
		return nil, err
	}
	gz, err := gzip.NewReader(in)
	if err != nil {
		return nil, rs.inputError("", "not a jisr security server backup (no gzip stream)", err)
	}
	gz.Multistream(false)
	tr := tar.NewReader(gz)
	m, err := rs.readManifest(tr)
	if err != nil {
		return nil, err
	}
	if m.Database.Driver == DriverPostgres {
		if known := present(o.Schemas, m.Database.Schema); len(known) != len(m.Database.Schema) {
			return nil, refuse("database", fmt.Sprintf("the backup holds schemas %v, this jisr knows %d of them", m.Database.Schema, len(known)), ErrSchemaMismatch)
		}
	}
	if !o.VerifyOnly {
		if rs.stage, err = os.MkdirTemp(filepath.Dir(target), "."+filepath.Base(target)+".restore-"); err != nil {
			return nil, fmt.Errorf("backup: restore: staging: %w", err)
		}
		defer func() { _ = os.RemoveAll(rs.stage) }()
		if err := os.Mkdir(filepath.Join(rs.stage, "dir"), 0o700); err != nil {
			return nil, err
		}
	}
	for _, f := range m.Files {
		if err := rs.extract(tr, f); err != nil {
			return nil, err
		}
	}
	if err := rs.endOfStream(tr, gz, in); err != nil {
		return nil, err
	}
	if o.VerifyOnly {
		return m, nil
	}
	if err := syncTree(rs.stage); err != nil {
		return nil, fmt.Errorf("backup: restore: %w", err)
	}
	staged := filepath.Join(rs.stage, "dir")
	dsn, err := o.Prepare(ctx, staged, m)
	if err != nil {
		return nil, refuse("dir", "the restored configuration is not usable here", err)
	}
	if m.Database.Driver == DriverPostgres && dsn == "" {
		return nil, errors.New("backup: restore: a PostgreSQL backup needs the database's DSN")
	}
	// The current directory goes aside first, so that a directory that
	// cannot be moved stops the restore before the database changes.
	old, err := moveAside(target)
	if err != nil {
		return nil, err
	}
	putBack := func(cause error) error {
		if old == "" {
			return cause
		}
		if err := os.Rename(old, target); err != nil {
			return fmt.Errorf("%w; putting the previous directory back failed too (%v): it is at %s", cause, err, old)
		}
		return cause
	}
	if m.Database.Driver == DriverPostgres {
		if err := restorePostgres(ctx, dsn, filepath.Join(rs.stage, "postgres"), m.Database, o.Schemas); err != nil {
			return nil, putBack(err)
		}
	}
	if err := os.Rename(staged, target); err != nil {
		return nil, putBack(fmt.Errorf("backup: restore: moving the restored directory in: %w", err))
	}
	if err := fsutil.SyncDir(filepath.Dir(target)); err != nil {
		return nil, fmt.Errorf("backup: restore: %w", err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return nil, fmt.Errorf("backup: restored, but removing the previous directory %s failed: %w", old, err)
		}
	}
	return m, nil
}

// restoreState is one restore in progress.
type restoreState struct {
	ctx   context.Context
	o     RestoreOptions
	stage string // "" when verifying only
}

// inputError turns a failure to read the backup into a refusal, keeping a
// refusal found deeper (the decryption's) and a cancellation as they are.
func (rs *restoreState) inputError(entry, reason string, err error) error {
	if cerr := rs.ctx.Err(); cerr != nil {
		return cerr
	}
	var re *RefusedError
	if errors.As(err, &re) {
		return re
	}
	return refuse(entry, reason, err)
}

// openInput recognises a plain or an encrypted backup and returns the
// reader of its gzip stream.
func (rs *restoreState) openInput(r io.Reader) (*bufio.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(len(encryptedMagic))
	if err != nil && len(head) < len(gzipMagic) {
		return nil, rs.inputError("", "not a jisr security server backup (too short)", err)
	}
	if bytes.HasPrefix(head, gzipMagic) {
		return br, nil
	}
	if string(head) != encryptedMagic {
		return nil, refuse("", "not a jisr security server backup", nil)
	}
	if rs.o.DecryptKey == nil {
		return nil, refuse("", "the backup is encrypted to a recipient's key", ErrEncrypted)
	}
	_, _ = br.Discard(len(encryptedMagic))
	dr, err := newDecryptReader(br, rs.o.DecryptKey)
	if err != nil {
		return nil, rs.inputError("encryption header", "unreadable", err)
	}
	return bufio.NewReaderSize(dr, 64<<10), nil
}

// readManifest reads the first entry and verifies it.
func (rs *restoreState) readManifest(tr *tar.Reader) (*Manifest, error) {
	hdr, err := tr.Next()
	if err != nil {
		return nil, rs.inputError(ManifestEntry, "unreadable", err)
	}
	if hdr.Name != ManifestEntry || !isRegular(hdr) || hdr.Size <= 0 || hdr.Size > maxManifestSize {
		return nil, refuse(ManifestEntry, fmt.Sprintf("the first entry is %q (%d bytes), not the manifest", hdr.Name, hdr.Size), nil)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		return nil, rs.inputError(ManifestEntry, "unreadable", err)
	}
	return verifyManifest(b, rs.o.Trust, rs.o.Server, rs.o.Clock.Now())
}

func isRegular(h *tar.Header) bool { return h.Typeflag == tar.TypeReg }

// extract reads the next entry, which must be f, into the staging
// directory (or nowhere when verifying only), checking its size and hash.
func (rs *restoreState) extract(tr *tar.Reader, f File) (err error) {
	if err := rs.ctx.Err(); err != nil {
		return err
	}
	hdr, err := tr.Next()
	if errors.Is(err, io.EOF) {
		return refuse(f.Path, "missing: the backup ends before it", nil)
	}
	if err != nil {
		return rs.inputError(f.Path, "unreadable", err)
	}
	if hdr.Name != f.Path {
		return refuse(f.Path, fmt.Sprintf("the entry in its place is %q", hdr.Name), nil)
	}
	if !isRegular(hdr) || hdr.Size != f.Size {
		return refuse(f.Path, fmt.Sprintf("type %q, %d bytes: the manifest says a file of %d bytes", hdr.Typeflag, hdr.Size, f.Size), nil)
	}
	var out *os.File
	dst := io.Discard
	if rs.stage != "" {
		p := filepath.Join(rs.stage, filepath.FromSlash(f.Path))
		if !strings.HasPrefix(p, rs.stage+string(filepath.Separator)) {
			return refuse(f.Path, "outside the directory", nil)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("backup: restore: %w", err)
		}
		if out, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return fmt.Errorf("backup: restore: %w", err)
		}
		defer func() {
			if cerr := out.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("backup: restore: %w", cerr)
			}
		}()
		dst = out
	}
	h := sha256.New()
	src := &trackReader{r: tr}
	n, err := io.Copy(io.MultiWriter(dst, h), src)
	if err != nil {
		if src.err != nil {
			return rs.inputError(f.Path, "unreadable", src.err)
		}
		return fmt.Errorf("backup: restore: writing %s: %w", f.Path, err)
	}
	if n != f.Size {
		return refuse(f.Path, fmt.Sprintf("%d bytes, the manifest says %d", n, f.Size), nil)
	}
	if sum := h.Sum(nil); !bytes.Equal(sum, f.SHA256) {
		return refuse(f.Path, fmt.Sprintf("content changed: SHA-256 %s, the manifest says %s", hex.EncodeToString(sum), hex.EncodeToString(f.SHA256)), nil)
	}
	if out != nil {
		if err := out.Chmod(f.Mode.Perm()); err != nil {
			return fmt.Errorf("backup: restore: %w", err)
		}
		if err := out.Sync(); err != nil {
			return fmt.Errorf("backup: restore: %w", err)
		}
	}
	return nil
}

// endOfStream checks that nothing follows the last entry: no further
// entry, only zero padding in the tar stream, an intact gzip trailer, and
// no data after it (for an encrypted backup, reading to the end
// authenticates the final chunk).
func (rs *restoreState) endOfStream(tr *tar.Reader, gz *gzip.Reader, in *bufio.Reader) error {
	hdr, err := tr.Next()
	if err == nil {
		return refuse(hdr.Name, "an entry the manifest does not list", nil)
	}
	if !errors.Is(err, io.EOF) {
		return rs.inputError("", "after the last entry", err)
	}
	zw := &zeroWriter{}
	n, err := io.Copy(zw, io.LimitReader(gz, maxPadding+1))
	if err != nil {
		if zw.nonZero {
			return refuse("", "data after the end of the tar stream", nil)
		}
		return rs.inputError("", "the compressed stream is damaged", err)
	}
	if n > maxPadding {
		return refuse("", fmt.Sprintf("more than %d bytes of padding after the tar stream", maxPadding), nil)
	}
	n, err = io.Copy(io.Discard, in)
	if err != nil {
		return rs.inputError("", "after the compressed stream", err)
	}
	if n > 0 {
		return refuse("", fmt.Sprintf("%d bytes after the end of the backup", n), nil)
	}
	return nil
}

// maxPadding bounds the zero bytes accepted after the tar stream's end
// (tar tools pad to 10 KiB records).
const maxPadding = 64 << 10

// zeroWriter accepts only zero bytes.
type zeroWriter struct{ nonZero bool }

var errNonZero = errors.New("non-zero padding")

func (z *zeroWriter) Write(p []byte) (int, error) {
	for _, b := range p {
		if b != 0 {
			z.nonZero = true
			return 0, errNonZero
		}
	}
	return len(p), nil
}

// trackReader remembers the error its reader returned (other than EOF),
// to tell failures to read the backup from failures to write the copy.
type trackReader struct {
	r   io.Reader
	err error
}

func (t *trackReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		t.err = err
	}
	return n, err
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// syncTree fsyncs every directory under root (files were synced as they
// were written), so that the renames that follow publish complete trees.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return fsutil.SyncDir(p)
	})
}

// moveAside renames target, if it exists, to a fresh name beside it and
// returns that name ("" when there was no target).
func moveAside(target string) (string, error) {
	if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("backup: restore: %w", err)
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	old := target + ".pre-restore-" + hex.EncodeToString(suffix[:])
	if err := os.Rename(target, old); err != nil {
		return "", fmt.Errorf("backup: restore: moving the current directory aside: %w", err)
	}
	return old, nil
}
