package logs_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/logs"
)

// decodeRecord checks a JSON platform record's envelope and returns its
// type and record.
func decodeRecord(t *testing.T, line string) (typ string, record map[string]any) {
	t.Helper()
	var rec struct {
		Time   string         `json:"time"`
		Type   string         `json:"type"`
		Record map[string]any `json:"record"`
	}
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("record %q: %v", line, err)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(rec.Time) {
		t.Errorf("time = %q; want ISO time with milliseconds", rec.Time)
	}
	return rec.Type, rec.Record
}

// The inits the records name: an on-demand environment's, a provisioned
// one's, and the on-demand init Lambda retries as part of the first
// invocation after the init phase's failed.
var (
	onDemand    = logs.Init{Type: "on-demand", Phase: "init"}
	provisioned = logs.Init{Type: "provisioned-concurrency", Phase: "init"}
	retried     = logs.Init{Type: "on-demand", Phase: "invoke"}
)

// trace is an invocation's tracing as the worker gives it.
var trace = logs.Tracing{SpanID: "24cd7d670fa455f0", Value: "Root=1-6352a70e-1e2c502e358361800241fd45;Parent=35465b3a9e2f7c6a;Sampled=1"}

func TestPlatformText(t *testing.T) {
	p := logs.NewPlatform("Text", "")
	r := logs.Report{RequestID: "id", Duration: 15740 * time.Microsecond, MemoryMB: 128, MaxMemoryUsed: 56 << 20}
	got := []string{p.Start("id", "$LATEST", trace), p.End(r), p.Report(r), p.InitReport(onDemand, 10*time.Second, "timeout", ""), p.InitReport(provisioned, 5*time.Millisecond, "error", "Runtime.ExitError"),
		p.InitReport(retried, 1329486*time.Microsecond, "error", "Runtime.UserCodeSyntaxError"),
		p.InitStart(onDemand, "python:3.12.v18", "arn:aws:lambda:us-east-1::runtime:edb5a058bfa782cb9cedc6d534ac8b8c193bc28e9a9879d9f5ebaaf619cd0fc0"),
		p.InitStart(provisioned, "nodejs:20.v1", ""), p.InitStart(retried, "nodejs:20.v1", ""), p.InitRuntimeDone(onDemand, "error", "Runtime.ExitError")}
	// Each line ends in a newline, as GetLogEvents shows Lambda's lines.
	want := []string{"START RequestId: id Version: $LATEST\n", "END RequestId: id\n", r.Line(),
		"INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout\n",
		"INIT_REPORT Init Duration: 5.00 ms\tPhase: init\tStatus: error\tError Type: Runtime.ExitError\n",
		// The init Lambda retries within the first invocation (as logged
		// by a Node function whose init failed).
		"INIT_REPORT Init Duration: 1329.49 ms\tPhase: invoke\tStatus: error\tError Type: Runtime.UserCodeSyntaxError\n",
		// Tab-separated, with no tab at the end (as CloudWatch Logs has
		// Lambda's lines; REPORT's ends with one).
		"INIT_START Runtime Version: python:3.12.v18\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:edb5a058bfa782cb9cedc6d534ac8b8c193bc28e9a9879d9f5ebaaf619cd0fc0\n",
		"INIT_START Runtime Version: nodejs:20.v1\n",
		// The retried init has no INIT_START of its own, and Text has no
		// initRuntimeDone.
		"", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Text lines (-want +got):\n%s", diff)
	}
	if got := p.Timeout("id", time.Date(2019, 12, 10, 19, 17, 21, 789e6, time.UTC), 3*time.Second); got != "2019-12-10T19:17:21.789Z id Task timed out after 3.00 seconds\n\n" {
		t.Errorf("Timeout() = %q", got)
	}
}

