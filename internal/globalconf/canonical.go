package globalconf

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// MaxDocumentSize bounds the size of a signed document (and of its payload)
// that this package will parse.
const MaxDocumentSize = 32 << 20

// securityServerOwnersDescription is the description Marshal gives the
// automatic xroad.SecurityServerOwners group.
const securityServerOwnersDescription = "Security server owners"

// Marshal returns the canonical JSON encoding of doc, the bytes Sign signs.
// It validates doc first and does not modify it.
//
// Canonical form: encoding/json with the struct field order of Document
// (compact, no insignificant white space, HTML characters escaped as
// encoding/json does), times in UTC with whole seconds ("2026-05-01T10:00:00Z"),
// absent lists as [], and every list sorted by a fixed key, byte-wise:
// memberClasses by code; members by "class/code"; subsystems by code;
// securityServers by "owner/serverCode"; addresses, authCertHashes, clients
// and group members by their string; globalGroups by code; approvedCAs and
// approvedTSAs by name; certificates and intermediates by their DER bytes;
// ocspResponders by URL. centralServer.configurationURLs keep their order,
// which is significant. When doc has no group xroad.SecurityServerOwners,
// Marshal adds it, derived from securityServers (members: the owners;
// description "Security server owners"); when doc has one, its description
// is set to that text and Validate checks that it lists exactly the owners. The same registry content therefore always gives the
// same bytes, and ParseDocument accepts only bytes in this form.
func Marshal(doc *Document) ([]byte, error) {
	c := canonicalCopy(doc)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("globalconf: encoding document: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ParseDocument parses a canonical document: strict JSON (unknown members,
// trailing data and duplicate members refused), valid, and byte-for-byte
// equal to Marshal's encoding of the result. It does not check signatures;
// use Verify for anything received over the network. Errors wrap
// ErrMalformed.
func ParseDocument(b []byte) (*Document, error) {
	if len(b) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: document larger than %d bytes", ErrMalformed, MaxDocumentSize)
	}
	var d Document
	if err := strictUnmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%w: document: %w", ErrMalformed, err)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	again, err := Marshal(&d)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: document is not in canonical form", ErrMalformed)
	}
	d.idx = buildIndex(&d)
	return &d, nil
}

// strictUnmarshal decodes one JSON value into v, refusing unknown fields and
// trailing data.
func strictUnmarshal(b []byte, v any) error {
	dec := newDecoder(b)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

func newDecoder(b []byte) *json.Decoder { return json.NewDecoder(bytes.NewReader(b)) }

// canonicalCopy returns a deep enough copy of d with every list sorted,
// nil lists made empty, times normalised and the owners group derived. d is
// not modified.
func canonicalCopy(d *Document) *Document {
	c := *d
	c.idx = nil
	c.GeneratedAt = canonicalTime(d.GeneratedAt)
	c.ExpiresAt = canonicalTime(d.ExpiresAt)
	c.CentralServer.ConfigurationURLs = nonNil(slices.Clone(d.CentralServer.ConfigurationURLs))
	c.CentralServer.ManagementTLSCertificates = sortedDER(d.CentralServer.ManagementTLSCertificates)

	c.MemberClasses = nonNil(slices.Clone(d.MemberClasses))
	slices.SortFunc(c.MemberClasses, func(a, b MemberClass) int { return strings.Compare(a.Code, b.Code) })

	c.Members = nonNil(slices.Clone(d.Members))
	for i := range c.Members {
		m := &c.Members[i]
		m.Subsystems = nonNil(slices.Clone(m.Subsystems))
		slices.SortFunc(m.Subsystems, func(a, b Subsystem) int { return strings.Compare(a.Code, b.Code) })
	}
	slices.SortFunc(c.Members, func(a, b Member) int {
		return strings.Compare(a.Class+"/"+a.Code, b.Class+"/"+b.Code)
	})

	owners := make(map[string]bool)
	c.SecurityServers = nonNil(slices.Clone(d.SecurityServers))
	for i := range c.SecurityServers {
		s := &c.SecurityServers[i]
		s.Addresses = sortedStrings(s.Addresses)
		s.AuthCertHashes = sortedStrings(s.AuthCertHashes)
		s.Clients = sortedStrings(s.Clients)
		owners[s.Owner] = true
	}
	slices.SortFunc(c.SecurityServers, func(a, b SecurityServer) int {
		return strings.Compare(a.Owner+"/"+a.ServerCode, b.Owner+"/"+b.ServerCode)
	})

	c.GlobalGroups = make([]GlobalGroup, 0, len(d.GlobalGroups)+1)
	hasOwners := false
	for _, g := range d.GlobalGroups {
		if g.Code == xroad.SecurityServerOwners {
			hasOwners = true
			g.Description = securityServerOwnersDescription
		}
		g.Members = sortedStrings(g.Members)
		c.GlobalGroups = append(c.GlobalGroups, g)
	}
	if !hasOwners && len(owners) > 0 {
		c.GlobalGroups = append(c.GlobalGroups, GlobalGroup{
			Code:        xroad.SecurityServerOwners,
			Description: securityServerOwnersDescription,
			Members:     slices.Sorted(maps.Keys(owners)),
		})
	}
	slices.SortFunc(c.GlobalGroups, func(a, b GlobalGroup) int { return strings.Compare(a.Code, b.Code) })

	c.ApprovedCAs = nonNil(slices.Clone(d.ApprovedCAs))
	for i := range c.ApprovedCAs {
		ca := &c.ApprovedCAs[i]
		ca.Certificates = sortedDER(ca.Certificates)
		ca.Intermediates = sortedDER(ca.Intermediates)
		ca.OCSPResponders = nonNil(slices.Clone(ca.OCSPResponders))
		slices.SortFunc(ca.OCSPResponders, func(a, b OCSPResponder) int { return strings.Compare(a.URL, b.URL) })
	}
	slices.SortFunc(c.ApprovedCAs, func(a, b ApprovedCA) int { return strings.Compare(a.Name, b.Name) })

	c.ApprovedTSAs = nonNil(slices.Clone(d.ApprovedTSAs))
	slices.SortFunc(c.ApprovedTSAs, func(a, b ApprovedTSA) int { return strings.Compare(a.Name, b.Name) })
	return &c
}

// canonicalTime is t in UTC truncated to whole seconds.
func canonicalTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Second)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func sortedStrings(s []string) []string {
	c := nonNil(slices.Clone(s))
	slices.Sort(c)
	return c
}

func sortedDER(s [][]byte) [][]byte {
	c := nonNil(slices.Clone(s))
	slices.SortFunc(c, bytes.Compare)
	return c
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
