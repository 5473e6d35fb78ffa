package archive

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver/message"
	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// checkManifest verifies the manifest's signature, form and signer.
func (s *fileState) checkManifest(context.Context) error {
	m := s.byName[manifestName]
	var mj manifestJSON
	payload, signer, err := verifyManifestJWS(m.data, s.trust.Roots, s.trust.Intermediates, func(p []byte) (time.Time, error) {
		if err := strictUnmarshal(p, &mj); err != nil {
			return time.Time{}, fmt.Errorf("manifest JSON: %w", err)
		}
		return parseTime(mj.CreatedAt)
	})
	if err != nil {
		return fail(0, manifestName, "manifest signature does not verify", err)
	}
	if !bytes.Equal(mustMarshal(mj), payload) {
		return fail(0, manifestName, "manifest JSON is not in canonical form", nil)
	}
	if mj.Format != FormatVersion {
		return fail(0, manifestName, fmt.Sprintf("format %q, want %q", mj.Format, FormatVersion), nil)
	}
	if mj.Kind != KindArchive && mj.Kind != KindEvidence {
		return fail(0, manifestName, fmt.Sprintf("unknown kind %q", mj.Kind), nil)
	}
	if s.server, err = xroad.ParseServer(mj.Server); err != nil || s.server.Validate() != nil {
		return fail(0, manifestName, "server "+mj.Server+" is not a security server id", err)
	}
	if err := certNamesServer(signer, s.server); err != nil {
		return fail(0, manifestName, "manifest signer", err)
	}
	if (mj.Kind == KindArchive) != (mj.MessageID == "" && len(mj.RequestDigest) == 0) ||
		(mj.Kind == KindEvidence && len(mj.RequestDigest) != 32) {
		return fail(0, manifestName, "only an evidence file names an exchange, and it must", nil)
	}
	if mj.From < 1 || mj.To < mj.From {
		return fail(0, manifestName, fmt.Sprintf("range %d..%d", mj.From, mj.To), nil)
	}
	if len(mj.PrevHash) != 32 || len(mj.HeadHash) != 32 || (len(mj.PrevManifestHash) != 0 && len(mj.PrevManifestHash) != 32) {
		return fail(0, manifestName, "hashes must be SHA-256 digests", nil)
	}
	s.mj, s.signer, s.payload = mj, signer, payload
	return nil
}

// checkEntries checks that the file holds exactly the entries the manifest
// lists, with their digests, in canonical order, and the link to the
// previous archive.
func (s *fileState) checkEntries(context.Context) error {
	files := s.entries[:len(s.entries)-1]
	listed := map[string]entryJSON{}
	for i, e := range s.mj.Entries {
		if _, dup := listed[e.Name]; dup {
			return fail(idOfEntry(e.Name), e.Name, "listed twice in the manifest", nil)
		}
		if i > 0 && compareOrder(s.mj.Entries[i-1].Name, e.Name) >= 0 {
			return fail(idOfEntry(e.Name), e.Name, "manifest lists entries out of order", nil)
		}
		listed[e.Name] = e
	}
	for i, f := range files {
		l, ok := listed[f.name]
		switch {
		case !ok:
			return fail(idOfEntry(f.name), f.name, "entry not listed in the manifest", nil)
		case l.Size != f.size || !bytes.Equal(l.SHA256, f.sha256):
			return fail(idOfEntry(f.name), f.name, "entry does not match its SHA-256 in the manifest", nil)
		case i > 0 && compareOrder(files[i-1].name, f.name) >= 0:
			return fail(idOfEntry(f.name), f.name, "entry out of order", nil)
		}
	}
	for _, e := range s.mj.Entries {
		if _, ok := s.byName[e.Name]; !ok || e.Name == manifestName {
			return fail(idOfEntry(e.Name), e.Name, "entry listed in the manifest is missing", nil)
		}
	}
	if want := s.trust.PrevManifestHash; want != nil && !bytes.Equal(want, s.mj.PrevManifestHash) {
		return fail(0, manifestName, fmt.Sprintf("previous manifest hash is %x, want %x", []byte(s.mj.PrevManifestHash), want), nil)
	}
	return nil
}

