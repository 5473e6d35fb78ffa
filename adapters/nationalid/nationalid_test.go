package nationalid

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/jisr-bus/jisr/adapters/checkdigit"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		err      error
	}{
		{"valid reference number", "123456782", nil},
		{"valid with leading zeros", "000000018", nil},
		{"wrong check digit", "123456783", ErrCheckDigit},
		{"adjacent digits swapped", "213456782", ErrCheckDigit},
		{"eight digits", "12345678", ErrLength},
		{"ten digits", "1234567820", ErrLength},
		{"empty", "", ErrLength},
		{"letter", "12345678x", ErrNotDigit},
		{"space inside", "1234 5678", ErrNotDigit},
		{"sign", "+12345678", ErrNotDigit},
		{"Arabic-Indic digits are refused, not converted", "١٢٣", ErrLength},
		{"nine bytes, not all ASCII digits", "١٢٣٤5", ErrNotDigit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := Parse(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Parse(%q) error %v, want %v", tc.in, err, tc.err)
			}
			if err == nil && id.String() != tc.in {
				t.Fatalf("Parse(%q).String() = %q", tc.in, id)
			}
			if err != nil && !id.IsZero() {
				t.Fatalf("Parse(%q) failed but returned %q", tc.in, id)
			}
			if Valid(tc.in) != (tc.err == nil) {
				t.Fatalf("Valid(%q) disagrees with Parse", tc.in)
			}
		})
	}
}

func TestFromPayload(t *testing.T) {
	for _, tc := range []struct {
		payload uint32
		want    string
	}{
		{12345678, "123456782"},
		{1, "000000018"},
		{40012345, ""},
		{PayloadLimit - 1, ""},
	} {
		id, err := FromPayload(tc.payload)
		if err != nil {
			t.Fatalf("FromPayload(%d): %v", tc.payload, err)
		}
		if tc.want != "" && id.String() != tc.want {
			t.Errorf("FromPayload(%d) = %s, want %s", tc.payload, id, tc.want)
		}
		if _, err := Parse(id.String()); err != nil {
			t.Errorf("FromPayload(%d) = %s does not parse: %v", tc.payload, id, err)
		}
	}
	if _, err := FromPayload(PayloadLimit); err == nil {
		t.Error("FromPayload accepted a nine-digit payload")
	}
}

func TestJSON(t *testing.T) {
	var v struct {
		ID ID `json:"id"`
	}
	if err := json.Unmarshal([]byte(`{"id":"123456782"}`), &v); err != nil || v.ID.String() != "123456782" {
		t.Fatalf("unmarshal: %v %v", v.ID, err)
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) != `{"id":"123456782"}` {
		t.Fatalf("marshal: %s %v", b, err)
	}
	if err := json.Unmarshal([]byte(`{"id":"123456783"}`), &v); !errors.Is(err, ErrCheckDigit) {
		t.Fatalf("unmarshal of a bad check digit: %v", err)
	}
	if b, err := json.Marshal(struct{ ID ID }{}); err != nil || string(b) != `{"ID":""}` {
		t.Fatalf("zero ID marshals as %s, %v", b, err)
	}
	if err := json.Unmarshal([]byte(`{"id":""}`), &v); !errors.Is(err, ErrLength) {
		t.Fatalf("unmarshal of an empty ID: %v", err)
	}
}

// FuzzParse: Parse never panics; what it accepts is exactly nine ASCII
// digits passing the Luhn check and round-trips byte for byte; and changing
// any one digit of an accepted number makes Parse refuse it.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"123456782", "000000018", "400123456", "", "12345678x", "١٢٣٤٥٦٧٨٩"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		wantOK := len(s) == Length && checkdigit.LuhnValid(s)
		if (err == nil) != wantOK {
			t.Fatalf("Parse(%q) error %v, independent check says valid=%v", s, err, wantOK)
		}
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, id)
		}
		b := []byte(s)
		for i := range b {
			orig := b[i]
			for d := byte('0'); d <= '9'; d++ {
				if d == orig {
					continue
				}
				b[i] = d
				if Valid(string(b)) {
					t.Fatalf("%s still valid after changing digit %d of %s", b, i+1, s)
				}
			}
			b[i] = orig
		}
	})
}
