package worker

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hearth/internal/function"
	"hearth/internal/logs"
	"hearth/internal/runtimes"
	"hearth/internal/sandbox"
	"hearth/internal/sandbox/process"
)

// codeMap is an in-memory CodeSource.
type codeMap map[string][]byte

func (m codeMap) OpenCode(_ context.Context, sha string) (io.ReadCloser, int64, error) {
	b, ok := m[sha]
	if !ok {
		return nil, 0, fmt.Errorf("no code %s", sha)
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

// add zips a bootstrap with content and returns its CodeSha256.
func (m codeMap) add(t testing.TB, bootstrap string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	f, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte(bootstrap))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	sha := base64.StdEncoding.EncodeToString(sum[:])
	m[sha] = buf.Bytes()
	return sha
}

// testWorker is a Worker on the process driver, running until the test
// ends (or stop).
type testWorker struct {
	*Worker
	code codeMap
	stop func() time.Duration // stops Run and reports how long it took
}

func newTestWorker(t *testing.T, cfg Config) *testWorker {
	t.Helper()
	return newTestWorkerOn(t, cfg, nil)
}

// newTestWorkerOn is newTestWorker on drv; nil means a process driver.
func newTestWorkerOn(t testing.TB, cfg Config, drv sandbox.Driver) *testWorker {
	t.Helper()
	if _, err := os.Stat("/usr/bin/curl"); err != nil {
		t.Skip("the test runtime needs /usr/bin/curl")
	}
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	if drv == nil {
		pd, err := process.New(process.Config{Root: filepath.Join(dir, "envs")}, log)
		if err != nil {
			t.Fatal(err)
		}
		drv = pd
	}
	rts, err := runtimes.Setup(t.Context(), filepath.Join(dir, "runtimes"), runtimes.Config{Search: &runtimes.Search{}} /* no managed runtimes: the test runs a custom one */)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := logs.NewStore(logs.Config{Dir: filepath.Join(dir, "logs")}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ls.Close)
	cfg.CodeDir = filepath.Join(dir, "code")
	code := codeMap{}
	w := New(cfg, drv, code, rts, ls, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	stop := func() time.Duration {
		began := time.Now()
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return within 20s of its context ending")
		}
		return time.Since(began)
	}
	t.Cleanup(func() { stop() })
	return &testWorker{Worker: w, code: code, stop: stop}
}

// runtimeScript is a custom runtime in bash: it sleeps initSleep, then
// echoes each event; an event containing "slow" is answered after a second.
func runtimeScript(initSleep string) string {
	return `#!/bin/bash
sleep ` + initSleep + `
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
while true; do
	h=$(mktemp)
	body=$(curl -sS -D "$h" "$api/next") || exit 1
	id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$h" | cut -d: -f2 | tr -d '[:space:]')
	case "$body" in *slow*) sleep 1;; esac
	curl -sS -X POST --data-binary "$body" "$api/$id/response" >/dev/null
done
`
}

func (tw *testWorker) function(t testing.TB, bootstrap string) function.Config {
	t.Helper()
	return function.Config{
		Name:       "f",
		Runtime:    "provided.al2023",
		Handler:    "bootstrap",
		CodeSha256: tw.code.add(t, bootstrap),
		RevisionID: "r1",
		Timeout:    10,
	}.WithDefaults()
}

func (tw *testWorker) invoke(t *testing.T, cfg function.Config, payload string) *Result {
	t.Helper()
	res, err := tw.Invoke(t.Context(), &Request{Function: cfg, RequestID: newID("req-"), Payload: []byte(payload)})
	if err != nil {
		t.Fatalf("Invoke() = %v", err)
	}
	t.Cleanup(res.Release)
	return res
}

// waitEnvs polls Environments until ok accepts the list.
func (tw *testWorker) waitEnvs(t testing.TB, what string, ok func([]EnvInfo) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		envs := tw.Environments()
		if ok(envs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Environments() = %+v; want %s", envs, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An init that overruns InitTimeout is retried within the invocation. The
// retried environment belongs to the live pool: it is listed, reused warm,
// destroyed by Retire, and shutdown does not wait for a pool nobody holds.
func TestInitRetryKeepsEnvInPool(t *testing.T) {
	tw := newTestWorker(t, Config{InitTimeout: 300 * time.Millisecond, IdleTimeout: time.Hour})
	cfg := tw.function(t, runtimeScript("0.6"))

	res := tw.invoke(t, cfg, `{"n":1}`)
	if res.FunctionError != "" || string(res.Payload) != `{"n":1}` || !res.ColdStart {
		t.Fatalf("first Invoke() = error %q, payload %s, cold %v; want the echo from a cold start", res.FunctionError, res.Payload, res.ColdStart)
	}
	res.Release()
	var first string
	tw.waitEnvs(t, "one idle env", func(envs []EnvInfo) bool {
		if len(envs) == 1 && envs[0].State == "idle" {
			first = envs[0].ID
			return true
		}
		return false
	})

	res = tw.invoke(t, cfg, `{"n":2}`)
	if res.FunctionError != "" || string(res.Payload) != `{"n":2}` || res.ColdStart {
		t.Fatalf("second Invoke() = error %q, payload %s, cold %v; want the echo from the warm env", res.FunctionError, res.Payload, res.ColdStart)
	}
	res.Release()
	// The same environment served it: no other was started.
	if envs := tw.Environments(); len(envs) != 1 || envs[0].ID != first {
		t.Errorf("Environments() after the second Invoke() = %+v; want only %s, reused warm", envs, first)
	}

	tw.Retire("", "f", "")
	tw.waitEnvs(t, "none after Retire", func(envs []EnvInfo) bool { return len(envs) == 0 })
	if d := tw.stop(); d > 2*time.Second {
		t.Errorf("Run took %v to stop; want prompt", d)
	}
}

// Retire keeps a busy environment listed until its invocation ends and its
// teardown is over.
func TestRetiredEnvsStayListed(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour})
	cfg := tw.function(t, runtimeScript("0"))
	done := make(chan *Result, 1)
	go func() {
		res, err := tw.Invoke(context.Background(), &Request{Function: cfg, RequestID: newID("req-"), Payload: []byte(`"slow"`)})
		if err != nil {
			t.Errorf("Invoke() = %v", err)
		}
		done <- res
	}()
	tw.waitEnvs(t, "one busy env", func(envs []EnvInfo) bool {
		return len(envs) == 1 && envs[0].State == "busy"
	})
	tw.Retire("", "f", "")
	if envs := tw.Environments(); len(envs) != 1 || envs[0].State == "idle" {
		t.Errorf("Environments() after Retire = %+v; want the busy env still listed", envs)
	}
	if res := <-done; res != nil {
		if string(res.Payload) != `"slow"` {
			t.Errorf("Invoke() payload = %s; want the echo", res.Payload)
		}
		res.Release()
	}
	tw.waitEnvs(t, "none once the retired env is torn down", func(envs []EnvInfo) bool { return len(envs) == 0 })
}

// A bootstrap the kernel cannot execute fails the invocation at once with
// Runtime.InvalidEntrypoint, and Run still stops promptly.
func TestUnexecutableBootstrap(t *testing.T) {
	tw := newTestWorker(t, Config{})
	cfg := tw.function(t, "#!/nonexistent/interp\n")
	began := time.Now()
	res := tw.invoke(t, cfg, `{}`)
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("Invoke() took %v; want an immediate failure", d)
	}
	wantDoc := `{"errorType":"Runtime.InvalidEntrypoint","errorMessage":"RequestId: ` // + id
	if res.FunctionError != "Unhandled" || res.ErrorType != "Runtime.InvalidEntrypoint" || !strings.HasPrefix(string(res.Payload), wantDoc) ||
		!strings.HasSuffix(string(res.Payload), ` Error: fork/exec /var/task/bootstrap: no such file or directory"}`) {
		t.Errorf("Invoke() = %q %q %s; want Unhandled Runtime.InvalidEntrypoint naming the exec error", res.FunctionError, res.ErrorType, res.Payload)
	}
	if !strings.Contains(string(res.Log), "Phase: init\tStatus: error\tError Type: Runtime.InvalidEntrypoint") {
		t.Errorf("log tail = %q; want an INIT_REPORT with Runtime.InvalidEntrypoint", res.Log)
	}
	if envs := tw.Environments(); len(envs) != 0 {
		t.Errorf("Environments() = %+v; want none", envs)
	}
	if d := tw.stop(); d > 2*time.Second {
		t.Errorf("Run took %v to stop; want prompt", d)
	}
}

