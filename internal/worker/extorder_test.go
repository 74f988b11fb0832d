package worker

import (
	"bytes"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lateExtension is an external extension that takes delay seconds to come
// up, writes its configuration to $TMPDIR/params (as the Parameters and
// Secrets extension starts its server on localhost:2773), then registers
// and waits for events until SHUTDOWN.
func lateExtension(delay string) string {
	return `#!/bin/bash
sleep ` + delay + `
echo "secret-from-extension" > "$TMPDIR/params"
api="http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension"
h=$(mktemp)
curl -sS -D "$h" -X POST -H "Lambda-Extension-Name: $(basename "$0")" -d '{"events":["INVOKE","SHUTDOWN"]}' "$api/register" >/dev/null || exit 1
id=$(grep -i '^Lambda-Extension-Identifier:' "$h" | cut -d: -f2 | tr -d '[:space:]')
while true; do
	ev=$(curl -sS -H "Lambda-Extension-Identifier: $id" "$api/event/next") || exit 1
	case "$ev" in *SHUTDOWN*) exit 0;; esac
done
`
}

// paramsRuntime is a runtime whose init reads what the extension provides
// and fails init without it; each invocation answers with it.
const paramsRuntime = `#!/bin/bash
echo "runtime started"
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
if ! params=$(cat "$TMPDIR/params" 2>/dev/null); then
	curl -sS -X POST -H "Lambda-Runtime-Function-Error-Type: Runtime.NoParams" \
		-d '{"errorMessage":"the extension is not up","errorType":"Runtime.NoParams"}' "$api/init/error" >/dev/null
	exit 1
fi
while true; do
	h=$(mktemp)
	body=$(curl -sS -D "$h" "$api/invocation/next") || exit 1
	id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$h" | cut -d: -f2 | tr -d '[:space:]')
	curl -sS -X POST --data-binary "\"$params\"" "$api/invocation/$id/response" >/dev/null
done
`

// As on Lambda, the runtime starts only once every external extension has
// registered: a function whose init uses what an extension serves finds it
// up, however long the extension takes to register.
func TestRuntimeStartsAfterExtensionsRegister(t *testing.T) {
	for name, newDriver := range drivers(t) {
		t.Run(name, func(t *testing.T) {
			tw := newTestWorkerOn(t, Config{IdleTimeout: time.Hour}, newDriver(t))
			cfg := tw.function(t, paramsRuntime)
			opt := optWith(t, map[string]string{"params": lateExtension("0.7"), "quick": lateExtension("0")})
			res := tw.invokeOpt(t, &Request{Function: cfg, Payload: []byte(`{}`), OptDir: opt})
			defer res.Release()
			if res.FunctionError != "" || string(res.Payload) != `"secret-from-extension"` {
				t.Fatalf("Invoke() = %q %q %s; want the extension's secret from the runtime's init", res.FunctionError, res.ErrorType, res.Payload)
			}
			for _, want := range []string{"EXTENSION\tName: params\tState: Ready", "EXTENSION\tName: quick\tState: Ready"} {
				if !strings.Contains(string(res.Log), want) {
					t.Errorf("log lacks %q:\n%s", want, res.Log)
				}
			}
			// The init phase includes the extension's 0.7 s.
			if !strings.Contains(string(res.Log), "Init Duration: ") {
				t.Errorf("log lacks the init duration:\n%s", res.Log)
			} else if d := initDuration(t, res.Log); d < 700*time.Millisecond {
				t.Errorf("Init Duration %v; want at least the extension's 0.7 s to register", d)
			}
		})
	}
}

// initDuration reads the Init Duration of a REPORT line in log.
func initDuration(t *testing.T, log []byte) time.Duration {
	t.Helper()
	_, rest, _ := strings.Cut(string(log), "Init Duration: ")
	ms, _, _ := strings.Cut(rest, " ms")
	f, err := strconv.ParseFloat(ms, 64)
	if err != nil {
		t.Fatalf("Init Duration %q: %v", ms, err)
	}
	return time.Duration(f * float64(time.Millisecond))
}

// An extension that never registers keeps the runtime from starting: init
// times out (and again when retried within the invocation), the
// invocation fails with Sandbox.Timedout, and nothing of the environment
// is left.
func TestExtensionNeverRegisters(t *testing.T) {
	for name, newDriver := range drivers(t) {
		t.Run(name, func(t *testing.T) {
			tw := newTestWorkerOn(t, Config{IdleTimeout: time.Hour, InitTimeout: 300 * time.Millisecond}, newDriver(t))
			cfg := tw.function(t, paramsRuntime)
			cfg.Name = "f-" + name
			cfg.Timeout = 1
			opt := optWith(t, map[string]string{"silent": "#!/bin/bash\necho \"silent pid $$\"\nexec sleep 60\n", "params": lateExtension("0")})
			began := time.Now()
			res := tw.invokeOpt(t, &Request{Function: cfg, Payload: []byte(`{}`), OptDir: opt})
			defer res.Release()
			if res.ErrorType != "Sandbox.Timedout" {
				t.Errorf("Invoke() = %q %s; want Sandbox.Timedout", res.ErrorType, res.Payload)
			}
			if d := time.Since(began); d > 5*time.Second {
				t.Errorf("Invoke() took %v; want the init timeout and then the function's 1 s", d)
			}
			tw.waitEnvs(t, "no environment left", func(envs []EnvInfo) bool { return len(envs) == 0 })
			var log bytes.Buffer
			if err := tw.logs.Function(cfg.Name).WriteTail(&log, 1000); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(log.String(), "runtime started") {
				t.Errorf("the runtime started though an extension never registered:\n%s", log.String())
			}
			if n := strings.Count(log.String(), "silent pid "); n != 2 {
				t.Fatalf("log has %d lines from the silent extension; want one per init (2):\n%s", n, log.String())
			}
			if name != "process" {
				return // pids inside the linux driver's namespace mean nothing here
			}
			for l := range strings.Lines(log.String()) {
				if _, pid, ok := strings.Cut(strings.TrimSpace(l), "silent pid "); ok {
					p, _ := strconv.Atoi(pid)
					// Killed, it is gone once reaped, a moment later.
					deadline := time.Now().Add(5 * time.Second)
					for syscall.Kill(p, 0) != syscall.ESRCH {
						if time.Now().After(deadline) {
							t.Errorf("the silent extension (pid %d) outlived its environment", p)
							break
						}
						time.Sleep(10 * time.Millisecond)
					}
				}
			}
		})
	}
}

// A bootstrap the kernel refuses fails init with Runtime.InvalidEntrypoint
// when it is started after the extensions too.
func TestHeldBootstrapNotExecutable(t *testing.T) {
	for name, newDriver := range drivers(t) {
		t.Run(name, func(t *testing.T) {
			tw := newTestWorkerOn(t, Config{IdleTimeout: time.Hour}, newDriver(t))
			cfg := tw.function(t, "#!/nonexistent/interpreter\n")
			opt := optWith(t, map[string]string{"params": lateExtension("0")})
			res := tw.invokeOpt(t, &Request{Function: cfg, Payload: []byte(`{}`), OptDir: opt})
			defer res.Release()
			if res.ErrorType != "Runtime.InvalidEntrypoint" || !strings.Contains(string(res.Payload), "fork/exec /var/task/bootstrap: no such file or directory") {
				t.Errorf("Invoke() = %q %s; want Runtime.InvalidEntrypoint naming /var/task/bootstrap", res.ErrorType, res.Payload)
			}
			tw.waitEnvs(t, "no environment left", func(envs []EnvInfo) bool { return len(envs) == 0 })
		})
	}
}
