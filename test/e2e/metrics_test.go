package e2e

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics signed with the root key and flattens it into
// "name{label="value",...}" → value, histograms as their _count and _sum.
func scrape(t testing.TB, s *server) map[string]float64 {
	t.Helper()
	resp, err := s.get(t, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, mf := range mfs {
		if !strings.HasPrefix(name, "hearth_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := seriesLabels(m)
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[name+labels] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[name+labels] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"+labels] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"+labels] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func seriesLabels(m *dto.Metric) string {
	var ls []string
	for _, l := range m.GetLabel() {
		ls = append(ls, l.GetName()+"="+`"`+l.GetValue()+`"`)
	}
	sort.Strings(ls)
	if len(ls) == 0 {
		return ""
	}
	return "{" + strings.Join(ls, ",") + "}"
}

func fnLabels(name string) string {
	return `{account="000000000000",function="` + name + `",version="$LATEST"}`
}

// TestMetrics (issue 14): after successful, failing, throttled and async
// invocations (one event retried once, then given up), /metrics holds exactly their counts, per function version,
// and only a root caller may read it.
func TestMetrics(t *testing.T) {
	s := startServer(t, "", "--async-retry-base", "100ms", "--metrics-addr", "127.0.0.1:0")
	ctx := t.Context()

	// Unsigned: refused (the metrics name every account's functions).
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned GET /metrics: %d; want 403", resp.StatusCode)
	}
	// --metrics-addr serves them without a signature, for Prometheus.
	m := regexp.MustCompile(`msg="metrics endpoint" addr=(\S+)`).FindStringSubmatch(s.Log())
	if m == nil {
		t.Fatal("no metrics endpoint in the log")
	}
	resp, err = http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("# TYPE hearth_invocations_total counter")) {
		t.Errorf("GET /metrics on --metrics-addr: %d %.200s; want 200 with the metrics", resp.StatusCode, body)
	}

	s.create(t, "m-ok", goFn())
	s.create(t, "m-err", goFn())
	s.create(t, "m-thr", goFn())
	for range 3 {
		if r := s.invoke(t, "m-ok", map[string]any{"op": "echo"}); r.FunctionError != "" {
			t.Fatalf("m-ok: function error %s", r.Payload)
		}
	}
	for range 2 {
		if r := s.invoke(t, "m-err", map[string]any{"op": "error", "text": "x"}); r.FunctionError == "" {
			t.Fatalf("m-err: no function error: %s", r.Payload)
		}
	}
	if _, err := s.Client.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("m-thr"), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err := s.tryInvoke(ctx, s.NoRetry, "m-thr", map[string]any{})
		var tm *types.TooManyRequestsException
		if !errors.As(err, &tm) {
			t.Fatalf("m-thr with reserved concurrency 0: %v; want TooManyRequestsException", err)
		}
	}
	// An answered invocation's environment is released just after the
	// answer: the events below must find it idle, not start another.
	eventually(t, 10*time.Second, "m-ok and m-err idle", func() bool {
		return s.hasEnv(t, "m-ok", "idle") && s.hasEnv(t, "m-err", "idle") && !s.hasEnv(t, "m-ok", "busy") && !s.hasEnv(t, "m-err", "busy")
	})
	if _, err := s.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("m-ok"),
		InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"op":"echo"}`)}); err != nil {
		t.Fatal(err)
	}
	// An event that fails twice (one retry), then is given up.
	if _, err := s.Client.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{
		FunctionName: aws.String("m-err"), MaximumRetryAttempts: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("m-err"),
		InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"op":"error","text":"async"}`)}); err != nil {
		t.Fatal(err)
	}
	var got map[string]float64
	eventually(t, 30*time.Second, "the async events to end", func() bool {
		got = scrape(t, s)
		return got["hearth_async_events_succeeded_total"] == 1 && got[`hearth_async_events_dropped_total{reason="failed"}`] == 1 &&
			got["hearth_async_events_in_flight"] == 0 && got["hearth_concurrent_executions"+fnLabels("m-err")] == 0 &&
			// released (idle) after the answer, as above
			got[`hearth_environments{account="000000000000",function="m-err",state="idle",version="$LATEST"}`] == 1
	})

	want := map[string]float64{
		"hearth_invocations_total" + fnLabels("m-ok"):                                                 4,
		"hearth_invocation_errors_total" + fnLabels("m-ok"):                                           0,
		"hearth_throttles_total" + fnLabels("m-ok"):                                                   0,
		"hearth_cold_starts_total" + fnLabels("m-ok"):                                                 1,
		"hearth_concurrent_executions" + fnLabels("m-ok"):                                             0,
		"hearth_invocation_duration_seconds_count" + fnLabels("m-ok"):                                 4,
		"hearth_init_duration_seconds_count" + fnLabels("m-ok"):                                       1,
		"hearth_invocations_total" + fnLabels("m-err"):                                                4, // 2 sync, 2 attempts of the event
		"hearth_invocation_errors_total" + fnLabels("m-err"):                                          4,
		"hearth_throttles_total" + fnLabels("m-err"):                                                  0,
		"hearth_cold_starts_total" + fnLabels("m-err"):                                                1,
		"hearth_concurrent_executions" + fnLabels("m-err"):                                            0,
		"hearth_invocation_duration_seconds_count" + fnLabels("m-err"):                                4,
		"hearth_init_duration_seconds_count" + fnLabels("m-err"):                                      1,
		"hearth_throttles_total" + fnLabels("m-thr"):                                                  2,
		"hearth_invocations_total" + fnLabels("m-thr"):                                                0,
		"hearth_invocation_errors_total" + fnLabels("m-thr"):                                          0,
		"hearth_cold_starts_total" + fnLabels("m-thr"):                                                0,
		"hearth_concurrent_executions" + fnLabels("m-thr"):                                            0,
		"hearth_invocation_duration_seconds_count" + fnLabels("m-thr"):                                0,
		"hearth_init_duration_seconds_count" + fnLabels("m-thr"):                                      0,
		`hearth_environments{account="000000000000",function="m-ok",version="$LATEST",state="idle"}`:  1,
		`hearth_environments{account="000000000000",function="m-err",version="$LATEST",state="idle"}`: 1,
		"hearth_async_events_received_total":                                                          2,
		"hearth_async_events_succeeded_total":                                                         1,
		"hearth_async_queue_depth":                                                                    0,
		"hearth_async_retries_total":                                                                  1,
		`hearth_async_events_dropped_total{reason="failed"}`:                                          1,
		`hearth_async_events_dropped_total{reason="expired"}`:                                         0,
		`hearth_async_events_dropped_total{reason="deleted"}`:                                         0,
		"hearth_async_stats_up":                                                                       1,
	}
	// Labels are compared sorted.
	for k, v := range want {
		if i := strings.IndexByte(k, '{'); i > 0 {
			var m dto.Metric
			for _, kv := range strings.Split(strings.Trim(k[i:], "{}"), ",") {
				n, val, _ := strings.Cut(kv, "=")
				m.Label = append(m.Label, &dto.LabelPair{Name: aws.String(n), Value: aws.String(strings.Trim(val, `"`))})
			}
			delete(want, k)
			want[k[:i]+seriesLabels(&m)] = v
		}
	}
	subset := map[string]float64{}
	for k := range want {
		subset[k] = got[k]
		if _, ok := got[k]; !ok {
			subset[k] = -1 // absent
		}
	}
	if diff := cmp.Diff(want, subset); diff != "" {
		t.Errorf("/metrics (-want +got):\n%s", diff)
	}
	// Nothing was folded into "other", and no other function has series.
	for k, v := range got {
		if strings.Contains(k, `function="other"`) && v != 0 {
			t.Errorf("%s = %v; want 0", k, v)
		}
		if strings.Contains(k, "function=") && !strings.Contains(k, `function="m-`) && !strings.Contains(k, `function="other"`) {
			t.Errorf("unexpected series %s", k)
		}
	}
	if d := got["hearth_invocation_duration_seconds_sum"+fnLabels("m-ok")]; d <= 0 || d > 10 {
		t.Errorf("m-ok duration sum %v s; want between 0 and 10", d)
	}
}

