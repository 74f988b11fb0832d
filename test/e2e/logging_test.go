package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"
)

// TestLoggingConfigAPI checks that LoggingConfig's levels are validated,
// stored and reported as Lambda does.
func TestLoggingConfigAPI(t *testing.T) {
	s := startServer(t, "")
	f := pythonFn(t)
	create := func(name string, lc *types.LoggingConfig) error {
		_, err := s.Client.CreateFunction(t.Context(), &lambda.CreateFunctionInput{
			FunctionName: aws.String(name), Runtime: types.Runtime(f.runtime), Handler: aws.String(f.handler),
			Role: aws.String("arn:aws:iam::000000000000:role/e2e"), Code: &types.FunctionCode{ZipFile: f.zip},
			LoggingConfig: lc,
		})
		return err
	}
	logging := func(name string) types.LoggingConfig {
		out, err := s.Client.GetFunctionConfiguration(t.Context(), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil {
			t.Fatalf("GetFunctionConfiguration(%s) = %v", name, err)
		}
		return *out.LoggingConfig
	}
	opts := cmp.Comparer(func(a, b types.LoggingConfig) bool {
		return a.LogFormat == b.LogFormat && a.ApplicationLogLevel == b.ApplicationLogLevel &&
			a.SystemLogLevel == b.SystemLogLevel && aws.ToString(a.LogGroup) == aws.ToString(b.LogGroup)
	})

	var invalid *types.InvalidParameterValueException
	err := create("text-levels", &types.LoggingConfig{LogFormat: types.LogFormatText, ApplicationLogLevel: types.ApplicationLogLevelDebug})
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), `LogLevel is not supported when LogFormat is set to "Text"`) {
		t.Errorf("CreateFunction with Text and a level = %v; want InvalidParameterValueException", err)
	}
	// An enum the model does not allow is the model layer's
	// ValidationException (lambda-api.md, Appendix D).
	err = create("bad-level", &types.LoggingConfig{LogFormat: types.LogFormatJson, SystemLogLevel: "ERROR"})
	if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "Value 'ERROR' at 'loggingConfig.systemLogLevel' failed to satisfy constraint: Member must satisfy enum value set: [DEBUG, INFO, WARN]") {
		t.Errorf("CreateFunction with SystemLogLevel ERROR = %v; want ValidationException", err)
	}

	if err := create("json-default", &types.LoggingConfig{LogFormat: types.LogFormatJson}); err != nil {
		t.Fatal(err)
	}
	want := types.LoggingConfig{LogFormat: types.LogFormatJson, ApplicationLogLevel: "INFO", SystemLogLevel: "INFO", LogGroup: aws.String("/aws/lambda/json-default")}
	if diff := cmp.Diff(want, logging("json-default"), opts); diff != "" {
		t.Errorf("JSON without levels (-want +got):\n%s", diff)
	}

	if err := create("json-levels", &types.LoggingConfig{LogFormat: types.LogFormatJson, ApplicationLogLevel: types.ApplicationLogLevelWarn, SystemLogLevel: types.SystemLogLevelDebug}); err != nil {
		t.Fatal(err)
	}
	want = types.LoggingConfig{LogFormat: types.LogFormatJson, ApplicationLogLevel: "WARN", SystemLogLevel: "DEBUG", LogGroup: aws.String("/aws/lambda/json-levels")}
	if diff := cmp.Diff(want, logging("json-levels"), opts); diff != "" {
		t.Errorf("JSON with levels (-want +got):\n%s", diff)
	}

	update := func(lc *types.LoggingConfig) error {
		w := lambda.NewFunctionUpdatedV2Waiter(s.Client)
		if err := w.Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String("json-levels")}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		_, err := s.Client.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("json-levels"), LoggingConfig: lc})
		return err
	}
	if err := update(&types.LoggingConfig{SystemLogLevel: types.SystemLogLevelWarn}); err != nil {
		t.Fatal(err)
	}
	want.SystemLogLevel = "WARN"
	if diff := cmp.Diff(want, logging("json-levels"), opts); diff != "" {
		t.Errorf("after updating SystemLogLevel (-want +got):\n%s", diff)
	}
	// Back to Text: the levels go with JSON.
	if err := update(&types.LoggingConfig{LogFormat: types.LogFormatText}); err != nil {
		t.Fatal(err)
	}
	want = types.LoggingConfig{LogFormat: types.LogFormatText, LogGroup: aws.String("/aws/lambda/json-levels")}
	if diff := cmp.Diff(want, logging("json-levels"), opts); diff != "" {
		t.Errorf("after switching to Text (-want +got):\n%s", diff)
	}
	// A log group of the caller's own is kept and named to the runtime.
	if err := update(&types.LoggingConfig{LogGroup: aws.String("/shared/app-logs")}); err != nil {
		t.Fatal(err)
	}
	want.LogGroup = aws.String("/shared/app-logs")
	if diff := cmp.Diff(want, logging("json-levels"), opts); diff != "" {
		t.Errorf("after setting LogGroup (-want +got):\n%s", diff)
	}
}