func TestPlatformJSONRecords(t *testing.T) {
	p := logs.NewPlatform("JSON", "DEBUG")
	ok := logs.Report{RequestID: "id", Duration: 693921 * time.Microsecond, MemoryMB: 128, MaxMemoryUsed: 84 << 20, InitDuration: 397681 * time.Microsecond}
	failed := logs.Report{RequestID: "id", Duration: 3 * time.Second, MemoryMB: 128, MaxMemoryUsed: 1, Status: "error", ErrorType: "Runtime.ExitError"}
	// An invocation with its tracing and a response of 8 bytes, posted
	// 2598.0416 ms into it (its start in another time zone) and read in
	// 0.2071 ms.
	start := time.Date(2022, 10, 21, 16, 5, 3, 165_400_000, time.FixedZone("CEST", 2*3600))
	traced := logs.Report{RequestID: "id", Duration: 2599 * time.Millisecond, MemoryMB: 128, MaxMemoryUsed: 94 << 20, Tracing: trace,
		Start: start, Posted: start.Add(2598041600 * time.Nanosecond), Read: start.Add(2598248700 * time.Nanosecond), ProducedBytes: 8}
	// The runtime then asked for its next event 1.234567 ms after the
	// response had been read.
	tracedNext := traced
	tracedNext.Next = traced.Read.Add(1234567 * time.Nanosecond)
	// The runtime posted to /error: tracing, but no response to time.
	tracedError := logs.Report{RequestID: "id", Duration: time.Second, MemoryMB: 128, MaxMemoryUsed: 1 << 20, Status: "error", ErrorType: "Function.Error",
		Tracing: trace, Start: start}
	tracing := map[string]any{"spanId": "24cd7d670fa455f0", "type": "X-Amzn-Trace-Id", "value": "Root=1-6352a70e-1e2c502e358361800241fd45;Parent=35465b3a9e2f7c6a;Sampled=1"}
	tests := []struct {
		line       string
		typ        string
		wantRecord map[string]any
	}{
		{p.Start("id", "$LATEST", trace), "platform.start", map[string]any{"requestId": "id", "version": "$LATEST", "tracing": map[string]any{
			"spanId": "24cd7d670fa455f0", "type": "X-Amzn-Trace-Id", "value": "Root=1-6352a70e-1e2c502e358361800241fd45;Parent=35465b3a9e2f7c6a;Sampled=1"}}},
		{p.Start("id", "3", logs.Tracing{}), "platform.start", map[string]any{"requestId": "id", "version": "3"}},
		{p.InitStart(onDemand, "python:3.12.v1", "arn:aws:lambda:us-east-1::runtime:c5bb"), "platform.initStart", map[string]any{
			"initializationType": "on-demand", "phase": "init", "runtimeVersion": "python:3.12.v1", "runtimeVersionArn": "arn:aws:lambda:us-east-1::runtime:c5bb"}},
		{p.InitStart(provisioned, "", ""), "platform.initStart", map[string]any{"initializationType": "provisioned-concurrency", "phase": "init"}},
		{p.InitStart(retried, "", ""), "platform.initStart", map[string]any{"initializationType": "on-demand", "phase": "invoke"}},
		{p.InitRuntimeDone(onDemand, "success", ""), "platform.initRuntimeDone", map[string]any{"initializationType": "on-demand", "phase": "init", "status": "success"}},
		{p.InitRuntimeDone(provisioned, "error", "Runtime.ExitError"), "platform.initRuntimeDone", map[string]any{
			"initializationType": "provisioned-concurrency", "phase": "init", "status": "error", "errorType": "Runtime.ExitError"}},
		{p.InitRuntimeDone(retried, "timeout", ""), "platform.initRuntimeDone", map[string]any{"initializationType": "on-demand", "phase": "invoke", "status": "timeout"}},
		// Durations to the microsecond, as Lambda's records have them.
		{p.End(ok), "platform.runtimeDone", map[string]any{"requestId": "id", "status": "success", "metrics": map[string]any{"durationMs": 693.921, "producedBytes": 0.0}}},
		{p.Report(ok), "platform.report", map[string]any{"requestId": "id", "status": "success", "metrics": map[string]any{
			"durationMs": 693.921, "billedDurationMs": 1092.0, "memorySizeMB": 128.0, "maxMemoryUsedMB": 84.0, "initDurationMs": 397.681}}}, // init billed too
		{p.End(failed), "platform.runtimeDone", map[string]any{"requestId": "id", "status": "error", "errorType": "Runtime.ExitError", "metrics": map[string]any{"durationMs": 3000.0, "producedBytes": 0.0}}},
		// The invocation's tracing, as its platform.start has it, in
		// runtimeDone and report; the response's spans and size in
		// runtimeDone (lambda-api.md §5).
		{p.End(traced), "platform.runtimeDone", map[string]any{"requestId": "id", "status": "success", "tracing": tracing,
			"spans": []any{
				map[string]any{"name": "responseLatency", "start": "2022-10-21T14:05:03.165Z", "durationMs": 2598.041},
				map[string]any{"name": "responseDuration", "start": "2022-10-21T14:05:05.763Z", "durationMs": 0.207},
			},
			"metrics": map[string]any{"durationMs": 2599.0, "producedBytes": 8.0}}},
		// Once the runtime has asked for its next event: Lambda's third
		// span, runtimeOverhead, from the response's end until then, and
		// durationMs until then too.
		{p.End(tracedNext), "platform.runtimeDone", map[string]any{"requestId": "id", "status": "success", "tracing": tracing,
			"spans": []any{
				map[string]any{"name": "responseLatency", "start": "2022-10-21T14:05:03.165Z", "durationMs": 2598.041},
				map[string]any{"name": "responseDuration", "start": "2022-10-21T14:05:05.763Z", "durationMs": 0.207},
				map[string]any{"name": "runtimeOverhead", "start": "2022-10-21T14:05:05.763Z", "durationMs": 1.234},
			},
			"metrics": map[string]any{"durationMs": 2599.483, "producedBytes": 8.0}}},
		{p.Report(traced), "platform.report", map[string]any{"requestId": "id", "status": "success", "tracing": tracing, "metrics": map[string]any{
			"durationMs": 2599.0, "billedDurationMs": 2599.0, "memorySizeMB": 128.0, "maxMemoryUsedMB": 94.0}}},
		{p.End(tracedError), "platform.runtimeDone", map[string]any{"requestId": "id", "status": "error", "errorType": "Function.Error", "tracing": tracing,
			"metrics": map[string]any{"durationMs": 1000.0, "producedBytes": 0.0}}},
		{p.Report(tracedError), "platform.report", map[string]any{"requestId": "id", "status": "error", "errorType": "Function.Error", "tracing": tracing,
			"metrics": map[string]any{"durationMs": 1000.0, "billedDurationMs": 1000.0, "memorySizeMB": 128.0, "maxMemoryUsedMB": 1.0}}},
		{p.Report(failed), "platform.report", map[string]any{"requestId": "id", "status": "error", "errorType": "Runtime.ExitError", "metrics": map[string]any{
			"durationMs": 3000.0, "billedDurationMs": 3000.0, "memorySizeMB": 128.0, "maxMemoryUsedMB": 1.0}}},
		{p.InitReport(onDemand, 10*time.Second, "timeout", ""), "platform.initReport", map[string]any{"initializationType": "on-demand", "phase": "init", "status": "timeout", "metrics": map[string]any{"durationMs": 10000.0}}},
		{p.InitReport(provisioned, 1500*time.Millisecond, "error", "Runtime.ExitError"), "platform.initReport", map[string]any{
			"initializationType": "provisioned-concurrency", "phase": "init", "status": "error", "errorType": "Runtime.ExitError", "metrics": map[string]any{"durationMs": 1500.0}}},
		{p.InitReport(retried, 4870*time.Microsecond, "error", "Runtime.ExitError"), "platform.initReport", map[string]any{
			"initializationType": "on-demand", "phase": "invoke", "status": "error", "errorType": "Runtime.ExitError", "metrics": map[string]any{"durationMs": 4.87}}},
	}
	for _, tt := range tests {
		typ, rec := decodeRecord(t, tt.line)
		if typ != tt.typ {
			t.Errorf("type = %q; want %q in %s", typ, tt.typ, tt.line)
		}
		if diff := cmp.Diff(tt.wantRecord, rec); diff != "" {
			t.Errorf("%s record (-want +got):\n%s", tt.typ, diff)
		}
	}
	// The timeout is the runtimeDone record's status, not a line of its own.
	if got := p.Timeout("id", time.Now(), time.Second); got != "" {
		t.Errorf("Timeout() = %q; want nothing in JSON", got)
	}
}

