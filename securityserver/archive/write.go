package archive

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// Source is what Write and ExportExchange read: a message log. *msglog.Log
// satisfies it.
type Source interface {
	// Find returns records in id order; Write uses only After and Limit.
	Find(ctx context.Context, q msglog.Query) ([]msglog.Record, error)
	// Get returns one record.
	Get(ctx context.Context, id int64) (msglog.Record, error)
	// Timestamps returns the stored time-stamps with ids greater than
	// after, in id order, at most limit of them.
	Timestamps(ctx context.Context, after int64, limit int) ([]msglog.Timestamp, error)
}

var _ Source = (*msglog.Log)(nil)

// ManifestSigner signs manifests: the security server's key (the owner
// member's sign key or the server's auth key) and its certificate chain,
// leaf first. The leaf must fit the sign profile naming the server's owner
// or the auth profile naming the server.
type ManifestSigner struct {
	Key   crypto.Signer
	Chain []*x509.Certificate
}

// WriteOptions configures Write.
type WriteOptions struct {
	// Server is the security server writing the archive. Required.
	Server xroad.ServerID
	// From is the first record to archive (1 when 0). It must be the first
	// record of a time-stamp's range: archives hold whole stamped ranges.
	From int64
	// To is the last record wanted (the last time-stamped record when 0).
	// The archive ends at the last time-stamped record at or before To.
	To int64
	// PrevManifestHash is Manifest.Hash of the previous archive (nil for
	// the first one).
	PrevManifestHash []byte
	// Signer signs the manifest. Required.
	Signer ManifestSigner
	// Clock tells the manifest's creation time (the system clock when nil).
	Clock clock.Clock
	// Recipient, when set, is an auditor's ECDSA P-256 public key: the
	// file is then written encrypted to it (Encrypt), after being built
	// in memory.
	Recipient crypto.PublicKey
}

// Manifest describes a written or verified file.
type Manifest struct {
	// Format is FormatVersion and Kind KindArchive or KindEvidence.
	Format, Kind string
	// Server is the security server that wrote the file.
	Server xroad.ServerID
	// From and To are the first and last record of the file.
	From, To int64
	// PrevHash is the hash of record From-1 (msglog.GenesisHash for the
	// first record) and HeadHash the hash of record To.
	PrevHash, HeadHash []byte
	// PrevManifestHash is the hash of the previous archive's manifest.
	PrevManifestHash []byte
	// MessageID and RequestDigest name the exchange of an evidence file.
	MessageID     string
	RequestDigest []byte
	// CreatedAt is when the file was written.
	CreatedAt time.Time
	// Entries lists every entry but the manifest, in file order.
	Entries []Entry
	// Hash is the SHA-256 of the manifest's JSON (the JWS payload); the
	// next archive's WriteOptions.PrevManifestHash.
	Hash []byte
}

// Entry is one file entry and its digest.
type Entry struct {
	Name   string
	Size   int64
	SHA256 []byte
}

// ErrNothingToArchive is returned by Write when no time-stamped record
// lies in the range asked for.
var ErrNothingToArchive = errors.New("archive: no time-stamped records in range")

// stampedToken is a time-stamp with the hash of the record before its range.
type stampedToken struct {
	msglog.Timestamp
	prevHash []byte
}

// plan says what writeFile puts in a file.
type plan struct {
	kind          string
	from, to      int64
	tokens        []stampedToken // prevHash set for tokens starting before from
	withBody      func(r *msglog.Record) bool
	messageID     string
	requestDigest []byte
}

// Write writes an archive of the records opts selects from src to w and
// returns its manifest. The archive holds the records From..To, where To
// is the end of the last time-stamp at or before opts.To; see docs/protocol.md ("Message-log archives").
// It checks the hash chain as it reads and refuses to sign a broken one.
func Write(ctx context.Context, w io.Writer, src Source, opts WriteOptions) (Manifest, error) {
	from := max(opts.From, 1)
	stamps, err := allTimestamps(ctx, src)
	if err != nil {
		return Manifest{}, err
	}
	var tokens []stampedToken
	for _, ts := range stamps {
		if ts.To < from || (opts.To > 0 && ts.To > opts.To) {
			continue
		}
		if len(tokens) == 0 && ts.From != from {
			return Manifest{}, fmt.Errorf("archive: record %d is not the first of a time-stamped range (the range stamped with it is %d..%d)", from, ts.From, ts.To)
		}
		if len(tokens) > 0 && ts.From != tokens[len(tokens)-1].To+1 {
			return Manifest{}, fmt.Errorf("archive: time-stamp %d starts at record %d, not after record %d", ts.ID, ts.From, tokens[len(tokens)-1].To)
		}
		tokens = append(tokens, stampedToken{Timestamp: ts})
	}
	if len(tokens) == 0 {
		return Manifest{}, ErrNothingToArchive
	}
	p := plan{kind: KindArchive, from: from, to: tokens[len(tokens)-1].To, tokens: tokens,
		withBody: func(r *msglog.Record) bool { return r.BodyLogged }}
	return writeFile(ctx, w, src, opts, p)
}

