package globalconf

import (
	"bytes"
	"crypto/x509"
	"strings"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// Server is a security server as the lookups return it: the document's
// SecurityServer with its identifiers parsed. Its slices are shared with the
// document and must not be modified.
type Server struct {
	// ID is the server's identifier.
	ID xroad.ServerID
	// Addresses are "host:port" strings, sorted.
	Addresses []string
	// AuthCertHashes are lower-case hex SHA-256 digests of the DER of the
	// server's registered authentication certificates.
	AuthCertHashes []string
	// Clients are the members and subsystems the server hosts.
	Clients []xroad.ClientID
	// Maintenance reports maintenance mode.
	Maintenance bool
}

// index holds the lookup tables of one verified document. It is built once
// and never modified.
type index struct {
	servers      []Server
	byID         map[xroad.ServerID]int
	byHash       map[string]int
	byClient     map[xroad.ClientID][]int
	clients      map[xroad.ClientID]bool
	groups       map[xroad.GlobalGroupID]map[xroad.ClientID]bool
	roots        *x509.CertPool
	intermediate *x509.CertPool
	caCerts      []caCert
}

// caCert ties one CA certificate (root or intermediate) to its approved CA.
type caCert struct {
	cert *x509.Certificate
	ca   int // index into Document.ApprovedCAs
}

// buildIndex builds the lookup tables of a valid document. Entries that do
// not parse are skipped (a valid document has none).
func buildIndex(d *Document) *index {
	ix := &index{
		byID:         make(map[xroad.ServerID]int),
		byHash:       make(map[string]int),
		byClient:     make(map[xroad.ClientID][]int),
		clients:      make(map[xroad.ClientID]bool),
		groups:       make(map[xroad.GlobalGroupID]map[xroad.ClientID]bool),
		roots:        x509.NewCertPool(),
		intermediate: x509.NewCertPool(),
	}
	for _, m := range d.Members {
		id := xroad.MemberID{Instance: d.Instance, Class: m.Class, Code: m.Code}
		ix.clients[id.Client()] = true
		for _, s := range m.Subsystems {
			ix.clients[id.Subsystem(s.Code)] = true
		}
	}
	for _, s := range d.SecurityServers {
		id, err := s.ID()
		if err != nil {
			continue
		}
		srv := Server{ID: id, Addresses: s.Addresses, AuthCertHashes: s.AuthCertHashes, Maintenance: s.Maintenance}
		for _, c := range s.Clients {
			if cid, err := xroad.ParseClient(c); err == nil {
				srv.Clients = append(srv.Clients, cid)
			}
		}
		n := len(ix.servers)
		ix.servers = append(ix.servers, srv)
		ix.byID[id] = n
		for _, h := range s.AuthCertHashes {
			ix.byHash[h] = n
		}
		for _, c := range srv.Clients {
			ix.byClient[c] = append(ix.byClient[c], n)
		}
	}
	// The automatic group is derived from the servers, so that lookups on a
	// hand-built document that lacks it answer as on the signed one.
	owners := make(map[xroad.ClientID]bool)
	for _, s := range ix.servers {
		owners[s.ID.Owner.Client()] = true
	}
	ix.groups[xroad.GlobalGroupID{Instance: d.Instance, Code: xroad.SecurityServerOwners}] = owners
	for _, g := range d.GlobalGroups {
		if g.Code == xroad.SecurityServerOwners {
			continue
		}
		set := make(map[xroad.ClientID]bool, len(g.Members))
		for _, m := range g.Members {
			if c, err := xroad.ParseClient(m); err == nil {
				set[c] = true
			}
		}
		ix.groups[xroad.GlobalGroupID{Instance: d.Instance, Code: g.Code}] = set
	}
	for i, ca := range d.ApprovedCAs {
		for _, der := range ca.Certificates {
			if c, err := x509.ParseCertificate(der); err == nil {
				ix.roots.AddCert(c)
				ix.caCerts = append(ix.caCerts, caCert{cert: c, ca: i})
			}
		}
		for _, der := range ca.Intermediates {
			if c, err := x509.ParseCertificate(der); err == nil {
				ix.intermediate.AddCert(c)
				ix.caCerts = append(ix.caCerts, caCert{cert: c, ca: i})
			}
		}
	}
	return ix
}

// lookup returns the document's index, building a throw-away one for a
// Document that was not produced by Verify or ParseDocument.
func (d *Document) lookup() *index {
	if d.idx != nil {
		return d.idx
	}
	return buildIndex(d)
}

// ServersFor returns the security servers that host client, in the order of
// the document (sorted by server identifier). It returns nil when no server
// hosts it.
func (d *Document) ServersFor(client xroad.ClientID) []Server {
	ix := d.lookup()
	idx := ix.byClient[client]
	if len(idx) == 0 {
		return nil
	}
	out := make([]Server, len(idx))
	for i, n := range idx {
		out[i] = ix.servers[n]
	}
	return out
}

// ServerByID returns the security server with the given identifier.
func (d *Document) ServerByID(id xroad.ServerID) (Server, bool) {
	ix := d.lookup()
	n, ok := ix.byID[id]
	if !ok {
		return Server{}, false
	}
	return ix.servers[n], true
}

// ServerByAuthCertHash returns the security server that registered the
// authentication certificate with the given SHA-256 digest (hex, either
// case; see AuthCertHash). This is how a security server identifies a peer
// from its verified TLS certificate.
func (d *Document) ServerByAuthCertHash(hash string) (Server, bool) {
	ix := d.lookup()
	n, ok := ix.byHash[strings.ToLower(hash)]
	if !ok {
		return Server{}, false
	}
	return ix.servers[n], true
}

// IsRegistered reports whether client is a registered member or subsystem.
func (d *Document) IsRegistered(client xroad.ClientID) bool {
	return d.lookup().clients[client]
}

// IsMember reports whether client is listed in the global group. Membership
// is exact: a group listing a member does not include the member's
// subsystems, and a group of another instance has no members here.
func (d *Document) IsMember(group xroad.GlobalGroupID, client xroad.ClientID) bool {
	return d.lookup().groups[group][client]
}

// ApprovedCAPool returns the trust-anchor certificates of every approved CA,
// for x509.VerifyOptions.Roots. The pool is shared and must not be modified.
func (d *Document) ApprovedCAPool() *x509.CertPool { return d.lookup().roots }

// IntermediatePool returns the intermediate certificates of every approved
// CA, for x509.VerifyOptions.Intermediates. The pool is shared and must not
// be modified.
func (d *Document) IntermediatePool() *x509.CertPool { return d.lookup().intermediate }

// ApprovedCAFor returns the approved CA one of whose certificates (trust
// anchor or intermediate) is exactly issuer.
func (d *Document) ApprovedCAFor(issuer *x509.Certificate) (ApprovedCA, bool) {
	if issuer == nil {
		return ApprovedCA{}, false
	}
	for _, c := range d.lookup().caCerts {
		if bytes.Equal(c.cert.Raw, issuer.Raw) {
			return d.ApprovedCAs[c.ca], true
		}
	}
	return ApprovedCA{}, false
}

// OCSPResponders returns the OCSP responders of the approved CA that issuer
// belongs to (see ApprovedCAFor), or nil when issuer belongs to no approved
// CA.
func (d *Document) OCSPResponders(issuer *x509.Certificate) []OCSPResponder {
	ca, ok := d.ApprovedCAFor(issuer)
	if !ok {
		return nil
	}
	return ca.OCSPResponders
}

// TSAs returns the approved time-stamping authorities, sorted by name. The
// slice is shared and must not be modified.
func (d *Document) TSAs() []ApprovedTSA { return d.ApprovedTSAs }