// TestMetricsSeriesFreed (issue 14): deleting a version, then the
// function, drops their series from /metrics, so that their places go to
// functions made later rather than to "other".
func TestMetricsSeriesFreed(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	s.create(t, "mf", goFn())
	if _, err := s.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("mf")}); err != nil {
		t.Fatal(err)
	}
	s.invoke(t, "mf", map[string]any{"op": "echo"})
	if _, err := s.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("mf"), Qualifier: aws.String("1"), Payload: []byte(`{"op":"echo"}`)}); err != nil {
		t.Fatal(err)
	}
	latest := `hearth_invocations_total{account="000000000000",function="mf",version="$LATEST"}`
	v1 := `hearth_invocations_total{account="000000000000",function="mf",version="1"}`
	has := func(series string) bool {
		_, ok := scrape(t, s)[series]
		return ok
	}
	if !has(latest) || !has(v1) {
		t.Fatalf("/metrics lacks %s or %s", latest, v1)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("after 15 s, still not %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if _, err := s.Client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("mf"), Qualifier: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	waitFor("dropped version 1's series", func() bool { return !has(v1) })
	if !has(latest) {
		t.Errorf("deleting version 1 dropped $LATEST's series too")
	}
	if _, err := s.Client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("mf")}); err != nil {
		t.Fatal(err)
	}
	waitFor("dropped the deleted function's series", func() bool { return !has(latest) })
}
