package msglog_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/msglog/msglogtest"
)

// benchBackend opens a fresh log on one backend the benchmarks compare.
type benchBackend struct {
	name string
	open func(b *testing.B, opts ...msglog.Option) *msglog.Log
}

// benchBackends are SQLite with each durability level, and PostgreSQL.
func benchBackends() []benchBackend {
	return []benchBackend{
		{"sqlite-full", func(b *testing.B, opts ...msglog.Option) *msglog.Log {
			return openBench(b, func(ctx context.Context) (*msglog.Log, error) {
				return msglog.OpenSQLite(ctx, storetest.SQLitePath(b), opts...)
			})
		}},
		{"sqlite-normal", func(b *testing.B, opts ...msglog.Option) *msglog.Log {
			return openBench(b, func(ctx context.Context) (*msglog.Log, error) {
				opts := append(opts, msglog.WithSQLiteOptions(store.SQLiteSynchronous(store.SyncNormal)))
				return msglog.OpenSQLite(ctx, storetest.SQLitePath(b), opts...)
			})
		}},
		{"postgres", func(b *testing.B, opts ...msglog.Option) *msglog.Log {
			return openBench(b, func(ctx context.Context) (*msglog.Log, error) {
				return msglog.OpenPostgres(ctx, storetest.PostgresDSN(b), opts...)
			})
		}},
	}
}

func openBench(b *testing.B, open func(context.Context) (*msglog.Log, error)) *msglog.Log {
	b.Helper()
	l, err := open(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	return l
}

// benchRecords are signed records with 1 KiB bodies, logged encrypted.
func benchRecords(b *testing.B) ([]msglog.Record, msglog.Option) {
	b.Helper()
	k, err := msglog.NewStaticKeys("k", map[string][]byte{"k": bytes.Repeat([]byte{1}, msglog.KeySize)})
	if err != nil {
		b.Fatal(err)
	}
	return msglogtest.NewFixture(b).Records(b, 256, 1024), msglog.WithKeys(k)
}

// report adds records/s and the mean batch size.
func report(b *testing.B, l *msglog.Log) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if st := l.Stats(); st.Batches > 0 {
		b.ReportMetric(float64(st.Records)/float64(st.Batches), "records/batch")
	}
}

// BenchmarkAppendParallel appends from 32 goroutines per CPU, as many
// concurrent exchanges would: group commit shares each durable commit.
func BenchmarkAppendParallel(b *testing.B) {
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			recs, keys := benchRecords(b)
			l := be.open(b, keys)
			var next atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := recs[next.Add(1)%int64(len(recs))]
					if err := l.Append(context.Background(), &r); err != nil {
						b.Error(err)
						return
					}
				}
			})
			report(b, l)
		})
	}
}

// BenchmarkAppendSerial appends from one goroutine: one commit per record,
// the cost group commit saves.
func BenchmarkAppendSerial(b *testing.B) {
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			recs, keys := benchRecords(b)
			l := be.open(b, keys)
			b.ResetTimer()
			for i := range b.N {
				r := recs[i%len(recs)]
				if err := l.Append(context.Background(), &r); err != nil {
					b.Fatal(err)
				}
			}
			report(b, l)
		})
	}
}

// BenchmarkVerifyChain measures how fast an auditor's chain verification
// runs: it recomputes the hash of every record of a 5 000-record log (with
// its certificates and OCSP responses) and checks the links and the head.
func BenchmarkVerifyChain(b *testing.B) {
	const n = 5000
	for _, be := range benchBackends() {
		if be.name == "sqlite-normal" {
			continue
		}
		b.Run(be.name, func(b *testing.B) {
			recs, keys := benchRecords(b)
			l := be.open(b, keys)
			var wg sync.WaitGroup
			for w := range 32 {
				wg.Go(func() {
					for i := w; i < n; i += 32 {
						r := recs[i%len(recs)]
						if err := l.Append(context.Background(), &r); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ResetTimer()
			for b.Loop() {
				res, err := l.VerifyChain(context.Background(), 0, 0)
				if err != nil {
					b.Fatal(err)
				}
				_ = res
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
