package worker

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/runtimes"
)

func TestTraceHeader(t *testing.T) {
	const root = "1-5759e988-bd862e3fe1be46a994272793"
	tests := []struct {
		given string
		want  string // a regexp
	}{
		// The caller's trace continues, as its fields say.
		{"Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1", "^Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1$"},
		{"Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=0", "^Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=0$"},
		{"Sampled=1; Root=" + root + "; Parent=53995c3f42cd8ad8", "^Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1$"},
		{"Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1;Self=1-67891234-12456789abcdef012345678;Lineage=a87bd80c:1",
			"^Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1$"},
		// Missing or undecided parts are made up.
		{"Root=" + root, "^Root=" + root + ";Parent=[0-9a-f]{16};Sampled=0$"},
		{"Root=" + root + ";Sampled=?", "^Root=" + root + ";Parent=[0-9a-f]{16};Sampled=0$"},
		{"Root=" + root + ";Parent=xyz;Sampled=1", "^Root=" + root + ";Parent=[0-9a-f]{16};Sampled=1$"},
		// No trace, or none to continue: a new one, unsampled.
		{"", "^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$"},
		{"Root=1-5759E988-BD862E3FE1BE46A994272793;Parent=53995c3f42cd8ad8;Sampled=1", "^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$"},
		{"Root=" + root + "\r\nX-Evil: 1;Sampled=1", "^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$"},
		{"garbage", "^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$"},
	}
	for _, tt := range tests {
		got := TraceHeader(tt.given)
		if !regexp.MustCompile(tt.want).MatchString(got) {
			t.Errorf("TraceHeader(%q) = %q; want %s", tt.given, got, tt.want)
		}
		if again := TraceHeader(got); again != got {
			t.Errorf("TraceHeader(%q) = %q; want it unchanged", got, again)
		}
	}
	if a, b := TraceHeader(""), TraceHeader(""); a[:46] == b[:46] {
		t.Errorf("two new traces have one root: %s, %s", a, b)
	}
}

