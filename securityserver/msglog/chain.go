package msglog

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
	"time"
)

// FormatTag opens the canonical encoding of every record; it names the
// encoding's version (docs/protocol.md, "Message log").
const FormatTag = "jisr-msglog/1"

// GenesisHash returns the previous hash of the first record of every log:
// 32 zero bytes.
func GenesisHash() []byte { return make([]byte, sha256.Size) }

// chainFields are the fields the chain hash covers, in encoding order.
type chainFields struct {
	id               int64
	loggedAt         time.Time
	direction        Direction
	side             Side
	messageID        string
	requestDigest    []byte
	client           string
	service          string
	userID           string
	issue            string
	representedParty string
	time             time.Time
	method           string
	path             string
	query            string
	status           int64
	signer           string
	signature        string
	bodySHA256       []byte
	bodySize         int64
}

// fieldsOf returns the chained fields of r; r.Signature must be the full
// compact JWS.
func fieldsOf(r *Record) chainFields {
	return chainFields{
		id:               r.ID,
		loggedAt:         r.LoggedAt,
		direction:        r.Direction,
		side:             r.Side,
		messageID:        r.MessageID,
		requestDigest:    r.RequestDigest,
		client:           r.Client.String(),
		service:          r.Service.String(),
		userID:           r.UserID,
		issue:            r.Issue,
		representedParty: r.RepresentedParty,
		time:             r.Time,
		method:           r.Method,
		path:             r.Path,
		query:            r.Query,
		status:           int64(r.Status),
		signer:           r.Signer.String(),
		signature:        r.Signature,
		bodySHA256:       r.BodySHA256,
		bodySize:         r.BodySize,
	}
}

// encoder writes the canonical encoding (to a hash, or to a buffer for
// the test vector).
type encoder struct {
	w   io.Writer
	buf [8]byte
}

func (e *encoder) u64(v uint64) {
	binary.BigEndian.PutUint64(e.buf[:], v)
	_, _ = e.w.Write(e.buf[:8])
}

func (e *encoder) i64(v int64) { e.u64(uint64(v)) }

func (e *encoder) bytes(b []byte) {
	binary.BigEndian.PutUint32(e.buf[:4], uint32(len(b)))
	_, _ = e.w.Write(e.buf[:4])
	_, _ = e.w.Write(b)
}

func (e *encoder) str(s string) {
	binary.BigEndian.PutUint32(e.buf[:4], uint32(len(s)))
	_, _ = e.w.Write(e.buf[:4])
	_, _ = io.WriteString(e.w, s)
}

// time encodes t as Unix microseconds.
func (e *encoder) time(t time.Time) { e.i64(t.UnixMicro()) }

// chainHash returns SHA-256(prev ‖ encoding of f), as docs/protocol.md ("Message log") specifies.
func chainHash(prev []byte, f *chainFields) []byte {
	h := sha256.New()
	h.Write(prev)
	encodeFields(h, f)
	return h.Sum(nil)
}

// encodeFields writes the canonical encoding of f to w. Writes to a hash
// or a bytes.Buffer do not fail.
func encodeFields(w io.Writer, f *chainFields) {
	e := encoder{w: w}
	e.str(FormatTag)
	e.i64(f.id)
	e.time(f.loggedAt)
	e.str(string(f.direction))
	e.str(string(f.side))
	e.str(f.messageID)
	e.bytes(f.requestDigest)
	e.str(f.client)
	e.str(f.service)
	e.str(f.userID)
	e.str(f.issue)
	e.str(f.representedParty)
	e.time(f.time)
	e.str(f.method)
	e.str(f.path)
	e.str(f.query)
	e.i64(f.status)
	e.str(f.signer)
	e.str(f.signature)
	e.bytes(f.bodySHA256)
	e.i64(f.bodySize)
}

// RecordHash recomputes the chain hash of r from its fields and
// r.PrevHash, as docs/protocol.md ("Message log") specifies; for an intact record it equals
// r.Hash. Auditors' tools can use it on records from Get and Find.
func RecordHash(r *Record) []byte {
	f := fieldsOf(r)
	return chainHash(r.PrevHash, &f)
}