// allTimestamps reads every stored time-stamp.
func allTimestamps(ctx context.Context, src Source) ([]msglog.Timestamp, error) {
	var out []msglog.Timestamp
	for {
		var after int64
		if len(out) > 0 {
			after = out[len(out)-1].ID
		}
		page, err := src.Timestamps(ctx, after, 0)
		if err != nil {
			return nil, fmt.Errorf("archive: read time-stamps: %w", err)
		}
		if len(page) == 0 {
			return out, nil
		}
		for _, ts := range page {
			if ts.ID <= after {
				return nil, fmt.Errorf("archive: time-stamps out of order at %d", ts.ID)
			}
			after = ts.ID
		}
		out = append(out, page...)
	}
}

// tarWriter writes entries in order and remembers their digests.
type tarWriter struct {
	tw      *tar.Writer
	modTime time.Time
	entries []entryJSON
}

func (t *tarWriter) add(name string, data []byte) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)),
		ModTime: t.modTime, Format: tar.FormatUSTAR}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive: write %s: %w", name, err)
	}
	if _, err := t.tw.Write(data); err != nil {
		return fmt.Errorf("archive: write %s: %w", name, err)
	}
	if name != manifestName {
		t.entries = append(t.entries, entryJSON{Name: name, Size: int64(len(data)), SHA256: sum(data)})
	}
	return nil
}

// writeFile writes the file p describes.
func writeFile(ctx context.Context, w io.Writer, src Source, opts WriteOptions, p plan) (Manifest, error) {
	if opts.Recipient == nil {
		return writePlain(ctx, w, src, opts, p)
	}
	var buf bytes.Buffer
	m, err := writePlain(ctx, &buf, src, opts, p)
	if err != nil {
		return Manifest{}, err
	}
	enc, err := Encrypt(buf.Bytes(), opts.Recipient)
	if err != nil {
		return Manifest{}, err
	}
	if _, err := w.Write(enc); err != nil {
		return Manifest{}, fmt.Errorf("archive: write: %w", err)
	}
	return m, nil
}

