package interior

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jisr-bus/jisr/adapters/document"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/store"
)

// IssuerJSON names a document's issuer.
type IssuerJSON struct {
	Member string    `json:"member"`
	Name   seed.Name `json:"name"`
}

// DocumentJSON is an issued document as the API returns it.
type DocumentJSON struct {
	Number           string          `json:"number"`
	Type             string          `json:"type"`
	Kind             string          `json:"kind,omitempty"`
	IssuedAt         time.Time       `json:"issuedAt"`
	Issuer           IssuerJSON      `json:"issuer"`
	Subject          PersonSummary   `json:"subject"`
	Content          json.RawMessage `json:"content"`
	Code             string          `json:"code"`
	CodeSHA256       string          `json:"codeSha256"`
	Status           document.Status `json:"status"`
	RevokedAt        *time.Time      `json:"revokedAt,omitempty"`
	RevocationReason string          `json:"revocationReason,omitempty"`
}

// stored is what moi_documents.content holds: the parts of a document
// fixed at issue.
type stored struct {
	Issuer  IssuerJSON      `json:"issuer"`
	Subject PersonSummary   `json:"subject"`
	Content json.RawMessage `json:"content"`
}

// BirthCertificateContent is what a birth certificate certifies.
type BirthCertificateContent struct {
	RegistrationNumber string     `json:"registrationNumber"`
	BornAt             time.Time  `json:"bornAt"`
	Facility           seed.Name  `json:"facility"`
	Place              seed.Place `json:"place"`
	Mother             Parent     `json:"mother"`
	Father             Parent     `json:"father"`
	RegisteredOn       string     `json:"registeredOn"`
}

// ExtractContent is what a civil-registry extract certifies.
type ExtractContent struct {
	Person   PersonJSON      `json:"person"`
	Mother   *PersonSummary  `json:"mother,omitempty"`
	Father   *PersonSummary  `json:"father,omitempty"`
	Spouse   *PersonSummary  `json:"spouse,omitempty"`
	Children []PersonSummary `json:"children"`
}

// Problem codes of document issuance.
const (
	codeAlreadyIssued = "Client.CertificateAlreadyIssued"
	codeNoneIssued    = "Client.NoCertificateIssued"
)

