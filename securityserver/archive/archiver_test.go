package archive

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func (w *world) archiver(t *testing.T, dir string, retention time.Duration, reg prometheus.Registerer) *Archiver {
	t.Helper()
	a, err := NewArchiver(ArchiverConfig{Dir: dir, Source: w.log, Cleaner: w.log,
		Write:     WriteOptions{Server: serverID, Signer: w.signer, Clock: w.clk},
		Retention: retention, MaxRecords: 6, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (w *world) verifyDir(t *testing.T, dir string) []*Report {
	t.Helper()
	fis, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []SequenceFile
	for _, fi := range fis {
		b, err := os.ReadFile(filepath.Join(dir, fi.Name))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, SequenceFile{Name: fi.Name, R: bytes.NewReader(b), Size: int64(len(b))})
	}
	tr := w.trust
	tr.PrevManifestHash = []byte{}
	reps, err := VerifySequence(w.ctx, files, tr)
	if err != nil {
		t.Fatalf("VerifySequence: %v", err)
	}
	return reps
}

// TestArchiver archives three stamped ranges in files of at most six
// records, chained, then deletes the archived records older than the
// retention period but the newest range; a second round with new records
// continues the chain; the directory alone is the archiver's state.
func TestArchiver(t *testing.T) {
	w := newWorld(t, 1, 1, 1) // records 1-4, 5-8, 9-12, each range stamped
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	a := w.archiver(t, dir, 30*time.Minute, reg) // records are an hour old
	r, err := a.RunOnce(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Files) != 3 || r.Manifests[0].To != 4 || r.Manifests[2].To != 12 {
		t.Fatalf("round wrote %v", r.Files)
	}
	if r.Purged.Records != 8 || r.Purged.Purged.LastID != 8 {
		t.Fatalf("purged %+v, want records 1-8 (the newest range stays)", r.Purged)
	}
	if reps := w.verifyDir(t, dir); len(reps) != 3 || reps[2].LastID != 12 {
		t.Fatalf("verified %d files", len(reps))
	}
	if got := testutil.ToFloat64(a.written); got != 3 {
		t.Errorf("files metric %v", got)
	}
	if got := testutil.ToFloat64(a.lag); got != 0 {
		t.Errorf("lag metric %v, want 0", got)
	}

	// New records: unstamped ones are lag, stamped ones go into a fourth
	// file, chained to the third — by a new archiver that knows nothing
	// but the directory.
	w.exchanges(t, 1)
	w.stamp(t)
	w.exchanges(t, 1)
	a2 := w.archiver(t, dir, 30*time.Minute, nil)
	r, err = a2.RunOnce(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Files) != 1 || r.Manifests[0].From != 13 || r.Manifests[0].To != 16 {
		t.Fatalf("second round wrote %+v", r.Manifests)
	}
	if got := testutil.ToFloat64(a2.lag); got != 4 {
		t.Errorf("lag metric %v, want 4 (one exchange not stamped)", got)
	}
	if reps := w.verifyDir(t, dir); len(reps) != 4 {
		t.Fatalf("verified %d files", len(reps))
	}
	// Nothing new: nothing written.
	if r, err := a2.RunOnce(w.ctx); err != nil || len(r.Files) != 0 {
		t.Fatalf("idle round: %v, %v", r.Files, err)
	}
	// No temporary file is left behind.
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") && de.Name() != ".lock" {
			t.Errorf("left %s", de.Name())
		}
	}
}

// TestVerifySequenceDetectsGaps: a missing file in the middle, or files
// given out of order, fail naming the file.
func TestVerifySequenceDetectsGaps(t *testing.T) {
	w := newWorld(t, 1, 1, 1)
	dir := t.TempDir()
	if _, err := w.archiver(t, dir, -1, nil).RunOnce(w.ctx); err != nil {
		t.Fatal(err)
	}
	fis, _ := Files(dir)
	load := func(fi FileInfo) SequenceFile {
		b, err := os.ReadFile(filepath.Join(dir, fi.Name))
		if err != nil {
			t.Fatal(err)
		}
		return SequenceFile{Name: fi.Name, R: bytes.NewReader(b), Size: int64(len(b))}
	}
	for _, tc := range []struct {
		name  string
		files []FileInfo
		want  string
	}{
		{"middle missing", []FileInfo{fis[0], fis[2]}, fis[2].Name},
		{"reordered", []FileInfo{fis[0], fis[2], fis[1]}, fis[2].Name},
		{"first missing", []FileInfo{fis[1], fis[2]}, fis[1].Name},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var files []SequenceFile
			for _, fi := range tc.files {
				files = append(files, load(fi))
			}
			tr := w.trust
			tr.PrevManifestHash = []byte{}
			_, err := VerifySequence(w.ctx, files, tr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("VerifySequence = %v, want a failure naming %s", err, tc.want)
			}
		})
	}
}

func TestFileNames(t *testing.T) {
	m := Manifest{From: 5, To: 1234, Hash: bytes.Repeat([]byte{0xab}, 32)}
	for _, enc := range []bool{false, true} {
		name := FileName(m, enc)
		fi, ok := ParseFileName(name)
		if !ok || fi.From != 5 || fi.To != 1234 || !bytes.Equal(fi.ManifestHash, m.Hash) || fi.Encrypted != enc {
			t.Fatalf("ParseFileName(%q) = %+v, %v", name, fi, ok)
		}
	}
	for _, bad := range []string{"archive-1-2-ab.tar", "archive-000000000002-000000000001-" + strings.Repeat("a", 64) + ".tar", "x.tar"} {
		if _, ok := ParseFileName(bad); ok {
			t.Errorf("ParseFileName(%q) accepted", bad)
		}
	}
}

// TestArchiverAfterForeignPurge: when another archiver's retention deleted
// records this directory never got, the next round starts a new chain at
// the first record left instead of failing forever, and the directory no
// longer verifies as one sequence (the gap is the auditor's to see).
func TestArchiverAfterForeignPurge(t *testing.T) {
	w := newWorld(t, 1) // records 1-4
	mine, theirs := t.TempDir(), t.TempDir()
	if _, err := w.archiver(t, mine, -1, nil).RunOnce(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.exchanges(t, 1) // 5-8
	w.stamp(t)
	w.exchanges(t, 1) // 9-12
	w.stamp(t)
	if r, err := w.archiver(t, theirs, 30*time.Minute, nil).RunOnce(w.ctx); err != nil || r.Purged.Purged.LastID != 8 {
		t.Fatalf("the other archiver: %+v, %v; want records up to 8 purged", r.Purged, err)
	}
	r, err := w.archiver(t, mine, -1, nil).RunOnce(w.ctx)
	if err != nil || len(r.Manifests) != 1 || r.Manifests[0].From != 9 || len(r.Manifests[0].PrevManifestHash) != 0 {
		t.Fatalf("round after the foreign purge: %+v, %v; want one new chain from record 9", r.Manifests, err)
	}
	fis, _ := Files(mine)
	var files []SequenceFile
	for _, fi := range fis {
		b, err := os.ReadFile(filepath.Join(mine, fi.Name))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, SequenceFile{Name: fi.Name, R: bytes.NewReader(b), Size: int64(len(b))})
	}
	tr := w.trust
	tr.PrevManifestHash = []byte{}
	if _, err := VerifySequence(w.ctx, files, tr); err == nil {
		t.Fatal("a directory with a gap verified as one sequence")
	}
}
