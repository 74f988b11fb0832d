package worker

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/runtimes"
	"hearth/internal/sandbox"
	"hearth/internal/sandbox/linux"
)

// extensionScript is an external extension in bash: it registers for
// INVOKE and SHUTDOWN (exiting with initExit instead, if set), appends each
// event to $OUT, works for work seconds after each INVOKE, then writes
// "done"; it exits after SHUTDOWN. onInvoke runs on each INVOKE.
func extensionScript(initExit, work, onInvoke string) string {
	return `#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension"
h=$(mktemp)
curl -sS -D "$h" -X POST -H "Lambda-Extension-Name: $(basename "$0")" -d '{"events":["INVOKE","SHUTDOWN"]}' "$api/register" >/dev/null || exit 1
id=$(grep -i '^Lambda-Extension-Identifier:' "$h" | cut -d: -f2 | tr -d '[:space:]')
` + initExit + `
while true; do
	ev=$(curl -sS -H "Lambda-Extension-Identifier: $id" "$api/event/next") || exit 1
	echo "$ev" >> "$OUT"
	case "$ev" in *SHUTDOWN*) echo shutdown-done >> "$OUT"; exit 0;; esac
	` + onInvoke + `
	sleep ` + work + `
	echo done >> "$OUT"
done
`
}

