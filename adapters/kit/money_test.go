package kit

import (
	"encoding/json"
	"testing"
)

func TestParseMoney(t *testing.T) {
	for _, tc := range []struct {
		amount, currency string
		minor            int64
		ok               bool
		out              string
	}{
		{"120.50", ILS, 12050, true, "120.50"},
		{"120.5", ILS, 12050, true, "120.50"},
		{"120", ILS, 12000, true, "120.00"},
		{"0.01", USD, 1, true, "0.01"},
		{"7.250", JOD, 7250, true, "7.250"},
		{"7.25", JOD, 7250, true, "7.250"},
		{"0", ILS, 0, true, "0.00"},
		{"007.10", ILS, 710, true, "7.10"},
		{"7.255", ILS, 0, false, ""},
		{"-5", ILS, 0, false, ""},
		{"+5", ILS, 0, false, ""},
		{"1e3", ILS, 0, false, ""},
		{"1,000.00", ILS, 0, false, ""},
		{"5.", ILS, 0, false, ""},
		{".5", ILS, 0, false, ""},
		{"", ILS, 0, false, ""},
		{"5", "EUR", 0, false, ""},
		{"5", "ils", 0, false, ""},
		{"99999999999999", ILS, 0, false, ""},
		{"١٢", ILS, 0, false, ""},
	} {
		m, err := ParseMoney(tc.amount, tc.currency)
		if (err == nil) != tc.ok {
			t.Errorf("ParseMoney(%q, %q) error %v, want ok=%v", tc.amount, tc.currency, err, tc.ok)
			continue
		}
		if tc.ok && (m.Minor != tc.minor || m.Amount() != tc.out || m.Currency != tc.currency) {
			t.Errorf("ParseMoney(%q, %q) = %+v (%s)", tc.amount, tc.currency, m, m.Amount())
		}
	}
}

func TestMoneyJSON(t *testing.T) {
	var m Money
	if err := json.Unmarshal([]byte(`{"amount":"150","currency":"ILS"}`), &m); err != nil || m.Minor != 15000 {
		t.Fatalf("%+v %v", m, err)
	}
	b, err := json.Marshal(m)
	if err != nil || string(b) != `{"amount":"150.00","currency":"ILS"}` {
		t.Fatalf("%s %v", b, err)
	}
	for _, bad := range []string{`{"amount":150,"currency":"ILS"}`, `{"amount":"1","currency":"ILS","x":1}`, `{"currency":"ILS"}`, `"150 ILS"`, `{"amount":"1.234","currency":"USD"}`} {
		if err := json.Unmarshal([]byte(bad), &m); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if b, _ := json.Marshal(Money{}); string(b) != "null" {
		t.Fatalf("zero money marshals as %s", b)
	}
	if _, err := json.Marshal(Money{Minor: 1, Currency: "XXX"}); err == nil {
		t.Fatal("marshalled an unknown currency")
	}
}

// FuzzParseMoney: ParseMoney never panics, and what it accepts prints back
// to an amount that parses to the same value.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"120.50", "0", "7.250", "-1", "1e9"} {
		f.Add(s, ILS)
		f.Add(s, JOD)
	}
	f.Fuzz(func(t *testing.T, amount, currency string) {
		m, err := ParseMoney(amount, currency)
		if err != nil {
			return
		}
		if m.Minor < 0 || m.Minor >= MaxMinor {
			t.Fatalf("%q parsed to %d", amount, m.Minor)
		}
		again, err := ParseMoney(m.Amount(), currency)
		if err != nil || again != m {
			t.Fatalf("%q → %s → %+v, %v", amount, m.Amount(), again, err)
		}
	})
}