// TestJSONLogs checks what a function configured for JSON logs writes to
// the Tail log: the runtime clients' JSON records filtered by
// ApplicationLogLevel, and the platform's records filtered by
// SystemLogLevel.
func TestJSONLogs(t *testing.T) {
	s := startServer(t, "")
	cases := []struct {
		name      string
		fn        func(testing.TB) fn
		info      string // what op "log" writes at INFO and at WARN
		warn      string
		warnLevel string // the level name the client writes for WARN
	}{
		{"python", pythonFn, "info via logging", "warning via logging", "WARNING"},
		{"node", nodeFn, "info via console", "warning via console", "WARN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.fn(t)
			needRuntime(t, f.runtime)
			name := "json-" + c.name
			s.create(t, name, f)
			_, err := s.Client.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{
				FunctionName: aws.String(name),
				LoggingConfig: &types.LoggingConfig{LogFormat: types.LogFormatJson,
					ApplicationLogLevel: types.ApplicationLogLevelWarn, SystemLogLevel: types.SystemLogLevelInfo},
			})
			if err != nil {
				t.Fatal(err)
			}
			w := lambda.NewFunctionUpdatedV2Waiter(s.Client)
			if err := w.Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
				t.Fatal(err)
			}

			r := s.invoke(t, name, map[string]any{"op": "log"})
			if r.FunctionError != "" {
				t.Fatalf("invoke failed: %s", r.Payload)
			}
			id := str(t, r.decode(t), "request_id")
			records := map[string]map[string]any{} // platform record type -> record
			var app []map[string]any
			for _, line := range strings.Split(strings.TrimSpace(r.Log), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) != nil {
					continue
				}
				if typ, _ := m["type"].(string); strings.HasPrefix(typ, "platform.") {
					rec, _ := m["record"].(map[string]any)
					records[typ] = rec
				} else {
					app = append(app, m)
				}
			}
			for _, typ := range []string{"platform.start", "platform.report"} {
				if rec := records[typ]; rec == nil || rec["requestId"] != id {
					t.Errorf("%s record = %v; want one for request %s. Log:\n%s", typ, rec, id, r.Log)
				}
			}
			if _, ok := records["platform.runtimeDone"]; ok {
				t.Errorf("platform.runtimeDone logged at SystemLogLevel INFO (it is DEBUG):\n%s", r.Log)
			}
			if metrics, _ := records["platform.report"]["metrics"].(map[string]any); metrics["memorySizeMB"] != 128.0 || metrics["billedDurationMs"] == nil {
				t.Errorf("platform.report metrics = %v", metrics)
			}
			for _, text := range []string{"START RequestId:", "END RequestId:", "REPORT RequestId:", c.info} {
				if strings.Contains(r.Log, text) {
					t.Errorf("log has %q; want JSON platform records and no INFO application records:\n%s", text, r.Log)
				}
			}
			found := false
			for _, m := range app {
				if m["message"] == c.warn {
					found = true
					if m["level"] != c.warnLevel || m["requestId"] != id || m["timestamp"] == nil {
						t.Errorf("application record = %v; want level %s, requestId %s and a timestamp", m, c.warnLevel, id)
					}
				}
			}
			if !found {
				t.Errorf("no JSON application record %q in the log:\n%s", c.warn, r.Log)
			}
		})
	}
}

