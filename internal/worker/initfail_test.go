package worker

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/function"
	"hearth/internal/logs"
	"hearth/internal/runtimes"
)

// initErrorScript prints a line as it initialises and reports an init
// error, as a runtime whose function fails to load does; it is killed
// with its environment.
const initErrorScript = `#!/bin/bash
echo "init attempt $AWS_LAMBDA_INITIALIZATION_TYPE"
curl -sS -X POST -H "Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError" \
	--data-binary '{"errorMessage":"Unable to import module","errorType":"Runtime.ImportModuleError"}' \
	"http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/init/error" >/dev/null
sleep 60
`

// slowInitScript is runtimeScript(initSleep) printing a line as it starts.
func slowInitScript(initSleep string) string {
	return strings.Replace(runtimeScript(initSleep), "#!/bin/bash\n", "#!/bin/bash\necho init attempt\n", 1)
}

// logLines splits a log tail into its lines.
func logLines(tail []byte) []string {
	return strings.Split(strings.TrimSuffix(string(tail), "\n"), "\n")
}

// storedText is the events a Text log stream holds for the lines of a
// log tail: each ends in a newline, as Lambda stores its lines (and what
// functions print), and the timeout line in two.
func storedText(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l + "\n"
		if strings.Contains(l, " Task timed out after ") && !strings.HasPrefix(l, "RequestId:") {
			out[i] += "\n"
		}
	}
	return out
}

var figure = regexp.MustCompile(`\d+(\.\d+)? (ms|MB)`)

// maskFigures replaces the figures of platform lines (durations, memory)
// with N, and a timeout line's time with T.
func maskFigures(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		l = figure.ReplaceAllString(l, "N $2")
		if strings.Contains(l, " Task timed out after ") && !strings.HasPrefix(l, "RequestId:") {
			_, l, _ = strings.Cut(l, " ")
			l = "T " + l
		}
		out[i] = l
	}
	return out
}

// figureOf is the number before " ms" that follows key in line.
func figureOf(t *testing.T, line, key string) float64 {
	t.Helper()
	_, rest, ok := strings.Cut(line, key+": ")
	v, _, _ := strings.Cut(rest, " ms")
	f, err := strconv.ParseFloat(v, 64)
	if !ok || err != nil {
		t.Fatalf("no %s in %q", key, line)
	}
	return f
}

// describe renders a JSON log line for comparison: a platform record as
// its type and the fields that say what it is about, anything else as it
// is.
func describe(line string) string {
	var rec struct {
		Type   string `json:"type"`
		Record struct {
			InitializationType string `json:"initializationType"`
			Phase              string `json:"phase"`
			RequestID          string `json:"requestId"`
			Status             string `json:"status"`
			ErrorType          string `json:"errorType"`
		} `json:"record"`
	}
	if json.Unmarshal([]byte(line), &rec) != nil || rec.Type == "" {
		return line
	}
	r := rec.Record
	fields := []string{rec.Type}
	for _, f := range []string{r.InitializationType, r.Phase, r.RequestID, r.Status, r.ErrorType} {
		if f != "" {
			fields = append(fields, f)
		}
	}
	return strings.Join(fields, " ")
}

