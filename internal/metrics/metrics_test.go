package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestSeriesBound: past the limit, new (account, function, version)
// triples are counted in the "other" series, and the first ones keep
// theirs.
func TestSeriesBound(t *testing.T) {
	m := New(2)
	m.Throttled("a", "f1", "$LATEST")
	m.Throttled("a", "f2", "$LATEST")
	m.Throttled("a", "f3", "$LATEST")
	m.Throttled("b", "f1", "1")
	m.Throttled("a", "f1", "$LATEST")

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range mfs["hearth_throttles_total"].GetMetric() {
		l := map[string]string{}
		for _, lp := range s.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		got[l["account"]+"/"+l["function"]+"/"+l["version"]] = s.GetCounter().GetValue()
	}
	want := map[string]float64{"a/f1/$LATEST": 2, "a/f2/$LATEST": 1, "other/other/other": 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hearth_throttles_total (-want +got):\n%s", diff)
	}
}

// BenchmarkSeriesOf is the per-invocation lookup of a known triple.
func BenchmarkSeriesOf(b *testing.B) {
	m := New(0)
	m.seriesOf("000000000000", "fn", "$LATEST")
	b.ReportAllocs()
	for b.Loop() {
		s := m.seriesOf("000000000000", "fn", "$LATEST")
		s.concurrent.Inc()
		s.concurrent.Dec()
		s.invocations.Inc()
		s.duration.Observe(0.001)
	}
}