// TestJSONLogsTimeout checks the platform records of a timed-out invocation
// with JSON logs: the timeout is the status of platform.runtimeDone and
// platform.report (WARN level), with no text line, and the report's
// durationMs and billedDurationMs.
func TestJSONLogsTimeout(t *testing.T) {
	s := startServer(t, "")
	f := pythonFn(t)
	needRuntime(t, f.runtime)
	f.timeout = 1
	s.create(t, "json-timeout", f)
	_, err := s.Client.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{
		FunctionName:  aws.String("json-timeout"),
		LoggingConfig: &types.LoggingConfig{LogFormat: types.LogFormatJson, SystemLogLevel: types.SystemLogLevelWarn},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := lambda.NewFunctionUpdatedV2Waiter(s.Client)
	if err := w.Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String("json-timeout")}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	r := s.invoke(t, "json-timeout", map[string]any{"op": "sleep", "ms": 3000})
	if typ, _ := errorDoc(t, r); typ != "Sandbox.Timedout" {
		t.Fatalf("errorType = %s; want Sandbox.Timedout", typ)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(r.Log), "\n") {
		var m struct {
			Type   string `json:"type"`
			Record struct {
				Status string `json:"status"`
			} `json:"record"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && strings.HasPrefix(m.Type, "platform.") {
			got = append(got, m.Type+":"+m.Record.Status)
		}
	}
	// SystemLogLevel WARN keeps only the failed records: no platform.start.
	if want := []string{"platform.runtimeDone:timeout", "platform.report:timeout"}; !cmp.Equal(got, want) {
		t.Errorf("platform records = %q; want %q. Log:\n%s", got, want, r.Log)
	}
	if strings.Contains(r.Log, "Task timed out") {
		t.Errorf("JSON log has the text timeout line:\n%s", r.Log)
	}
	// As on Lambda, the timeout is the report's duration, however long
	// the platform took to stop the function; the billed duration is the
	// timeout plus the cold start's init (Lambda bills the init of
	// on-demand environments since August 2025).
	var report struct {
		Record struct {
			Metrics struct {
				DurationMs       float64 `json:"durationMs"`
				BilledDurationMs float64 `json:"billedDurationMs"`
				InitDurationMs   float64 `json:"initDurationMs"`
			} `json:"metrics"`
		} `json:"record"`
	}
	for _, line := range strings.Split(strings.TrimSpace(r.Log), "\n") {
		if strings.Contains(line, `"type":"platform.report"`) {
			if err := json.Unmarshal([]byte(line), &report); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := report.Record.Metrics
	// initDurationMs is rounded to 2 decimals; the bill to the next ms of
	// the exact sum.
	if m.DurationMs != 1000 || m.InitDurationMs <= 0 || m.BilledDurationMs < 1000+m.InitDurationMs-0.01 || m.BilledDurationMs > 1000+m.InitDurationMs+1.01 {
		t.Errorf("report metrics = %+v; want durationMs 1000 and billedDurationMs 1000 + initDurationMs, rounded up. Log:\n%s", m, r.Log)
	}
}

// withTraceHeader has an Invoke send X-Amzn-Trace-Id: header, as a traced
// caller (or the SDK inside a function) does.
func withTraceHeader(header string) func(*lambda.Options) {
	return func(o *lambda.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Build.Add(middleware.BuildMiddlewareFunc("TraceHeader", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				if req, ok := in.Request.(*smithyhttp.Request); ok {
					req.Header.Set("X-Amzn-Trace-Id", header)
				}
				return next.HandleBuild(ctx, in)
			}), middleware.After)
		})
	}
}

// TestJSONLogsPlatformRecordShapes reads, through the CloudWatch Logs API,
// the platform records a function with JSON logs writes, and checks them
// byte for byte against Lambda's (lambda-api.md §7.4): platform.initStart
// names the runtime's version and the RuntimeVersionArn
// GetFunctionConfiguration reports; platform.start carries the trace header
// the runtime got, the caller's X-Amzn-Trace-Id when it sent one, with a
// span of the invocation's own; platform.runtimeDone and platform.report
// carry that same tracing, and runtimeDone the responseLatency and
// responseDuration spans and the response's size (producedBytes), as the
// records Lambda sends a Telemetry API listener do.
func TestJSONLogsPlatformRecordShapes(t *testing.T) {
	s := startServer(t, "")
	cw := logsClient(s, s.creds)
	cases := []struct {
		name    string
		fn      func(testing.TB) fn
		version string // the runtimeVersion
	}{
		{"go", func(testing.TB) fn { return goFn() }, "provided:al2023.v1"},
		{"python", pythonFn, "python:3.12.v1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.fn(t)
			needRuntime(t, f.runtime)
			name := "json-shapes-" + c.name
			s.create(t, name, f)
			_, err := s.Client.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{
				FunctionName: aws.String(name), LoggingConfig: &types.LoggingConfig{LogFormat: types.LogFormatJson, SystemLogLevel: types.SystemLogLevelDebug},
			})
			if err != nil {
				t.Fatal(err)
			}
			w := lambda.NewFunctionUpdatedV2Waiter(s.Client)
			if err := w.Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			conf, err := s.Client.GetFunctionConfiguration(t.Context(), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
			if err != nil {
				t.Fatal(err)
			}
			arn := aws.ToString(conf.RuntimeVersionConfig.RuntimeVersionArn)

			// The runtime's trace header, from its environment, and the
			// size of the response it posted.
			invoke := func(optFns ...func(*lambda.Options)) (requestID, trace string, size int) {
				t.Helper()
				out, err := s.Client.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{"op":"env"}`)}, optFns...)
				if err != nil || out.FunctionError != nil {
					t.Fatalf("Invoke = %v, %s", err, out.Payload)
				}
				var reply struct {
					Env map[string]string `json:"env"`
				}
				if err := json.Unmarshal(out.Payload, &reply); err != nil {
					t.Fatal(err)
				}
				return requestIDOf(out.ResultMetadata), reply.Env["_X_AMZN_TRACE_ID"], len(out.Payload)
			}
			given := fmt.Sprintf("Root=1-%08x-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1", time.Now().Unix())
			traced, runtimeTrace, tracedSize := invoke(withTraceHeader(given))
			if runtimeTrace != given {
				t.Errorf("the runtime's _X_AMZN_TRACE_ID = %q; want the caller's %q", runtimeTrace, given)
			}
			untraced, ownTrace, untracedSize := invoke()
			if !regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$`).MatchString(ownTrace) {
				t.Errorf("the runtime's _X_AMZN_TRACE_ID without a caller's = %q; want a trace of its own", ownTrace)
			}

			// The records as CloudWatch Logs has them: the message is the
			// record (with no newline after it), with its time, the span
			// and the figures as they come, durations to the microsecond.
			const timeRE, spanRE, msRE = `"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"`, `"spanId":"[0-9a-f]{16}"`, `\d+(\.\d{1,3})?`
			const spanTimeRE = `"start":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"`
			// Only a sampled invocation's records carry tracing, as on
			// Lambda; the runtime's own trace is unsampled.
			tracing := func(trace, sep string) string {
				if !strings.HasSuffix(trace, ";Sampled=1") {
					return ""
				}
				return `"tracing":\{` + spanRE + `,"type":"X-Amzn-Trace-Id","value":"` + regexp.QuoteMeta(trace) + `"\}` + sep
			}
			// The runtime asks for its next event after its response:
			// runtimeDone has Lambda's three spans.
			runtimeDone := func(id, trace string, size int) *regexp.Regexp {
				return regexp.MustCompile(`^\{` + timeRE + `,"type":"platform\.runtimeDone","record":\{"requestId":"` + id + `","status":"success",` + tracing(trace, ",") +
					`"spans":\[\{"name":"responseLatency",` + spanTimeRE + `,"durationMs":` + msRE + `\},\{"name":"responseDuration",` + spanTimeRE + `,"durationMs":` + msRE + `\},` +
					`\{"name":"runtimeOverhead",` + spanTimeRE + `,"durationMs":` + msRE + `\}\],` +
					`"metrics":\{"durationMs":` + msRE + `,"producedBytes":` + strconv.Itoa(size) + `\}\}\}$`)
			}
			report := func(id, trace string) *regexp.Regexp {
				return regexp.MustCompile(`^\{` + timeRE + `,"type":"platform\.report","record":\{"requestId":"` + id + `","status":"success",` +
					`"metrics":\{"durationMs":` + msRE + `,"billedDurationMs":\d+,"memorySizeMB":128,"maxMemoryUsedMB":\d+(,"initDurationMs":` + msRE + `)?\}` + strings.TrimSuffix(","+tracing(trace, ""), ",") + `\}\}$`)
			}
			want := map[string]*regexp.Regexp{
				"initStart": regexp.MustCompile(`^\{` + timeRE + `,"type":"platform\.initStart","record":\{"initializationType":"on-demand","phase":"init","runtimeVersion":"` +
					regexp.QuoteMeta(c.version) + `","runtimeVersionArn":"` + regexp.QuoteMeta(arn) + `"\}\}$`),
				"start " + traced: regexp.MustCompile(`^\{` + timeRE + `,"type":"platform\.start","record":\{"requestId":"` + traced + `","version":"\$LATEST",` +
					tracing(given, "") + `\}\}$`),
				"start " + untraced:       regexp.MustCompile(`^\{` + timeRE + `,"type":"platform\.start","record":\{"requestId":"` + untraced + `","version":"\$LATEST"\}\}$`),
				"runtimeDone " + traced:   runtimeDone(traced, given, tracedSize),
				"runtimeDone " + untraced: runtimeDone(untraced, ownTrace, untracedSize),
				"report " + traced:        report(traced, given),
				"report " + untraced:      report(untraced, ownTrace),
			}
			got := map[string]string{}
			eventually(t, 10*time.Second, "both invocations' records in CloudWatch Logs", func() bool {
				out, err := cw.FilterLogEvents(t.Context(), &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/" + name)})
				if err != nil {
					t.Fatal(err)
				}
				clear(got)
				for _, e := range out.Events {
					msg := aws.ToString(e.Message)
					var rec struct {
						Type   string `json:"type"`
						Record struct {
							RequestID string `json:"requestId"`
						} `json:"record"`
					}
					if json.Unmarshal([]byte(msg), &rec) != nil {
						continue
					}
					switch rec.Type {
					case "platform.initStart":
						got["initStart"] = msg
					case "platform.start", "platform.runtimeDone", "platform.report":
						got[strings.TrimPrefix(rec.Type, "platform.")+" "+rec.Record.RequestID] = msg
					}
				}
				return len(got) == len(want)
			})
			for k, re := range want {
				if !re.MatchString(got[k]) {
					t.Errorf("%s record\n got %s\nwant %s", k, got[k], re)
				}
			}
			// The sampled invocation has a span of its own, which its
			// three records share.
			spanOf := func(k string) string { return regexp.MustCompile(spanRE).FindString(got[k]) }
			if a, b, c := spanOf("start "+traced), spanOf("runtimeDone "+traced), spanOf("report "+traced); a == "" || b != a || c != a {
				t.Errorf("invocation %s: spans %s (start), %s (runtimeDone), %s (report); want one", traced, a, b, c)
			}
		})
	}
}