// logStreams lists the lines the log store holds for fn by log stream.
func (tw *testWorker) logStreams(t testing.TB, fn string) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	err := tw.logs.Function(fn).Scan(0, func(r logs.Record) bool {
		got[string(r.Stream)] = append(got[string(r.Stream)], string(r.Message))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// onlyStream returns the lines of fn's one log stream.
func (tw *testWorker) onlyStream(t testing.TB, fn string) []string {
	t.Helper()
	streams := tw.logStreams(t, fn)
	if len(streams) != 1 {
		t.Fatalf("log streams of %s = %q; want one", fn, streams)
	}
	for _, lines := range streams {
		return lines
	}
	return nil
}

// initStartLine is the INIT_START line of cfg's runtime, as a log tail
// has it (without the newline its stored event ends in).
func (tw *testWorker) initStartLine(t testing.TB, cfg function.Config) string {
	t.Helper()
	rt, ok := runtimes.Lookup(cfg.Runtime)
	if !ok {
		t.Fatalf("no runtime %s", cfg.Runtime)
	}
	line := logs.NewPlatform("Text", "").InitStart(logs.Init{Type: initOnDemand, Phase: phaseInit}, rt.Version(), rt.VersionARN(tw.cfg.Region))
	return strings.TrimSuffix(line, "\n")
}

// invokeID invokes cfg and returns the result and the request id.
func (tw *testWorker) invokeID(t *testing.T, cfg function.Config) (*Result, string) {
	t.Helper()
	req := &Request{Function: cfg, RequestID: newID("req-"), Payload: []byte(`{}`)}
	res, err := tw.Invoke(t.Context(), req)
	if err != nil {
		t.Fatalf("Invoke() = %v", err)
	}
	t.Cleanup(res.Release)
	return res, req.RequestID
}

// An on-demand init that fails is retried once as part of the invocation,
// as on Lambda: in the same log stream, with no second INIT_START, each
// attempt reported by an INIT_REPORT (Phase: init, then Phase: invoke)
// before the invocation's START. Its REPORT counts the retry in its
// Duration and has no Init Duration, and the caller gets the retry's
// error document.
func TestInitErrorRetriedInInvoke(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour})
	cfg := tw.function(t, initErrorScript)
	res, id := tw.invokeID(t, cfg)
	if res.FunctionError != "Unhandled" || res.ErrorType != "Runtime.ImportModuleError" ||
		string(res.Payload) != `{"errorMessage":"Unable to import module","errorType":"Runtime.ImportModuleError"}` || !res.ColdStart {
		t.Errorf("Invoke() = %q %q %s cold=%v; want the runtime's init error", res.FunctionError, res.ErrorType, res.Payload, res.ColdStart)
	}
	want := []string{
		tw.initStartLine(t, cfg),
		"init attempt on-demand",
		"INIT_REPORT Init Duration: N ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError",
		"init attempt on-demand",
		"INIT_REPORT Init Duration: N ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ImportModuleError",
		"START RequestId: " + id + " Version: $LATEST",
		"END RequestId: " + id,
		"REPORT RequestId: " + id + "\tDuration: N ms\tBilled Duration: N ms\tMemory Size: N MB\tMax Memory Used: N MB\tStatus: error\tError Type: Runtime.ImportModuleError",
	}
	tail := logLines(res.Log)
	if diff := cmp.Diff(want, maskFigures(tail)); diff != "" {
		t.Fatalf("log tail (-want +got):\n%s", diff)
	}
	if retry, dur := figureOf(t, tail[4], "Init Duration"), figureOf(t, tail[7], "\tDuration"); dur < retry {
		t.Errorf("REPORT Duration %.2f ms < the retried init's %.2f ms; want it counted", dur, retry)
	}
	if diff := cmp.Diff(storedText(want), maskFigures(tw.onlyStream(t, cfg.Name))); diff != "" {
		t.Errorf("log stream (-want +got):\n%s", diff)
	}

	// In JSON: each init's records, the retry's in the invoke phase.
	js := cfg
	js.Name, js.LogFormat = "json", "JSON"
	res, id = tw.invokeID(t, js)
	var got []string
	for _, l := range tw.onlyStream(t, js.Name) {
		got = append(got, describe(l))
	}
	want = []string{
		"platform.initStart on-demand init",
		"init attempt on-demand\n",
		"platform.initRuntimeDone on-demand init error Runtime.ImportModuleError",
		"platform.initReport on-demand init error Runtime.ImportModuleError",
		"platform.initStart on-demand invoke",
		"init attempt on-demand\n",
		"platform.initRuntimeDone on-demand invoke error Runtime.ImportModuleError",
		"platform.initReport on-demand invoke error Runtime.ImportModuleError",
		"platform.start " + id,
		"platform.runtimeDone " + id + " error Runtime.ImportModuleError",
		"platform.report " + id + " error Runtime.ImportModuleError",
	}
	if diff := cmp.Diff(want, got); diff != "" || res.ErrorType != "Runtime.ImportModuleError" {
		t.Errorf("Invoke() = %s; JSON log stream (-want +got):\n%s", res.ErrorType, diff)
	}
}