// optWith makes an /opt directory holding the given extensions.
func optWith(t testing.TB, exts map[string]string) string {
	t.Helper()
	opt := t.TempDir()
	os.Chmod(opt, 0o755)
	if err := os.MkdirAll(filepath.Join(opt, "extensions"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, script := range exts {
		if err := os.WriteFile(filepath.Join(opt, "extensions", name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return opt
}

func (tw *testWorker) invokeOpt(t testing.TB, cfg *Request) *Result {
	t.Helper()
	cfg.RequestID = newID("req-")
	res, err := tw.Invoke(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Invoke() = %v", err)
	}
	return res
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, _ := os.ReadFile(path)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// An external extension in /opt/extensions starts with the runtime, gets
// every INVOKE and, at teardown, SHUTDOWN. Its work after the runtime's
// answer is not in the invocation's Duration, and the next invocation
// waits for it.
func TestExtensionLifecycle(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour})
	out := filepath.Join(t.TempDir(), "events")
	cfg := tw.function(t, runtimeScript("0"))
	cfg.Environment = map[string]string{"OUT": out}
	// The extension works 1 s after each INVOKE, well beyond what the bash
	// runtime's invocation takes even under the full race suite (up to
	// ~0.35 s seen), so that the two cannot be confused.
	opt := optWith(t, map[string]string{"recorder": extensionScript("", "1", "")})

	var ids []string
	for range 2 {
		req := &Request{Function: cfg, Payload: []byte(`{}`), OptDir: opt}
		res := tw.invokeOpt(t, req)
		ids = append(ids, req.RequestID)
		if res.FunctionError != "" {
			t.Fatalf("Invoke() = %s %s", res.ErrorType, res.Payload)
		}
		if res.Duration > 800*time.Millisecond {
			t.Errorf("Duration = %v; want the runtime's time only, not the extension's 1 s", res.Duration)
		}
		if !strings.Contains(string(res.Log), "EXTENSION\tName: recorder\tState: Ready\tEvents: [INVOKE,SHUTDOWN]") && res.ColdStart {
			t.Errorf("cold start log lacks the EXTENSION line:\n%s", res.Log)
		}
		res.Release()
	}
	tw.Retire("", "f", "")
	tw.waitEnvs(t, "none after Retire", func(envs []EnvInfo) bool { return len(envs) == 0 })

	var got []string
	for _, l := range readLines(t, out) {
		switch {
		case strings.Contains(l, `"eventType":"INVOKE"`):
			for i, id := range ids {
				if strings.Contains(l, `"requestId":"`+id+`"`) {
					got = append(got, "INVOKE "+string(rune('1'+i)))
				}
			}
		case strings.Contains(l, `"eventType":"SHUTDOWN"`):
			if !strings.Contains(l, `"shutdownReason":"spindown"`) {
				t.Errorf("SHUTDOWN event %s; want reason spindown", l)
			}
			got = append(got, "SHUTDOWN")
		default:
			got = append(got, l)
		}
	}
	want := []string{"INVOKE 1", "done", "INVOKE 2", "done", "SHUTDOWN", "shutdown-done"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("extension's events (-want +got):\n%s", d)
	}
}

// An extension that exits, during init or during an invocation, fails the
// environment with Extension.Crash; one that reports an init error fails
// init with Extension.InitError.
func TestExtensionFailures(t *testing.T) {
	for name, newDriver := range drivers(t) {
		t.Run(name, func(t *testing.T) {
			testExtensionFailures(t, newTestWorkerOn(t, Config{IdleTimeout: time.Hour}, newDriver(t)))
		})
	}
}

func testExtensionFailures(t *testing.T, tw *testWorker) {
	for _, tc := range []struct {
		name, script, wantType, wantLog string
	}{
		{"crash-in-init", extensionScript("exit 3", "0", ""), "Extension.Crash", "EXTENSION\tName: crash-in-init\tState: Crashed\tEvents: [INVOKE,SHUTDOWN]\tError Type: Extension.Crash"},
		{"crash-in-invoke", extensionScript("", "0", "exit 4"), "Extension.Crash", "Error: extension crash-in-invoke exited: exit status 4"},
		{"init-error", `#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension"
h=$(mktemp)
curl -sS -D "$h" -X POST -H "Lambda-Extension-Name: init-error" -d '{"events":["INVOKE"]}' "$api/register" >/dev/null
id=$(grep -i '^Lambda-Extension-Identifier:' "$h" | cut -d: -f2 | tr -d '[:space:]')
curl -sS -X POST -H "Lambda-Extension-Identifier: $id" -H "Lambda-Extension-Function-Error-Type: Extension.NoConfig" -d '{"errorMessage":"no config"}' "$api/init/error"
sleep 10
`, "Extension.InitError", "INIT_REPORT Init Duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tw.function(t, runtimeScript("0"))
			cfg.Name = "f-" + tc.name
			cfg.Environment = map[string]string{"OUT": "/dev/null"}
			opt := optWith(t, map[string]string{tc.name: tc.script})
			// The runtime answers after a second: the extension's crash on
			// INVOKE comes first.
			res := tw.invokeOpt(t, &Request{Function: cfg, Payload: []byte(`"slow"`), OptDir: opt})
			res.Release()
			if res.FunctionError != "Unhandled" || res.ErrorType != tc.wantType || !strings.Contains(string(res.Payload), tc.wantType) {
				t.Errorf("Invoke() = %q %q %s; want Unhandled %s", res.FunctionError, res.ErrorType, res.Payload, tc.wantType)
			}
			if !strings.Contains(string(res.Log), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, res.Log)
			}
			tw.waitEnvs(t, "no environment left", func(envs []EnvInfo) bool {
				for _, e := range envs {
					if e.Function == cfg.Name {
						return false
					}
				}
				return true
			})
		})
	}
}

// buildGoExt compiles testdata/goext, a Go extension that uses net/http
// only, into opt/extensions/goext.
func buildGoExt(t *testing.T) string {
	t.Helper()
	opt := optWith(t, nil)
	cmd := exec.Command("go", "build", "-o", filepath.Join(opt, "extensions", "goext"), "./testdata/goext")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build goext: %v\n%s", err, out)
	}
	return opt
}

// drivers are the sandbox drivers the worker's extension tests run on.
func drivers(t testing.TB) map[string]func(t testing.TB) sandbox.Driver {
	return map[string]func(t testing.TB) sandbox.Driver{
		"process": func(t testing.TB) sandbox.Driver { return nil },
		"linux": func(t testing.TB) sandbox.Driver {
			if err := linux.Available(); err != nil {
				if os.Geteuid() == 0 {
					t.Fatalf("running as root, but the linux driver cannot run here: %v", err)
				}
				t.Skipf("the linux driver cannot run here: %v", err)
			}
			d, err := linux.New(linux.Config{Root: t.TempDir()}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		},
	}
}

// A Go extension registers, counts its INVOKE events, subscribes to the
// Telemetry API (platform, function and extension records), and on
// SHUTDOWN prints a summary: one platform.start and platform.report per
// invocation, the function's output lines, its own line as an extension
// record, and the reason. Its platform records are those of a JSON log
// whatever the function's format: platform.initStart names the runtime's
// version, platform.start the invocation's trace.
func TestGoExtensionTelemetry(t *testing.T) {
	opt := buildGoExt(t)
	for name, newDriver := range drivers(t) {
		t.Run(name, func(t *testing.T) {
			drv := newDriver(t)
			tw := newTestWorkerOn(t, Config{IdleTimeout: time.Hour}, drv)
			cfg := tw.function(t, `#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
while true; do
	h=$(mktemp)
	body=$(curl -sS -D "$h" "$api/next") || exit 1
	id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$h" | cut -d: -f2 | tr -d '[:space:]')
	echo "handling $body"
	curl -sS -X POST --data-binary "$body" "$api/$id/response" >/dev/null
done
`)
			follow, stop := tw.logs.Function(cfg.Name).Follow()
			defer stop()
			const trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
			for i := range 3 {
				res := tw.invokeOpt(t, &Request{Function: cfg, Payload: []byte(strconv.Itoa(i)), OptDir: opt, TraceID: trace})
				if res.FunctionError != "" || string(res.Payload) != strconv.Itoa(i) {
					t.Fatalf("Invoke() = %s %s", res.ErrorType, res.Payload)
				}
				res.Release()
			}
			tw.Retire(cfg.Account, cfg.Name, "")
			tw.waitEnvs(t, "none after Retire", func(envs []EnvInfo) bool { return len(envs) == 0 })
			// Its own line came back as an extension record, the
			// function's as function records, each with the newline it
			// ended in, as Lambda's records keep it.
			want := `goext summary invokes=3 reports=3 starts=3 extension=1 reason=spindown lines="handling 0\n|handling 1\n|handling 2\n"`
			rt, _ := runtimes.Lookup(cfg.Runtime)
			wantRecords := map[string]string{
				"initStart": `{"initializationType":"on-demand","phase":"init","runtimeVersion":"provided:al2023.v1","runtimeVersionArn":"` + rt.VersionARN("us-east-1") + `"}`,
				"start":     `{"requestId":"REQ","version":"$LATEST","tracing":{"spanId":"SPAN","type":"X-Amzn-Trace-Id","value":"` + trace + `"}}`,
			}
			// Request ids and spans vary.
			reqID, span := regexp.MustCompile(`"requestId":"req-[0-9a-f]{16}"`), regexp.MustCompile(`"spanId":"[0-9a-f]{16}"`)
			deadline := time.After(10 * time.Second)
			var log []string
			for {
				select {
				case l := <-follow:
					log = append(log, string(l))
					if _, rec, ok := strings.Cut(strings.TrimSpace(string(l)), " goext "); ok && (strings.HasPrefix(rec, "initStart ") || strings.HasPrefix(rec, "start ")) {
						typ, rec, _ := strings.Cut(rec, " ")
						rec = span.ReplaceAllString(reqID.ReplaceAllString(rec, `"requestId":"REQ"`), `"spanId":"SPAN"`)
						if rec != wantRecords[typ] {
							t.Errorf("telemetry %s record\n got %s\nwant %s", typ, rec, wantRecords[typ])
						}
						delete(wantRecords, typ)
					}
					if strings.Contains(string(l), "goext summary") {
						if len(wantRecords) > 0 {
							t.Errorf("the extension printed no %v records", wantRecords)
						}
						_, got, _ := strings.Cut(strings.TrimSpace(string(l)), " ") // after the timestamp
						if got != want {
							t.Errorf("summary\n got %s\nwant %s", got, want)
						}
						return
					}
				case <-deadline:
					t.Fatalf("no summary from the extension; log:\n%s", strings.Join(log, "\n"))
				}
			}
		})
	}
}

// An extension that registers but never calls event/next keeps init from
// completing: init times out, is retried within the invocation, and the
// invocation fails with Sandbox.Timedout.
func TestExtensionNeverReady(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour, InitTimeout: 300 * time.Millisecond})
	cfg := tw.function(t, runtimeScript("0"))
	cfg.Timeout = 1
	opt := optWith(t, map[string]string{"stuck": `#!/bin/bash
curl -sS -X POST -H "Lambda-Extension-Name: stuck" -d '{"events":["INVOKE"]}' "http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension/register" >/dev/null
sleep 60
`})
	began := time.Now()
	res := tw.invokeOpt(t, &Request{Function: cfg, Payload: []byte(`{}`), OptDir: opt})
	defer res.Release()
	if res.ErrorType != "Sandbox.Timedout" {
		t.Errorf("Invoke() = %q %s; want Sandbox.Timedout", res.ErrorType, res.Payload)
	}
	if d := time.Since(began); d < 1300*time.Millisecond || d > 5*time.Second {
		t.Errorf("Invoke() took %v; want the init timeout and then the function's 1 s", d)
	}
	tw.waitEnvs(t, "no environment left", func(envs []EnvInfo) bool { return len(envs) == 0 })
}

