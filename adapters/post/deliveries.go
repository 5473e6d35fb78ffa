package post

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/jisr-bus/jisr/adapters/checkdigit"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/store"
)

// Delivery methods.
const (
	MethodAddress = "address"
	MethodPickup  = "pickup"
)

// Tracking states.
const (
	Created        = "created"
	Accepted       = "accepted"
	InTransit      = "in-transit"
	OutForDelivery = "out-for-delivery"
	DeliveryFailed = "delivery-failed"
	Delivered      = "delivered"
	ReadyForPickup = "ready-for-pickup"
	PickedUp       = "picked-up"
	Returned       = "returned"
	CancelledState = "cancelled"
)

// Next returns the states a delivery of method may go to from state; none
// for a final state.
func Next(method, state string) []string {
	switch state {
	case Created:
		return []string{Accepted, CancelledState}
	case Accepted:
		return []string{InTransit}
	case InTransit:
		if method == MethodPickup {
			return []string{ReadyForPickup}
		}
		return []string{OutForDelivery}
	case OutForDelivery:
		return []string{Delivered, DeliveryFailed}
	case DeliveryFailed:
		return []string{OutForDelivery, Returned}
	case ReadyForPickup:
		return []string{PickedUp, Returned}
	}
	return nil
}

// AddressJSON is a delivery address.
type AddressJSON struct {
	Governorate string `json:"governorate"`
	Locality    string `json:"locality"`
	Street      string `json:"street"`
	Building    string `json:"building,omitempty"`
	Notes       string `json:"notes,omitempty"`
}

// Recipient is who a delivery is for.
type Recipient struct {
	NationalID string `json:"nationalId"`
	Name       string `json:"name"`
	Phone      string `json:"phone"`
}

// DeliveryRequest is the body of POST /v1/deliveries.
type DeliveryRequest struct {
	Reference  string       `json:"reference"`
	Item       seed.Name    `json:"item"`
	Recipient  Recipient    `json:"recipient"`
	Method     string       `json:"method"`
	Address    *AddressJSON `json:"address,omitempty"`
	OfficeCode string       `json:"officeCode,omitempty"`
}

// Event is a tracking event.
type Event struct {
	State    string    `json:"state"`
	At       time.Time `json:"at"`
	Location string    `json:"location,omitempty"`
	Note     string    `json:"note,omitempty"`
}

// DeliveryJSON is a delivery as the API returns it.
type DeliveryJSON struct {
	Tracking   string       `json:"tracking"`
	Reference  string       `json:"reference"`
	Item       seed.Name    `json:"item"`
	Recipient  Recipient    `json:"recipient"`
	Method     string       `json:"method"`
	Address    *AddressJSON `json:"address,omitempty"`
	OfficeCode string       `json:"officeCode,omitempty"`
	State      string       `json:"state"`
	Final      bool         `json:"final"`
	Next       []string     `json:"next"`
	CreatedAt  time.Time    `json:"createdAt"`
	Events     []Event      `json:"events"`

	client, fingerprint string
}

// trackingNumber returns the UPU S10 number of serial n: service indicator
// RR (registered item), eight digits, the S10 check digit, country PS.
func trackingNumber(n int64) (string, error) {
	serial := fmt.Sprintf("%08d", n)
	if len(serial) != 8 {
		return "", errors.New("tracking serials exhausted")
	}
	c, err := checkdigit.S10CheckDigit(serial)
	if err != nil {
		return "", err
	}
	return "RR" + serial + string(c) + "PS", nil
}

// validTracking checks a tracking number's S10 check digit.
func validTracking(t string) bool {
	if len(t) != 13 {
		return false
	}
	c, err := checkdigit.S10CheckDigit(t[2:10])
	return err == nil && c == t[10]
}