// SweepCode removes unpacked packages no function keeps and no environment
// uses; a swept package is unpacked again when it is needed.
func TestSweepCode(t *testing.T) {
	tw := newTestWorker(t, Config{})
	live := tw.function(t, runtimeScript("0"))
	tw.invoke(t, live, `{"n":1}`) // an environment uses live's package
	kept := tw.function(t, runtimeScript("0.01"))
	gone := tw.function(t, runtimeScript("0.02"))
	for _, sha := range []string{kept.CodeSha256, gone.CodeSha256} {
		if _, err := tw.Worker.code.dir(t.Context(), sha); err != nil {
			t.Fatal(err)
		}
	}
	if n := tw.SweepCode([]string{kept.CodeSha256}, 0); n != 1 {
		t.Errorf("SweepCode() removed %d packages; want 1", n)
	}
	for sha, want := range map[string]bool{live.CodeSha256: true, kept.CodeSha256: true, gone.CodeSha256: false} {
		if got := tw.cached(sha); got != want {
			t.Errorf("package %s unpacked after the sweep = %v; want %v", sha, got, want)
		}
	}
	if n := tw.SweepCode(nil, time.Hour); n != 0 {
		t.Errorf("SweepCode() removed %d packages younger than minAge", n)
	}
	gone.Name = "g"
	if r := tw.invoke(t, gone, `{"n":2}`); r.FunctionError != "" {
		t.Errorf("invoke of a swept package = %s", r.Payload)
	}
}

func (tw *testWorker) cached(sha string) bool {
	raw, _ := base64.StdEncoding.DecodeString(sha)
	_, err := os.Stat(filepath.Join(tw.Worker.code.root, hex.EncodeToString(raw)))
	return err == nil
}
