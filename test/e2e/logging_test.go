package e2e

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
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
// platform.report (WARN level), with no text line.
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
}