// A runtime that registers an internal extension (as aws-lambda-go's
// WithEnableSIGTERM does) gets SIGTERM at teardown, and time to handle it,
// before it is killed.
func TestInternalExtensionSIGTERM(t *testing.T) {
	for name, newDriver := range drivers(t) {
		t.Run(name, func(t *testing.T) {
			tw := newTestWorkerOn(t, Config{IdleTimeout: time.Hour}, newDriver(t))
			cfg := tw.function(t, `#!/bin/bash
trap 'echo "runtime got SIGTERM"; exit 0' TERM
ext="http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension"
h=$(mktemp); b=$(mktemp)
curl -sS -D "$h" -X POST -H "Lambda-Extension-Name: GoLangEnableSIGTERM" -d '{"events":[]}' "$ext/register" >/dev/null
id=$(grep -i '^Lambda-Extension-Identifier:' "$h" | cut -d: -f2 | tr -d '[:space:]')
curl -sS -H "Lambda-Extension-Identifier: $id" "$ext/event/next" >/dev/null &
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
while true; do
	curl -sS -D "$h" -o "$b" "$api/next" & wait $! || exit 1
	id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$h" | cut -d: -f2 | tr -d '[:space:]')
	curl -sS -X POST --data-binary @"$b" "$api/$id/response" >/dev/null
done
`)
			follow, stop := tw.logs.Function(cfg.Name).Follow()
			defer stop()
			res := tw.invoke(t, cfg, `"hi"`)
			if res.FunctionError != "" || string(res.Payload) != `"hi"` {
				t.Fatalf("Invoke() = %s %s", res.ErrorType, res.Payload)
			}
			if !strings.Contains(string(res.Log), "EXTENSION\tName: GoLangEnableSIGTERM\tState: Ready\tEvents: []") {
				t.Errorf("log lacks the internal extension's EXTENSION line:\n%s", res.Log)
			}
			res.Release()
			tw.Retire(cfg.Account, cfg.Name, "")
			deadline := time.After(10 * time.Second)
			for {
				select {
				case l := <-follow:
					if strings.Contains(string(l), "runtime got SIGTERM") {
						return
					}
				case <-deadline:
					t.Fatal("the runtime never logged its SIGTERM")
				}
			}
		})
	}
}