// checkRecords checks every record in order: contiguity, hash chain,
// signature, certificates, OCSP and body.
func (s *fileState) checkRecords(ctx context.Context) error {
	next, head := s.mj.From, []byte(s.mj.PrevHash)
	usedDER := map[string]bool{}
	requests := map[string]message.RequestHeader{}
	for i := range s.entries {
		e := &s.entries[i]
		if !strings.HasPrefix(e.name, recordsDir) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		nameID, _ := parseIDName(e.name, recordsDir, ".json")
		if nameID != next {
			if nameID > next {
				return fail(next, recordName(next), fmt.Sprintf("record %d is missing (the next record is %d)", next, nameID), nil)
			}
			return fail(nameID, e.name, fmt.Sprintf("record %d out of order (expected %d)", nameID, next), nil)
		}
		rec, j, err := decodeRecord(e.data)
		if err != nil {
			return fail(next, e.name, "record is malformed", err)
		}
		if rec.ID != next {
			return fail(next, e.name, fmt.Sprintf("entry of record %d holds record %d", next, rec.ID), nil)
		}
		if !bytes.Equal(rec.PrevHash, head) {
			return fail(next, e.name, fmt.Sprintf("record does not link to record %d: the hash chain is broken", next-1), nil)
		}
		if !bytes.Equal(msglog.RecordHash(&rec), rec.Hash) {
			return fail(next, e.name, "record's fields do not match its chain hash: the record was altered", nil)
		}
		if err := s.attachDER(&rec, j, usedDER); err != nil {
			return fail(next, e.name, "certificates and OCSP response", err)
		}
		if err := s.checkBody(&rec); err != nil {
			return err
		}
		if err := s.checkSignature(&rec, requests); err != nil {
			return fail(next, e.name, "signature does not verify", err)
		}
		s.hashes[rec.ID] = rec.Hash
		s.records = append(s.records, rec)
		head = rec.Hash
		next++
	}
	if next != s.mj.To+1 {
		return fail(next, recordName(next), fmt.Sprintf("the manifest says the file ends at record %d, it ends at %d", s.mj.To, next-1), nil)
	}
	if !bytes.Equal(head, s.mj.HeadHash) {
		return fail(s.mj.To, manifestName, "head hash is not the hash of the last record", nil)
	}
	for _, e := range s.entries {
		if (strings.HasPrefix(e.name, certsDir) || strings.HasPrefix(e.name, ocspDir)) && !usedDER[e.name] {
			return fail(0, e.name, "certificate or OCSP response that no record uses", nil)
		}
	}
	return nil
}