func (s *Service) issueBirthCertificate(w http.ResponseWriter, r *http.Request) error {
	requester, err := kit.Requester(r)
	if err != nil {
		return err
	}
	var req struct {
		NationalID string `json:"nationalId"`
		Kind       string `json:"kind"`
	}
	if err := kit.DecodeJSON(r, &req); err != nil {
		return err
	}
	id, err := kit.NationalIDParam("nationalId", req.NationalID)
	if err != nil {
		return err
	}
	if req.Kind != document.KindNew && req.Kind != document.KindCopy {
		return kit.BadRequest("kind must be new or copy")
	}
	doc, err := s.issue(r.Context(), document.TypeBirthCertificate, req.Kind, requester.String(), func(tx *sql.Tx) (*PersonJSON, any, error) {
		p, err := s.person(r.Context(), tx, id.String())
		if err != nil {
			return nil, nil, err
		}
		b, err := s.birthRecord(r.Context(), tx, p)
		if err != nil {
			return nil, nil, err
		}
		if who := requester.String(); who != p.NationalID && who != b.Mother.NationalID && who != b.Father.NationalID {
			return nil, nil, kit.Forbidden("a birth certificate is issued to the person or a parent only")
		}
		switch {
		case req.Kind == document.KindNew && b.Certificates.Next != document.KindNew:
			return nil, nil, alreadyIssued()
		case req.Kind == document.KindCopy && b.Certificates.Next == document.KindNew:
			return nil, nil, kit.Errorf(codeNoneIssued, http.StatusConflict, nil, "no birth certificate has been issued for this person yet: request a new one")
		}
		return p, BirthCertificateContent{
			RegistrationNumber: b.RegistrationNumber, BornAt: b.BornAt, Facility: b.Facility, Place: b.Place,
			Mother: b.Mother, Father: b.Father, RegisteredOn: b.RegisteredOn,
		}, nil
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/documents/"+doc.Number)
	kit.WriteJSON(w, http.StatusCreated, doc)
	return nil
}

func alreadyIssued() error {
	return kit.Errorf(codeAlreadyIssued, http.StatusConflict, nil, "a birth certificate was already issued for this person: request a copy")
}

func (s *Service) issueExtract(w http.ResponseWriter, r *http.Request) error {
	requester, err := kit.Requester(r)
	if err != nil {
		return err
	}
	var req struct {
		NationalID string `json:"nationalId"`
	}
	if err := kit.DecodeJSON(r, &req); err != nil {
		return err
	}
	id, err := kit.NationalIDParam("nationalId", req.NationalID)
	if err != nil {
		return err
	}
	if requester != id {
		return kit.Forbidden("a civil-registry extract is issued to the person it is about only")
	}
	doc, err := s.issue(r.Context(), document.TypeCivilRegistryExtract, "", requester.String(), func(tx *sql.Tx) (*PersonJSON, any, error) {
		ctx := r.Context()
		p, err := s.person(ctx, tx, id.String())
		if err != nil {
			return nil, nil, err
		}
		c := ExtractContent{Person: *p}
		for _, rel := range []struct {
			id  string
			out **PersonSummary
		}{{p.MotherNationalID, &c.Mother}, {p.FatherNationalID, &c.Father}, {p.SpouseNationalID, &c.Spouse}} {
			if rel.id == "" {
				continue
			}
			q, err := s.person(ctx, tx, rel.id)
			if err != nil {
				return nil, nil, kit.Internal(fmt.Errorf("relative %s of %s: %w", rel.id, p.NationalID, err))
			}
			sum := q.Summary()
			*rel.out = &sum
		}
		if c.Children, err = s.children(ctx, tx, p.NationalID); err != nil {
			return nil, nil, err
		}
		return p, c, nil
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/documents/"+doc.Number)
	kit.WriteJSON(w, http.StatusCreated, doc)
	return nil
}

// issue numbers, signs and records a document in one transaction: gather
// reads the registry (and checks the rules) inside it, so what is certified
// is what the registry held when the number was taken.
func (s *Service) issue(ctx context.Context, typ, kind, requester string, gather func(*sql.Tx) (*PersonJSON, any, error)) (*DocumentJSON, error) {
	now := s.clk.Now().UTC().Truncate(time.Second)
	if now.After(s.issuer.NotAfter()) {
		return nil, kit.Errorf(kit.CodeUnavailable, http.StatusServiceUnavailable,
			fmt.Errorf("signing certificate expired at %s", s.issuer.NotAfter()), "documents cannot be issued now: the ministry's signing certificate has expired")
	}
	prefix := "BC"
	if typ == document.TypeCivilRegistryExtract {
		prefix = "CRE"
	}
	var doc *DocumentJSON
	err := store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
		p, content, err := gather(tx)
		if err != nil {
			return err
		}
		n, err := kit.NextSequence(ctx, tx, fmt.Sprintf("%s.%s.%d", Name, prefix, now.Year()))
		if err != nil {
			return err
		}
		number := fmt.Sprintf("%s-%d-%06d", prefix, now.Year(), n)
		code, err := s.issuer.Sign(document.Claims{
			Type: typ, Number: number, Kind: kind, NationalID: p.NationalID,
			Name: document.Name{AR: p.Name.AR, EN: p.Name.EN}, IssuedAt: now.Unix(),
		})
		if err != nil {
			return kit.Internal(err)
		}
		cb, err := json.Marshal(content)
		if err != nil {
			return kit.Internal(err)
		}
		st := stored{Issuer: IssuerJSON{Member: s.issuer.Member().String(), Name: ministryName()}, Subject: p.Summary(), Content: cb}
		sb, err := json.Marshal(st)
		if err != nil {
			return kit.Internal(err)
		}
		digest := document.Digest(code)
		if _, err := tx.ExecContext(ctx, `INSERT INTO moi_documents (number, type, kind, national_id, requested_by, issued_at, content, code, code_sha256)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, number, typ, kind, p.NationalID, requester, store.Micros(now), string(sb), code, digest); err != nil {
			if store.ConstraintViolation(err) == store.Unique {
				return alreadyIssued()
			}
			return kit.Internal(fmt.Errorf("record document: %w", err))
		}
		doc = &DocumentJSON{
			Number: number, Type: typ, Kind: kind, IssuedAt: now, Issuer: st.Issuer, Subject: st.Subject, Content: cb,
			Code: code, CodeSHA256: digest, Status: document.StatusValid,
		}
		return nil
	})
	if err != nil {
		// A concurrent "new" certificate makes the unique index fail at
		// commit on some engines; report it as the rule it enforces.
		if store.ConstraintViolation(err) == store.Unique {
			return nil, alreadyIssued()
		}
		return nil, kit.As(err)
	}
	s.issued.WithLabelValues(typ, kind).Inc()
	return doc, nil
}

func unknownDocument(number string) error {
	return kit.Errorf(document.CodeUnknownDocument, http.StatusNotFound, nil, "no document %s was issued by the Ministry of Interior", number)
}

func (s *Service) document(ctx context.Context, q store.Querier, number string) (*DocumentJSON, error) {
	d := DocumentJSON{Number: number}
	var issued int64
	var revoked sql.NullInt64
	var content string
	err := q.QueryRowContext(ctx, `SELECT type, kind, issued_at, content, code, code_sha256, revoked_at, revocation_reason
		FROM moi_documents WHERE number = $1`, number).Scan(&d.Type, &d.Kind, &issued, &content, &d.Code, &d.CodeSHA256, &revoked, &d.RevocationReason)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, unknownDocument(number)
	}
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("read document: %w", err))
	}
	var st stored
	if err := json.Unmarshal([]byte(content), &st); err != nil {
		return nil, kit.Internal(fmt.Errorf("document %s content: %w", number, err))
	}
	d.IssuedAt, d.Issuer, d.Subject, d.Content = store.FromMicros(issued), st.Issuer, st.Subject, st.Content
	d.Status = document.StatusValid
	if revoked.Valid {
		t := store.FromMicros(revoked.Int64)
		d.Status, d.RevokedAt = document.StatusRevoked, &t
	}
	return &d, nil
}

func statusOf(d *DocumentJSON) document.StatusJSON {
	return document.StatusJSON{Number: d.Number, Type: d.Type, Status: d.Status, RevokedAt: d.RevokedAt, Reason: d.RevocationReason, CodeSHA256: d.CodeSHA256}
}

func (s *Service) getDocument(w http.ResponseWriter, r *http.Request) error {
	d, err := s.document(r.Context(), s.db.SQL, r.PathValue("number"))
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, d)
	return nil
}

func (s *Service) getStatus(w http.ResponseWriter, r *http.Request) error {
	d, err := s.document(r.Context(), s.db.SQL, r.PathValue("number"))
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, statusOf(d))
	return nil
}

func (s *Service) revoke(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := kit.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Reason == "" {
		return kit.BadRequest("a reason is required")
	}
	number := r.PathValue("number")
	var d *DocumentJSON
	err := store.InTx(r.Context(), s.db.SQL, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(r.Context(), `UPDATE moi_documents SET revoked_at = $1, revocation_reason = $2
			WHERE number = $3 AND revoked_at IS NULL`, store.Micros(s.clk.Now()), req.Reason, number)
		if err != nil {
			return kit.Internal(fmt.Errorf("revoke: %w", err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return kit.Internal(err)
		}
		if d, err = s.document(r.Context(), tx, number); err != nil {
			return err
		}
		if n == 0 {
			return kit.Errorf("Client.AlreadyRevoked", http.StatusConflict, nil, "document %s was already revoked", number)
		}
		return nil
	})
	if err != nil {
		return kit.As(err)
	}
	kit.WriteJSON(w, http.StatusOK, statusOf(d))
	return nil
}
