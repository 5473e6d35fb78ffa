package post

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/internal/store"
)

// Appointment statuses.
const (
	Booked    = "booked"
	Cancelled = "cancelled"
)

// AppointmentJSON is an appointment as the API returns it.
type AppointmentJSON struct {
	ID         string    `json:"id"`
	OfficeCode string    `json:"officeCode"`
	StartsAt   time.Time `json:"startsAt"`
	EndsAt     time.Time `json:"endsAt"`
	NationalID string    `json:"nationalId"`
	Purpose    string    `json:"purpose"`
	Status     string    `json:"status"`
}

func (s *Service) appointment(ctx context.Context, q store.Querier, id string) (*AppointmentJSON, error) {
	var a AppointmentJSON
	var starts int64
	err := q.QueryRowContext(ctx, `SELECT id, office_code, starts_at, national_id, purpose, status FROM post_appointments WHERE id = $1`, id).
		Scan(&a.ID, &a.OfficeCode, &starts, &a.NationalID, &a.Purpose, &a.Status)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, kit.NotFound("no appointment %s", id)
	}
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("read appointment: %w", err))
	}
	a.StartsAt = store.FromMicros(starts)
	a.EndsAt = a.StartsAt.Add(SlotLength)
	return &a, nil
}

func slotTaken(format string, args ...any) error {
	return kit.Errorf("Client.SlotUnavailable", http.StatusConflict, nil, format, args...)
}

// book handles POST /v1/appointments: a free counter of the slot is taken
// in one transaction; the partial unique indexes keep a counter to one
// appointment per slot and a citizen to one per day, also under
// concurrency.
func (s *Service) book(w http.ResponseWriter, r *http.Request) error {
	who, err := kit.Requester(r)
	if err != nil {
		return err
	}
	var req struct {
		OfficeCode string `json:"officeCode"`
		StartsAt   string `json:"startsAt"`
		Purpose    string `json:"purpose"`
	}
	if err := kit.DecodeJSON(r, &req); err != nil {
		return err
	}
	start, err := time.Parse(time.RFC3339, req.StartsAt)
	if err != nil {
		return kit.Errorf(kit.CodeBadRequest, http.StatusBadRequest, err, "startsAt must be an RFC 3339 time")
	}
	ctx := r.Context()
	o, err := s.office(ctx, s.db.SQL, req.OfficeCode)
	if err != nil {
		return err
	}
	if !o.RegistrationCentre {
		return kit.Errorf("Client.NotARegistrationCentre", http.StatusConflict, nil, "office %s is not a registration centre", o.Code)
	}
	local := start.In(s.zone)
	now := s.clk.Now()
	valid := false
	for _, st := range s.slotStarts(local) {
		if st.Equal(start) {
			valid = true
		}
	}
	switch {
	case !valid:
		return kit.BadRequest("%s is not the start of a slot (Sunday to Thursday, 08:00-14:00 Palestine time, every 20 minutes)", req.StartsAt)
	case !start.After(now):
		return slotTaken("the slot has already begun")
	case start.After(now.Add(BookingAhead)):
		return kit.BadRequest("appointments are taken at most %d days ahead", int(BookingAhead.Hours()/24))
	}
	day := local.Format(time.DateOnly)
	var a *AppointmentJSON
	// On PostgreSQL two bookings may pick the same free counter; the
	// loser's unique violation is retried and then sees the other counter
	// taken (SQLite serialises writers and never gets here).
	err = kit.RetryConflicts(o.Counters+1, func() error {
		return store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
			var err error
			a, err = s.bookIn(ctx, tx, booking{office: o, who: who.String(), day: day, purpose: req.Purpose, start: start, now: now})
			return err
		})
	})
	if err != nil {
		if store.ConstraintViolation(err) == store.Unique {
			return slotTaken("the slot was just taken; choose another")
		}
		return kit.As(err)
	}
	s.events.WithLabelValues("appointment-booked").Inc()
	w.Header().Set("Location", "/v1/appointments/"+a.ID)
	kit.WriteJSON(w, http.StatusCreated, a)
	return nil
}

