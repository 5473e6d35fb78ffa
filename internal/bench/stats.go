package bench

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted, an
// ascending slice, by the nearest-rank method: the smallest value such that
// at least p % of the values are less than or equal to it. It returns 0 for
// an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 || p <= 0 {
		return 0
	}
	if p >= 100 {
		return sorted[len(sorted)-1]
	}
	// The rank is computed in integer hundredths of a percent so that, for
	// example, p=99 of 100 values is rank 99, not 100 by a rounding error.
	rank := (int64(math.Round(p*100))*int64(len(sorted)) + 9999) / 10000
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// Sample is what one load run observed.
type Sample struct {
	// OK counts exchanges that completed with the expected answer.
	OK int
	// Failed counts exchanges that failed (transport error, unexpected
	// status or body length); FirstError describes the first of them.
	Failed     int
	FirstError error
	// Dropped counts open-loop arrivals not sent because too many were
	// already in flight (the target could not keep up).
	Dropped int
	// Elapsed is the time from the first send to the last completion.
	Elapsed time.Duration
	// Latencies are the successful exchanges' latencies, ascending. In an
	// open-loop run each is measured from the arrival's scheduled time, so
	// queueing behind a slow target counts (no coordinated omission).
	Latencies []time.Duration
}

// Throughput is successful exchanges per second over the run.
func (s Sample) Throughput() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.OK) / s.Elapsed.Seconds()
}

// Err reports failed or dropped exchanges as an error.
func (s Sample) Err() error {
	if s.Failed == 0 && s.Dropped == 0 {
		return nil
	}
	err := errors.New("bench: exchanges failed or dropped")
	if s.FirstError != nil {
		err = s.FirstError
	}
	return &RunError{Failed: s.Failed, Dropped: s.Dropped, OK: s.OK, Err: err}
}

// RunError says that a load run did not complete cleanly.
type RunError struct {
	OK, Failed, Dropped int
	Err                 error
}

func (e *RunError) Error() string {
	return fmt.Sprintf("bench: %d failed and %d dropped of %d exchanges; first: %v",
		e.Failed, e.Dropped, e.OK+e.Failed+e.Dropped, e.Err)
}

func (e *RunError) Unwrap() error { return e.Err }

// merge folds the observations of one load worker into s; latencies are
// sorted by finish.
func (s *Sample) merge(o *Sample) {
	s.OK += o.OK
	s.Failed += o.Failed
	s.Dropped += o.Dropped
	if s.FirstError == nil {
		s.FirstError = o.FirstError
	}
	s.Latencies = append(s.Latencies, o.Latencies...)
}

func (s *Sample) finish(elapsed time.Duration) {
	s.Elapsed = elapsed
	slices.Sort(s.Latencies)
}
