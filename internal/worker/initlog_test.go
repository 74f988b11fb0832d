package worker

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/logs"
	"hearth/internal/runtimes"
)

// initPrintScript is runtimeScript that prints a line as it initialises.
const initPrintScript = "#!/bin/bash\necho \"bash init $AWS_LAMBDA_INITIALIZATION_TYPE\"\n" + `api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
while true; do
	h=$(mktemp)
	body=$(curl -sS -D "$h" "$api/next") || exit 1
	id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$h" | cut -d: -f2 | tr -d '[:space:]')
	curl -sS -X POST --data-binary "$body" "$api/$id/response" >/dev/null
done
`

// streamLines lists the messages the log store holds for stream of fn.
func (tw *testWorker) streamLines(t testing.TB, fn, stream string) []string {
	t.Helper()
	var got []string
	err := tw.logs.Function(fn).Scan(0, func(r logs.Record) bool {
		if string(r.Stream) == stream {
			got = append(got, string(r.Message))
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// The INIT_START line begins an init's log, before what the init wrote:
// in the environment's log stream, once, and in the tail of the
// invocation that cold-started it, not in the next one's. A provisioned
// environment's init is in its stream only. An init that fails at once
// starts with it too.
func TestInitStartLine(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour, Region: "eu-west-1"})
	cfg := tw.function(t, initPrintScript)
	rt, _ := runtimes.Lookup(cfg.Runtime)
	// The ARN is the one GetFunctionConfiguration reports.
	wantLine := "INIT_START Runtime Version: provided:al2023.v1\tRuntime Version ARN: " + rt.VersionARN("eu-west-1")

	cold := tw.invoke(t, cfg, `{}`)
	lines := strings.Split(string(cold.Log), "\n")
	if !cold.ColdStart || len(lines) < 3 || lines[0] != wantLine || lines[1] != "bash init on-demand" || !strings.HasPrefix(lines[2], "START RequestId: ") {
		t.Errorf("cold invocation's log tail:\n%s\nwant %q, the init's line, then START", cold.Log, wantLine)
	}
	cold.Release() // the environment is busy until then
	warm := tw.invoke(t, cfg, `{}`)
	if warm.ColdStart || strings.Contains(string(warm.Log), "INIT_START") || !strings.HasPrefix(string(warm.Log), "START RequestId: ") {
		t.Errorf("warm invocation's log tail:\n%s\nwant no INIT_START", warm.Log)
	}
	warm.Release()
	envs := tw.Environments()
	if len(envs) != 1 {
		t.Fatalf("Environments() = %+v; want 1", envs)
	}
	stream := tw.streamLines(t, cfg.Name, envs[0].Stream)
	if len(stream) < 2 || stream[0] != wantLine+"\n" || stream[1] != "bash init on-demand\n" || strings.Count(strings.Join(stream, "\n"), "INIT_START") != 1 || strings.Contains(strings.Join(stream, "\n"), "INIT_REPORT") {
		t.Errorf("log stream %s:\n%s\nwant one INIT_START, first, and no INIT_REPORT after an init that went well (Text)", envs[0].Stream, strings.Join(stream, "\n"))
	}

	// JSON: the platform.initStart record comes first.
	js := cfg
	js.Name, js.LogFormat = "json", "JSON"
	cold = tw.invoke(t, js, `{}`)
	first, _, _ := strings.Cut(string(cold.Log), "\n")
	var rec struct {
		Type   string         `json:"type"`
		Record map[string]any `json:"record"`
	}
	if err := json.Unmarshal([]byte(first), &rec); err != nil || rec.Type != "platform.initStart" || rec.Record["runtimeVersionArn"] != rt.VersionARN("eu-west-1") {
		t.Errorf("JSON cold invocation's log tail:\n%s\nwant platform.initStart first", cold.Log)
	}

	// Provisioned: the init's lines are the stream's, not the first
	// invocation's.
	pc := cfg
	pc.Name, pc.Version = "pc", "1"
	tw.SetProvisioned([]Target{{Config: pc, N: 1}})
	tw.waitProvisioned(t, pc, 1)
	res := tw.invoke(t, pc, `{}`)
	if res.ColdStart || strings.Contains(string(res.Log), "INIT_START") || strings.Contains(string(res.Log), "bash init") || !strings.HasPrefix(string(res.Log), "START RequestId: ") {
		t.Errorf("first invocation of a provisioned environment, log tail:\n%s\nwant neither INIT_START nor the init's output", res.Log)
	}
	var pcStream string
	for _, e := range tw.Environments() {
		if e.Function == "pc" {
			pcStream = e.Stream
		}
	}
	stream = tw.streamLines(t, pc.Name, pcStream)
	if len(stream) < 2 || stream[0] != wantLine+"\n" || stream[1] != "bash init provisioned-concurrency\n" {
		t.Errorf("provisioned environment's log stream %s:\n%s\nwant INIT_START, then the init's line", pcStream, strings.Join(stream, "\n"))
	}
	tw.SetProvisioned(nil)

	// A bootstrap that cannot be executed: INIT_START, then the failure
	// of the init and of its retry, before the invocation's lines (as
	// Lambda logs a Go function built for another architecture).
	bad := tw.function(t, "#!/nonexistent/interp\n")
	bad.Name = "bad"
	req := &Request{Function: bad, RequestID: newID("req-"), Payload: []byte(`{}`)}
	res, err := tw.Invoke(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	id := req.RequestID
	msg := "RequestId: " + id + " Error: fork/exec /var/task/bootstrap: no such file or directory"
	want := []string{
		wantLine,
		"INIT_REPORT Init Duration: N ms\tPhase: init\tStatus: error\tError Type: Runtime.InvalidEntrypoint",
		"INIT_REPORT Init Duration: N ms\tPhase: invoke\tStatus: error\tError Type: Runtime.InvalidEntrypoint",
		"START RequestId: " + id + " Version: $LATEST",
		msg,
		"Runtime.InvalidEntrypoint",
		"END RequestId: " + id,
		"REPORT RequestId: " + id + "\tDuration: N ms\tBilled Duration: N ms\tMemory Size: N MB\tMax Memory Used: N MB\tStatus: error\tError Type: Runtime.InvalidEntrypoint",
	}
	if diff := cmp.Diff(want, maskFigures(logLines(res.Log))); diff != "" || string(res.Payload) != `{"errorType":"Runtime.InvalidEntrypoint","errorMessage":"`+msg+`"}` {
		t.Errorf("Invoke() = %s, log tail (-want +got):\n%s", res.Payload, diff)
	}
}

// An on-demand cold start that fails names its init on-demand in
// platform.initReport (its init phase's, then its retry's, in the invoke
// phase), a provisioned one provisioned-concurrency.
func TestInitReportType(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour})
	cfg := tw.function(t, "#!/bin/bash\necho failing init\nexit 3\n")
	cfg.LogFormat = "JSON"
	initReports := func(name string) []string {
		var got []string
		err := tw.logs.Function(name).Scan(0, func(r logs.Record) bool {
			if d := describe(string(r.Message)); strings.HasPrefix(d, "platform.initReport ") {
				got = append(got, strings.TrimPrefix(d, "platform.initReport "))
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	res := tw.invoke(t, cfg, `{}`)
	if res.ErrorType != "Runtime.ExitError" {
		t.Fatalf("Invoke() = %s %s; want Runtime.ExitError", res.ErrorType, res.Payload)
	}
	if diff := cmp.Diff([]string{"on-demand init error Runtime.ExitError", "on-demand invoke error Runtime.ExitError"}, initReports(cfg.Name)); diff != "" {
		t.Errorf("on-demand initReport records (-want +got):\n%s", diff)
	}

	pc := cfg
	pc.Name, pc.Version = "pc", "1"
	tw.SetProvisioned([]Target{{Config: pc, N: 1}})
	deadline := time.Now().Add(10 * time.Second)
	for len(initReports(pc.Name)) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	tw.SetProvisioned(nil)
	if got := initReports(pc.Name); len(got) == 0 || got[0] != "provisioned-concurrency init error Runtime.ExitError" {
		t.Errorf("provisioned initReport records = %q; want provisioned-concurrency", got)
	}
}
