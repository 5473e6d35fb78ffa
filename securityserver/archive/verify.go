package archive

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/tsa"
	"github.com/jisr-bus/jisr/securityserver/message"
	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// DefaultOCSPFreshness is Trust.OCSPFreshness when zero: X-Road's default
// ocspFreshnessSeconds.
const DefaultOCSPFreshness = time.Hour

// Limits on entries, so that a hostile file cannot exhaust memory.
const (
	maxManifestSize = 256 << 20
	maxRecordSize   = 4 << 20
	maxDERSize      = 64 << 10
	maxStampSize    = 4 << 10
)

// Trust is what a verifier relies on, none of it from the file: the
// approved certification authorities of the global configuration
// (globalconf.Document's approved CA pool and intermediates), the
// time-stamp verifier, and what the previous archive's manifest was.
type Trust struct {
	// Roots are the approved CAs. Required.
	Roots *x509.CertPool
	// Intermediates are approved intermediate CAs, optional.
	Intermediates *x509.CertPool
	// OCSPResponders optionally returns approved OCSP responder
	// certificates for an issuing CA (see message.Verifier).
	OCSPResponders func(issuer *x509.Certificate) []*x509.Certificate
	// OCSPFreshness is the maximum age of a stapled OCSP response at the
	// time its message was signed (DefaultOCSPFreshness when 0).
	OCSPFreshness time.Duration
	// VerifyTimestamp checks a DER RFC 3161 token over a SHA-256 digest;
	// TSAVerifier returns one over the approved TSA roots. Required.
	VerifyTimestamp func(token, digest []byte) error
	// PrevManifestHash, when not nil, is what the archive's previous
	// manifest hash must be (Manifest.Hash of the previous archive, or an
	// empty non-nil slice for the first archive).
	PrevManifestHash []byte
	// Cache, when set, is shared by the verifications that use this Trust
	// (a sequence of archives); each file gets its own otherwise.
	Cache *message.VerifyCache
}

// TSAVerifier returns a Trust.VerifyTimestamp that checks tokens with
// pki/tsa.Verify over SHA-256 against roots (the approved TSAs' roots) and
// intermediates.
func TSAVerifier(roots *x509.CertPool, intermediates []*x509.Certificate) func(token, digest []byte) error {
	return func(token, digest []byte) error {
		_, err := tsa.Verify(token, digest, crypto.SHA256, roots, intermediates)
		return err
	}
}

// ErrInvalid is wrapped by every *VerifyError: the file is not an intact,
// authentic archive.
var ErrInvalid = errors.New("archive: verification failed")

// VerifyError is the first check a file failed. RecordID names the record
// at fault (0 when the failure is not about one record), Entry the entry
// ("" when none).
type VerifyError struct {
	RecordID int64
	Entry    string
	Reason   string
	Err      error
}

// Error implements error.
func (e *VerifyError) Error() string {
	var b strings.Builder
	b.WriteString("archive: ")
	if e.RecordID > 0 {
		fmt.Fprintf(&b, "record %d: ", e.RecordID)
	}
	if e.Entry != "" {
		fmt.Fprintf(&b, "%s: ", e.Entry)
	}
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns ErrInvalid and the underlying error.
func (e *VerifyError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}

// Report describes a verified file.
type Report struct {
	// Manifest is the verified manifest.
	Manifest Manifest
	// Signer is the certificate that signed the manifest.
	Signer *x509.Certificate
	// Records, Bodies and Tokens count what the file holds.
	Records, Bodies, Tokens int
	// FirstID and LastID are the first and last record.
	FirstID, LastID int64
	// CreatedAt is when the file was written (the manifest's claim; the
	// tokens prove when the records existed).
	CreatedAt time.Time
}

// entry is one file entry as read.
type entry struct {
	name   string
	size   int64
	sha256 []byte
	data   []byte // nil for bodies not kept
}

// fileState is a file being verified.
type fileState struct {
	trust   Trust
	entries []entry
	byName  map[string]*entry
	mj      manifestJSON
	server  xroad.ServerID
	records []msglog.Record // with Chain, OCSP, and Body when kept
	hashes  map[int64][]byte
	tokens  int
	signer  *x509.Certificate
	payload []byte // the manifest JSON

	prevStampTo int64 // the end of the last time-stamp checked

	// cache spares re-verifying each record's (identical) chain and OCSP
	// signatures; validity and freshness are still checked per record.
	cache *message.VerifyCache
}

func fail(id int64, name, reason string, err error) error {
	return &VerifyError{RecordID: id, Entry: name, Reason: reason, Err: err}
}

// Verify checks the archive in r (size bytes) against trust and returns
// its report, or the first failed check as a *VerifyError (wrapping
// ErrInvalid); other errors are read errors or a bad Trust. docs/protocol.md ("Message-log archives")
// lists the checks in their order.
func Verify(ctx context.Context, r io.ReaderAt, size int64, trust Trust) (*Report, error) {
	s, rep, err := verifyFile(ctx, r, size, trust, false)
	if err != nil {
		return nil, err
	}
	if s.mj.Kind != KindArchive {
		return nil, fail(0, manifestName, fmt.Sprintf("kind %q, want %q", s.mj.Kind, KindArchive), nil)
	}
	return rep, nil
}

// verifyFile runs every check common to archives and evidence files.
func verifyFile(ctx context.Context, r io.ReaderAt, size int64, trust Trust, keepBodies bool) (*fileState, *Report, error) {
	if trust.Roots == nil || trust.VerifyTimestamp == nil || trust.OCSPFreshness < 0 {
		return nil, nil, errors.New("archive: Trust needs Roots, VerifyTimestamp and a non-negative OCSPFreshness")
	}
	if trust.OCSPFreshness == 0 {
		trust.OCSPFreshness = DefaultOCSPFreshness
	}
	s := &fileState{trust: trust, byName: map[string]*entry{}, hashes: map[int64][]byte{}, cache: trust.Cache}
	if s.cache == nil {
		s.cache = message.NewVerifyCache(0)
	}
	steps := []func(context.Context) error{
		func(ctx context.Context) error { return s.read(ctx, io.NewSectionReader(r, 0, size), keepBodies) },
		s.checkManifest, s.checkEntries, s.checkRecords, s.checkTokens,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, nil, err
		}
	}
	created, _ := parseTime(s.mj.CreatedAt)
	rep := &Report{
		Manifest: manifestOf(&s.mj, s.server, created, s.payload), Records: len(s.records),
		Tokens: s.tokens, FirstID: s.mj.From, LastID: s.mj.To, CreatedAt: created, Signer: s.signer,
	}
	for i := range s.records {
		if s.records[i].BodyLogged {
			rep.Bodies++
		}
	}
	return s, rep, nil
}

