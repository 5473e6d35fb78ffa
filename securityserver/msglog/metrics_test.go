package msglog_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/msglog/msglogtest"
)

// TestCommitMetrics: every committed batch is observed once in the commit
// latency and batch size histograms; failed commits are counted.
func TestCommitMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	db := sqliteDB(t)
	l := db.Open(t, msglog.MetadataOnly(), msglog.WithRegisterer(reg))
	recs := msglogtest.NewFixture(t).Records(t, 3, 10)
	for i := range recs {
		if err := l.Append(t.Context(), &recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n := testutil.CollectAndCount(reg, "jisr_msglog_commit_duration_seconds", "jisr_msglog_batch_size_records"); n != 2 {
		t.Fatalf("%d histogram series, want 2", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var commits, records uint64
	var sum float64
	fams := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		fams[mf.GetName()] = mf
		switch mf.GetName() {
		case "jisr_msglog_commit_duration_seconds":
			commits = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		case "jisr_msglog_batch_size_records":
			records, sum = mf.GetMetric()[0].GetHistogram().GetSampleCount(), mf.GetMetric()[0].GetHistogram().GetSampleSum()
		}
	}
	if commits != 3 || records != 3 || sum != 3 {
		t.Errorf("commits %d, batches %d of %v records; want 3 commits of one record each", commits, records, sum)
	}
	if v := fams["jisr_msglog_commit_failures_total"].GetMetric()[0].GetCounter().GetValue(); v != 0 {
		t.Errorf("failures %v", v)
	}
}