// attachDER sets rec.Chain and rec.OCSP from the entries j references and
// checks that they are exactly what the record's JWS carries.
func (s *fileState) attachDER(rec *msglog.Record, j *recordJSON, used map[string]bool) error {
	get := func(name string, h []byte) ([]byte, error) {
		e, ok := s.byName[name]
		if !ok || len(h) != 32 {
			return nil, fmt.Errorf("referenced entry %s is missing", name)
		}
		used[name] = true
		return e.data, nil
	}
	if len(j.Chain) == 0 || len(j.Chain) > message.MaxChainLength {
		return fmt.Errorf("the record references %d certificates, want 1 to %d", len(j.Chain), message.MaxChainLength)
	}
	for _, h := range j.Chain {
		der, err := get(certName(h), h)
		if err != nil {
			return err
		}
		rec.Chain = append(rec.Chain, der)
	}
	var err error
	if rec.OCSP, err = get(ocspName(j.OCSP), j.OCSP); err != nil {
		return err
	}
	part, _, ok := strings.Cut(rec.Signature, ".")
	if !ok {
		return errors.New("signature is not a compact JWS")
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(part)
	if err != nil {
		return fmt.Errorf("JWS protected header: %w", err)
	}
	var h struct {
		OCSP string   `json:"jisr.ocsp"`
		X5C  []string `json:"x5c"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("JWS protected header: %w", err)
	}
	if len(h.X5C) != len(rec.Chain) || h.OCSP != base64.StdEncoding.EncodeToString(rec.OCSP) {
		return errors.New("the JWS's x5c or OCSP response is not the one the record references")
	}
	for i, c := range h.X5C {
		if c != base64.StdEncoding.EncodeToString(rec.Chain[i]) {
			return fmt.Errorf("the JWS's x5c[%d] is not the certificate the record references", i)
		}
	}
	return nil
}

// checkBody checks the record's body entry, when the record says it is
// included, against the signed digest and size.
func (s *fileState) checkBody(rec *msglog.Record) error {
	name := bodyName(rec.ID)
	e, ok := s.byName[name]
	switch {
	case ok != rec.BodyLogged:
		return fail(rec.ID, name, "body entry present but not announced by its record, or announced but missing", nil)
	case !ok:
		return nil
	case e.size != rec.BodySize || !bytes.Equal(e.sha256, rec.BodySHA256):
		return fail(rec.ID, name, "body does not match its signed digest", nil)
	}
	rec.Body = e.data
	return nil
}

// fixedClock is a clock stopped at the message's signed time.
type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// checkSignature verifies the record's JWS as the receiving security
// server did, at the record's own signed time: signature, certificate
// chain to the approved CAs, sign profile, signer, stapled OCSP (good and
// fresh at that time); and that the record's metadata is what was signed.
func (s *fileState) checkSignature(rec *msglog.Record, requests map[string]message.RequestHeader) error {
	v := &message.Verifier{
		Roots: s.trust.Roots, Intermediates: s.trust.Intermediates, OCSPResponders: s.trust.OCSPResponders,
		OCSPFreshness: s.trust.OCSPFreshness, MaxSkew: time.Millisecond, Clock: fixedClock(rec.Time), Cache: s.cache,
	}
	body := message.BodySum{Size: rec.BodySize, SHA256: rec.BodySHA256}
	leaf, err := x509.ParseCertificate(rec.Chain[0])
	if err != nil {
		return fmt.Errorf("signer certificate: %w", err)
	}
	if m, err := profile.MemberIDFromCert(leaf); err != nil || m != rec.Signer {
		return fmt.Errorf("record names signer %s, the certificate does not", rec.Signer)
	}
	switch rec.Direction {
	case msglog.Request:
		h, err := message.ParseCanonicalRequest(rec.SignedHeader)
		if err != nil {
			return err
		}
		if err := sameRequest(rec, &h); err != nil {
			return err
		}
		if _, err := v.VerifyRequest(rec.Signature, h, body); err != nil {
			return err
		}
		requests[string(rec.RequestDigest)] = h
	case msglog.Response:
		h, err := message.ParseCanonicalResponse(rec.SignedHeader)
		if err != nil {
			return err
		}
		if err := sameResponse(rec, &h); err != nil {
			return err
		}
		req, ok := requests[string(rec.RequestDigest)]
		if !ok {
			// The request is not in the file: verify against a request
			// naming the record's provider. VerifyResponse checks the
			// binding to the request last, so ErrResponseMismatch means
			// that everything else verified.
			req = message.RequestHeader{Service: rec.Service}
		}
		if _, err := v.VerifyResponse(rec.Signature, h, body, req); err != nil && (ok || !errors.Is(err, message.ErrResponseMismatch)) {
			return err
		}
		if ok && (req.ID != rec.MessageID || req.Client != rec.Client || req.Service != rec.Service) {
			return errors.New("response record's exchange metadata differs from its request's")
		}
	default:
		return fmt.Errorf("direction %q", rec.Direction)
	}
	return nil
}

// sameRequest checks a request record's metadata against its signed header.
func sameRequest(rec *msglog.Record, h *message.RequestHeader) error {
	switch {
	case rec.MessageID != h.ID, rec.Client != h.Client, rec.Service != h.Service, rec.UserID != h.UserID,
		rec.Issue != h.Issue, rec.RepresentedParty != h.RepresentedParty, !rec.Time.Equal(h.Time),
		rec.Method != h.Method, rec.Path != h.Path, rec.Query != h.RawQuery, rec.Status != 0,
		!bytes.Equal(rec.BodySHA256, h.BodyDigest), rec.BodySize != h.BodySize,
		!bytes.Equal(rec.RequestDigest, h.Digest()):
		return errors.New("record's metadata differs from the signed header")
	}
	return nil
}

// sameResponse checks a response record's metadata against its signed
// header.
func sameResponse(rec *msglog.Record, h *message.ResponseHeader) error {
	switch {
	case rec.Status != h.Status, !rec.Time.Equal(h.Time), rec.Method != "", rec.Path != "", rec.Query != "",
		!bytes.Equal(rec.BodySHA256, h.BodyDigest), rec.BodySize != h.BodySize,
		!bytes.Equal(rec.RequestDigest, h.RequestDigest):
		return errors.New("record's metadata differs from the signed header")
	}
	return nil
}

// checkTokens checks the time-stamps: their ranges, their imprints over
// the chain, the tokens themselves, and that they cover the file up to its
// head.
func (s *fileState) checkTokens(ctx context.Context) error {
	var stamps []stampJSON
	for i := range s.entries {
		e := &s.entries[i]
		id, ok := parseIDName(e.name, stampsDir, ".json")
		if !ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var sj stampJSON
		if err := strictUnmarshal(e.data, &sj); err != nil || !bytes.Equal(mustMarshal(sj), e.data) {
			return fail(0, e.name, "time-stamp description is malformed or not canonical", err)
		}
		if _, err := parseTime(sj.StampedAt); err != nil || sj.ID != id {
			return fail(0, e.name, "time-stamp description is malformed", err)
		}
		tok, ok := s.byName[tokenName(id)]
		if !ok {
			return fail(0, tokenName(id), "time-stamp token is missing", nil)
		}
		if err := s.checkStamp(&sj, len(stamps), tok.data); err != nil {
			return fail(0, e.name, "time-stamp", err)
		}
		stamps = append(stamps, sj)
	}
	for _, e := range s.entries {
		if id, ok := parseIDName(e.name, stampsDir, ".tst"); ok {
			if _, ok := s.byName[stampName(id)]; !ok {
				return fail(0, e.name, "token without its description", nil)
			}
		}
	}
	switch {
	case len(stamps) == 0:
		return fail(s.mj.To, "", "no time-stamp covers the file", nil)
	case stamps[len(stamps)-1].To != s.mj.To:
		return fail(s.mj.To, "", fmt.Sprintf("the time-stamps end at record %d, not at the head %d", stamps[len(stamps)-1].To, s.mj.To), nil)
	case s.mj.Kind == KindEvidence && len(stamps) != 1:
		return fail(0, "", "an evidence file holds exactly one time-stamp", nil)
	}
	s.tokens = len(stamps)
	return nil
}

// checkStamp checks one time-stamp, the i-th of the file.
func (s *fileState) checkStamp(sj *stampJSON, i int, token []byte) error {
	first := s.mj.From
	switch {
	case sj.To < sj.From || sj.From < 1:
		return fmt.Errorf("empty range %d..%d", sj.From, sj.To)
	case sj.To < first || sj.To > s.mj.To:
		return fmt.Errorf("range %d..%d ends outside the file's %d..%d", sj.From, sj.To, first, s.mj.To)
	case s.mj.Kind == KindArchive && i == 0 && sj.From != first:
		return fmt.Errorf("first range starts at record %d, the file at %d", sj.From, first)
	}
	if i > 0 {
		prev := s.prevStampTo
		if sj.From != prev+1 {
			return fmt.Errorf("range %d..%d does not follow the previous one, which ends at %d", sj.From, sj.To, prev)
		}
	}
	// The record before the range: in the file, or the manifest's prevHash,
	// or (evidence only) the token's own claim, which the token signs.
	switch {
	case sj.From > first:
		if !bytes.Equal(sj.PrevHash, s.hashes[sj.From-1]) {
			return fmt.Errorf("previous hash is not the hash of record %d", sj.From-1)
		}
	case sj.From == first:
		if !bytes.Equal(sj.PrevHash, s.mj.PrevHash) {
			return errors.New("previous hash is not the manifest's")
		}
	case len(sj.PrevHash) != 32:
		return errors.New("previous hash is not a SHA-256 digest")
	}
	if !bytes.Equal(sj.HeadHash, s.hashes[sj.To]) {
		return fmt.Errorf("head hash is not the hash of record %d", sj.To)
	}
	imprint := msglog.TimestampImprint(sj.PrevHash, sj.From, sj.To, sj.HeadHash)
	if !bytes.Equal(imprint, sj.Imprint) {
		return errors.New("imprint is not the one of the range")
	}
	if err := s.trust.VerifyTimestamp(token, imprint); err != nil {
		return fmt.Errorf("token over records %d..%d does not verify: %w", sj.From, sj.To, err)
	}
	s.prevStampTo = sj.To
	return nil
}
