package archive

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/fsutil"
	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// Defaults of the archiver, X-Road's: an archive every 6 hours, archived
// records kept 30 days in the log.
const (
	DefaultArchiveInterval = 6 * time.Hour
	DefaultRetention       = 30 * 24 * time.Hour
	// DefaultMaxRecords bounds the records of one archive file; a longer
	// backlog is written as several chained files in one round.
	DefaultMaxRecords = 100_000
)

// Cleaner is the message log's retention side. *msglog.Log satisfies it.
type Cleaner interface {
	Purge(ctx context.Context, archivedTo int64, before time.Time) (msglog.PurgeResult, error)
	Purged(ctx context.Context) (msglog.Purged, error)
	Head(ctx context.Context) (int64, error)
}

var _ Cleaner = (*msglog.Log)(nil)

// ArchiverConfig configures an Archiver.
type ArchiverConfig struct {
	// Dir receives the archive files. Required; created when missing.
	Dir string
	// Source is the message log to archive and Cleaner its retention side
	// (the same *msglog.Log).
	Source  Source
	Cleaner Cleaner
	// Write gives the server, the manifest signer, the clock and the
	// optional auditor recipient; From, To and PrevManifestHash are the
	// archiver's.
	Write WriteOptions
	// Signer, when set, is asked for the manifest signer at every round
	// (so that a renewed certificate is used) instead of Write.Signer.
	Signer func(context.Context) (ManifestSigner, error)
	// Interval is the time between rounds (DefaultArchiveInterval when 0).
	Interval time.Duration
	// Retention is how long archived records stay in the log
	// (DefaultRetention when 0; negative keeps them forever).
	Retention time.Duration
	// MaxRecords bounds one file (DefaultMaxRecords when 0).
	MaxRecords int64
	// Logger receives failures; Registerer the metrics (both optional).
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Archiver writes the time-stamped message log into a directory as a
// chain of archive files and then deletes what is archived and older than
// the retention period from the log. Its state is the directory itself:
// each file is named after its first and last record and its manifest
// hash, and is renamed into place only once it is complete and synced, so
// a crash at any point leaves either the previous state or the new one.
type Archiver struct {
	cfg     ArchiverConfig
	clk     clock.Clock
	log     *slog.Logger
	lag     prometheus.Gauge
	last    prometheus.Gauge
	fails   prometheus.Counter
	written prometheus.Counter
	purged  prometheus.Counter
}

// NewArchiver checks cfg and registers the archiver's metrics.
func NewArchiver(cfg ArchiverConfig) (*Archiver, error) {
	if cfg.Dir == "" || cfg.Source == nil || cfg.Cleaner == nil {
		return nil, errors.New("archive: archiver needs a directory, a source and a cleaner")
	}
	if cfg.Signer == nil {
		if err := checkSigner(cfg.Write.Signer, cfg.Write.Server); err != nil {
			return nil, err
		}
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultArchiveInterval
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	a := &Archiver{cfg: cfg, clk: cfg.Write.Clock, log: cfg.Logger}
	if a.clk == nil {
		a.clk = clock.System()
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.lag = prometheus.NewGauge(prometheus.GaugeOpts{Name: "jisr_ss_archive_lag_records",
		Help: "Records in the message log after the last archived one, at the last archiving round."})
	a.last = prometheus.NewGauge(prometheus.GaugeOpts{Name: "jisr_ss_archive_last_success_timestamp_seconds",
		Help: "Unix time of the last archiving round that succeeded."})
	a.fails = prometheus.NewCounter(prometheus.CounterOpts{Name: "jisr_ss_archive_failures_total",
		Help: "Archiving rounds that failed."})
	a.written = prometheus.NewCounter(prometheus.CounterOpts{Name: "jisr_ss_archive_files_total",
		Help: "Archive files written."})
	a.purged = prometheus.NewCounter(prometheus.CounterOpts{Name: "jisr_ss_archive_purged_records_total",
		Help: "Archived records deleted from the message log after the retention period."})
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{a.lag, a.last, a.fails, a.written, a.purged} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("archive: register metrics: %w", err)
			}
		}
	}
	return a, nil
}

