package interior

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/store"
)

// loadSeed inserts the demo world's persons and birth records.
func loadSeed(ctx context.Context, tx *sql.Tx, w *seed.World) error {
	ps, err := tx.PrepareContext(ctx, `INSERT INTO moi_persons (national_id, sex, first_ar, first_en, father_ar, father_en,
		grandfather_ar, grandfather_en, family_ar, family_en, birth_date, birth_gov_ar, birth_gov_en, birth_loc_ar, birth_loc_en,
		mother_nid, father_nid, spouse_nid, marital_status, addr_gov_ar, addr_gov_en, addr_loc_ar, addr_loc_en,
		addr_street_ar, addr_street_en, addr_building, phone)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)`)
	if err != nil {
		return err
	}
	defer ps.Close()
	for _, p := range w.Persons {
		a := p.Address
		if _, err := ps.ExecContext(ctx, p.NationalID.String(), p.Sex, p.FirstName.AR, p.FirstName.EN, p.FatherName.AR, p.FatherName.EN,
			p.GrandfatherName.AR, p.GrandfatherName.EN, p.FamilyName.AR, p.FamilyName.EN, store.Micros(p.BirthDate),
			p.Birthplace.Governorate.AR, p.Birthplace.Governorate.EN, p.Birthplace.Locality.AR, p.Birthplace.Locality.EN,
			p.Mother.String(), p.Father.String(), p.Spouse.String(), p.MaritalStatus,
			a.Governorate.AR, a.Governorate.EN, a.Locality.AR, a.Locality.EN, a.Street.AR, a.Street.EN, a.Building, p.Phone); err != nil {
			return fmt.Errorf("seed person: %w", err)
		}
	}
	bs, err := tx.PrepareContext(ctx, `INSERT INTO moi_births (registration_number, child_nid, born_at, facility_ar, facility_en,
		gov_ar, gov_en, loc_ar, loc_en, mother_nid, father_nid, mother_name_ar, mother_name_en, father_name_ar, father_name_en,
		registered_on, paper_certificates)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`)
	if err != nil {
		return err
	}
	defer bs.Close()
	for _, b := range w.Births {
		if _, err := bs.ExecContext(ctx, b.RegistrationNumber, b.Child.String(), store.Micros(b.DateTime), b.Facility.AR, b.Facility.EN,
			b.Place.Governorate.AR, b.Place.Governorate.EN, b.Place.Locality.AR, b.Place.Locality.EN,
			b.Mother.String(), b.Father.String(), b.MotherName.AR, b.MotherName.EN, b.FatherName.AR, b.FatherName.EN,
			store.Micros(b.RegisteredOn), b.CertificatesIssued); err != nil {
			return fmt.Errorf("seed birth: %w", err)
		}
	}
	return nil
}

// PersonJSON is a civil-registry entry as the API returns it.
type PersonJSON struct {
	NationalID       string       `json:"nationalId"`
	Name             seed.Name    `json:"name"`
	FirstName        seed.Name    `json:"firstName"`
	FatherName       seed.Name    `json:"fatherName"`
	GrandfatherName  seed.Name    `json:"grandfatherName"`
	FamilyName       seed.Name    `json:"familyName"`
	Sex              string       `json:"sex"`
	BirthDate        string       `json:"birthDate"`
	Birthplace       seed.Place   `json:"birthplace"`
	MotherNationalID string       `json:"motherNationalId,omitempty"`
	FatherNationalID string       `json:"fatherNationalId,omitempty"`
	SpouseNationalID string       `json:"spouseNationalId,omitempty"`
	MaritalStatus    string       `json:"maritalStatus"`
	Address          seed.Address `json:"address"`
	Phone            string       `json:"phone,omitempty"`
}

// Summary returns the short form of a person.
func (p *PersonJSON) Summary() PersonSummary {
	return PersonSummary{NationalID: p.NationalID, Name: p.Name, Sex: p.Sex, BirthDate: p.BirthDate}
}

// PersonSummary is a person's short form.
type PersonSummary struct {
	NationalID string    `json:"nationalId"`
	Name       seed.Name `json:"name"`
	Sex        string    `json:"sex"`
	BirthDate  string    `json:"birthDate"`
}

const personColumns = `national_id, sex, first_ar, first_en, father_ar, father_en, grandfather_ar, grandfather_en,
	family_ar, family_en, birth_date, birth_gov_ar, birth_gov_en, birth_loc_ar, birth_loc_en, mother_nid, father_nid,
	spouse_nid, marital_status, addr_gov_ar, addr_gov_en, addr_loc_ar, addr_loc_en, addr_street_ar, addr_street_en,
	addr_building, phone`

func scanPerson(row interface{ Scan(...any) error }) (*PersonJSON, error) {
	var p PersonJSON
	var birth int64
	a := &p.Address
	if err := row.Scan(&p.NationalID, &p.Sex, &p.FirstName.AR, &p.FirstName.EN, &p.FatherName.AR, &p.FatherName.EN,
		&p.GrandfatherName.AR, &p.GrandfatherName.EN, &p.FamilyName.AR, &p.FamilyName.EN, &birth,
		&p.Birthplace.Governorate.AR, &p.Birthplace.Governorate.EN, &p.Birthplace.Locality.AR, &p.Birthplace.Locality.EN,
		&p.MotherNationalID, &p.FatherNationalID, &p.SpouseNationalID, &p.MaritalStatus,
		&a.Governorate.AR, &a.Governorate.EN, &a.Locality.AR, &a.Locality.EN, &a.Street.AR, &a.Street.EN, &a.Building, &p.Phone); err != nil {
		return nil, err
	}
	p.BirthDate = store.FromMicros(birth).Format(time.DateOnly)
	p.Name = seed.Join(p.FirstName, p.FatherName, p.GrandfatherName, p.FamilyName)
	return &p, nil
}

