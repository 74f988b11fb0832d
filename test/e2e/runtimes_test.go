package e2e

import (
	"encoding/base64"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

type runtimeCase struct {
	name      string
	fn        func(t testing.TB) fn
	initLine  string // what the function prints at init
	errorType string // errorType of a thrown "boom"
	initError string // errorType when init fails
}

var runtimeCases = []runtimeCase{
	{name: "go", fn: func(testing.TB) fn { return goFn() }, initLine: "gofn init", errorType: "errorString", initError: "Runtime.ExitError"},
	{name: "python", fn: pythonFn, initLine: "python init", errorType: "ValueError", initError: "RuntimeError"},
	{name: "node", fn: nodeFn, initLine: "node init", errorType: "TypeError", initError: "Error"},
}

// TestRuntimes runs the same behaviours on every runtime family.
func TestRuntimes(t *testing.T) {
	s := startServer(t, "")
	for _, rc := range runtimeCases {
		t.Run(rc.name, func(t *testing.T) {
			f := rc.fn(t)
			needRuntime(t, f.runtime)
			name := "rt-" + rc.name
			s.create(t, name, f)

			t.Run("WarmReuse", func(t *testing.T) {
				var envID string
				for i := 1; i <= 3; i++ {
					r := s.invoke(t, name, map[string]any{"op": "echo"})
					if r.Status != 200 || r.FunctionError != "" {
						t.Fatalf("invoke %d: status %d, error %q, payload %s", i, r.Status, r.FunctionError, r.Payload)
					}
					m := r.decode(t)
					if got := num(t, m, "counter"); got != i {
						t.Errorf("invoke %d: module counter = %d; want %d (state must survive warm reuse)", i, got, i)
					}
					if i == 1 {
						envID = str(t, m, "env_id")
					} else if got := str(t, m, "env_id"); got != envID {
						t.Errorf("invoke %d ran in environment %s; want the warm one, %s", i, got, envID)
					}
					hasInit := strings.Contains(r.Log, rc.initLine)
					if hasInit != (i == 1) {
						t.Errorf("invoke %d: init output in log = %v; want it only in the first invocation's log. Log:\n%s", i, hasInit, r.Log)
					}
					if got := strings.Contains(r.Log, "Init Duration:"); got != (i == 1) {
						t.Errorf("invoke %d: REPORT has Init Duration = %v; want only on the cold start", i, got)
					}
					for _, want := range []string{"START RequestId: ", " Version: $LATEST", "END RequestId: ", "REPORT RequestId: ", "\tBilled Duration: ", "\tMemory Size: 128 MB\t", "\tMax Memory Used: ", "handling echo"} {
						if !strings.Contains(r.Log, want) {
							t.Errorf("invoke %d: log lacks %q:\n%s", i, want, r.Log)
						}
					}
					if r.Version != "$LATEST" {
						t.Errorf("ExecutedVersion = %q; want $LATEST", r.Version)
					}
				}
			})

			t.Run("Context", func(t *testing.T) {
				cc, _ := jsonBase64(map[string]any{"custom": map[string]string{"k": "v"}, "client": map[string]string{}, "env": map[string]string{}})
				out, err := s.Client.Invoke(t.Context(), &lambda.InvokeInput{
					FunctionName: aws.String(name), Payload: []byte(`{"op":"echo"}`), ClientContext: aws.String(cc),
				})
				if err != nil {
					t.Fatal(err)
				}
				m := (&invoked{Payload: out.Payload}).decode(t)
				if got, want := m["function_arn"], "arn:aws:lambda:us-east-1:000000000000:function:"+name; got != want {
					t.Errorf("invoked function ARN = %v; want %v", got, want)
				}
				if rem := num(t, m, "remaining_ms"); rem <= 0 || rem > 3000 {
					t.Errorf("remaining time = %d ms; want within the 3 s timeout", rem)
				}
				if cc, _ := m["client_context"].(map[string]any); cc["k"] != "v" {
					t.Errorf("client context custom = %v; want {k: v}", m["client_context"])
				}
				if id, _ := m["request_id"].(string); len(id) != 36 {
					t.Errorf("request id = %q; want a UUID", id)
				}
			})

			t.Run("Environment", func(t *testing.T) {
				env, _ := s.invoke(t, name, map[string]any{"op": "env"}).decode(t)["env"].(map[string]any)
				want := map[string]string{
					"AWS_LAMBDA_FUNCTION_NAME":        name,
					"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
					"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
					"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + name,
					"AWS_REGION":                      "us-east-1",
					"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
					"_HANDLER":                        f.handler,
				}
				for k, v := range want {
					if env[k] != v {
						t.Errorf("%s = %v; want %q", k, env[k], v)
					}
				}
				for _, k := range []string{"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "AWS_LAMBDA_LOG_STREAM_NAME"} {
					if env[k] == nil || env[k] == "" {
						t.Errorf("%s is not set", k)
					}
				}
				if env["HEARTH_E2E"] != nil {
					t.Errorf("the server's environment leaked into the function: HEARTH_E2E=%v", env["HEARTH_E2E"])
				}
				if rc.name != "go" && !strings.HasPrefix(env["AWS_EXECUTION_ENV"].(string), "AWS_Lambda_") {
					t.Errorf("AWS_EXECUTION_ENV = %v", env["AWS_EXECUTION_ENV"])
				}
			})

			t.Run("FunctionError", func(t *testing.T) {
				r := s.invoke(t, name, map[string]any{"op": "error", "text": "xyz"})
				typ, msg := errorDoc(t, r)
				if typ != rc.errorType || !strings.Contains(msg, "boom: xyz") {
					t.Errorf("error = %s %q; want %s containing boom: xyz", typ, msg, rc.errorType)
				}
				if r.Status != 200 {
					t.Errorf("status = %d; want 200 for a function error", r.Status)
				}
				// A handled error keeps the environment.
				if got := s.invoke(t, name, map[string]any{"op": "echo"}); got.FunctionError != "" {
					t.Errorf("invoke after a function error failed: %s", got.Payload)
				}
			})

			t.Run("Crash", func(t *testing.T) {
				before := str(t, s.invoke(t, name, map[string]any{"op": "echo"}).decode(t), "env_id")
				r := s.invoke(t, name, map[string]any{"op": "exit", "n": 7})
				typ, msg := errorDoc(t, r)
				if typ != "Runtime.ExitError" || !strings.Contains(msg, "Runtime exited with error: exit status 7") {
					t.Errorf("crash = %s %q; want Runtime.ExitError with exit status 7", typ, msg)
				}
				if !strings.Contains(r.Log, "Runtime.ExitError") {
					t.Errorf("crash log lacks Runtime.ExitError:\n%s", r.Log)
				}
				after := s.invoke(t, name, map[string]any{"op": "echo"})
				if after.FunctionError != "" {
					t.Fatalf("invoke after crash failed: %s", after.Payload)
				}
				if id := str(t, after.decode(t), "env_id"); id == before {
					t.Errorf("invoke after crash ran in the crashed environment %s", id)
				}
			})

			t.Run("LargePayloads", func(t *testing.T) {
				// CPU comes in proportion to memory, as on Lambda: a 128 MB
				// function gets 7% of a CPU, too little to parse megabytes
				// quickly under an isolating driver.
				big := f
				big.memory, big.timeout = 1024, 30
				name := "big-" + rc.name
				s.create(t, name, big)
				const n = 5 << 20
				r := s.invoke(t, name, map[string]any{"op": "big", "bytes": n})
				if r.FunctionError != "" {
					t.Fatalf("5 MB response failed: %.300s", r.Payload)
				}
				if d, _ := r.decode(t)["data"].(string); len(d) != n {
					t.Errorf("response data = %d bytes; want %d", len(d), n)
				}
				envID := str(t, r.decode(t), "env_id")
				over := s.invoke(t, name, map[string]any{"op": "big", "bytes": 7 << 20})
				if typ, _ := errorDoc(t, over); typ != "Function.ResponseSizeTooLarge" {
					t.Errorf("7 MB response: errorType %s; want Function.ResponseSizeTooLarge", typ)
				}
				// Hearth's clients survive the Runtime API's 413: the next
				// invocation runs warm. aws-lambda-go exits on the 413, as it
				// does on AWS: the next invocation runs in a new environment.
				after := s.invoke(t, name, map[string]any{"op": "echo"})
				if after.FunctionError != "" {
					t.Fatalf("invoke after the oversized response failed: %s", after.Payload)
				}
				id := str(t, after.decode(t), "env_id")
				if rc.name != "go" && id != envID {
					t.Errorf("invoke after the oversized response ran in environment %s; want the warm one, %s", id, envID)
				}
			})
		})
	}
}

func TestTimeoutAndInitError(t *testing.T) {
	s := startServer(t, "")
	for _, rc := range runtimeCases {
		t.Run(rc.name, func(t *testing.T) {
			f := rc.fn(t)
			needRuntime(t, f.runtime)

			f.timeout = 1
			s.create(t, "to-"+rc.name, f)
			first := str(t, s.invoke(t, "to-"+rc.name, map[string]any{"op": "echo"}).decode(t), "env_id")
			r := s.invoke(t, "to-"+rc.name, map[string]any{"op": "hang"})
			typ, msg := errorDoc(t, r)
			if typ != "Sandbox.Timedout" || !strings.HasSuffix(msg, "Error: Task timed out after 1.00 seconds") {
				t.Errorf("timeout = %s %q; want Sandbox.Timedout ... Task timed out after 1.00 seconds", typ, msg)
			}
			if !strings.Contains(r.Log, "Task timed out after 1.00 seconds") || !strings.Contains(r.Log, "Status: timeout") {
				t.Errorf("timeout log:\n%s", r.Log)
			}
			next := s.invoke(t, "to-"+rc.name, map[string]any{"op": "echo"})
			if next.FunctionError != "" || str(t, next.decode(t), "env_id") == first {
				t.Errorf("after a timeout the environment must be replaced; got %s", next.Payload)
			}
			for _, e := range s.environments(t) {
				if e["log_stream"] == first && e["state"] != "destroying" {
					t.Errorf("the timed-out environment %s is still in service: %v", first, e)
				}
			}

			f.timeout = 3
			f.env = map[string]string{"FAIL_INIT": "1"}
			s.create(t, "ie-"+rc.name, f)
			for attempt := 1; attempt <= 2; attempt++ {
				r := s.invoke(t, "ie-"+rc.name, map[string]any{"op": "echo"})
				typ, _ := errorDoc(t, r)
				if typ != rc.initError {
					t.Errorf("attempt %d: init failure errorType = %s; want %s (payload %s)", attempt, typ, rc.initError, r.Payload)
				}
				// Init is retried on every invocation: its output shows again.
				if !strings.Contains(r.Log, rc.initLine) || !strings.Contains(r.Log, "INIT_REPORT") {
					t.Errorf("attempt %d: log lacks the init output and INIT_REPORT:\n%s", attempt, r.Log)
				}
			}
		})
	}
}

// TestScaleOut: N parallel invocations of a sleeping function run on N
// environments at once.
func TestScaleOut(t *testing.T) {
	s := startServer(t, "")
	s.create(t, "sleepy", goFn())
	const n = 4
	const sleep = 1500
	var wg sync.WaitGroup
	envs := make(chan string, n)
	start := timeNow()
	for range n {
		wg.Go(func() {
			r, err := s.tryInvoke(t.Context(), s.Client, "sleepy", map[string]any{"op": "sleep", "ms": sleep})
			if err != nil || r.FunctionError != "" {
				t.Errorf("parallel invoke: %v %s", err, r.Payload)
				return
			}
			envs <- str(t, r.decode(t), "env_id")
		})
	}
	wg.Wait()
	elapsed := timeSince(start)
	close(envs)
	distinct := map[string]bool{}
	for e := range envs {
		distinct[e] = true
	}
	if len(distinct) != n {
		t.Errorf("%d parallel invocations ran in %d environments; want %d", n, len(distinct), n)
	}
	// Serially they would take n*sleep; in parallel about one sleep plus
	// cold starts. Allow generous slack for a loaded 2-core machine.
	if limit := 2.5 * sleep; elapsed.Milliseconds() > int64(limit) {
		t.Errorf("%d parallel %d ms invocations took %v; want under %.0f ms", n, sleep, elapsed, limit)
	}
}

func jsonBase64(v any) (string, error) {
	b, err := jsonMarshal(v)
	return base64.StdEncoding.EncodeToString(b), err
}

var _ = types.LogTypeTail
