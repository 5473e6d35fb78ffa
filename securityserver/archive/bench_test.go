package archive

import (
	"testing"
)

// BenchmarkVerify measures what an auditor's `jisr audit verify` does per
// record: parse, hash chain, JWS signature, certificate chain and OCSP at
// signing time, body digest, time-stamps. Reported as records/s.
func BenchmarkVerify(b *testing.B) {
	w := newWorld(b, 250, 250) // 2 000 records with bodies, two tokens
	file, m := w.write(b, 0, 0, nil)
	records := m.To - m.From + 1
	b.SetBytes(int64(len(file)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := verifyBytes(file, w.trust); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(records*int64(b.N))/b.Elapsed().Seconds(), "records/s")
}