// A function with JSON logs: its platform.initStart names the runtime's
// version and the ARN GetFunctionConfiguration reports, and a sampled
// invocation's platform.start the trace header its runtime got, continuing
// the caller's trace, with a span of its own (lambda-api.md §7.4); its
// platform.runtimeDone and platform.report carry that same tracing. An
// unsampled invocation's records carry none, as Lambda's do. runtimeDone
// has the spans and size of the response either way.
func TestJSONPlatformRecords(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour, Region: "eu-west-1"})
	cfg := tw.function(t, `#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
while true; do
	h=$(mktemp)
	curl -sS -D "$h" "$api/next" >/dev/null || exit 1
	id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$h" | cut -d: -f2 | tr -d '[:space:]')
	trace=$(grep -i '^Lambda-Runtime-Trace-Id:' "$h" | cut -d: -f2 | tr -d '[:space:]')
	curl -sS -X POST --data-binary "\"$trace\"" "$api/$id/response" >/dev/null
done
`)
	cfg.LogFormat, cfg.SystemLogLevel = "JSON", "DEBUG"
	const given = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	records := func(res *Result) map[string]map[string]any {
		got := map[string]map[string]any{}
		for line := range strings.SplitSeq(strings.TrimSpace(string(res.Log)), "\n") {
			var m struct {
				Type   string         `json:"type"`
				Record map[string]any `json:"record"`
			}
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line %q is not JSON: %v", line, err)
			}
			got[m.Type] = m.Record
		}
		return got
	}
	for i, traceID := range []string{given, "", strings.TrimSuffix(given, "1") + "0"} {
		req := &Request{Function: cfg, RequestID: newID("req-"), Payload: []byte(`{}`), TraceID: traceID}
		res, err := tw.Invoke(t.Context(), req)
		if err != nil || res.FunctionError != "" {
			t.Fatalf("Invoke() = %v, %s %s", err, res.ErrorType, res.Payload)
		}
		var runtimeGot string
		if err := json.Unmarshal(res.Payload, &runtimeGot); err != nil {
			t.Fatal(err)
		}
		if traceID != "" && runtimeGot != traceID {
			t.Errorf("the runtime got trace %q; want the caller's %q", runtimeGot, traceID)
		}
		recs := records(res)
		res.Release()
		start := recs["platform.start"]
		want := map[string]any{"requestId": req.RequestID, "version": "$LATEST"}
		if strings.HasSuffix(runtimeGot, ";Sampled=1") {
			tracing, _ := start["tracing"].(map[string]any)
			span, _ := tracing["spanId"].(string)
			if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(span) {
				t.Errorf("platform.start spanId = %q; want 16 hex digits", span)
			}
			want["tracing"] = map[string]any{"spanId": span, "type": "X-Amzn-Trace-Id", "value": runtimeGot}
		}
		if diff := cmp.Diff(want, start); diff != "" {
			t.Errorf("invocation %d: platform.start (-want +got):\n%s", i, diff)
		}
		done, report := recs["platform.runtimeDone"], recs["platform.report"]
		if diff := cmp.Diff(want["tracing"], done["tracing"]); diff != "" {
			t.Errorf("invocation %d: platform.runtimeDone tracing (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff(want["tracing"], report["tracing"]); diff != "" {
			t.Errorf("invocation %d: platform.report tracing (-want +got):\n%s", i, diff)
		}
		var names []string
		spanList, _ := done["spans"].([]any)
		for _, s := range spanList {
			s, _ := s.(map[string]any)
			d, ok := s["durationMs"].(float64)
			if _, err := time.Parse("2006-01-02T15:04:05.000Z", fmt.Sprint(s["start"])); err != nil || !ok || d < 0 {
				t.Errorf("invocation %d: span %v; want a start to the millisecond and a duration", i, s)
			}
			names = append(names, fmt.Sprint(s["name"]))
		}
		// The runtime asks for its next event after its response: the
		// record then has Lambda's third span, runtimeOverhead, and its
		// durationMs runs until then, the spans end to end.
		if want := []string{"responseLatency", "responseDuration", "runtimeOverhead"}; !cmp.Equal(names, want) {
			t.Errorf("invocation %d: platform.runtimeDone spans %v; want %v", i, names, want)
		}
		metrics, _ := done["metrics"].(map[string]any)
		var sum float64
		for _, s := range spanList {
			d, _ := s.(map[string]any)["durationMs"].(float64)
			sum += d
		}
		if d, _ := metrics["durationMs"].(float64); math.Abs(d-sum) > 0.005 {
			t.Errorf("invocation %d: platform.runtimeDone durationMs = %v; want the spans' sum %v", i, d, sum)
		}
		// The report counts the invocation until then too, as Lambda's
		// does: its durationMs is never below runtimeDone's.
		if rm, _ := report["metrics"].(map[string]any); rm["durationMs"].(float64) < metrics["durationMs"].(float64) {
			t.Errorf("invocation %d: platform.report durationMs %v < platform.runtimeDone's %v", i, rm["durationMs"], metrics["durationMs"])
		}
		if got, want := metrics["producedBytes"], float64(len(runtimeGot)+2); got != want {
			t.Errorf("invocation %d: platform.runtimeDone producedBytes = %v; want %v, the response's size", i, got, want)
		}
		if i == 0 {
			rt, _ := runtimes.Lookup("provided.al2023")
			want := map[string]any{"initializationType": "on-demand", "phase": "init",
				"runtimeVersion": "provided:al2023.v1", "runtimeVersionArn": rt.VersionARN("eu-west-1")}
			if diff := cmp.Diff(want, recs["platform.initStart"]); diff != "" {
				t.Errorf("platform.initStart (-want +got):\n%s", diff)
			}
			// A successful init's report follows its initRuntimeDone, as
			// in Lambda's JSON logs ("status":"success","metrics":
			// {"durationMs":173.778}).
			report := recs["platform.initReport"]
			metrics, _ := report["metrics"].(map[string]any)
			if d, _ := metrics["durationMs"].(float64); report["initializationType"] != "on-demand" || report["phase"] != "init" || report["status"] != "success" || d <= 0 {
				t.Errorf("platform.initReport = %v; want on-demand, init, success, a duration", report)
			}
		} else if rec, ok := recs["platform.initReport"]; ok {
			t.Errorf("invocation %d of a warm environment has platform.initReport %v", i, rec)
		}
	}
}

// A runtime that exits after its response never asks for its next event:
// platform.runtimeDone is still written, at once, without a
// runtimeOverhead span, and platform.report follows it.
func TestRuntimeDoneWithoutNext(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour})
	cfg := tw.function(t, `#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
h=$(mktemp)
curl -sS -D "$h" "$api/next" >/dev/null || exit 1
id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$h" | cut -d: -f2 | tr -d '[:space:]')
curl -sS -X POST --data-binary '"bye"' "$api/$id/response" >/dev/null
exit 0
`)
	cfg.LogFormat, cfg.SystemLogLevel, cfg.Timeout = "JSON", "DEBUG", 30
	begin := time.Now()
	res, _ := tw.invokeID(t, cfg)
	defer res.Release()
	if took := time.Since(begin); res.FunctionError != "" || took > 15*time.Second {
		t.Fatalf("Invoke() = %s %s after %v; want the response, well before the timeout", res.ErrorType, res.Payload, took)
	}
	var types []string
	var done map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(string(res.Log)), "\n") {
		var m struct {
			Type   string         `json:"type"`
			Record map[string]any `json:"record"`
		}
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		types = append(types, m.Type)
		if m.Type == "platform.runtimeDone" {
			done = m.Record
		}
	}
	if i := slices.Index(types, "platform.runtimeDone"); i < 0 || i+1 >= len(types) || types[i+1] != "platform.report" {
		t.Fatalf("records %v; want platform.runtimeDone, then platform.report", types)
	}
	var names []string
	for _, s := range done["spans"].([]any) {
		names = append(names, fmt.Sprint(s.(map[string]any)["name"]))
	}
	if want := []string{"responseLatency", "responseDuration"}; !cmp.Equal(names, want) {
		t.Errorf("platform.runtimeDone spans %v; want %v", names, want)
	}
}
