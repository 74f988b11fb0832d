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

// TestPruneFreesSlots: dropping the series of deleted functions frees
// their places, so that a churn of functions created, invoked and
// deleted keeps getting series of its own rather than ending in "other".
func TestPruneFreesSlots(t *testing.T) {
	m := New(2)
	live := map[key]bool{}
	for i := range 10 {
		name := "f" + string(rune('a'+i))
		k := key{"a", name, "$LATEST"}
		live[k] = true
		if got := m.labelsOf("a", name, "$LATEST"); got != k {
			t.Fatalf("function %d of a churn got labels %v; want its own, %v", i, got, k)
		}
		m.Throttled("a", name, "$LATEST")
		delete(live, k) // deleted
		if n := m.prune(func(k key) bool { return live[k] }); n != 1 {
			t.Fatalf("prune after deleting %s dropped %d series; want 1", name, n)
		}
	}
	// The dropped series are gone from the scrape too.
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), `function="fa"`) {
		t.Errorf("a pruned function's series are still exposed:\n%s", rec.Body.String())
	}
	// A kept triple keeps its series and its counts.
	m.Throttled("a", "kept", "1")
	m.prune(func(k key) bool { return k.function == "kept" })
	m.Throttled("a", "kept", "1")
	rec = httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if want := `hearth_throttles_total{account="a",function="kept",version="1"} 2`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("scrape lacks %q:\n%s", want, rec.Body.String())
	}
}
