package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// FormatVersion names the archive format (docs/protocol.md ("Message-log archives")); it is the manifest's
// "format" member.
const FormatVersion = "jisr-archive/1"

// ManifestType is the typ of the manifest's JWS.
const ManifestType = "jisr-archive-manifest+jws"

// The kinds of archive file.
const (
	// KindArchive is a full archive of a contiguous range of the log.
	KindArchive = "archive"
	// KindEvidence is the evidence of one exchange (ExportExchange).
	KindEvidence = "evidence"
)

// Entry names. Records and bodies are named by the record id, time-stamps
// by the token's id in the log, certificates and OCSP responses by the
// lower-case hex SHA-256 of their DER.
const (
	manifestName = "manifest.jws"
	recordsDir   = "records/"
	bodiesDir    = "bodies/"
	certsDir     = "certs/"
	ocspDir      = "ocsp/"
	stampsDir    = "timestamps/"
	idWidth      = 20
)

func recordName(id int64) string { return fmt.Sprintf("%s%0*d.json", recordsDir, idWidth, id) }
func bodyName(id int64) string   { return fmt.Sprintf("%s%0*d.bin", bodiesDir, idWidth, id) }
func stampName(id int64) string  { return fmt.Sprintf("%s%0*d.json", stampsDir, idWidth, id) }
func tokenName(id int64) string  { return fmt.Sprintf("%s%0*d.tst", stampsDir, idWidth, id) }
func certName(h []byte) string   { return certsDir + hex.EncodeToString(h) + ".der" }
func ocspName(h []byte) string   { return ocspDir + hex.EncodeToString(h) + ".der" }

// parseIDName returns the id of a name dir + 20 digits + ext.
func parseIDName(name, dir, ext string) (int64, bool) {
	s, ok := strings.CutPrefix(name, dir)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ext)
	if !ok || len(s) != idWidth {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

// isHashName reports whether name is dir + 64 lower-case hex digits + ".der".
func isHashName(name, dir string) bool {
	s, ok := strings.CutPrefix(name, dir)
	if !ok {
		return false
	}
	s, ok = strings.CutSuffix(s, ".der")
	if !ok || len(s) != 2*sha256.Size {
		return false
	}
	b, err := hex.DecodeString(s)
	return err == nil && hex.EncodeToString(b) == s
}

// hexBytes is a byte string encoded as lower-case hex in JSON.
type hexBytes []byte

// MarshalJSON implements json.Marshaler.
func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

// UnmarshalJSON implements json.Unmarshaler; it accepts lower-case hex only.
func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil || hex.EncodeToString(d) != s {
		return fmt.Errorf("%q is not lower-case hex", s)
	}
	*h = d
	return nil
}

// String returns the lower-case hex form.
func (h hexBytes) String() string { return hex.EncodeToString(h) }

// timeLayout is the JSON form of times: RFC 3339 UTC with microseconds,
// the log's precision.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil || formatTime(t) != s {
		return time.Time{}, fmt.Errorf("time %q is not in the form %s", s, timeLayout)
	}
	return t.UTC(), nil
}

// recordJSON is the canonical JSON of a record (docs/protocol.md ("Message-log archives"), "Records"):
// encoding/json of this struct, members in this order.
type recordJSON struct {
	ID               int64      `json:"id"`
	LoggedAt         string     `json:"loggedAt"`
	PrevHash         hexBytes   `json:"prevHash"`
	Hash             hexBytes   `json:"hash"`
	Direction        string     `json:"direction"`
	Side             string     `json:"side"`
	MessageID        string     `json:"messageId"`
	RequestDigest    hexBytes   `json:"requestDigest"`
	Client           string     `json:"client"`
	Service          string     `json:"service"`
	UserID           string     `json:"userId"`
	Issue            string     `json:"issue"`
	RepresentedParty string     `json:"representedParty"`
	Time             string     `json:"time"`
	Method           string     `json:"method"`
	Path             string     `json:"path"`
	Query            string     `json:"query"`
	Status           int        `json:"status"`
	Signer           string     `json:"signer"`
	SignedHeader     []byte     `json:"signedHeader"`
	Signature        string     `json:"signature"`
	Chain            []hexBytes `json:"chain"`
	OCSP             hexBytes   `json:"ocsp"`
	BodySHA256       hexBytes   `json:"bodySha256"`
	BodySize         int64      `json:"bodySize"`
	BodyIncluded     bool       `json:"bodyIncluded"`
}