func TestPlatformSystemLogLevel(t *testing.T) {
	ok := logs.Report{RequestID: "id", MemoryMB: 128}
	timedOut := logs.Report{RequestID: "id", MemoryMB: 128, Status: "timeout"}
	kinds := func(p logs.Platform) []string {
		var got []string
		for name, line := range map[string]string{
			"start": p.Start("id", "1", logs.Tracing{}), "runtimeDone": p.End(ok), "report": p.Report(ok),
			"runtimeDone/timeout": p.End(timedOut), "report/timeout": p.Report(timedOut),
			"initReport/error":      p.InitReport(onDemand, time.Second, "error", "Runtime.ExitError"),
			"initRuntimeDone":       p.InitRuntimeDone(onDemand, "success", ""),
			"initRuntimeDone/error": p.InitRuntimeDone(onDemand, "error", "Runtime.ExitError"),
		} {
			if line != "" {
				got = append(got, name)
			}
		}
		slices.Sort(got)
		return got
	}
	tests := []struct {
		level string
		want  []string
	}{
		{"DEBUG", []string{"start", "runtimeDone", "report", "runtimeDone/timeout", "report/timeout", "initReport/error", "initRuntimeDone", "initRuntimeDone/error"}},
		{"", []string{"start", "report", "runtimeDone/timeout", "report/timeout", "initReport/error", "initRuntimeDone/error"}},
		{"INFO", []string{"start", "report", "runtimeDone/timeout", "report/timeout", "initReport/error", "initRuntimeDone/error"}},
		{"WARN", []string{"runtimeDone/timeout", "report/timeout", "initReport/error", "initRuntimeDone/error"}},
	}
	for _, tt := range tests {
		slices.Sort(tt.want)
		if diff := cmp.Diff(tt.want, kinds(logs.NewPlatform("JSON", tt.level))); diff != "" {
			t.Errorf("SystemLogLevel %q (-want +got):\n%s", tt.level, diff)
		}
	}
}

