package kit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The currencies payment orders may be in (ISO 4217).
const (
	ILS = "ILS" // new Israeli shekel, 2 decimals (agorot)
	JOD = "JOD" // Jordanian dinar, 3 decimals (fils)
	USD = "USD" // US dollar, 2 decimals (cents)
)

// Currencies lists the accepted currency codes.
func Currencies() []string { return []string{ILS, JOD, USD} }

// MinorUnits returns the number of decimal places of a currency (ISO 4217
// minor unit), and false for a currency adapters do not accept.
func MinorUnits(currency string) (int, bool) {
	switch currency {
	case ILS, USD:
		return 2, true
	case JOD:
		return 3, true
	}
	return 0, false
}

// MaxMinor bounds amounts (in minor units): ten thousand million units of
// any accepted currency, far above any fee and far below int64 overflow in
// sums.
const MaxMinor = 1e13

// Money is an amount in minor units of a currency (agorot, fils, cents).
// It is written in JSON as {"amount": "120.50", "currency": "ILS"}: the
// amount is a decimal string with exactly the currency's number of decimal
// places, never a float.
type Money struct {
	Minor    int64
	Currency string
}

// ParseMoney reads a decimal amount ("120.50"; "120" and "120.5" are
// accepted and mean the same) in currency. Negative amounts, exponents,
// signs, separators and more decimal places than the currency has are
// refused.
func ParseMoney(amount, currency string) (Money, error) {
	units, ok := MinorUnits(currency)
	if !ok {
		return Money{}, fmt.Errorf("currency %q not accepted (want ILS, JOD or USD)", currency)
	}
	whole, frac, hasDot := strings.Cut(amount, ".")
	if whole == "" || len(whole) > 13 || (hasDot && (frac == "" || len(frac) > units)) {
		return Money{}, fmt.Errorf("amount %q: want digits with at most %d decimal places", amount, units)
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return Money{}, fmt.Errorf("amount %q: want digits with at most %d decimal places", amount, units)
			}
		}
	}
	frac += strings.Repeat("0", units-len(frac))
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || v >= MaxMinor {
		return Money{}, fmt.Errorf("amount %q too large", amount)
	}
	return Money{Minor: v, Currency: currency}, nil
}

// Amount returns the decimal amount with exactly the currency's decimal
// places ("120.50", "7.250").
func (m Money) Amount() string {
	units, ok := MinorUnits(m.Currency)
	if !ok {
		units = 2
	}
	neg := m.Minor < 0
	v := m.Minor
	if neg {
		v = -v
	}
	s := strconv.FormatInt(v, 10)
	if len(s) <= units {
		s = strings.Repeat("0", units-len(s)+1) + s
	}
	out := s[:len(s)-units] + "." + s[len(s)-units:]
	if neg {
		out = "-" + out
	}
	return out
}

// String returns "120.50 ILS".
func (m Money) String() string { return m.Amount() + " " + m.Currency }

// IsZero reports whether m is the zero Money (no currency).
func (m Money) IsZero() bool { return m == Money{} }

type moneyJSON struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

// MarshalJSON writes {"amount","currency"}, or null for the zero Money.
func (m Money) MarshalJSON() ([]byte, error) {
	if m.IsZero() {
		return []byte("null"), nil
	}
	if _, ok := MinorUnits(m.Currency); !ok {
		return nil, fmt.Errorf("money: currency %q not accepted", m.Currency)
	}
	return json.Marshal(moneyJSON{Amount: m.Amount(), Currency: m.Currency})
}

// UnmarshalJSON reads {"amount","currency"} with ParseMoney; unknown members
// are refused.
func (m *Money) UnmarshalJSON(b []byte) error {
	var v moneyJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("money: %w", err)
	}
	if v.Amount == "" || v.Currency == "" {
		return errors.New("money: amount and currency are required")
	}
	p, err := ParseMoney(v.Amount, v.Currency)
	if err != nil {
		return fmt.Errorf("money: %w", err)
	}
	*m = p
	return nil
}