// An on-demand init that overruns the init phase is retried as part of the
// invocation, within the function's timeout, as on Lambda: no second
// INIT_START, and a REPORT whose Duration counts the retried init and that
// has no Init Duration. A retry that overruns the function's timeout too
// is reported as an error of unknown type in the invoke phase, and the
// invocation times out.
func TestInitTimeoutRetriedInInvoke(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour, InitTimeout: 300 * time.Millisecond})

	cfg := tw.function(t, slowInitScript("0.6"))
	res, id := tw.invokeID(t, cfg)
	if res.FunctionError != "" || string(res.Payload) != `{}` || !res.ColdStart {
		t.Errorf("Invoke() = %q %s cold=%v; want the echo from a cold start", res.FunctionError, res.Payload, res.ColdStart)
	}
	want := []string{
		tw.initStartLine(t, cfg),
		"init attempt",
		"INIT_REPORT Init Duration: N ms\tPhase: init\tStatus: timeout",
		"init attempt",
		"START RequestId: " + id + " Version: $LATEST",
		"END RequestId: " + id,
		"REPORT RequestId: " + id + "\tDuration: N ms\tBilled Duration: N ms\tMemory Size: N MB\tMax Memory Used: N MB\t",
	}
	tail := logLines(res.Log)
	if diff := cmp.Diff(want, maskFigures(tail)); diff != "" {
		t.Fatalf("log tail (-want +got):\n%s", diff)
	}
	if dur := figureOf(t, tail[6], "\tDuration"); dur < 600 {
		t.Errorf("REPORT Duration %.2f ms; want the retried init's 0.6 s in it", dur)
	}
	if got := tw.onlyStream(t, cfg.Name); len(got) < 4 || !strings.HasPrefix(got[3], "init attempt") {
		t.Errorf("log stream:\n%s\nwant both inits in it", strings.Join(got, "\n"))
	}

	hung := tw.function(t, slowInitScript("5"))
	hung.Name, hung.Timeout = "hung", 1
	res, id = tw.invokeID(t, hung)
	wantMsg := "RequestId: " + id + " Error: Task timed out after 1.00 seconds"
	if res.FunctionError != "Unhandled" || res.ErrorType != "Sandbox.Timedout" || string(res.Payload) != `{"errorType":"Sandbox.Timedout","errorMessage":"`+wantMsg+`"}` {
		t.Errorf("Invoke() = %q %q %s; want Sandbox.Timedout", res.FunctionError, res.ErrorType, res.Payload)
	}
	want = []string{
		tw.initStartLine(t, hung),
		"init attempt",
		"INIT_REPORT Init Duration: N ms\tPhase: init\tStatus: timeout",
		"init attempt",
		"INIT_REPORT Init Duration: N ms\tPhase: invoke\tStatus: error\tError Type: Runtime.Unknown",
		"START RequestId: " + id + " Version: $LATEST",
		"T " + id + " Task timed out after 1.00 seconds",
		"END RequestId: " + id,
		"REPORT RequestId: " + id + "\tDuration: N ms\tBilled Duration: N ms\tMemory Size: N MB\tMax Memory Used: N MB\tStatus: timeout",
	}
	tail = logLines(res.Log)
	if diff := cmp.Diff(want, maskFigures(tail)); diff != "" {
		t.Fatalf("log tail (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(storedText(want), maskFigures(tw.onlyStream(t, hung.Name))); diff != "" {
		t.Errorf("log stream (-want +got):\n%s", diff)
	}
	// As on Lambda, the timeout is the REPORT's Duration and Billed
	// Duration, however long the retry's sandbox took to start.
	if !strings.Contains(tail[8], "\tDuration: 1000.00 ms\tBilled Duration: 1000 ms\t") || res.Duration != time.Second {
		t.Errorf("REPORT = %q, Result.Duration = %v; want Duration 1000.00 ms, Billed Duration 1000 ms", tail[8], res.Duration)
	}
}