func (s *Service) delivery(ctx context.Context, q store.Querier, tracking string) (*DeliveryJSON, error) {
	var d DeliveryJSON
	var a AddressJSON
	var office sql.NullString
	var created int64
	err := q.QueryRowContext(ctx, `SELECT tracking, client, sender_reference, fingerprint, item_ar, item_en, recipient_nid, recipient_name,
		recipient_phone, method, addr_governorate, addr_locality, addr_street, addr_building, addr_notes, office_code, state, created_at
		FROM post_deliveries WHERE tracking = $1`, tracking).Scan(&d.Tracking, &d.client, &d.Reference, &d.fingerprint, &d.Item.AR, &d.Item.EN,
		&d.Recipient.NationalID, &d.Recipient.Name, &d.Recipient.Phone, &d.Method, &a.Governorate, &a.Locality, &a.Street, &a.Building,
		&a.Notes, &office, &d.State, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, kit.NotFound("no delivery %s", tracking)
	}
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("read delivery: %w", err))
	}
	if d.Method == MethodAddress {
		d.Address = &a
	}
	d.OfficeCode, d.CreatedAt = office.String, store.FromMicros(created)
	d.Next = Next(d.Method, d.State)
	if d.Next == nil {
		d.Next = []string{}
	}
	d.Final = len(d.Next) == 0
	rows, err := q.QueryContext(ctx, `SELECT state, at, location, note FROM post_events WHERE tracking = $1 ORDER BY seq`, tracking)
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("read events: %w", err))
	}
	defer rows.Close()
	d.Events = []Event{}
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.State, &at, &e.Location, &e.Note); err != nil {
			return nil, kit.Internal(fmt.Errorf("read events: %w", err))
		}
		e.At = store.FromMicros(at)
		d.Events = append(d.Events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, kit.Internal(fmt.Errorf("read events: %w", err))
	}
	return &d, nil
}