// The records' fields come in Lambda's order, so that a line reads as
// Lambda's does (lambda-api.md §7.4): runtimeDone's and report's as in
// records Lambda sent an extension's Telemetry API listener.
func TestPlatformJSONFieldOrder(t *testing.T) {
	p := logs.NewPlatform("JSON", "DEBUG")
	start := time.Date(2022, 10, 21, 14, 5, 3, 165e6, time.UTC)
	r := logs.Report{RequestID: "459921b5", Duration: 2599400 * time.Microsecond, MemoryMB: 128, MaxMemoryUsed: 94 << 20, InitDuration: 549040 * time.Microsecond,
		Tracing: trace, Start: start, Posted: start.Add(2598 * time.Millisecond), Read: start.Add(2598 * time.Millisecond), ProducedBytes: 8}
	tests := []struct{ line, want string }{
		{p.End(r),
			`"type":"platform.runtimeDone","record":{"requestId":"459921b5","status":"success","tracing":{"spanId":"24cd7d670fa455f0","type":"X-Amzn-Trace-Id","value":"Root=1-6352a70e-1e2c502e358361800241fd45;Parent=35465b3a9e2f7c6a;Sampled=1"},` +
				`"spans":[{"name":"responseLatency","start":"2022-10-21T14:05:03.165Z","durationMs":2598},{"name":"responseDuration","start":"2022-10-21T14:05:05.763Z","durationMs":0}],"metrics":{"durationMs":2599.4,"producedBytes":8}}}`},
		{p.Report(r),
			`"type":"platform.report","record":{"requestId":"459921b5","status":"success","metrics":{"durationMs":2599.4,"billedDurationMs":3149,"memorySizeMB":128,"maxMemoryUsedMB":94,"initDurationMs":549.04},` +
				`"tracing":{"spanId":"24cd7d670fa455f0","type":"X-Amzn-Trace-Id","value":"Root=1-6352a70e-1e2c502e358361800241fd45;Parent=35465b3a9e2f7c6a;Sampled=1"}}}`},
		{p.Start("6d68ca91", "$LATEST", trace),
			`"type":"platform.start","record":{"requestId":"6d68ca91","version":"$LATEST","tracing":{"spanId":"24cd7d670fa455f0","type":"X-Amzn-Trace-Id","value":"Root=1-6352a70e-1e2c502e358361800241fd45;Parent=35465b3a9e2f7c6a;Sampled=1"}}}`},
		{p.InitStart(onDemand, "nodejs:20.v1", "arn"),
			`"type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init","runtimeVersion":"nodejs:20.v1","runtimeVersionArn":"arn"}}`},
	}
	for _, tt := range tests {
		if _, rest, _ := strings.Cut(tt.line, ","); rest != tt.want {
			t.Errorf("record\n got %s\nwant %s", rest, tt.want)
		}
	}
}