// booking is one appointment request, checked against the office's hours.
type booking struct {
	office            OfficeJSON
	who, day, purpose string
	start, now        time.Time
}

// bookIn takes a free counter of the slot in tx. A unique violation is
// returned as is, for RetryConflicts.
func (s *Service) bookIn(ctx context.Context, tx *sql.Tx, b booking) (*AppointmentJSON, error) {
	var mine int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM post_appointments WHERE national_id = $1 AND local_day = $2 AND status = 'booked'`,
		b.who, b.day).Scan(&mine); err != nil {
		return nil, kit.Internal(err)
	}
	if mine > 0 {
		return nil, slotTaken("you already have an appointment on %s", b.day)
	}
	rows, err := tx.QueryContext(ctx, `SELECT counter FROM post_appointments WHERE office_code = $1 AND starts_at = $2 AND status = 'booked'`,
		b.office.Code, store.Micros(b.start))
	if err != nil {
		return nil, kit.Internal(err)
	}
	used := map[int]bool{}
	for rows.Next() {
		var c int
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return nil, kit.Internal(err)
		}
		used[c] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, kit.Internal(err)
	}
	counter := 0
	for c := 1; c <= b.office.Counters; c++ {
		if !used[c] {
			counter = c
			break
		}
	}
	if counter == 0 {
		return nil, slotTaken("the slot is fully booked")
	}
	now := b.now.UTC()
	n, err := kit.NextSequence(ctx, tx, fmt.Sprintf("%s.appointment.%d", Name, now.Year()))
	if err != nil {
		return nil, kit.Internal(err)
	}
	id := fmt.Sprintf("AP-%d-%07d", now.Year(), n)
	if _, err := tx.ExecContext(ctx, `INSERT INTO post_appointments (id, office_code, starts_at, local_day, counter, national_id, purpose, status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, id, b.office.Code, store.Micros(b.start), b.day, counter, b.who, b.purpose, Booked, store.Micros(now)); err != nil {
		if store.ConstraintViolation(err) == store.Unique {
			return nil, err
		}
		return nil, kit.Internal(err)
	}
	return s.appointment(ctx, tx, id)
}

func (s *Service) getAppointment(w http.ResponseWriter, r *http.Request) error {
	a, err := s.appointment(r.Context(), s.db.SQL, r.PathValue("id"))
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, a)
	return nil
}

func (s *Service) cancel(w http.ResponseWriter, r *http.Request) error {
	who, err := kit.Requester(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var a *AppointmentJSON
	err = store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
		if a, err = s.appointment(ctx, tx, r.PathValue("id")); err != nil {
			return err
		}
		if a.NationalID != who.String() {
			return kit.Forbidden("an appointment is cancelled by the citizen who booked it")
		}
		if a.Status != Booked {
			return kit.Errorf("Client.AlreadyCancelled", http.StatusConflict, nil, "appointment %s is already cancelled", a.ID)
		}
		if !a.StartsAt.After(s.clk.Now()) {
			return kit.Errorf("Client.AppointmentPast", http.StatusConflict, nil, "appointment %s has already begun", a.ID)
		}
		res, err := tx.ExecContext(ctx, `UPDATE post_appointments SET status = $1 WHERE id = $2 AND status = $3`, Cancelled, a.ID, Booked)
		if err != nil {
			return kit.Internal(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return kit.Errorf("Client.AlreadyCancelled", http.StatusConflict, err, "appointment %s is already cancelled", a.ID)
		}
		a.Status = Cancelled
		return nil
	})
	if err != nil {
		return kit.As(err)
	}
	s.events.WithLabelValues("appointment-cancelled").Inc()
	kit.WriteJSON(w, http.StatusOK, a)
	return nil
}
