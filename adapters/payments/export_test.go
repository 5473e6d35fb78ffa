package payments

import "github.com/jisr-bus/jisr/adapters/checkdigit"

func checkdigitIBAN(bban string) (string, error) { return checkdigit.IBANCheckDigits("PS", bban) }