func TestWrapperCmd(t *testing.T) {
	runtime := []string{"/usr/bin/python3", "$LAMBDA_RUNTIME_DIR/bootstrap.py"}
	for _, tc := range []struct {
		wrapper string
		managed bool
		want    []string
	}{
		{"", true, runtime},
		{"/opt/otel-handler", false, runtime}, // custom runtimes ignore it, as on Lambda
		{"/opt/otel-handler", true, append([]string{sandbox.OptRef + "/otel-handler"}, runtime...)},
		{"/var/task/wrap.sh", true, append([]string{"$LAMBDA_TASK_ROOT/wrap.sh"}, runtime...)},
		{"/usr/local/bin/w", true, append([]string{"/usr/local/bin/w"}, runtime...)},
	} {
		got, _ := wrapperCmd(map[string]string{"AWS_LAMBDA_EXEC_WRAPPER": tc.wrapper}, tc.managed, runtime)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("wrapperCmd(%q, managed %v) (-want +got):\n%s", tc.wrapper, tc.managed, d)
		}
	}
}

func TestExtensionEnviron(t *testing.T) {
	got := extensionEnviron([]string{"_HANDLER=h", "AWS_REGION=us-east-1", "AWS_EXECUTION_ENV=AWS_Lambda_python3.12",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/f", "AWS_XRAY_DAEMON_ADDRESS=x", "MINE=1", "AWS_LAMBDA_EXEC_WRAPPER=/opt/w"})
	if d := cmp.Diff([]string{"AWS_REGION=us-east-1", "MINE=1", "AWS_LAMBDA_EXEC_WRAPPER=/opt/w"}, got); d != "" {
		t.Errorf("extensionEnviron (-want +got):\n%s", d)
	}
}

// An extension that crashes while it works after the runtime's answer
// does not fail that invocation, whose caller already has its answer; the
// environment is dropped and the next invocation starts a new one. The
// extension crashes 1.5 s after its INVOKE event, well after the runtime's
// answer even on a loaded machine (0.3 s was seen to come first).
func TestExtensionCrashAfterResponse(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour})
	cfg := tw.function(t, runtimeScript("0"))
	cfg.Environment = map[string]string{"OUT": "/dev/null"}
	opt := optWith(t, map[string]string{"late-crash": extensionScript("", "0", "sleep 1.5; exit 9")})
	req := &Request{Function: cfg, Payload: []byte(`{}`), OptDir: opt}
	res := tw.invokeOpt(t, req)
	if res.FunctionError != "" || !res.ColdStart {
		t.Fatalf("first Invoke() = %q %s cold=%v; want a cold success", res.ErrorType, res.Payload, res.ColdStart)
	}
	res.Release()
	tw.waitEnvs(t, "the environment dropped", func(envs []EnvInfo) bool { return len(envs) == 0 })
	res = tw.invokeOpt(t, req)
	defer res.Release()
	if res.FunctionError != "" || !res.ColdStart {
		t.Errorf("second Invoke() = %q %s cold=%v; want a success in a new environment", res.ErrorType, res.Payload, res.ColdStart)
	}
}

