// Package nationalid parses and generates Palestinian national ID numbers as
// the demo world uses them: nine decimal digits, the last of which is a
// check digit over the first eight computed with the Luhn algorithm (the
// digits are weighted 1, 2, 1, 2, … from the left, the digits of each
// product are summed, and the total over all nine digits must be a multiple
// of ten — the rule the Palestinian and Israeli population registries use).
//
// The check digit catches every single-digit error and every transposition
// of adjacent digits except 0↔9. It is a typing check, not a secret: anyone
// can compute a valid number, so a valid number says nothing about whether
// the person exists.
package nationalid

import (
	"errors"
	"fmt"

	"github.com/jisr-bus/jisr/adapters/checkdigit"
)

// Length is the number of digits of a national ID, check digit included.
const Length = 9

// PayloadLimit bounds the payload FromPayload accepts: the eight digits
// before the check digit.
const PayloadLimit = 100_000_000

// Errors Parse returns (wrapped with the offending input's position, never
// with the input itself, which is personal data); test with errors.Is.
var (
	// ErrLength: the input is not exactly Length characters long.
	ErrLength = errors.New("nationalid: a national ID has exactly 9 digits")
	// ErrNotDigit: a character is not an ASCII digit 0–9.
	ErrNotDigit = errors.New("nationalid: a national ID holds only the digits 0-9")
	// ErrCheckDigit: the ninth digit is not the check digit of the first
	// eight.
	ErrCheckDigit = errors.New("nationalid: check digit does not match")
)

// ID is a national ID number that passed Parse (or came from FromPayload):
// nine ASCII digits with a correct check digit. The zero ID is not valid;
// use IsZero to test for it.
type ID struct{ s string }

// String returns the nine digits.
func (id ID) String() string { return id.s }

// IsZero reports whether id is the zero ID (no number).
func (id ID) IsZero() bool { return id.s == "" }

// MarshalText implements encoding.TextMarshaler: the nine digits, or
// nothing for the zero ID.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.s), nil }

// UnmarshalText implements encoding.TextUnmarshaler with Parse, so an empty
// text is refused like any other malformed number.
func (id *ID) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// Parse returns the national ID s spells. It accepts exactly nine ASCII
// digits whose last is the check digit of the first eight: no spaces, signs,
// separators or other digit scripts (Arabic-Indic digits are refused, not
// converted, so that one number has one spelling). For every s that Parse
// accepts, Parse(s).String() == s.
func Parse(s string) (ID, error) {
	if len(s) != Length {
		return ID{}, ErrLength
	}
	for i := 0; i < Length; i++ {
		if s[i] < '0' || s[i] > '9' {
			return ID{}, fmt.Errorf("%w (position %d)", ErrNotDigit, i+1)
		}
	}
	if !checkdigit.LuhnValid(s) {
		return ID{}, ErrCheckDigit
	}
	return ID{s: s}, nil
}

// Valid reports whether Parse accepts s.
func Valid(s string) bool {
	_, err := Parse(s)
	return err == nil
}

// CheckDigit returns the check digit ('0'–'9') of an eight-digit payload.
func CheckDigit(payload string) (byte, error) {
	if len(payload) != Length-1 {
		return 0, fmt.Errorf("nationalid: a payload has exactly %d digits", Length-1)
	}
	for i := 0; i < len(payload); i++ {
		if payload[i] < '0' || payload[i] > '9' {
			return 0, fmt.Errorf("%w (position %d)", ErrNotDigit, i+1)
		}
	}
	return checkdigit.LuhnCheckDigit(payload)
}

// FromPayload returns the national ID whose first eight digits are payload
// (zero-padded) followed by their check digit. payload must be below
// PayloadLimit.
func FromPayload(payload uint32) (ID, error) {
	if payload >= PayloadLimit {
		return ID{}, fmt.Errorf("nationalid: payload %d has more than %d digits", payload, Length-1)
	}
	p := fmt.Sprintf("%08d", payload)
	c, err := CheckDigit(p)
	if err != nil {
		return ID{}, err
	}
	return ID{s: p + string(c)}, nil
}