// writePlain writes the unencrypted file p describes.
func writePlain(ctx context.Context, w io.Writer, src Source, opts WriteOptions, p plan) (Manifest, error) {
	if err := opts.Server.Validate(); err != nil {
		return Manifest{}, fmt.Errorf("archive: server: %w", err)
	}
	if err := checkSigner(opts.Signer, opts.Server); err != nil {
		return Manifest{}, err
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.System()
	}
	created := clk.Now().UTC().Truncate(time.Microsecond)
	tw := &tarWriter{tw: tar.NewWriter(w), modTime: created.Truncate(time.Second)}

	// Hashes of the records before each token's range, for the imprints.
	prevOf := map[int64][]byte{}
	for _, t := range p.tokens {
		if t.prevHash != nil {
			prevOf[t.From] = t.prevHash
		}
	}
	certs, ocsps := map[string][]byte{}, map[string][]byte{}
	var prevHash, head []byte
	next := p.from
	for next <= p.to {
		page, err := src.Find(ctx, msglog.Query{After: next - 1, Limit: msglog.MaxLimit})
		if err != nil {
			return Manifest{}, fmt.Errorf("archive: read records after %d: %w", next-1, err)
		}
		if len(page) == 0 {
			return Manifest{}, fmt.Errorf("archive: record %d is missing from the log", next)
		}
		for i := range page {
			r := &page[i]
			if r.ID > p.to {
				break
			}
			if r.ID != next {
				return Manifest{}, fmt.Errorf("archive: record %d is missing from the log", next)
			}
			if prevHash == nil {
				prevHash = r.PrevHash
			} else if !bytes.Equal(r.PrevHash, head) {
				return Manifest{}, fmt.Errorf("archive: record %d does not link to record %d", r.ID, r.ID-1)
			}
			if !bytes.Equal(msglog.RecordHash(r), r.Hash) {
				return Manifest{}, fmt.Errorf("archive: record %d does not match its hash", r.ID)
			}
			if _, ok := prevOf[r.ID]; !ok {
				prevOf[r.ID] = r.PrevHash
			}
			withBody := p.withBody(r) && r.BodyLogged
			if withBody && int64(len(r.Body)) != r.BodySize {
				return Manifest{}, fmt.Errorf("archive: the logged body of record %d is not available (is its key?)", r.ID)
			}
			if err := tw.add(recordName(r.ID), encodeRecord(r, withBody)); err != nil {
				return Manifest{}, err
			}
			if withBody {
				if err := tw.add(bodyName(r.ID), r.Body); err != nil {
					return Manifest{}, err
				}
			}
			for _, der := range r.Chain {
				certs[string(sum(der))] = der
			}
			ocsps[string(sum(r.OCSP))] = r.OCSP
			head = r.Hash
			next++
		}
	}
	for _, set := range []struct {
		m    map[string][]byte
		name func([]byte) string
	}{{certs, certName}, {ocsps, ocspName}} {
		for _, h := range slices.Sorted(maps.Keys(set.m)) {
			if err := tw.add(set.name([]byte(h)), set.m[h]); err != nil {
				return Manifest{}, err
			}
		}
	}
	slices.SortFunc(p.tokens, func(a, b stampedToken) int { return cmp.Compare(a.ID, b.ID) })
	for _, t := range p.tokens {
		prev, ok := prevOf[t.From]
		if !ok {
			return Manifest{}, fmt.Errorf("archive: no hash for the record before time-stamp %d", t.ID)
		}
		if t.To < p.from || t.To > p.to {
			return Manifest{}, fmt.Errorf("archive: time-stamp %d ends outside the file", t.ID)
		}
		// The record t.To was read above; its hash must be the stamped head.
		sj := stampJSON{ID: t.ID, From: t.From, To: t.To, PrevHash: prev, HeadHash: t.HeadHash,
			Imprint: msglog.TimestampImprint(prev, t.From, t.To, t.HeadHash), TSA: t.TSA, StampedAt: formatTime(t.StampedAt)}
		if err := tw.add(stampName(t.ID), mustMarshal(sj)); err != nil {
			return Manifest{}, err
		}
		if err := tw.add(tokenName(t.ID), t.Token); err != nil {
			return Manifest{}, err
		}
	}
	if last := p.tokens[len(p.tokens)-1]; !bytes.Equal(last.HeadHash, head) {
		return Manifest{}, fmt.Errorf("archive: time-stamp %d's head hash is not the hash of record %d", last.ID, last.To)
	}
	mj := manifestJSON{Format: FormatVersion, Kind: p.kind, Server: opts.Server.String(), From: p.from, To: p.to,
		PrevHash: prevHash, HeadHash: head, PrevManifestHash: orEmpty(opts.PrevManifestHash),
		MessageID: p.messageID, RequestDigest: p.requestDigest, CreatedAt: formatTime(created), Entries: tw.entries}
	payload := mustMarshal(mj)
	jws, err := signManifest(payload, opts.Signer)
	if err != nil {
		return Manifest{}, err
	}
	if err := tw.add(manifestName, []byte(jws)); err != nil {
		return Manifest{}, err
	}
	if err := tw.tw.Close(); err != nil {
		return Manifest{}, fmt.Errorf("archive: finish: %w", err)
	}
	return manifestOf(&mj, opts.Server, created, payload), nil
}

// orEmpty returns b, or an empty slice for nil (so that JSON has "").
func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// manifestOf converts the JSON manifest.
func manifestOf(mj *manifestJSON, server xroad.ServerID, created time.Time, payload []byte) Manifest {
	m := Manifest{Format: mj.Format, Kind: mj.Kind, Server: server, From: mj.From, To: mj.To,
		PrevHash: mj.PrevHash, HeadHash: mj.HeadHash, PrevManifestHash: mj.PrevManifestHash,
		MessageID: mj.MessageID, RequestDigest: mj.RequestDigest, CreatedAt: created, Hash: sum(payload)}
	for _, e := range mj.Entries {
		m.Entries = append(m.Entries, Entry{Name: e.Name, Size: e.Size, SHA256: e.SHA256})
	}
	return m
}