// TestInitStartLine checks Lambda's INIT_START line in a Text log
// (lambda-api.md §7.1): "INIT_START Runtime Version: python:3.12.v1\tRuntime
// Version ARN: <the RuntimeVersionArn GetFunctionConfiguration reports>",
// with no tab at its end. It begins the cold invocation's log tail, before
// what the init printed, is not in the warm invocation's, and is the first
// event of the environment's log stream, once.
func TestInitStartLine(t *testing.T) {
	f := pythonFn(t)
	needRuntime(t, f.runtime)
	s := startServer(t, "")
	const name = "init-start"
	s.create(t, name, f)
	conf, err := s.Client.GetFunctionConfiguration(t.Context(), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(conf.RuntimeVersionConfig.RuntimeVersionArn)
	if !regexp.MustCompile(`^arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}$`).MatchString(arn) {
		t.Fatalf("RuntimeVersionArn = %q", arn)
	}
	want := "INIT_START Runtime Version: python:3.12.v1\tRuntime Version ARN: " + arn

	cold := s.invoke(t, name, map[string]any{"op": "echo"})
	lines := strings.Split(cold.Log, "\n")
	if cold.FunctionError != "" || len(lines) < 3 || lines[0] != want || !strings.HasPrefix(lines[1], "python init ") || !strings.HasPrefix(lines[2], "START RequestId: ") {
		t.Errorf("cold invocation's LogResult:\n%q\nwant it to begin with\n%q\nthen the init's line and START", cold.Log, want)
	}
	stream := str(t, cold.decode(t), "env_id")
	warm := s.invoke(t, name, map[string]any{"op": "echo"})
	if warm.FunctionError != "" || strings.Contains(warm.Log, "INIT_START") || !strings.HasPrefix(warm.Log, "START RequestId: ") {
		t.Errorf("warm invocation's LogResult:\n%q\nwant START first and no INIT_START", warm.Log)
	}
	if got := str(t, warm.decode(t), "env_id"); got != stream {
		t.Fatalf("the warm invocation ran in stream %s; the cold one in %s", got, stream)
	}

	cw := logsClient(s, s.creds)
	var msgs []string
	eventually(t, 10*time.Second, "both invocations' REPORT lines in the log stream", func() bool {
		out, err := cw.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/aws/lambda/" + name),
			LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		msgs = msgs[:0]
		for _, e := range out.Events {
			msgs = append(msgs, aws.ToString(e.Message))
		}
		return countPrefix(msgs, "REPORT RequestId: ") == 2
	})
	// Stored, as Lambda stores its lines, with a newline at its end.
	if len(msgs) == 0 || msgs[0] != want+"\n" || countPrefix(msgs, "INIT_START") != 1 {
		t.Errorf("log stream %s:\n%q\nwant one INIT_START, its first event:\n%q", stream, msgs, want)
	}
}