// TestShutdownOutputKept: what an extension writes as it shuts down, just
// before it exits, is in the function's log in full once the environment
// is gone: the teardown reads the output pipes to their end before it
// closes them (they were closed with up to a pipe's worth unread).
func TestShutdownOutputKept(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour})
	cfg := tw.function(t, runtimeScript("0"))
	const n = 3000
	opt := optWith(t, map[string]string{"loud": `#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension"
h=$(mktemp)
curl -sS -D "$h" -X POST -H "Lambda-Extension-Name: loud" -d '{"events":["SHUTDOWN"]}' "$api/register" >/dev/null || exit 1
id=$(grep -i '^Lambda-Extension-Identifier:' "$h" | cut -d: -f2 | tr -d '[:space:]')
curl -sS -H "Lambda-Extension-Identifier: $id" "$api/event/next" >/dev/null
pad=$(printf '%080d' 0)
for i in $(seq 1 ` + strconv.Itoa(n) + `); do echo "shutdown-line $i $pad"; done
`})
	res := tw.invokeOpt(t, &Request{Function: cfg, Payload: []byte(`"x"`), OptDir: opt})
	if res.FunctionError != "" {
		t.Fatalf("Invoke() = %s %s", res.ErrorType, res.Payload)
	}
	res.Release()
	tw.Retire(cfg.Account, cfg.Name, "")
	tw.waitEnvs(t, "none after Retire", func(envs []EnvInfo) bool { return len(envs) == 0 })
	var log strings.Builder
	if err := tw.logs.Function(cfg.Name).WriteTail(&log, 0); err != nil {
		t.Fatal(err)
	}
	got := strings.Count(log.String(), "shutdown-line ")
	if got != n || !strings.Contains(log.String(), "shutdown-line "+strconv.Itoa(n)+" ") {
		t.Errorf("the log has %d of the %d lines the extension wrote as it shut down", got, n)
	}
}
