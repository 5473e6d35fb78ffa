// Package checkdigit holds the check-digit schemes the demo world's
// identifiers use: Luhn (national ID numbers, payment card numbers), ISO
// 7064 MOD 97-10 (IBANs, ISO 13616) and the UPU S10 check digit (postal
// tracking numbers).
//
// They are typing checks against mistakes, not authentication: anyone can
// compute them. Every function takes the digits as an ASCII string and
// reports false (or an error) for anything that is not in the scheme's
// alphabet, so untrusted input can be passed in unchecked.
package checkdigit

import "errors"

// ErrAlphabet is returned when the input holds a character the scheme does
// not use.
var ErrAlphabet = errors.New("checkdigit: character outside the scheme's alphabet")

// LuhnSum returns the Luhn sum of digits: counted from the last digit, the
// digits are weighted 1, 2, 1, 2, …, and the two digits of each doubled
// value are added. It fails on anything but ASCII digits or an empty string.
func LuhnSum(digits string) (int, error) {
	if digits == "" {
		return 0, ErrAlphabet
	}
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, ErrAlphabet
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum, nil
}

// LuhnValid reports whether digits (check digit last) passes the Luhn check.
func LuhnValid(digits string) bool {
	s, err := LuhnSum(digits)
	return err == nil && s%10 == 0
}

// LuhnCheckDigit returns the Luhn check digit ('0'–'9') to append to
// payload.
func LuhnCheckDigit(payload string) (byte, error) {
	s, err := LuhnSum(payload + "0")
	if err != nil {
		return 0, err
	}
	return byte('0' + (10-s%10)%10), nil
}

// IBANValid reports whether s is an IBAN in electronic form (no spaces,
// upper-case letters) whose ISO 7064 MOD 97-10 check passes: two letters of
// country code, two check digits, then 1–30 letters and digits. It does not
// check country-specific lengths; callers that need them check len(s).
func IBANValid(s string) bool {
	if len(s) < 5 || len(s) > 34 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i < 2 && (c < 'A' || c > 'Z'):
			return false
		case i >= 2 && i < 4 && (c < '0' || c > '9'):
			return false
		case (c < '0' || c > '9') && (c < 'A' || c > 'Z'):
			return false
		}
	}
	// Move the first four characters to the end, letters become 10–35, and
	// the whole number must be 1 mod 97 (computed piecewise).
	r := s[4:] + s[:4]
	rem := 0
	for i := 0; i < len(r); i++ {
		c := r[i]
		if c >= 'A' {
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		} else {
			rem = (rem*10 + int(c-'0')) % 97
		}
	}
	return rem == 1
}

// IBANCheckDigits returns the two check digits of an IBAN with the given
// country code and basic bank account number (BBAN: upper-case letters and
// digits).
func IBANCheckDigits(country, bban string) (string, error) {
	if len(country) != 2 || bban == "" || country[0] < 'A' || country[0] > 'Z' || country[1] < 'A' || country[1] > 'Z' {
		return "", ErrAlphabet
	}
	r := bban + country + "00"
	rem := 0
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A') + 10) % 97
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		default:
			return "", ErrAlphabet
		}
	}
	cd := 98 - rem
	return string([]byte{byte('0' + cd/10), byte('0' + cd%10)}), nil
}

// S10CheckDigit returns the UPU S10 check digit of an eight-digit serial
// number: 11 minus the weighted sum modulo 11, where 10 becomes 0 and 11
// becomes 5.
func S10CheckDigit(serial string) (byte, error) {
	if len(serial) != 8 {
		return 0, ErrAlphabet
	}
	weights := [8]int{8, 6, 4, 2, 3, 5, 9, 7}
	sum := 0
	for i := 0; i < 8; i++ {
		c := serial[i]
		if c < '0' || c > '9' {
			return 0, ErrAlphabet
		}
		sum += int(c-'0') * weights[i]
	}
	d := 11 - sum%11
	switch d {
	case 10:
		d = 0
	case 11:
		d = 5
	}
	return byte('0' + d), nil
}