// read reads every entry: small ones into memory, bodies hashed as they
// stream (and kept when keepBodies).
func (s *fileState) read(ctx context.Context, r io.Reader, keepBodies bool) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(0, "", "not a tar file", err)
		}
		name := hdr.Name
		if hdr.Typeflag != tar.TypeReg {
			return fail(0, name, "not a regular file entry", nil)
		}
		if _, ok := s.byName[name]; ok {
			return fail(0, name, "entry appears twice", nil)
		}
		if len(s.entries) > 0 && s.entries[len(s.entries)-1].name == manifestName {
			return fail(0, name, "entry after the manifest", nil)
		}
		limit, keep, ok := entryLimit(name, keepBodies)
		if !ok {
			return fail(idOfEntry(name), name, "entry name not in the format", nil)
		}
		if hdr.Size < 0 || hdr.Size > limit {
			return fail(idOfEntry(name), name, fmt.Sprintf("entry of %d bytes, at most %d allowed", hdr.Size, limit), nil)
		}
		h := sha256.New()
		var buf bytes.Buffer
		w := io.Writer(h)
		if keep {
			w = io.MultiWriter(h, &buf)
		}
		n, err := io.Copy(w, tr)
		if err != nil {
			return fail(0, name, "reading entry", err)
		}
		e := entry{name: name, size: n, sha256: h.Sum(nil)}
		if keep {
			e.data = buf.Bytes()
		}
		s.entries = append(s.entries, e)
		s.byName[name] = &s.entries[len(s.entries)-1]
	}
	if len(s.entries) == 0 || s.entries[len(s.entries)-1].name != manifestName {
		return fail(0, manifestName, "the file does not end with its manifest", nil)
	}
	// s.entries no longer grows: rebuild the index over the final slice.
	for i := range s.entries {
		s.byName[s.entries[i].name] = &s.entries[i]
	}
	return nil
}

// entryLimit returns the size limit of a valid entry name and whether its
// content is kept in memory.
func entryLimit(name string, keepBodies bool) (limit int64, keep, ok bool) {
	switch {
	case name == manifestName:
		return maxManifestSize, true, true
	case isID(name, recordsDir, ".json"):
		return maxRecordSize, true, true
	case isID(name, bodiesDir, ".bin"):
		return msglog.MaxBodySize, keepBodies, true
	case isHashName(name, certsDir), isHashName(name, ocspDir):
		return maxDERSize, true, true
	case isID(name, stampsDir, ".json"):
		return maxStampSize, true, true
	case isID(name, stampsDir, ".tst"):
		return maxDERSize, true, true
	}
	return 0, false, false
}

func isID(name, dir, ext string) bool { _, ok := parseIDName(name, dir, ext); return ok }

// idOfEntry returns the record id of a record or body entry, else 0.
func idOfEntry(name string) int64 {
	if id, ok := parseIDName(name, recordsDir, ".json"); ok {
		return id
	}
	id, _ := parseIDName(name, bodiesDir, ".bin")
	return id
}

// orderKey places an entry in the file's canonical order: records each
// followed by its body, certificates, OCSP responses, time-stamps (each
// description followed by its token), the manifest.
func orderKey(name string) (int, int64, string, int) {
	if id, ok := parseIDName(name, recordsDir, ".json"); ok {
		return 0, id, "", 0
	}
	if id, ok := parseIDName(name, bodiesDir, ".bin"); ok {
		return 0, id, "", 1
	}
	if strings.HasPrefix(name, certsDir) {
		return 1, 0, name, 0
	}
	if strings.HasPrefix(name, ocspDir) {
		return 2, 0, name, 0
	}
	if id, ok := parseIDName(name, stampsDir, ".json"); ok {
		return 3, id, "", 0
	}
	if id, ok := parseIDName(name, stampsDir, ".tst"); ok {
		return 3, id, "", 1
	}
	return 4, 0, "", 0
}

func compareOrder(a, b string) int {
	a1, a2, a3, a4 := orderKey(a)
	b1, b2, b3, b4 := orderKey(b)
	return cmp.Or(cmp.Compare(a1, b1), cmp.Compare(a2, b2), strings.Compare(a3, b3), cmp.Compare(a4, b4))
}
