package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Target is where a load run sends its exchanges: a POST of the body to URL
// whose answer must be the body itself (the echo service behind every
// topology).
type Target struct {
	// URL receives the exchanges.
	URL string
	// Header is added to every request (X-Road-Client for jisr).
	Header http.Header
	// Client sends them; NewClient builds the one the harness uses.
	Client *http.Client
}

// NewClient returns the load generator's HTTP client: at most maxConns
// HTTP/1.1 keep-alive connections, all kept when idle (exchanges beyond
// that wait for a connection rather than open one), no transparent
// compression, no proxy from the environment.
func NewClient(maxConns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DisableCompression:  true,
		MaxConnsPerHost:     maxConns,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// exchange sends one request and checks that the answer is 200 with the
// body echoed byte for byte (compared while it streams in).
func (t Target) exchange(ctx context.Context, body []byte, buf []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range t.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := t.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("bench: status %d %s: %s", resp.StatusCode, resp.Header.Get("X-Road-Error"), bytes.TrimSpace(msg))
	}
	off := 0
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if off+n > len(body) || !bytes.Equal(buf[:n], body[off:off+n]) {
				return fmt.Errorf("bench: the answer differs from the body sent at byte %d", off)
			}
			off += n
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("bench: reading the answer: %w", err)
		}
	}
	if off != len(body) {
		return fmt.Errorf("bench: answer of %d bytes, sent %d", off, len(body))
	}
	return nil
}

// ClosedLoop runs concurrency clients, each sending its next exchange as
// soon as the previous one is answered, until d has passed (exchanges under
// way then are completed and counted).
func ClosedLoop(ctx context.Context, t Target, body []byte, concurrency int, d time.Duration) Sample {
	start := time.Now()
	deadline := start.Add(d)
	var mu sync.Mutex
	var total Sample
	var last time.Time
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			var s Sample
			buf := make([]byte, 32<<10)
			var end time.Time
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				err := t.exchange(ctx, body, buf)
				end = time.Now()
				s.record(end.Sub(t0), err)
			}
			mu.Lock()
			total.merge(&s)
			if end.After(last) {
				last = end
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	total.finish(last.Sub(start))
	return total
}

// OpenLoop sends exchanges at a fixed arrival rate (per second) for d,
// whatever the target's answers do, with at most maxInFlight outstanding
// (arrivals beyond that are dropped and counted). Each latency is measured
// from the arrival's scheduled time.
func OpenLoop(ctx context.Context, t Target, body []byte, rate float64, d time.Duration, maxInFlight int) Sample {
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	var mu sync.Mutex
	var total Sample
	var last time.Time
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxInFlight)
	bufs := sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
	for i := 0; ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			break
		}
		if wait := time.Until(at); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		select {
		case slots <- struct{}{}:
		default:
			mu.Lock()
			total.Dropped++
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			buf := bufs.Get().(*[]byte)
			err := t.exchange(ctx, body, *buf)
			bufs.Put(buf)
			end := time.Now()
			mu.Lock()
			total.record(end.Sub(at), err)
			if end.After(last) {
				last = end
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	total.finish(last.Sub(start))
	return total
}

// record adds one exchange's outcome.
func (s *Sample) record(latency time.Duration, err error) {
	if err != nil {
		s.Failed++
		if s.FirstError == nil {
			s.FirstError = err
		}
		return
	}
	s.OK++
	s.Latencies = append(s.Latencies, latency)
}