func addEvent(ctx context.Context, tx *sql.Tx, tracking string, e Event) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO post_events (tracking, seq, state, at, location, note)
		VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM post_events WHERE tracking = $1), $2, $3, $4, $5)`,
		tracking, e.State, store.Micros(e.At), e.Location, e.Note)
	if err != nil {
		return kit.Internal(fmt.Errorf("record event: %w", err))
	}
	return nil
}

func (s *Service) createDelivery(w http.ResponseWriter, r *http.Request) error {
	var req DeliveryRequest
	if err := kit.DecodeJSON(r, &req); err != nil {
		return err
	}
	if _, err := kit.NationalIDParam("recipient.nationalId", req.Recipient.NationalID); err != nil {
		return err
	}
	switch {
	case req.Method == MethodAddress && (req.Address == nil || req.OfficeCode != ""):
		return kit.BadRequest("a delivery to an address needs the address and no officeCode")
	case req.Method == MethodPickup && (req.OfficeCode == "" || req.Address != nil):
		return kit.BadRequest("a pick-up needs the officeCode and no address")
	case req.Method != MethodAddress && req.Method != MethodPickup:
		return kit.BadRequest("method must be address or pickup")
	}
	canon, err := json.Marshal(req)
	if err != nil {
		return kit.Internal(err)
	}
	sum := sha256.Sum256(canon)
	fp := hex.EncodeToString(sum[:])
	client := r.Header.Get(kit.HeaderClient)
	ctx := r.Context()
	var d *DeliveryJSON
	created := false
	// Two identical orders at once on PostgreSQL: the loser's unique
	// violation is retried and then reads the winner's delivery.
	err = kit.RetryConflicts(2, func() error {
		return store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
			var err error
			d, created, err = s.createIn(ctx, tx, &req, client, fp)
			return err
		})
	})
	if err != nil {
		if store.ConstraintViolation(err) == store.Unique {
			return kit.Conflict("a delivery for reference %s was just ordered; repeat the request to read it", req.Reference)
		}
		return kit.As(err)
	}
	if !created {
		if d.fingerprint != fp {
			return kit.Errorf("Client.ReferenceReused", http.StatusConflict, nil,
				"reference %s was ordered before with other details (delivery %s)", req.Reference, d.Tracking)
		}
		kit.WriteJSON(w, http.StatusOK, d)
		return nil
	}
	s.events.WithLabelValues("delivery-" + Created).Inc()
	w.Header().Set("Location", "/v1/deliveries/"+d.Tracking)
	kit.WriteJSON(w, http.StatusCreated, d)
	return nil
}

// createIn records a delivery in tx, or finds the one ordered before under
// the same client and reference (created false). A unique violation is
// returned as is, for RetryConflicts.
func (s *Service) createIn(ctx context.Context, tx *sql.Tx, req *DeliveryRequest, client, fp string) (d *DeliveryJSON, created bool, err error) {
	var existing string
	err = tx.QueryRowContext(ctx, `SELECT tracking FROM post_deliveries WHERE client = $1 AND sender_reference = $2`, client, req.Reference).Scan(&existing)
	if err == nil {
		d, err = s.delivery(ctx, tx, existing)
		return d, false, err
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, kit.Internal(err)
	}
	var office sql.NullString
	if req.Method == MethodPickup {
		if _, err := s.office(ctx, tx, req.OfficeCode); err != nil {
			return nil, false, err
		}
		office = sql.NullString{String: req.OfficeCode, Valid: true}
	}
	a := AddressJSON{}
	if req.Address != nil {
		a = *req.Address
	}
	n, err := kit.NextSequence(ctx, tx, Name+".tracking")
	if err != nil {
		return nil, false, kit.Internal(err)
	}
	tracking, err := trackingNumber(n)
	if err != nil {
		return nil, false, kit.Internal(err)
	}
	now := s.clk.Now().UTC()
	if _, err := tx.ExecContext(ctx, `INSERT INTO post_deliveries (tracking, client, sender_reference, fingerprint, item_ar, item_en,
		recipient_nid, recipient_name, recipient_phone, method, addr_governorate, addr_locality, addr_street, addr_building, addr_notes,
		office_code, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18)`,
		tracking, client, req.Reference, fp, req.Item.AR, req.Item.EN, req.Recipient.NationalID, req.Recipient.Name, req.Recipient.Phone,
		req.Method, a.Governorate, a.Locality, a.Street, a.Building, a.Notes, office, Created, store.Micros(now)); err != nil {
		if store.ConstraintViolation(err) == store.Unique {
			return nil, false, err
		}
		return nil, false, kit.Internal(fmt.Errorf("record delivery: %w", err))
	}
	if err := addEvent(ctx, tx, tracking, Event{State: Created, At: now, Note: "order received"}); err != nil {
		return nil, false, err
	}
	d, err = s.delivery(ctx, tx, tracking)
	return d, true, err
}

func (s *Service) getDelivery(w http.ResponseWriter, r *http.Request) error {
	t := r.PathValue("tracking")
	if !validTracking(t) {
		return kit.BadRequest("%s is not a valid tracking number (check digit)", t)
	}
	d, err := s.delivery(r.Context(), s.db.SQL, t)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, d)
	return nil
}

func (s *Service) recordEvent(w http.ResponseWriter, r *http.Request) error {
	t := r.PathValue("tracking")
	if !validTracking(t) {
		return kit.BadRequest("%s is not a valid tracking number (check digit)", t)
	}
	var req struct {
		State      string `json:"state"`
		Location   string `json:"location"`
		Note       string `json:"note"`
		NationalID string `json:"nationalId"`
	}
	if err := kit.DecodeJSON(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	var d *DeliveryJSON
	err := store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
		var err error
		if d, err = s.delivery(ctx, tx, t); err != nil {
			return err
		}
		if !slices.Contains(d.Next, req.State) {
			return kit.WithFields(kit.Errorf("Client.InvalidTransition", http.StatusConflict, nil,
				"a delivery that is %s cannot become %s", d.State, req.State), map[string]any{"next": d.Next})
		}
		if req.State == PickedUp && req.NationalID != d.Recipient.NationalID {
			return kit.Forbidden("the item is handed over only to the recipient, on the national ID shown at the counter")
		}
		now := s.clk.Now().UTC()
		res, err := tx.ExecContext(ctx, `UPDATE post_deliveries SET state = $1, updated_at = $2 WHERE tracking = $3 AND state = $4`,
			req.State, store.Micros(now), t, d.State)
		if err != nil {
			return kit.Internal(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return kit.Conflict("the delivery changed meanwhile; read it and try again")
		}
		if err := addEvent(ctx, tx, t, Event{State: req.State, At: now, Location: req.Location, Note: req.Note}); err != nil {
			return err
		}
		d, err = s.delivery(ctx, tx, t)
		return err
	})
	if err != nil {
		return kit.As(err)
	}
	s.events.WithLabelValues("delivery-" + req.State).Inc()
	kit.WriteJSON(w, http.StatusOK, d)
	return nil
}