// An invocation that runs into its timeout reports the timeout as its
// Duration and Billed Duration, as Lambda's REPORT does ("Duration:
// 3000.00 ms\tBilled Duration: 3000 ms\t…\tStatus: timeout"), not the
// time the platform took to stop it; in JSON too.
func TestTimeoutDuration(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour})
	for _, format := range []string{"Text", "JSON"} {
		t.Run(format, func(t *testing.T) {
			cfg := tw.function(t, strings.Replace(runtimeScript("0"), "sleep 1;;", "sleep 5;;", 1))
			cfg.Name, cfg.Timeout, cfg.LogFormat = "timeout-"+format, 1, format
			res := tw.invoke(t, cfg, `"slow"`)
			if res.ErrorType != "Sandbox.Timedout" || res.Duration != time.Second {
				t.Fatalf("Invoke() = %q after %v; want Sandbox.Timedout after 1s", res.ErrorType, res.Duration)
			}
			lines := logLines(res.Log)
			report := lines[len(lines)-1]
			// A cold start: its init is billed with it (Lambda since
			// August 2025), on top of the timeout.
			if res.InitDuration <= 0 {
				t.Fatalf("InitDuration = %v; want the cold start's init", res.InitDuration)
			}
			billed := 1000 + (res.InitDuration+time.Millisecond-1)/time.Millisecond
			want := fmt.Sprintf("\tDuration: 1000.00 ms\tBilled Duration: %d ms\t", billed)
			if format == "JSON" {
				want = fmt.Sprintf(`"metrics":{"durationMs":1000,"billedDurationMs":%d,`, billed)
			}
			if !strings.Contains(report, want) {
				t.Errorf("report = %q; want %q in it", report, want)
			}
		})
	}
}

