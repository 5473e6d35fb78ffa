package post

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/store"
)

// Registration-centre hours.
const (
	OpensAt      = 8 * time.Hour
	ClosesAt     = 14 * time.Hour
	SlotLength   = 20 * time.Minute
	BookingAhead = 60 * 24 * time.Hour
)

// OfficeJSON is an office as the API returns it.
type OfficeJSON struct {
	Code               string    `json:"code"`
	Kind               string    `json:"kind"`
	Name               seed.Name `json:"name"`
	Governorate        seed.Name `json:"governorate"`
	Locality           seed.Name `json:"locality"`
	Street             seed.Name `json:"street"`
	RegistrationCentre bool      `json:"registrationCentre"`
	Counters           int       `json:"counters"`
}

const officeColumns = `code, kind, name_ar, name_en, gov_ar, gov_en, loc_ar, loc_en, street_ar, street_en, registration_centre, counters`

func scanOffice(row interface{ Scan(...any) error }) (OfficeJSON, error) {
	var o OfficeJSON
	err := row.Scan(&o.Code, &o.Kind, &o.Name.AR, &o.Name.EN, &o.Governorate.AR, &o.Governorate.EN, &o.Locality.AR, &o.Locality.EN,
		&o.Street.AR, &o.Street.EN, &o.RegistrationCentre, &o.Counters)
	return o, err
}

func (s *Service) office(ctx context.Context, q store.Querier, code string) (OfficeJSON, error) {
	o, err := scanOffice(q.QueryRowContext(ctx, `SELECT `+officeColumns+` FROM post_offices WHERE code = $1`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return OfficeJSON{}, kit.NotFound("no office %s", code)
	}
	if err != nil {
		return OfficeJSON{}, kit.Internal(fmt.Errorf("read office: %w", err))
	}
	return o, nil
}

func (s *Service) listOffices(w http.ResponseWriter, r *http.Request) error {
	query, args := `SELECT `+officeColumns+` FROM post_offices`, []any{}
	if v := r.URL.Query().Get("registrationCentre"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return kit.BadRequest("registrationCentre must be true or false")
		}
		query, args = query+` WHERE registration_centre = $1`, append(args, b)
	}
	rows, err := s.db.SQL.QueryContext(r.Context(), query+` ORDER BY code`, args...)
	if err != nil {
		return kit.Internal(fmt.Errorf("list offices: %w", err))
	}
	defer rows.Close()
	out := []OfficeJSON{}
	for rows.Next() {
		o, err := scanOffice(rows)
		if err != nil {
			return kit.Internal(fmt.Errorf("list offices: %w", err))
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return kit.Internal(fmt.Errorf("list offices: %w", err))
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"offices": out})
	return nil
}

func (s *Service) getOffice(w http.ResponseWriter, r *http.Request) error {
	o, err := s.office(r.Context(), s.db.SQL, r.PathValue("code"))
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, o)
	return nil
}

// workingDay reports whether registration centres open on day (Sunday to
// Thursday).
func workingDay(day time.Time) bool {
	wd := day.Weekday()
	return wd != time.Friday && wd != time.Saturday
}

// slotStarts returns the slot start times of a local day (none on a
// closed day).
func (s *Service) slotStarts(day time.Time) []time.Time {
	if !workingDay(day) {
		return nil
	}
	y, m, d := day.Date()
	var out []time.Time
	for off := OpensAt; off < ClosesAt; off += SlotLength {
		out = append(out, time.Date(y, m, d, 0, 0, 0, 0, s.zone).Add(off))
	}
	return out
}

// Slot is an appointment slot with its free places.
type Slot struct {
	StartsAt time.Time `json:"startsAt"`
	Free     int       `json:"free"`
}

func (s *Service) listSlots(w http.ResponseWriter, r *http.Request) error {
	o, err := s.office(r.Context(), s.db.SQL, r.PathValue("code"))
	if err != nil {
		return err
	}
	if !o.RegistrationCentre {
		return kit.Errorf("Client.NotARegistrationCentre", http.StatusConflict, nil, "office %s is not a registration centre", o.Code)
	}
	day, err := time.ParseInLocation(time.DateOnly, r.URL.Query().Get("date"), s.zone)
	if err != nil {
		return kit.Errorf(kit.CodeBadRequest, http.StatusBadRequest, err, "date must be YYYY-MM-DD")
	}
	now := s.clk.Now()
	if day.After(now.Add(BookingAhead)) {
		return kit.BadRequest("appointments are taken at most %d days ahead", int(BookingAhead.Hours()/24))
	}
	starts := s.slotStarts(day)
	booked := map[int64]int{}
	if len(starts) > 0 {
		rows, err := s.db.SQL.QueryContext(r.Context(), `SELECT starts_at, COUNT(*) FROM post_appointments
			WHERE office_code = $1 AND local_day = $2 AND status = 'booked' GROUP BY starts_at`, o.Code, day.Format(time.DateOnly))
		if err != nil {
			return kit.Internal(fmt.Errorf("list slots: %w", err))
		}
		defer rows.Close()
		for rows.Next() {
			var at int64
			var n int
			if err := rows.Scan(&at, &n); err != nil {
				return kit.Internal(fmt.Errorf("list slots: %w", err))
			}
			booked[at] = n
		}
		if err := rows.Err(); err != nil {
			return kit.Internal(fmt.Errorf("list slots: %w", err))
		}
	}
	slots := []Slot{}
	for _, st := range starts {
		if !st.After(now) {
			continue
		}
		slots = append(slots, Slot{StartsAt: st.UTC(), Free: o.Counters - booked[store.Micros(st)]})
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"office": o.Code, "date": day.Format(time.DateOnly), "slots": slots})
	return nil
}