func (s *Service) person(ctx context.Context, q store.Querier, id string) (*PersonJSON, error) {
	p, err := scanPerson(q.QueryRowContext(ctx, `SELECT `+personColumns+` FROM moi_persons WHERE national_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, kit.NotFound("no person with national ID %s in the civil registry", id)
	}
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("read person: %w", err))
	}
	return p, nil
}

func (s *Service) children(ctx context.Context, q store.Querier, id string) ([]PersonSummary, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+personColumns+` FROM moi_persons
		WHERE mother_nid = $1 OR father_nid = $1 ORDER BY birth_date, national_id`, id)
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("list children: %w", err))
	}
	defer rows.Close()
	out := []PersonSummary{}
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			return nil, kit.Internal(fmt.Errorf("list children: %w", err))
		}
		out = append(out, p.Summary())
	}
	if err := rows.Err(); err != nil {
		return nil, kit.Internal(fmt.Errorf("list children: %w", err))
	}
	return out, nil
}

// Parent is a parent on a birth record.
type Parent struct {
	NationalID string    `json:"nationalId,omitempty"`
	Name       seed.Name `json:"name"`
}

// Certificates says how many birth certificates exist and which kind can
// be issued next.
type Certificates struct {
	IssuedOnPaper int    `json:"issuedOnPaper"`
	IssuedOnline  int    `json:"issuedOnline"`
	Next          string `json:"next"`
}

// BirthRecordJSON is a birth record as the API returns it.
type BirthRecordJSON struct {
	RegistrationNumber string       `json:"registrationNumber"`
	NationalID         string       `json:"nationalId"`
	Name               seed.Name    `json:"name"`
	Sex                string       `json:"sex"`
	BornAt             time.Time    `json:"bornAt"`
	Facility           seed.Name    `json:"facility"`
	Place              seed.Place   `json:"place"`
	Mother             Parent       `json:"mother"`
	Father             Parent       `json:"father"`
	RegisteredOn       string       `json:"registeredOn"`
	Certificates       Certificates `json:"certificates"`
}

func (s *Service) birthRecord(ctx context.Context, q store.Querier, p *PersonJSON) (*BirthRecordJSON, error) {
	b := BirthRecordJSON{NationalID: p.NationalID, Name: p.Name, Sex: p.Sex}
	var born, registered int64
	err := q.QueryRowContext(ctx, `SELECT registration_number, born_at, facility_ar, facility_en, gov_ar, gov_en, loc_ar, loc_en,
		mother_nid, father_nid, mother_name_ar, mother_name_en, father_name_ar, father_name_en, registered_on, paper_certificates
		FROM moi_births WHERE child_nid = $1`, p.NationalID).Scan(&b.RegistrationNumber, &born, &b.Facility.AR, &b.Facility.EN,
		&b.Place.Governorate.AR, &b.Place.Governorate.EN, &b.Place.Locality.AR, &b.Place.Locality.EN,
		&b.Mother.NationalID, &b.Father.NationalID, &b.Mother.Name.AR, &b.Mother.Name.EN, &b.Father.Name.AR, &b.Father.Name.EN,
		&registered, &b.Certificates.IssuedOnPaper)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, kit.NotFound("no birth record for national ID %s", p.NationalID)
	}
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("read birth record: %w", err))
	}
	b.BornAt, b.RegisteredOn = store.FromMicros(born), store.FromMicros(registered).Format(time.DateOnly)
	var newOnline int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN kind = 'new' THEN 1 ELSE 0 END), 0) FROM moi_documents
		WHERE national_id = $1 AND type = 'birth-certificate'`, p.NationalID).Scan(&b.Certificates.IssuedOnline, &newOnline); err != nil {
		return nil, kit.Internal(fmt.Errorf("count certificates: %w", err))
	}
	b.Certificates.Next = "copy"
	if b.Certificates.IssuedOnPaper == 0 && newOnline == 0 {
		b.Certificates.Next = "new"
	}
	return &b, nil
}

func (s *Service) getPerson(w http.ResponseWriter, r *http.Request) error {
	id, err := kit.NationalIDParam("nationalId", r.PathValue("nationalId"))
	if err != nil {
		return err
	}
	p, err := s.person(r.Context(), s.db.SQL, id.String())
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, p)
	return nil
}

func (s *Service) getBirthRecord(w http.ResponseWriter, r *http.Request) error {
	id, err := kit.NationalIDParam("nationalId", r.PathValue("nationalId"))
	if err != nil {
		return err
	}
	p, err := s.person(r.Context(), s.db.SQL, id.String())
	if err != nil {
		return err
	}
	b, err := s.birthRecord(r.Context(), s.db.SQL, p)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, b)
	return nil
}

func (s *Service) listChildren(w http.ResponseWriter, r *http.Request) error {
	id, err := kit.NationalIDParam("nationalId", r.PathValue("nationalId"))
	if err != nil {
		return err
	}
	if _, err := s.person(r.Context(), s.db.SQL, id.String()); err != nil {
		return err
	}
	cs, err := s.children(r.Context(), s.db.SQL, id.String())
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"children": cs})
	return nil
}
