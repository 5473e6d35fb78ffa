package checkdigit

import "testing"

func TestLuhn(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		valid    bool
	}{
		{"Israeli/Palestinian reference ID", "123456782", true},
		{"ID one digit off", "123456783", false},
		{"Visa test card", "4111111111111111", true},
		{"decline test card", "4000000000000002", true},
		{"Mastercard test card", "5555555555554444", true},
		{"card one digit off", "4111111111111112", false},
		{"card adjacent transposition", "1411111111111111", false},
		{"empty", "", false},
		{"space", "4111 1111 1111 1111", false},
		{"Arabic-Indic digits", "١٢٣٤٥٦٧٨٢", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LuhnValid(tc.in); got != tc.valid {
				t.Fatalf("LuhnValid(%q) = %v, want %v", tc.in, got, tc.valid)
			}
		})
	}
	for _, payload := range []string{"12345678", "00000001", "4001234", "7992739871"} {
		c, err := LuhnCheckDigit(payload)
		if err != nil {
			t.Fatal(err)
		}
		if !LuhnValid(payload + string(c)) {
			t.Errorf("LuhnCheckDigit(%s) = %c does not validate", payload, c)
		}
	}
	if c, _ := LuhnCheckDigit("7992739871"); c != '3' {
		t.Errorf("LuhnCheckDigit(7992739871) = %c, want 3 (the textbook example)", c)
	}
	if _, err := LuhnCheckDigit("12a4"); err == nil {
		t.Error("LuhnCheckDigit accepted a letter")
	}
}

func TestIBAN(t *testing.T) {
	for _, tc := range []struct {
		in    string
		valid bool
	}{
		{"PS92PALS000000000400123456702", true}, // the IBAN registry's Palestinian example
		{"GB82WEST12345698765432", true},
		{"PS92PALS000000000400123456703", false},
		{"PS29PALS000000000400123456702", false},
		{"ps92PALS000000000400123456702", false},
		{"PS92 PALS 0000 0000 0400 1234 5670 2", false},
		{"PS9", false},
		{"", false},
		{"PSXXPALS000000000400123456702", false},
	} {
		if got := IBANValid(tc.in); got != tc.valid {
			t.Errorf("IBANValid(%q) = %v, want %v", tc.in, got, tc.valid)
		}
	}
	cd, err := IBANCheckDigits("PS", "PALS000000000400123456702")
	if err != nil || cd != "92" {
		t.Fatalf("IBANCheckDigits = %q, %v; want 92", cd, err)
	}
	if _, err := IBANCheckDigits("P1", "X"); err == nil {
		t.Error("IBANCheckDigits accepted a digit in the country code")
	}
}

func TestS10(t *testing.T) {
	// UPU S10's worked example: RA 47312482 9 GB.
	c, err := S10CheckDigit("47312482")
	if err != nil || c != '9' {
		t.Fatalf("S10CheckDigit(47312482) = %c, %v; want 9", c, err)
	}
	for serial, want := range map[string]byte{
		"00000000": '5', // 11 - 0 = 11 → 5
		"00000001": '4', // 11 - 7 = 4
	} {
		if c, _ := S10CheckDigit(serial); c != want {
			t.Errorf("S10CheckDigit(%s) = %c, want %c", serial, c, want)
		}
	}
	for _, bad := range []string{"", "1234567", "123456789", "1234567a"} {
		if _, err := S10CheckDigit(bad); err == nil {
			t.Errorf("S10CheckDigit(%q) accepted", bad)
		}
	}
}

// FuzzLuhn: a computed check digit always validates, and changing any one
// digit of a valid number always invalidates it.
func FuzzLuhn(f *testing.F) {
	f.Add("12345678")
	f.Add("411111111111111")
	f.Fuzz(func(t *testing.T, payload string) {
		c, err := LuhnCheckDigit(payload)
		if err != nil {
			return
		}
		full := payload + string(c)
		if !LuhnValid(full) {
			t.Fatalf("%s does not validate", full)
		}
		b := []byte(full)
		for i := range b {
			orig := b[i]
			for d := byte('0'); d <= '9'; d++ {
				if d == orig {
					continue
				}
				b[i] = d
				if LuhnValid(string(b)) {
					t.Fatalf("%s validates after changing digit %d of %s", b, i, full)
				}
			}
			b[i] = orig
		}
	})
}

// FuzzIBAN: IBANCheckDigits produces IBANs that IBANValid accepts, and
// IBANValid never panics.
func FuzzIBAN(f *testing.F) {
	f.Add("PS", "PALS000000000400123456702")
	f.Fuzz(func(t *testing.T, country, bban string) {
		_ = IBANValid(country + bban)
		cd, err := IBANCheckDigits(country, bban)
		if err != nil || len(bban) > 30 {
			return
		}
		if iban := country + cd + bban; !IBANValid(iban) {
			t.Fatalf("%s does not validate", iban)
		}
	})
}
