package xroad

import "testing"

// BenchmarkParseServicePath measures decoding an r1 request path, which the
// security server does once per exchange.
func BenchmarkParseServicePath(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseServicePath("PS/GOV/MOI/civil-registry/persons/v1/persons/4001234567"); err != nil {
			b.Fatal(err)
		}
	}
}
