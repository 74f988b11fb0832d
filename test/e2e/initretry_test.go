package e2e

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestInitRetryTimeoutReport: an init that overruns the init phase's 10 s
// is retried within the invocation, and when the retry runs into the
// function's timeout too, the REPORT's Duration and Billed Duration are
// the timeout, as in Lambda's logs ("Duration: 3000.00 ms\tBilled
// Duration: 3000 ms\t…\tStatus: timeout"), not the time the retry's
// sandbox took to start on top of it.
func TestInitRetryTimeoutReport(t *testing.T) {
	s := startServer(t, "")
	f := goFn()
	f.timeout = 1
	f.zip = zipFiles(map[string]zipFile{
		"bootstrap": {data: []byte("#!/bin/sh\necho init attempt\nsleep 30\n"), mode: 0o755},
	})
	s.create(t, "hunginit", f)
	r := s.invoke(t, "hunginit", map[string]any{})
	if typ, _ := errorDoc(t, r); typ != "Sandbox.Timedout" {
		t.Fatalf("errorType = %s; want Sandbox.Timedout. Log:\n%s", typ, r.Log)
	}
	lines := strings.Split(strings.TrimSpace(r.Log), "\n")
	i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "Phase: invoke") })
	report := lines[len(lines)-1]
	if i < 0 || !strings.HasPrefix(report, "REPORT RequestId: ") ||
		!strings.Contains(report, "\tDuration: 1000.00 ms\tBilled Duration: 1000 ms\t") || !strings.HasSuffix(report, "\tStatus: timeout") { // TrimSpace took the last tab
		t.Errorf("log tail:\n%s\nwant the retry's INIT_REPORT and a REPORT of Duration 1000.00 ms, Billed Duration 1000 ms, Status: timeout", r.Log)
	}
}

// TestInitRetryAfterTeardown: everything the first failed init's
// environment writes on its way out (its runtime's SIGTERM handler, an
// extension's work after SHUTDOWN) is logged before the init's retry
// writes anything, as on Lambda, which resets the environment before it
// inits again.
func TestInitRetryAfterTeardown(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the bootstrap needs curl, which this host lacks")
	}
	s := startServer(t, "")
	f := goFn()
	f.zip = zipFiles(map[string]zipFile{"bootstrap": {data: []byte(`#!/bin/bash
tok="attempt-$(date +%s%N)"
echo "$tok" > "${TMPDIR:-/tmp}/tok"
trap 'echo "$tok bye"; exit 0' TERM
echo "$tok init"
curl -sS -X POST -H "Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError" \
	--data-binary '{"errorMessage":"Unable to import module","errorType":"Runtime.ImportModuleError"}' \
	"http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/init/error" >/dev/null
sleep 60 &
wait
`), mode: 0o755}})
	s.create(t, "dyinginit", f)
	layer := s.publish(t, "slowbye", zipFiles(map[string]zipFile{"extensions/slowbye": {data: []byte(`#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension"
h=$(mktemp)
curl -sS -D "$h" -X POST -H "Lambda-Extension-Name: slowbye" -d '{"events":["SHUTDOWN"]}' "$api/register" >/dev/null || exit 1
id=$(grep -i '^Lambda-Extension-Identifier:' "$h" | cut -d: -f2 | tr -d '[:space:]')
curl -sS -H "Lambda-Extension-Identifier: $id" "$api/event/next" >/dev/null
tok=$(cat "${TMPDIR:-/tmp}/tok")
for i in 1 2 3 4 5; do echo "$tok ext-bye $i"; sleep 0.1; done
`), mode: 0o755}}))
	s.setLayers(t, "dyinginit", *layer.LayerVersionArn)

	r := s.invoke(t, "dyinginit", map[string]any{})
	if typ, _ := errorDoc(t, r); typ != "Runtime.ImportModuleError" {
		t.Fatalf("errorType = %s; want Runtime.ImportModuleError. Log:\n%s", typ, r.Log)
	}
	check := func(what, log string) {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(log), "\n")
		i := slices.IndexFunc(lines, func(l string) bool { return strings.HasSuffix(l, " init") })
		if i < 0 {
			t.Fatalf("%s has no init line:\n%s", what, log)
		}
		_, first, _ := strings.Cut(lines[i], "attempt-")
		first, _, _ = strings.Cut(first, " ")
		var got []string
		for _, l := range lines {
			_, rest, ok := strings.Cut(l, "attempt-")
			tok, line, _ := strings.Cut(rest, " ")
			switch {
			case ok && tok == first:
				got = append(got, "first "+line)
			case ok:
				got = append(got, "retry "+line)
			case strings.Contains(l, "INIT_REPORT "):
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
		if !slices.Equal(got, want) {
			t.Errorf("%s in order = %q; want %q. Log:\n%s", what, got, want, log)
		}
	}
	check("log tail", r.Log)
	check("function log", s.functionLog(t, "dyinginit"))
}