// Text lines are unchanged by tracing, the response's timing and size,
// and by the init's type.
func TestPlatformTextIgnoresTracing(t *testing.T) {
	p := logs.NewPlatform("Text", "")
	if got := p.Start("id", "$LATEST", trace); got != "START RequestId: id Version: $LATEST\n" {
		t.Errorf("Start() = %q", got)
	}
	now := time.Now()
	plain := logs.Report{RequestID: "id", Duration: 15740 * time.Microsecond, MemoryMB: 128, MaxMemoryUsed: 56 << 20}
	traced := plain
	traced.Tracing, traced.Start, traced.Posted, traced.Read, traced.ProducedBytes = trace, now, now.Add(time.Millisecond), now.Add(2*time.Millisecond), 16
	if got := p.End(traced); got != "END RequestId: id\n" {
		t.Errorf("End() = %q", got)
	}
	if got, want := p.Report(traced), "REPORT RequestId: id\tDuration: 15.74 ms\tBilled Duration: 16 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\t\n"; got != want || got != p.Report(plain) {
		t.Errorf("Report() = %q; want %q", got, want)
	}
	if a, b := p.InitStart(onDemand, "python:3.12.v1", "arn"), p.InitStart(provisioned, "python:3.12.v1", "arn"); a != b {
		t.Errorf("InitStart() = %q on demand, %q provisioned; want one line", a, b)
	}
}

// WritesRuntimeDone says whether End writes a record: in JSON, at DEBUG
// for a success and at WARN and below for a failure.
func TestWritesRuntimeDone(t *testing.T) {
	for _, tt := range []struct {
		format, level, status string
		want                  bool
	}{
		{"Text", "DEBUG", "", false},
		{"JSON", "DEBUG", "", true},
		{"JSON", "INFO", "", false},
		{"JSON", "INFO", "error", true},
		{"JSON", "WARN", "timeout", true},
	} {
		if got := logs.NewPlatform(tt.format, tt.level).WritesRuntimeDone(tt.status); got != tt.want {
			t.Errorf("NewPlatform(%q, %q).WritesRuntimeDone(%q) = %v; want %v", tt.format, tt.level, tt.status, got, tt.want)
		}
	}
}
