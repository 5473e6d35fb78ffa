package bench

import (
	"errors"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value is every percentile", ms(7), 99, 7 * time.Millisecond},
		{"median of odd count", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"median of even count is the lower middle (nearest rank)", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100 values is the 99th", hundred, 99, 99 * time.Millisecond},
		{"p50 of 100 values is the 50th", hundred, 50, 50 * time.Millisecond},
		{"p99 of 10 values is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p90 of 10 values is the 9th", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{"p100 is the maximum", ms(1, 5, 9), 100, 9 * time.Millisecond},
		{"tiny p is the minimum", ms(3, 5, 9), 0.001, 3 * time.Millisecond},
		{"p ≤ 0 is zero", ms(3, 5, 9), 0, 0},
		{"p 99.9 of 1000 values", seq(1000), 99.9, 999 * time.Microsecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Fatalf("Percentile(%v, %v) = %v, want %v", len(tc.sorted), tc.p, got, tc.want)
			}
		})
	}
}

// seq returns 1µs … nµs.
func seq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Microsecond
	}
	return out
}

func TestSampleThroughputAndErr(t *testing.T) {
	s := Sample{OK: 300, Elapsed: 2 * time.Second}
	if got := s.Throughput(); got != 150 {
		t.Fatalf("Throughput = %v, want 150", got)
	}
	if (Sample{OK: 3}).Throughput() != 0 {
		t.Fatal("a sample without elapsed time has a throughput")
	}
	if err := s.Err(); err != nil {
		t.Fatalf("clean sample: %v", err)
	}
	cause := errors.New("status 500")
	s.Failed, s.FirstError, s.Dropped = 2, cause, 1
	err := s.Err()
	var re *RunError
	if !errors.As(err, &re) || re.Failed != 2 || re.Dropped != 1 || !errors.Is(err, cause) {
		t.Fatalf("Err = %v, want a RunError wrapping the first failure", err)
	}
}
