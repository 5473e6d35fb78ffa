package conf

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// ISCertStore keeps the TLS certificates of a client's information systems
// themselves, not only their hashes (Client.ISCertHashes), so that an
// administrator sees whose certificate is registered and when it expires.
// It is an optional ability of a Store (the SQLite and PostgreSQL stores
// have it): find it with a type assertion, s.(conf.ISCertStore).
//
// Adding and removing change the client's ISCertHashes, which decide
// HTTPS_CERT connections, so they are configuration changes: they bump
// Version. Errors wrap ErrNotFound for an unknown client or hash,
// ErrConflict for a certificate already registered, ErrInvalid for DER
// that is not a certificate.
type ISCertStore interface {
	// ISCertificates lists the client's registered IS certificates by
	// hash: every hash of ISCertHashes, with the certificate when it was
	// added through AddISCertificate (DER nil otherwise).
	ISCertificates(ctx context.Context, client xroad.ClientID) ([]ISCertificate, error)
	// AddISCertificate registers a certificate (DER) for the client and
	// returns it as stored.
	AddISCertificate(ctx context.Context, client xroad.ClientID, der []byte) (ISCertificate, error)
	// RemoveISCertificate removes the certificate with the given SHA-256
	// (hex, either case) from the client.
	RemoveISCertificate(ctx context.Context, client xroad.ClientID, hash string) error
}

var _ ISCertStore = (*sqlStore)(nil)

// ISCertificate is a registered information system TLS certificate.
type ISCertificate struct {
	// Hash is the lower-case hex SHA-256 of the DER.
	Hash string
	// DER is the certificate; nil when only its hash was registered.
	DER []byte
	// AddedAt is when AddISCertificate stored it (zero when only the hash
	// is known).
	AddedAt time.Time
}

// maxISCertSize bounds a stored certificate.
const maxISCertSize = 64 << 10

// ISCertificates implements ISCertStore.
func (s *sqlStore) ISCertificates(ctx context.Context, client xroad.ClientID) ([]ISCertificate, error) {
	var out []ISCertificate
	err := s.Snapshot(ctx, func(r Reader) error {
		rd := r.(reader)
		c, err := rd.Client(ctx, client)
		if err != nil {
			return err
		}
		rowID, err := rd.clientRowID(ctx, client)
		if err != nil {
			return err
		}
		type derRow struct {
			hash string
			der  []byte
			at   int64
		}
		ders, err := query(ctx, rd.x, "list IS certificates", func(rows *sql.Rows) (d derRow, err error) {
			err = rows.Scan(&d.hash, &d.der, &d.at)
			return d, err
		}, `SELECT hash, der, added_at FROM ss_client_is_cert_ders WHERE client_id = $1`, rowID)
		if err != nil {
			return err
		}
		byHash := make(map[string]derRow, len(ders))
		for _, d := range ders {
			byHash[d.hash] = d
		}
		out = make([]ISCertificate, 0, len(c.ISCertHashes))
		for _, h := range c.ISCertHashes {
			ic := ISCertificate{Hash: h}
			if d, ok := byHash[h]; ok {
				ic.DER, ic.AddedAt = d.der, store.FromMicros(d.at)
			}
			out = append(out, ic)
		}
		return nil
	})
	return out, err
}

// AddISCertificate implements ISCertStore.
func (s *sqlStore) AddISCertificate(ctx context.Context, client xroad.ClientID, der []byte) (ISCertificate, error) {
	if len(der) == 0 || len(der) > maxISCertSize {
		return ISCertificate{}, invalid(nil, "IS certificate: want the DER of one certificate, at most %d bytes", maxISCertSize)
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return ISCertificate{}, invalid(err, "IS certificate")
	}
	sum := sha256.Sum256(der)
	out := ISCertificate{Hash: hex.EncodeToString(sum[:]), DER: slices.Clone(der)}
	err := s.Update(ctx, func(tx Tx) error {
		t := tx.(*txn)
		c, err := t.Client(ctx, client)
		if err != nil {
			return err
		}
		if slices.Contains(c.ISCertHashes, out.Hash) {
			return fmt.Errorf("%w: IS certificate %s of client %s is already registered", ErrConflict, out.Hash, client)
		}
		c.ISCertHashes = append(c.ISCertHashes, out.Hash)
		if err := t.UpdateClient(ctx, c); err != nil {
			return err
		}
		rowID, err := t.clientRowID(ctx, client)
		if err != nil {
			return err
		}
		out.AddedAt = t.now()
		// A stale row of an earlier registration of the same certificate
		// (its hash since replaced by UpdateClient) is overwritten.
		if _, err := t.exec(ctx, "IS certificate", `DELETE FROM ss_client_is_cert_ders WHERE client_id = $1 AND hash = $2`, rowID, out.Hash); err != nil {
			return err
		}
		_, err = t.exec(ctx, "IS certificate "+out.Hash,
			`INSERT INTO ss_client_is_cert_ders (client_id, hash, der, added_at) VALUES ($1, $2, $3, $4)`,
			rowID, out.Hash, der, store.Micros(out.AddedAt))
		return err
	})
	if err != nil {
		return ISCertificate{}, err
	}
	return out, nil
}

// RemoveISCertificate implements ISCertStore.
func (s *sqlStore) RemoveISCertificate(ctx context.Context, client xroad.ClientID, hash string) error {
	norm, err := normalizeHashes([]string{hash})
	if err != nil {
		return err
	}
	h := norm[0]
	return s.Update(ctx, func(tx Tx) error {
		t := tx.(*txn)
		c, err := t.Client(ctx, client)
		if err != nil {
			return err
		}
		i := slices.Index(c.ISCertHashes, h)
		if i < 0 {
			return notFound("IS certificate %s of client %s", h, client)
		}
		c.ISCertHashes = slices.Delete(c.ISCertHashes, i, i+1)
		if err := t.UpdateClient(ctx, c); err != nil {
			return err
		}
		rowID, err := t.clientRowID(ctx, client)
		if err != nil {
			return err
		}
		_, err = t.exec(ctx, "IS certificate", `DELETE FROM ss_client_is_cert_ders WHERE client_id = $1 AND hash = $2`, rowID, h)
		return err
	})
}
