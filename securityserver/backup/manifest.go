package backup

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/cert"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// FormatVersion names the backup format (docs/backup.md); it is the
// manifest's "format" member.
const FormatVersion = "jisr-ss-backup/1"

// ManifestType is the typ of the manifest's JWS.
const ManifestType = "jisr-ss-backup-manifest+jws"

// Entry names: the manifest comes first; the security server directory's
// files are under DirPrefix, PostgreSQL table dumps under PostgresPrefix.
const (
	ManifestEntry  = "manifest.jws"
	DirPrefix      = "dir/"
	PostgresPrefix = "postgres/"
	copySuffix     = ".copy"
)

// Database drivers a manifest names.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Limits, so that a hostile file cannot exhaust memory.
const (
	maxManifestSize = 8 << 20
	maxFiles        = 100_000
	maxPathLen      = 1024
	maxChain        = 4
	// maxFutureSkew is how far in the future a backup's creation time may
	// lie by the restoring machine's clock.
	maxFutureSkew = 5 * time.Minute
)

// timeLayout is the JSON form of the creation time: RFC 3339 UTC with
// microseconds.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Manifest describes a backup. Write returns it; Restore returns it once
// verified.
type Manifest struct {
	// Server is the security server the backup is of.
	Server xroad.ServerID
	// CreatedAt is when the backup was written (by the writer's clock).
	CreatedAt time.Time
	// JisrVersion is the version of the jisr binary that wrote it.
	JisrVersion string
	// Database describes the databases in the backup.
	Database Database
	// Files are the entries after the manifest, in order (sorted by path).
	Files []File
	// Signer is the certificate that signed the manifest (the owner's sign
	// certificate).
	Signer *x509.Certificate
	// SHA256 is the SHA-256 of the signed manifest (the JWS bytes): it
	// names this backup.
	SHA256 []byte
}

// Database describes what the backup holds of the security server's
// databases.
type Database struct {
	// Driver is DriverSQLite (the database files are under DirPrefix) or
	// DriverPostgres (the tables are under PostgresPrefix).
	Driver string
	// Schema maps each goose migration table to the schema version the
	// data was taken at.
	Schema map[string]int64
	// Tables are the PostgreSQL tables dumped (empty for SQLite), by name.
	Tables []Table
}

// Table is one PostgreSQL table's dump: its rows in COPY text format, in
// primary-key order.
type Table struct {
	Name    string
	Columns []string
	Rows    int64
	// File is the entry holding the rows: PostgresPrefix + Name + ".copy".
	File string
}

// File is one entry after the manifest.
type File struct {
	// Path is the entry name: DirPrefix or PostgresPrefix, then a
	// slash-separated relative path.
	Path string
	// Mode holds the permission bits the file is restored with.
	Mode fs.FileMode
	Size int64
	// SHA256 is the digest of the entry's content.
	SHA256 []byte
}

// Wire form of the manifest (docs/backup.md).
type manifestJSON struct {
	Format      string       `json:"format"`
	ServerID    string       `json:"serverId"`
	CreatedAt   string       `json:"createdAt"`
	JisrVersion string       `json:"jisrVersion"`
	Database    databaseJSON `json:"database"`
	Files       []fileJSON   `json:"files"`
}

type databaseJSON struct {
	Driver string           `json:"driver"`
	Schema map[string]int64 `json:"schema"`
	Tables []tableJSON      `json:"tables,omitempty"`
}

type tableJSON struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
	Rows    int64    `json:"rows"`
	File    string   `json:"file"`
}