// encodeRecord returns the canonical JSON of r; withBody says whether its
// body is in the file.
func encodeRecord(r *msglog.Record, withBody bool) []byte {
	j := recordJSON{
		ID: r.ID, LoggedAt: formatTime(r.LoggedAt), PrevHash: r.PrevHash, Hash: r.Hash,
		Direction: string(r.Direction), Side: string(r.Side), MessageID: r.MessageID,
		RequestDigest: r.RequestDigest, Client: r.Client.String(), Service: r.Service.String(),
		UserID: r.UserID, Issue: r.Issue, RepresentedParty: r.RepresentedParty,
		Time: formatTime(r.Time), Method: r.Method, Path: r.Path, Query: r.Query, Status: r.Status,
		Signer: r.Signer.String(), SignedHeader: r.SignedHeader, Signature: r.Signature,
		OCSP: sum(r.OCSP), BodySHA256: r.BodySHA256, BodySize: r.BodySize, BodyIncluded: withBody,
	}
	j.Chain = make([]hexBytes, len(r.Chain))
	for i, der := range r.Chain {
		j.Chain[i] = sum(der)
	}
	return mustMarshal(j)
}

// decodeRecord parses the canonical JSON of a record, refusing anything
// encodeRecord would not have written. Chain and OCSP are left nil.
func decodeRecord(b []byte) (msglog.Record, *recordJSON, error) {
	var j recordJSON
	if err := strictUnmarshal(b, &j); err != nil {
		return msglog.Record{}, nil, err
	}
	r := msglog.Record{
		ID: j.ID, PrevHash: j.PrevHash, Hash: j.Hash, Direction: msglog.Direction(j.Direction),
		Side: msglog.Side(j.Side), MessageID: j.MessageID, RequestDigest: j.RequestDigest,
		UserID: j.UserID, Issue: j.Issue, RepresentedParty: j.RepresentedParty,
		Method: j.Method, Path: j.Path, Query: j.Query, Status: j.Status,
		SignedHeader: j.SignedHeader, Signature: j.Signature, BodySHA256: j.BodySHA256, BodySize: j.BodySize,
		BodyLogged: j.BodyIncluded,
	}
	var err error
	if r.LoggedAt, err = parseTime(j.LoggedAt); err != nil {
		return r, nil, err
	}
	if r.Time, err = parseTime(j.Time); err != nil {
		return r, nil, err
	}
	if r.Client, err = xroad.ParseClient(j.Client); err != nil {
		return r, nil, err
	}
	if r.Service, err = xroad.ParseService(j.Service); err != nil {
		return r, nil, err
	}
	if r.Signer, err = xroad.ParseMember(j.Signer); err != nil {
		return r, nil, err
	}
	if !bytes.Equal(mustMarshal(j), b) || r.Client.String() != j.Client || r.Service.String() != j.Service ||
		r.Signer.String() != j.Signer {
		return r, nil, fmt.Errorf("not in canonical form")
	}
	return r, &j, nil
}

// stampJSON describes one time-stamp token (docs/protocol.md ("Message-log archives"), "Time-stamps"); the
// token itself is the entry of the same name with extension .tst.
type stampJSON struct {
	ID        int64    `json:"id"`
	From      int64    `json:"from"`
	To        int64    `json:"to"`
	PrevHash  hexBytes `json:"prevHash"`
	HeadHash  hexBytes `json:"headHash"`
	Imprint   hexBytes `json:"imprint"`
	TSA       string   `json:"tsa"`
	StampedAt string   `json:"stampedAt"`
}

// manifestJSON is the signed manifest (docs/protocol.md ("Message-log archives"), "Manifest").
type manifestJSON struct {
	Format           string      `json:"format"`
	Kind             string      `json:"kind"`
	Server           string      `json:"server"`
	From             int64       `json:"from"`
	To               int64       `json:"to"`
	PrevHash         hexBytes    `json:"prevHash"`
	HeadHash         hexBytes    `json:"headHash"`
	PrevManifestHash hexBytes    `json:"prevManifestHash"`
	MessageID        string      `json:"messageId,omitempty"`
	RequestDigest    hexBytes    `json:"requestDigest,omitempty"`
	CreatedAt        string      `json:"createdAt"`
	Entries          []entryJSON `json:"entries"`
}

// entryJSON is one entry of the manifest.
type entryJSON struct {
	Name   string   `json:"name"`
	Size   int64    `json:"size"`
	SHA256 hexBytes `json:"sha256"`
}

// strictUnmarshal decodes exactly one JSON value into v, refusing unknown
// members.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// mustMarshal marshals values of this package's JSON types, which cannot
// fail.
func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("archive: marshal %T: %v", v, err))
	}
	return b
}

// sum returns the SHA-256 digest of b.
func sum(b []byte) []byte {
	d := sha256.Sum256(b)
	return d[:]
}