// Run archives every interval until ctx ends, the first round at once.
func (a *Archiver) Run(ctx context.Context) {
	tick := time.NewTicker(a.cfg.Interval)
	defer tick.Stop()
	for {
		if _, err := a.RunOnce(ctx); err != nil && ctx.Err() == nil {
			a.log.WarnContext(ctx, "message log archiving failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Round says what one archiving round did.
type Round struct {
	// Files are the archive files written, in order.
	Files []string
	// Manifests are their manifests.
	Manifests []Manifest
	// Purged is what retention deleted from the log.
	Purged msglog.PurgeResult
}

// RunOnce writes every time-stamped record not yet archived as one or
// more archive files chained to the last one in the directory, then
// deletes from the log the archived records older than the retention
// period.
func (a *Archiver) RunOnce(ctx context.Context) (Round, error) {
	r, err := a.runOnce(ctx)
	if err != nil {
		a.fails.Inc()
		return r, err
	}
	a.last.Set(float64(a.clk.Now().Unix()))
	return r, nil
}

func (a *Archiver) runOnce(ctx context.Context) (Round, error) {
	var r Round
	if err := os.MkdirAll(a.cfg.Dir, 0o700); err != nil {
		return r, fmt.Errorf("archive: %w", err)
	}
	// Two archivers (the server's and `jisr ss archive`) never write the
	// same range into one directory.
	lock, err := fsutil.Lock(filepath.Join(a.cfg.Dir, ".lock"), true)
	if err != nil {
		return r, fmt.Errorf("archive: %w", err)
	}
	defer lock.Close()
	// Under the lock, temporary files are leftovers of a crashed round.
	if stale, err := filepath.Glob(filepath.Join(a.cfg.Dir, ".archive-*.tmp")); err == nil {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	last, err := LastArchive(a.cfg.Dir)
	if err != nil {
		return r, err
	}
	p, err := a.cfg.Cleaner.Purged(ctx)
	if err != nil {
		return r, err
	}
	if last.To < p.LastID {
		// Records were deleted that this directory does not hold (an
		// empty directory, or another node's retention): start a new
		// chain at the first record the log still has. An auditor
		// verifying the directory sees the gap.
		a.log.WarnContext(ctx, "the log was purged beyond this archive directory: the new archives start a new chain",
			"dir", a.cfg.Dir, "archivedTo", last.To, "from", p.LastID+1)
		last = FileInfo{To: p.LastID}
	}
	base := a.cfg.Write
	if a.cfg.Signer != nil {
		if base.Signer, err = a.cfg.Signer(ctx); err != nil {
			return r, fmt.Errorf("archive: manifest signer: %w", err)
		}
	}
	for {
		opts := base
		opts.From, opts.To, opts.PrevManifestHash = last.To+1, last.To+a.cfg.MaxRecords, last.ManifestHash
		name, m, err := a.writeOne(ctx, opts)
		if errors.Is(err, ErrNothingToArchive) {
			break
		}
		if err != nil {
			return r, err
		}
		a.written.Inc()
		r.Files, r.Manifests = append(r.Files, name), append(r.Manifests, m)
		last = FileInfo{Name: name, From: m.From, To: m.To, ManifestHash: m.Hash}
	}
	head, err := a.cfg.Cleaner.Head(ctx)
	if err != nil {
		return r, err
	}
	a.lag.Set(float64(max(head-last.To, 0)))
	if a.cfg.Retention > 0 && last.To > 0 {
		r.Purged, err = a.cfg.Cleaner.Purge(ctx, last.To, a.clk.Now().Add(-a.cfg.Retention))
		if err != nil {
			return r, err
		}
		a.purged.Add(float64(r.Purged.Records))
	}
	return r, nil
}

// writeOne writes one archive to a temporary file, syncs it, and renames
// it to its final name.
func (a *Archiver) writeOne(ctx context.Context, opts WriteOptions) (string, Manifest, error) {
	f, err := os.CreateTemp(a.cfg.Dir, ".archive-*.tmp")
	if err != nil {
		return "", Manifest{}, fmt.Errorf("archive: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	m, err := Write(ctx, f, a.cfg.Source, opts)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", Manifest{}, err
	}
	name := FileName(m, opts.Recipient != nil)
	if err := os.Rename(tmp, filepath.Join(a.cfg.Dir, name)); err != nil {
		return "", Manifest{}, fmt.Errorf("archive: %w", err)
	}
	if err := fsutil.SyncDir(a.cfg.Dir); err != nil {
		return "", Manifest{}, fmt.Errorf("archive: sync %s: %w", a.cfg.Dir, err)
	}
	return name, m, nil
}

// fileNameRE matches the archiver's file names.
var fileNameRE = regexp.MustCompile(`^archive-([0-9]{12})-([0-9]{12})-([0-9a-f]{64})\.tar(\.jwe)?$`)

// FileName is the archiver's name for the archive m describes:
// archive-FROM-TO-MANIFESTHASH.tar, with .jwe appended when encrypted.
func FileName(m Manifest, encrypted bool) string {
	ext := ".tar"
	if encrypted {
		ext += ".jwe"
	}
	return fmt.Sprintf("archive-%012d-%012d-%s%s", m.From, m.To, hex.EncodeToString(m.Hash), ext)
}

// FileInfo is what an archive's file name says about it.
type FileInfo struct {
	Name         string
	From, To     int64
	ManifestHash []byte
	Encrypted    bool
}

// ParseFileName reads an archiver file name.
func ParseFileName(name string) (FileInfo, bool) {
	m := fileNameRE.FindStringSubmatch(name)
	if m == nil {
		return FileInfo{}, false
	}
	from, err1 := strconv.ParseInt(m[1], 10, 64)
	to, err2 := strconv.ParseInt(m[2], 10, 64)
	h, err3 := hex.DecodeString(m[3])
	if err1 != nil || err2 != nil || err3 != nil || to < from {
		return FileInfo{}, false
	}
	return FileInfo{Name: name, From: from, To: to, ManifestHash: h, Encrypted: m[4] != ""}, true
}

// Files lists the archive files in dir in chain order (by first record).
func Files(dir string) ([]FileInfo, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	var out []FileInfo
	for _, de := range des {
		if fi, ok := ParseFileName(de.Name()); ok && de.Type().IsRegular() {
			out = append(out, fi)
		}
	}
	slices.SortFunc(out, func(a, b FileInfo) int { return cmp.Compare(a.From, b.From) })
	return out, nil
}

// LastArchive returns the archive of dir that ends last (a zero FileInfo
// when there is none).
func LastArchive(dir string) (FileInfo, error) {
	fs, err := Files(dir)
	if err != nil || len(fs) == 0 {
		return FileInfo{}, err
	}
	return slices.MaxFunc(fs, func(a, b FileInfo) int { return cmp.Compare(a.To, b.To) }), nil
}