type fileJSON struct {
	Path   string `json:"path"`
	Mode   string `json:"mode"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// marshal returns the manifest's JSON.
func (m *Manifest) marshal() ([]byte, error) {
	mj := manifestJSON{
		Format: FormatVersion, ServerID: m.Server.String(), CreatedAt: m.CreatedAt.UTC().Format(timeLayout),
		JisrVersion: m.JisrVersion,
		Database:    databaseJSON{Driver: m.Database.Driver, Schema: m.Database.Schema},
		Files:       make([]fileJSON, 0, len(m.Files)),
	}
	if mj.Database.Schema == nil {
		mj.Database.Schema = map[string]int64{}
	}
	for _, t := range m.Database.Tables {
		mj.Database.Tables = append(mj.Database.Tables, tableJSON(t))
	}
	for _, f := range m.Files {
		mj.Files = append(mj.Files, fileJSON{Path: f.Path, Mode: fmt.Sprintf("%04o", f.Mode.Perm()), Size: f.Size,
			SHA256: hex.EncodeToString(f.SHA256)})
	}
	b, err := json.Marshal(mj)
	if err != nil {
		return nil, err
	}
	// The result must parse back to the same manifest: Write never signs
	// what Restore would refuse.
	if _, err := parseManifest(b); err != nil {
		return nil, fmt.Errorf("backup: manifest does not validate: %w", err)
	}
	return b, nil
}

var (
	identPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	modePattern  = regexp.MustCompile(`^0[0-7]{3}$`)
	hashPattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// parseManifest decodes and validates the manifest JSON.
func parseManifest(b []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var mj manifestJSON
	if err := dec.Decode(&mj); err != nil {
		return nil, fmt.Errorf("manifest JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("manifest JSON: trailing data")
	}
	if mj.Format != FormatVersion {
		return nil, fmt.Errorf("format %q, want %q", mj.Format, FormatVersion)
	}
	m := &Manifest{JisrVersion: mj.JisrVersion}
	var err error
	if m.Server, err = xroad.ParseServer(mj.ServerID); err != nil {
		return nil, fmt.Errorf("serverId: %w", err)
	}
	t, err := time.Parse(timeLayout, mj.CreatedAt)
	if err != nil || t.UTC().Format(timeLayout) != mj.CreatedAt {
		return nil, fmt.Errorf("createdAt %q is not in the form %s", mj.CreatedAt, timeLayout)
	}
	m.CreatedAt = t.UTC()
	if len(mj.Files) == 0 || len(mj.Files) > maxFiles {
		return nil, fmt.Errorf("%d files, want 1 to %d", len(mj.Files), maxFiles)
	}
	byPath := make(map[string]bool, len(mj.Files))
	for i, f := range mj.Files {
		if err := checkEntryPath(f.Path); err != nil {
			return nil, fmt.Errorf("files[%d]: %w", i, err)
		}
		if i > 0 && mj.Files[i-1].Path >= f.Path {
			return nil, fmt.Errorf("files[%d]: %q is not after %q (paths must be sorted and unique)", i, f.Path, mj.Files[i-1].Path)
		}
		if !modePattern.MatchString(f.Mode) {
			return nil, fmt.Errorf("files[%d]: mode %q is not 4 octal digits up to 0777", i, f.Mode)
		}
		mode, _ := strconv.ParseUint(f.Mode, 8, 32)
		if f.Size < 0 {
			return nil, fmt.Errorf("files[%d]: negative size", i)
		}
		if !hashPattern.MatchString(f.SHA256) {
			return nil, fmt.Errorf("files[%d]: sha256 %q is not 64 lower-case hex digits", i, f.SHA256)
		}
		sum, _ := hex.DecodeString(f.SHA256)
		byPath[f.Path] = true
		m.Files = append(m.Files, File{Path: f.Path, Mode: fs.FileMode(mode), Size: f.Size, SHA256: sum})
	}
	db := mj.Database
	for table, v := range db.Schema {
		if !identPattern.MatchString(table) || v < 0 {
			return nil, fmt.Errorf("database.schema: %q: %d is not a table name and a version", table, v)
		}
	}
	m.Database = Database{Driver: db.Driver, Schema: db.Schema}
	if m.Database.Schema == nil {
		m.Database.Schema = map[string]int64{}
	}
	tableFiles := map[string]bool{}
	switch db.Driver {
	case DriverSQLite:
		if len(db.Tables) > 0 {
			return nil, errors.New("database: an SQLite backup has no table dumps")
		}
	case DriverPostgres:
		for i, t := range db.Tables {
			if !identPattern.MatchString(t.Name) || (i > 0 && db.Tables[i-1].Name >= t.Name) {
				return nil, fmt.Errorf("database.tables[%d]: name %q is not a table name in order", i, t.Name)
			}
			if len(t.Columns) == 0 {
				return nil, fmt.Errorf("database.tables[%d]: no columns", i)
			}
			for _, c := range t.Columns {
				if !identPattern.MatchString(c) {
					return nil, fmt.Errorf("database.tables[%d]: column %q", i, c)
				}
			}
			if t.Rows < 0 || t.File != PostgresPrefix+t.Name+copySuffix || !byPath[t.File] {
				return nil, fmt.Errorf("database.tables[%d]: rows %d, file %q: want the entry %s", i, t.Rows, t.File, PostgresPrefix+t.Name+copySuffix)
			}
			tableFiles[t.File] = true
			m.Database.Tables = append(m.Database.Tables, Table(t))
		}
	default:
		return nil, fmt.Errorf("database.driver %q, want %s or %s", db.Driver, DriverSQLite, DriverPostgres)
	}
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, PostgresPrefix) && !tableFiles[f.Path] {
			return nil, fmt.Errorf("file %s is not a table dump the database section names", f.Path)
		}
	}
	return m, nil
}

// checkEntryPath accepts DirPrefix or PostgresPrefix followed by a clean
// relative slash-separated path of printable characters.
func checkEntryPath(p string) error {
	if len(p) > maxPathLen {
		return fmt.Errorf("path longer than %d bytes", maxPathLen)
	}
	rest, ok := strings.CutPrefix(p, DirPrefix)
	if !ok {
		if rest, ok = strings.CutPrefix(p, PostgresPrefix); !ok || strings.Contains(rest, "/") {
			return fmt.Errorf("path %q is not under %s or a file in %s", p, DirPrefix, PostgresPrefix)
		}
	}
	if !fs.ValidPath(rest) || rest == "." {
		return fmt.Errorf("path %q is not a clean relative path", p)
	}
	for _, r := range rest {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("path %q has a control character or a backslash", p)
		}
	}
	return nil
}

// Signer signs manifests: the owner member's sign key and its certificate
// chain (leaf first, at most 4 certificates).
type Signer struct {
	Key   crypto.Signer
	Chain []*x509.Certificate
}

// check verifies that s can sign for server: the key matches a sign
// certificate of the server's owner.
func (s Signer) check(server xroad.ServerID) error {
	if s.Key == nil || len(s.Chain) == 0 || len(s.Chain) > maxChain || slices.Contains(s.Chain, nil) {
		return fmt.Errorf("backup: the signer needs a key and 1 to %d certificates", maxChain)
	}
	pub, ok := s.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(s.Chain[0].PublicKey) {
		return errors.New("backup: the signer's key does not match its certificate")
	}
	m, err := profile.MemberIDFromCert(s.Chain[0])
	if err != nil {
		return fmt.Errorf("backup: signer certificate: %w", err)
	}
	if m != server.Owner {
		return fmt.Errorf("backup: the signer certificate names %s, not the server's owner %s", m, server.Owner)
	}
	return nil
}

// algorithmFor returns ES256 for ECDSA P-256 keys and RS256 for RSA keys.
func algorithmFor(pub crypto.PublicKey) (jwa.SignatureAlgorithm, error) {
	if err := profile.CheckPublicKey(pub); err != nil {
		return jwa.SignatureAlgorithm{}, err
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return jwa.ES256(), nil
		}
	case *rsa.PublicKey:
		return jwa.RS256(), nil
	}
	return jwa.SignatureAlgorithm{}, fmt.Errorf("unsupported public key type %T", pub)
}

// manifestHeader is the JWS protected header, exactly as jwx writes it
// (members sorted).
type manifestHeader struct {
	Alg string   `json:"alg"`
	Typ string   `json:"typ"`
	X5C []string `json:"x5c"`
}

// signManifest signs payload as a compact JWS with x5c.
func signManifest(payload []byte, s Signer) ([]byte, error) {
	alg, err := algorithmFor(s.Key.Public())
	if err != nil {
		return nil, fmt.Errorf("backup: signer: %w", err)
	}
	var chain cert.Chain
	for _, c := range s.Chain {
		if err := chain.AddString(base64.StdEncoding.EncodeToString(c.Raw)); err != nil {
			return nil, fmt.Errorf("backup: signer x5c: %w", err)
		}
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, ManifestType); err != nil {
		return nil, fmt.Errorf("backup: manifest header: %w", err)
	}
	if err := hdr.Set(jws.X509CertChainKey, &chain); err != nil {
		return nil, fmt.Errorf("backup: manifest header: %w", err)
	}
	compact, err := jws.Sign(payload, jws.WithKey(alg, s.Key, jws.WithProtectedHeaders(hdr)), jws.WithStrictECDSA(true))
	if err != nil {
		return nil, fmt.Errorf("backup: sign manifest: %w", err)
	}
	if _, _, err := parseManifestJWS(compact); err != nil {
		return nil, fmt.Errorf("backup: the signed manifest does not parse: %w", err)
	}
	return compact, nil
}

// parseManifestJWS takes the manifest JWS apart (nothing verified).
func parseManifestJWS(compact []byte) (payload []byte, chain []*x509.Certificate, err error) {
	parts := strings.Split(string(compact), ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("not a compact JWS")
	}
	var raw [3][]byte
	for i, s := range parts {
		if raw[i], err = base64.RawURLEncoding.Strict().DecodeString(s); err != nil {
			return nil, nil, fmt.Errorf("JWS part %d: %w", i+1, err)
		}
	}
	var h manifestHeader
	dec := json.NewDecoder(bytes.NewReader(raw[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, nil, fmt.Errorf("protected header: %w", err)
	}
	if canon, err := json.Marshal(h); err != nil || !bytes.Equal(canon, raw[0]) {
		return nil, nil, errors.New(`protected header is not exactly {"alg","typ","x5c"}`)
	}
	if h.Typ != ManifestType {
		return nil, nil, fmt.Errorf("typ %q, want %q", h.Typ, ManifestType)
	}
	if len(h.X5C) == 0 || len(h.X5C) > maxChain {
		return nil, nil, fmt.Errorf("x5c has %d certificates, want 1 to %d", len(h.X5C), maxChain)
	}
	for i, s := range h.X5C {
		der, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, nil, fmt.Errorf("x5c[%d]: %w", i, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("x5c[%d]: %w", i, err)
		}
		chain = append(chain, c)
	}
	alg, err := algorithmFor(chain[0].PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("signer certificate: %w", err)
	}
	if h.Alg != alg.String() {
		return nil, nil, fmt.Errorf("alg %q, the certificate's key needs %q", h.Alg, alg)
	}
	return raw[1], chain, nil
}

// Trust is what a restore relies on, none of it from the backup: the root
// certificates (and optionally intermediates) the signer's chain must end
// at — the approved CAs of the global configuration, or roots the operator
// names.
type Trust struct {
	// Roots are the trusted root CAs. Required.
	Roots *x509.CertPool
	// Intermediates are extra intermediate CAs, optional (the manifest's
	// x5c normally carries the intermediate).
	Intermediates *x509.CertPool
}

// verifyManifest verifies the signed manifest: JWS signature, the manifest
// itself, the signer's chain to trust at the creation time, the signer
// being the owner of server, and the creation time not in the future.
func verifyManifest(compact []byte, trust Trust, server xroad.ServerID, now time.Time) (*Manifest, error) {
	payload, chain, err := parseManifestJWS(compact)
	if err != nil {
		return nil, refuse(ManifestEntry, "malformed signature", err)
	}
	alg, _ := algorithmFor(chain[0].PublicKey)
	if _, err := jws.Verify(compact, jws.WithKey(alg, chain[0].PublicKey)); err != nil {
		return nil, refuse(ManifestEntry, "the signature does not verify", err)
	}
	m, err := parseManifest(payload)
	if err != nil {
		return nil, refuse(ManifestEntry, "invalid manifest", err)
	}
	if m.Server != server {
		return nil, refuse(ManifestEntry, fmt.Sprintf("the backup is of %s, not %s", m.Server, server), ErrForeignServer)
	}
	if m.CreatedAt.After(now.Add(maxFutureSkew)) {
		return nil, refuse(ManifestEntry, fmt.Sprintf("created at %s, in the future", m.CreatedAt.Format(time.RFC3339)), nil)
	}
	if trust.Roots == nil {
		return nil, errors.New("backup: no trusted roots")
	}
	inter := x509.NewCertPool()
	if trust.Intermediates != nil {
		inter = trust.Intermediates.Clone()
	}
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: trust.Roots, Intermediates: inter, CurrentTime: m.CreatedAt,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, refuse(ManifestEntry, "the signer's certificate does not chain to a trusted root at the backup's creation time", err)
	}
	owner, err := profile.MemberIDFromCert(chain[0])
	if err != nil {
		return nil, refuse(ManifestEntry, "the signer's certificate is not a sign certificate", err)
	}
	if owner != server.Owner {
		return nil, refuse(ManifestEntry, fmt.Sprintf("signed by %s, not by the server's owner %s", owner, server.Owner), nil)
	}
	m.Signer = chain[0]
	sum := sha256.Sum256(compact)
	m.SHA256 = sum[:]
	return m, nil
}
