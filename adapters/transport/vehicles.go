package transport

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

// VehicleLicence is a vehicle's annual licence.
type VehicleLicence struct {
	ExpiresOn string `json:"expiresOn"`
	Status    string `json:"status"`
}

// VehicleJSON is a vehicle as the API returns it.
type VehicleJSON struct {
	Plate   string         `json:"plate"`
	Owner   string         `json:"owner"`
	Make    string         `json:"make"`
	Model   string         `json:"model"`
	Year    int            `json:"year"`
	Kind    seed.Name      `json:"kind"`
	Colour  seed.Name      `json:"colour"`
	Licence VehicleLicence `json:"licence"`
}

const vehicleColumns = `plate, owner_nid, make, model, model_year, kind_ar, kind_en, colour_ar, colour_en, licence_expires_on`

func (s *Service) scanVehicle(row interface{ Scan(...any) error }) (VehicleJSON, error) {
	var v VehicleJSON
	var exp int64
	if err := row.Scan(&v.Plate, &v.Owner, &v.Make, &v.Model, &v.Year, &v.Kind.AR, &v.Kind.EN, &v.Colour.AR, &v.Colour.EN, &exp); err != nil {
		return VehicleJSON{}, err
	}
	e := store.FromMicros(exp)
	v.Licence = VehicleLicence{ExpiresOn: e.Format(time.DateOnly), Status: StatusValid}
	if e.Before(seed.Day(s.clk.Now())) {
		v.Licence.Status = StatusExpired
	}
	return v, nil
}

func (s *Service) vehicles(ctx context.Context, owner string) ([]VehicleJSON, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT `+vehicleColumns+` FROM mot_vehicles WHERE owner_nid = $1 ORDER BY plate`, owner)
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("list vehicles: %w", err))
	}
	defer rows.Close()
	out := []VehicleJSON{}
	for rows.Next() {
		v, err := s.scanVehicle(rows)
		if err != nil {
			return nil, kit.Internal(fmt.Errorf("list vehicles: %w", err))
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, kit.Internal(fmt.Errorf("list vehicles: %w", err))
	}
	return out, nil
}

func (s *Service) listVehicles(w http.ResponseWriter, r *http.Request) error {
	id, err := kit.NationalIDParam("nationalId", r.PathValue("nationalId"))
	if err != nil {
		return err
	}
	vs, err := s.vehicles(r.Context(), id.String())
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"vehicles": vs})
	return nil
}

func (s *Service) getVehicle(w http.ResponseWriter, r *http.Request) error {
	v, err := s.scanVehicle(s.db.SQL.QueryRowContext(r.Context(), `SELECT `+vehicleColumns+` FROM mot_vehicles WHERE plate = $1`, r.PathValue("plate")))
	if errors.Is(err, sql.ErrNoRows) {
		return kit.NotFound("no vehicle with plate %s", r.PathValue("plate"))
	}
	if err != nil {
		return kit.Internal(fmt.Errorf("read vehicle: %w", err))
	}
	kit.WriteJSON(w, http.StatusOK, v)
	return nil
}
