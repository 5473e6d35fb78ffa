package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// ErrNotStamped is returned by ExportExchange when the exchange's last
// record is not yet covered by a time-stamp.
var ErrNotStamped = errors.New("archive: exchange not yet time-stamped")

// Evidence is a verified evidence file.
type Evidence struct {
	Report
	// Exchange are the records of the exchange (request and response, on
	// each side this server logged), with their bodies when included.
	Exchange []msglog.Record
}

// ExportExchange writes the evidence of one exchange: the records with
// message id messageID (and, when requestDigest is not nil, that request
// digest; without it the records must all belong to one exchange), with
// their bodies, and every record after them up to the end of the
// time-stamp covering the last of them (without bodies: their fields are
// needed to recompute the chain), with that token. Of opts, Server, Signer
// and Clock are used. VerifyEvidence verifies the result.
func ExportExchange(ctx context.Context, src Source, messageID string, requestDigest []byte, opts WriteOptions) ([]byte, error) {
	if messageID == "" {
		return nil, errors.New("archive: ExportExchange needs a message id")
	}
	var recs []msglog.Record
	for after := int64(0); ; {
		page, err := src.Find(ctx, msglog.Query{MessageID: messageID, After: after, Limit: msglog.MaxLimit})
		if err != nil {
			return nil, fmt.Errorf("archive: find exchange %s: %w", messageID, err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			if requestDigest == nil || bytes.Equal(r.RequestDigest, requestDigest) {
				recs = append(recs, r)
			}
		}
		after = page[len(page)-1].ID
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("archive: exchange %s: %w", messageID, msglog.ErrNotFound)
	}
	digest := recs[0].RequestDigest
	for _, r := range recs {
		if !bytes.Equal(r.RequestDigest, digest) {
			return nil, fmt.Errorf("archive: message id %s names several exchanges: give the request digest", messageID)
		}
	}
	from, last := recs[0].ID, recs[len(recs)-1].ID
	stamps, err := allTimestamps(ctx, src)
	if err != nil {
		return nil, err
	}
	var tok *stampedToken
	for _, ts := range stamps {
		if ts.To >= last && ts.From <= last {
			tok = &stampedToken{Timestamp: ts}
			break
		}
	}
	if tok == nil {
		return nil, ErrNotStamped
	}
	if tok.From < from {
		r, err := src.Get(ctx, tok.From)
		if err != nil {
			return nil, fmt.Errorf("archive: read record %d: %w", tok.From, err)
		}
		tok.prevHash = r.PrevHash
	}
	p := plan{kind: KindEvidence, from: from, to: tok.To, tokens: []stampedToken{*tok},
		messageID: messageID, requestDigest: digest,
		withBody: func(r *msglog.Record) bool {
			return r.MessageID == messageID && bytes.Equal(r.RequestDigest, digest)
		}}
	var buf bytes.Buffer
	if _, err := writeFile(ctx, &buf, src, opts, p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// VerifyEvidence verifies an evidence file as Verify does an archive, and
// that it holds the exchange its manifest names, from its first record.
func VerifyEvidence(ctx context.Context, b []byte, trust Trust) (*Evidence, error) {
	s, rep, err := verifyFile(ctx, bytes.NewReader(b), int64(len(b)), trust, true)
	if err != nil {
		return nil, err
	}
	if s.mj.Kind != KindEvidence {
		return nil, fail(0, manifestName, fmt.Sprintf("kind %q, want %q", s.mj.Kind, KindEvidence), nil)
	}
	ev := &Evidence{Report: *rep}
	for _, r := range s.records {
		if r.MessageID == s.mj.MessageID && bytes.Equal(r.RequestDigest, s.mj.RequestDigest) {
			ev.Exchange = append(ev.Exchange, r)
		}
	}
	if len(ev.Exchange) == 0 || ev.Exchange[0].ID != s.mj.From {
		return nil, fail(s.mj.From, manifestName, "the file does not start with a record of the exchange it names", nil)
	}
	return ev, nil
}