// The first init's environment is torn down before the init is retried:
// what it writes on its way out (a runtime's SIGTERM handler, an
// extension's work after SHUTDOWN, which lasts half a second) is all
// logged before the retry's first line, in the log stream and in the
// invocation's tail, as on Lambda, which resets the environment before it
// inits again.
func TestInitRetryFollowsTeardown(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour})
	cfg := tw.function(t, `#!/bin/bash
tok="attempt-$(date +%s%N)"
echo "$tok" > "${TMPDIR:-/tmp}/tok"
trap 'echo "$tok bye"; exit 0' TERM
echo "$tok init"
curl -sS -X POST -H "Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError" \
	--data-binary '{"errorMessage":"Unable to import module","errorType":"Runtime.ImportModuleError"}' \
	"http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/init/error" >/dev/null
sleep 60 &
wait
`)
	opt := optWith(t, map[string]string{"slowbye": `#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension"
h=$(mktemp)
curl -sS -D "$h" -X POST -H "Lambda-Extension-Name: slowbye" -d '{"events":["SHUTDOWN"]}' "$api/register" >/dev/null || exit 1
id=$(grep -i '^Lambda-Extension-Identifier:' "$h" | cut -d: -f2 | tr -d '[:space:]')
curl -sS -H "Lambda-Extension-Identifier: $id" "$api/event/next" >/dev/null
tok=$(cat "${TMPDIR:-/tmp}/tok")
for i in 1 2 3 4 5; do echo "$tok ext-bye $i"; sleep 0.1; done
`})
	res := tw.invokeOpt(t, &Request{Function: cfg, Payload: []byte(`{}`), OptDir: opt})
	defer res.Release()
	if res.ErrorType != "Runtime.ImportModuleError" {
		t.Fatalf("Invoke() = %q %s; want the init error", res.ErrorType, res.Payload)
	}
	// checkOrder: the first init's lines, its INIT_REPORT and all it wrote
	// on its way out come before anything of the retry.
	checkOrder := func(what string, lines []string) {
		t.Helper()
		lines = slices.Clone(lines)
		for i, l := range lines {
			lines[i] = strings.TrimRight(l, "\n") // stored events end in theirs
		}
		i := slices.IndexFunc(lines, func(l string) bool { return strings.HasSuffix(l, " init") })
		if i < 0 {
			t.Fatalf("%s has no init line:\n%s", what, strings.Join(lines, "\n"))
		}
		first, _, _ := strings.Cut(lines[i], " ")
		var got []string
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, first+" "):
				got = append(got, "first "+strings.TrimPrefix(l, first+" "))
			case strings.HasPrefix(l, "attempt-"):
				_, rest, _ := strings.Cut(l, " ")
				got = append(got, "retry "+rest)
			case strings.HasPrefix(l, "INIT_REPORT "):
				_, phase, _ := strings.Cut(l, "Phase: ")
				phase, _, _ = strings.Cut(phase, "\t")
				got = append(got, "INIT_REPORT "+phase)
			}
		}
		// The runtime's and the extension's last lines may interleave.
		want := []string{"first init", "INIT_REPORT init", "first bye", "first ext-bye 1", "first ext-bye 2", "first ext-bye 3", "first ext-bye 4", "first ext-bye 5", "retry init", "INIT_REPORT invoke"}
		if len(got) >= len(want) {
			got = got[:len(want)] // the retry's own last lines follow
			slices.Sort(got[2:8])
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s\n%s", what, diff, strings.Join(lines, "\n"))
		}
	}
	checkOrder("log tail", logLines(res.Log))
	checkOrder("log stream", tw.onlyStream(t, cfg.Name))
}

// A provisioned environment whose init fails leaves what Lambda's does in
// its log stream: INIT_START, what the init wrote and INIT_REPORT (in
// JSON the platform.initStart, initRuntimeDone and initReport records of a
// provisioned-concurrency init), and no START, END or REPORT, since no
// invocation ran.
func TestProvisionedInitFailureLog(t *testing.T) {
	tw := newTestWorker(t, Config{})
	for _, tt := range []struct {
		format string
		want   []string
	}{
		{"Text", []string{
			"INIT_START",
			"init attempt provisioned-concurrency\n",
			"INIT_REPORT Init Duration: N ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError\n",
		}},
		{"JSON", []string{
			"platform.initStart provisioned-concurrency init",
			"init attempt provisioned-concurrency\n",
			"platform.initRuntimeDone provisioned-concurrency init error Runtime.ImportModuleError",
			"platform.initReport provisioned-concurrency init error Runtime.ImportModuleError",
		}},
	} {
		t.Run(tt.format, func(t *testing.T) {
			cfg := tw.function(t, initErrorScript)
			cfg.Name, cfg.Version, cfg.LogFormat = "pc-"+tt.format, "1", tt.format
			tw.SetProvisioned([]Target{{Config: cfg, N: 1}})
			defer tw.SetProvisioned(nil)
			deadline := time.Now().Add(10 * time.Second)
			for tw.Provisioned("", cfg.Name, "1").Failed == "" {
				if time.Now().After(deadline) {
					t.Fatalf("Provisioned() = %+v; want failed", tw.Provisioned("", cfg.Name, "1"))
				}
				time.Sleep(10 * time.Millisecond)
			}
			var got []string
			for _, l := range maskFigures(tw.onlyStream(t, cfg.Name)) {
				if tt.format == "JSON" {
					l = describe(l)
				} else if strings.HasPrefix(l, "INIT_START ") {
					l = "INIT_START"
				}
				got = append(got, l)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("log stream (-want +got):\n%s", diff)
			}
		})
	}
}
