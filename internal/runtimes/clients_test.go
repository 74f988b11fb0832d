package runtimes_test

// Tests for Hearth's own runtime interface clients (python/bootstrap.py and
// node/bootstrap.mjs). Each test runs the real interpreter against a fake
// Runtime API built with httptest and checks what the client posts back.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hearth/internal/runtimeapi"
)

const (
	fixtureARN   = "arn:aws:lambda:us-east-1:123456789012:function:fixture"
	fixtureTrace = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
	waitTimeout  = 30 * time.Second
	memorySizeMB = 256
)

// ---------------------------------------------------------------------------
// Fake Runtime API

// invocation is one event the fake Runtime API hands to GET /next.
type invocation struct {
	ID      string
	Body    []byte
	Headers map[string]string // extra response headers (client context, identity, ...)
	Chunked bool              // send the body with chunked transfer encoding
}

// post is one POST the runtime made.
type post struct {
	Kind   string // "response", "error" or "init/error"
	ID     string
	Header http.Header
	Body   []byte
	Stdout string // the runtime's stdout when the POST arrived
	Stderr string
}

type runtimeAPI struct {
	srv   *httptest.Server
	queue chan invocation
	quit  chan struct{}
	nexts chan time.Time // one value per GET /next received
	posts chan *post

	nextStatus     atomic.Int32 // when non-zero, GET /next fails with this status
	postStatus     atomic.Int32 // when non-zero, POSTs fail with this status
	closeAfterPost atomic.Bool  // answer POSTs, then drop the kept-alive connection
	nextCount      atomic.Int32

	noSnapshots atomic.Bool // skip reading the runtime's output at each POST (benchmarks)

	outMu      sync.Mutex
	stdoutPath string
	stderrPath string
}

func newRuntimeAPI(t testing.TB) *runtimeAPI {
	a := &runtimeAPI{
		queue: make(chan invocation, 16),
		quit:  make(chan struct{}),
		nexts: make(chan time.Time, 1024),
		posts: make(chan *post, 1024),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", a.serveNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", a.servePost("response"))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", a.servePost("error"))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", a.servePost("init/error"))
	a.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		close(a.quit)
		a.srv.Close()
	})
	return a
}

func (a *runtimeAPI) addr() string { return a.srv.Listener.Addr().String() }

func (a *runtimeAPI) serveNext(w http.ResponseWriter, r *http.Request) {
	a.nextCount.Add(1)
	select {
	case a.nexts <- time.Now():
	default:
	}
	if status := a.nextStatus.Load(); status != 0 {
		http.Error(w, `{"errorType":"ContainerError","errorMessage":"fake failure"}`, int(status))
		return
	}
	var inv invocation
	select {
	case inv = <-a.queue:
	case <-r.Context().Done():
		return
	case <-a.quit:
		return
	}
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.ID)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(60*time.Second).UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", fixtureARN)
	h.Set("Content-Type", "application/json")
	for k, v := range inv.Headers {
		h.Set(k, v)
	}
	if !inv.Chunked {
		h.Set("Content-Length", strconv.Itoa(len(inv.Body)))
		w.Write(inv.Body)
		return
	}
	// No Content-Length and explicit flushes: net/http switches to chunked encoding.
	const piece = 64 << 10
	for off := 0; off < len(inv.Body); off += piece {
		end := min(off+piece, len(inv.Body))
		w.Write(inv.Body[off:end])
		http.NewResponseController(w).Flush()
	}
}

func (a *runtimeAPI) servePost(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p := &post{Kind: kind, ID: r.PathValue("id"), Header: r.Header.Clone(), Body: body}
		if !a.noSnapshots.Load() {
			p.Stdout, p.Stderr = a.output()
		}
		if status := a.postStatus.Load(); status != 0 {
			http.Error(w, `{"errorType":"InvalidRequestID","errorMessage":"fake failure"}`, int(status))
		} else if a.closeAfterPost.Load() {
			// Answer as if the connection stayed open, then drop it: the client
			// finds out only when it reuses the connection.
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err == nil {
				buf.WriteString("HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"OK\"}")
				buf.Flush()
				conn.Close()
			}
		} else {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"status":"OK"}`)
		}
		a.posts <- p
	}
}

func (a *runtimeAPI) output() (stdout, stderr string) {
	a.outMu.Lock()
	defer a.outMu.Unlock()
	if a.stdoutPath == "" {
		return "", ""
	}
	o, _ := os.ReadFile(a.stdoutPath)
	e, _ := os.ReadFile(a.stderrPath)
	return string(o), string(e)
}

// waitPost returns the next POST the runtime makes.
func (a *runtimeAPI) waitPost(t testing.TB, rt *runtimeProc) *post {
	t.Helper()
	select {
	case p := <-a.posts:
		if _, bench := t.(*testing.B); !bench {
			t.Logf("runtime posted %s %s: %.600s", p.Kind, p.ID, p.Body)
		}
		return p
	case <-rt.exited:
		select {
		case p := <-a.posts: // posted, then exited
			return p
		default:
		}
		t.Fatalf("runtime exited (%v) before posting\nstdout:\n%s\nstderr:\n%s", rt.err, rt.stdout(), rt.stderr())
	case <-time.After(waitTimeout):
		t.Fatalf("no POST from the runtime within %v\nstdout:\n%s\nstderr:\n%s", waitTimeout, rt.stdout(), rt.stderr())
	}
	return nil
}

// invoke queues an event and returns what the runtime posted for it.
func (a *runtimeAPI) invoke(t testing.TB, rt *runtimeProc, inv invocation) *post {
	t.Helper()
	if inv.ID == "" {
		inv.ID = newRequestID()
	}
	a.queue <- inv
	p := a.waitPost(t, rt)
	if p.ID != inv.ID {
		t.Fatalf("POST %s for request %q; want request %q", p.Kind, p.ID, inv.ID)
	}
	return p
}

var requestSeq atomic.Int64

func newRequestID() string {
	return fmt.Sprintf("8476a536-e9f4-11e8-9739-%012d", requestSeq.Add(1))
}

// ---------------------------------------------------------------------------
// Runtime processes

var (
	pythonOnce sync.Once
	pythonPath string
	pythonErr  error

	nodeOnce sync.Once
	nodePath string
	nodeErr  error
)

// realPython resolves the real interpreter behind python3 (pyenv installs a
// slow shell shim on PATH). HEARTH_TEST_PYTHON picks another interpreter.
func realPython(t testing.TB) string {
	pythonOnce.Do(func() {
		name := "python3"
		if env := os.Getenv("HEARTH_TEST_PYTHON"); env != "" {
			name = env
		}
		p, err := exec.LookPath(name)
		if err != nil {
			pythonErr = err
			return
		}
		out, err := exec.Command(p, "-c", "import sys; print(sys.executable); print(sys.version_info >= (3, 9))").Output()
		if err != nil {
			pythonErr = fmt.Errorf("%s: %v", p, err)
			return
		}
		lines := strings.Fields(string(out))
		if len(lines) != 2 || lines[1] != "True" {
			pythonErr = fmt.Errorf("%s is older than Python 3.9 or odd: %q", p, out)
			return
		}
		pythonPath = lines[0]
	})
	if pythonErr != nil {
		t.Skipf("python3 not usable: %v", pythonErr)
	}
	return pythonPath
}

// realNode resolves node on PATH, or HEARTH_TEST_NODE.
func realNode(t testing.TB) string {
	nodeOnce.Do(func() {
		name := "node"
		if env := os.Getenv("HEARTH_TEST_NODE"); env != "" {
			name = env
		}
		p, err := exec.LookPath(name)
		if err != nil {
			nodeErr = err
			return
		}
		out, err := exec.Command(p, "-p", "process.versions.node.split('.')[0]").Output()
		if err != nil {
			nodeErr = fmt.Errorf("%s: %v", p, err)
			return
		}
		if major, _ := strconv.Atoi(strings.TrimSpace(string(out))); major < 18 {
			nodeErr = fmt.Errorf("%s is Node %s; need 18 or later", p, strings.TrimSpace(string(out)))
			return
		}
		nodePath = p
	})
	if nodeErr != nil {
		t.Skipf("node not usable: %v", nodeErr)
	}
	return nodePath
}

type runtimeProc struct {
	cmd        *exec.Cmd
	stdoutPath string
	stderrPath string
	exited     chan struct{}
	err        error // from Wait, valid once exited is closed
	started    time.Time
}

func (p *runtimeProc) stdout() string { b, _ := os.ReadFile(p.stdoutPath); return string(b) }
func (p *runtimeProc) stderr() string { b, _ := os.ReadFile(p.stderrPath); return string(b) }

// waitExit waits for the process to exit on its own and returns its exit code.
func (p *runtimeProc) waitExit(t testing.TB) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(waitTimeout):
		t.Fatalf("runtime did not exit within %v\nstdout:\n%s\nstderr:\n%s", waitTimeout, p.stdout(), p.stderr())
	}
	return p.cmd.ProcessState.ExitCode()
}

// launch is how the server starts each client; keep in sync with the comments
// at the top of python/bootstrap.py and node/bootstrap.mjs.
func launch(t testing.TB, lang, runtimeDir string) (args []string, executionEnv string) {
	switch lang {
	case "python":
		return []string{realPython(t), filepath.Join(runtimeDir, "bootstrap.py")}, "AWS_Lambda_python3.12"
	case "node":
		return []string{
			realNode(t),
			"--max-http-header-size=81920",
			filepath.Join(runtimeDir, "bootstrap.mjs"),
		}, "AWS_Lambda_nodejs20.x"
	}
	t.Fatalf("unknown runtime %q", lang)
	return nil, ""
}

var clientFiles = map[string]string{"python": "bootstrap.py", "node": "bootstrap.mjs"}

// installClient copies the client of lang into a fresh LAMBDA_RUNTIME_DIR, as
// the server does when it unpacks the embedded clients.
func installClient(t testing.TB, lang string) string {
	t.Helper()
	name := clientFiles[lang]
	b, err := os.ReadFile(filepath.Join(lang, name))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "runtime")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyTree copies the fixture directory, standing in for the unzipped code.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			if d.Name() == "__pycache__" {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy fixtures: %v", err)
	}
}

// startRuntime starts a client on the fixture code of lang with the given
// handler string, talking to a fresh fake Runtime API.
func startRuntime(t testing.TB, lang, handler string, extraEnv ...string) (*runtimeAPI, *runtimeProc) {
	t.Helper()
	return startRuntimeIn(t, lang, installClient(t, lang), handler, extraEnv...)
}

// startRuntimeIn is startRuntime with the client installed in runtimeDir.
func startRuntimeIn(t testing.TB, lang, runtimeDir, handler string, extraEnv ...string) (*runtimeAPI, *runtimeProc) {
	t.Helper()
	api := newRuntimeAPI(t)
	rt := startProcess(t, lang, runtimeDir, handler, api.addr(), extraEnv...)
	api.outMu.Lock()
	api.stdoutPath, api.stderrPath = rt.stdoutPath, rt.stderrPath
	api.outMu.Unlock()
	return api, rt
}

// startProcess starts the client of lang, installed in runtimeDir, on the
// fixture code with the given handler string, talking to the Runtime API at
// addr.
func startProcess(t testing.TB, lang, runtimeDir, handler, addr string, extraEnv ...string) *runtimeProc {
	t.Helper()
	args, execEnv := launch(t, lang, runtimeDir)
	root := t.TempDir()
	task := filepath.Join(root, "task")
	tmp := filepath.Join(root, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	copyTree(t, filepath.Join("testdata", lang), task)

	rt := &runtimeProc{
		stdoutPath: filepath.Join(root, "stdout"),
		stderrPath: filepath.Join(root, "stderr"),
		exited:     make(chan struct{}),
	}
	stdout, err := os.Create(rt.stdoutPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(rt.stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = task
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.Env = append([]string{
		"AWS_LAMBDA_RUNTIME_API=" + addr,
		"_HANDLER=" + handler,
		"LAMBDA_TASK_ROOT=" + task,
		"LAMBDA_RUNTIME_DIR=" + runtimeDir,
		"TMPDIR=" + tmp,
		"AWS_LAMBDA_FUNCTION_NAME=fixture",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(memorySizeMB),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/fixture",
		"AWS_LAMBDA_LOG_STREAM_NAME=2024/01/31/[$LATEST]3893a0d5e4a14d9fb45bcd3e1e6ed83c",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_EXECUTION_ENV=" + execEnv,
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"PATH=" + os.Getenv("PATH"),
		"LD_LIBRARY_PATH=" + task + ":" + task + "/lib",
		"NODE_PATH=" + runtimeDir + "/node_modules",
	}, extraEnv...)
	rt.cmd = cmd
	rt.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	go func() {
		rt.err = cmd.Wait()
		close(rt.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-rt.exited:
		default:
			cmd.Process.Kill()
			<-rt.exited
		}
	})
	return rt
}

// ---------------------------------------------------------------------------
// Assertion helpers

func decodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("invalid JSON %.300q: %v", b, err)
	}
	return v
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantResponse(t testing.TB, p *post, want any) {
	t.Helper()
	if p.Kind != "response" {
		t.Fatalf("runtime posted %s %s; want a response\nstdout:\n%s\nstderr:\n%s", p.Kind, p.Body, p.Stdout, p.Stderr)
	}
	if ct := p.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("response Content-Type = %q; want application/json", ct)
	}
	got := decodeJSON(t, p.Body)
	wantV := decodeJSON(t, mustJSON(t, want))
	if !reflect.DeepEqual(got, wantV) {
		t.Errorf("response = %s\nwant       %s", p.Body, mustJSON(t, want))
	}
}

// errorDoc decodes a posted error document, failing on unknown keys.
func errorDoc(t testing.TB, p *post, wantKind string, allowed ...string) map[string]any {
	t.Helper()
	if p.Kind != wantKind {
		t.Fatalf("runtime posted %s %s; want %s\nstdout:\n%s\nstderr:\n%s", p.Kind, p.Body, wantKind, p.Stdout, p.Stderr)
	}
	if ct := p.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s Content-Type = %q; want application/json", p.Kind, ct)
	}
	doc, ok := decodeJSON(t, p.Body).(map[string]any)
	if !ok {
		t.Fatalf("%s body is not an object: %s", p.Kind, p.Body)
	}
	keys := map[string]bool{}
	for _, k := range allowed {
		keys[k] = true
	}
	for k := range doc {
		if !keys[k] {
			t.Errorf("%s body has unexpected key %q: %s", p.Kind, k, p.Body)
		}
	}
	for k := range keys {
		if _, ok := doc[k]; !ok {
			t.Errorf("%s body lacks key %q: %s", p.Kind, k, p.Body)
		}
	}
	return doc
}

func stringList(t testing.TB, v any, what string) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("%s = %#v; want a JSON array", what, v)
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			t.Fatalf("%s[%d] = %#v; want a string", what, i, e)
		}
		out[i] = s
	}
	return out
}

func bigString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b strings.Builder
	b.Grow(n)
	for i := 0; i < n; i++ {
		b.WriteByte(alphabet[(i*7+i/13)%len(alphabet)])
	}
	return b.String()
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

const isoMillis = `\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z`

func wantLine(t testing.TB, output, pattern string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + pattern + `$`)
	if !re.MatchString(output) {
		t.Errorf("output has no line matching %q:\n%s", pattern, output)
	}
}

// ---------------------------------------------------------------------------
// Both clients

func TestClientsRoundTripExactPayload(t *testing.T) {
	tests := []struct {
		lang, handler, payload string
	}{
		// Python's json separators are ", " and ": " (as with the official client),
		// so the event is written in that form to come back byte for byte.
		{"python", "app.echo", `{"hello": "w\u00f6rld \ud83d\ude00", "n": [1, 2.5, -3e-07, null, true, false], "nested": {"k": "v", "empty": {}}}`},
		{"node", "index.echo", `{"hello":"wörld 😀","n":[1,2.5,-3e-7,null,true,false],"nested":{"k":"v","empty":{}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			t.Parallel()
			api, rt := startRuntime(t, tt.lang, tt.handler)
			p := api.invoke(t, rt, invocation{Body: []byte(tt.payload)})
			if p.Kind != "response" {
				t.Fatalf("posted %s %s; want response", p.Kind, p.Body)
			}
			want := tt.payload
			if tt.lang == "python" {
				// AWS_Lambda_python3.12 encodes non-ASCII as UTF-8, like the official client.
				want = `{"hello": "wörld 😀", "n": [1, 2.5, -3e-07, null, true, false], "nested": {"k": "v", "empty": {}}}`
			}
			if string(p.Body) != want {
				t.Errorf("response body = %s\nwant            %s", p.Body, want)
			}
			if ct := p.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q; want application/json", ct)
			}
		})
	}
}

func TestClientsStatePersistsAcrossInvocations(t *testing.T) {
	for _, tt := range []struct{ lang, handler string }{{"python", "app.counter"}, {"node", "index.counter"}} {
		t.Run(tt.lang, func(t *testing.T) {
			t.Parallel()
			api, rt := startRuntime(t, tt.lang, tt.handler)
			var pids []any
			for i := 1; i <= 3; i++ {
				p := api.invoke(t, rt, invocation{Body: []byte(`{}`)})
				got, _ := decodeJSON(t, p.Body).(map[string]any)
				if got["count"] != float64(i) {
					t.Errorf("invocation %d: count = %v; want %d", i, got["count"], i)
				}
				pids = append(pids, got["pid"])
			}
			if pids[0] != pids[1] || pids[1] != pids[2] || pids[0] != float64(rt.cmd.Process.Pid) {
				t.Errorf("pids = %v; want all %d", pids, rt.cmd.Process.Pid)
			}
			// After the third result the client asks for the next event at once.
			deadline := time.Now().Add(waitTimeout)
			for api.nextCount.Load() < 4 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if n := api.nextCount.Load(); n != 4 {
				t.Errorf("GET /next count = %d; want 4", n)
			}
		})
	}
}

func TestClientsLargePayloads(t *testing.T) {
	data := bigString(5 << 20)
	event := mustJSON(t, map[string]string{"data": data})
	for _, tt := range []struct {
		lang, handler string
		chunked       bool
	}{
		{"python", "app.big", false},
		{"python", "app.big", true},
		{"node", "index.big", false},
		{"node", "index.big", true},
	} {
		t.Run(fmt.Sprintf("%s/chunked=%v", tt.lang, tt.chunked), func(t *testing.T) {
			t.Parallel()
			api, rt := startRuntime(t, tt.lang, tt.handler)
			for i := 0; i < 2; i++ { // the second exchange reuses the connection
				p := api.invoke(t, rt, invocation{Body: event, Chunked: tt.chunked})
				if p.Kind != "response" {
					t.Fatalf("posted %s %.300s; want response", p.Kind, p.Body)
				}
				var got struct {
					Len  int    `json:"len"`
					Data string `json:"data"`
				}
				if err := json.Unmarshal(p.Body, &got); err != nil {
					t.Fatalf("response: %v", err)
				}
				if got.Len != len(data) || got.Data != reverse(data) {
					t.Fatalf("response len = %d (data %d bytes, matches = %v); want %d and the reversed data",
						got.Len, len(got.Data), got.Data == reverse(data), len(data))
				}
				if len(p.Body) < 5<<20 {
					t.Errorf("response is %d bytes; want more than 5 MB", len(p.Body))
				}
			}
		})
	}
}

func TestClientsEmptyEventIsNull(t *testing.T) {
	for _, tt := range []struct {
		lang, handler string
		want          any
	}{
		{"python", "app.none_event", map[string]bool{"event_is_none": true}},
		{"node", "index.nullEvent", map[string]bool{"eventIsNull": true}},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			t.Parallel()
			api, rt := startRuntime(t, tt.lang, tt.handler)
			wantResponse(t, api.invoke(t, rt, invocation{}), tt.want)
		})
	}
}

func TestClientsUnmarshalError(t *testing.T) {
	for _, tt := range []struct {
		lang, handler string
		keys          []string
	}{
		{"python", "app.echo", []string{"errorMessage", "errorType", "requestId", "stackTrace"}},
		{"node", "index.echo", []string{"errorMessage", "errorType", "trace"}},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			t.Parallel()
			api, rt := startRuntime(t, tt.lang, tt.handler)
			doc := errorDoc(t, api.invoke(t, rt, invocation{Body: []byte(`{"not json`)}), "error", tt.keys...)
			if doc["errorType"] != "Runtime.UnmarshalError" {
				t.Errorf("errorType = %v; want Runtime.UnmarshalError", doc["errorType"])
			}
			if msg, _ := doc["errorMessage"].(string); !strings.HasPrefix(msg, "Unable to unmarshal input: ") {
				t.Errorf("errorMessage = %q; want prefix %q", msg, "Unable to unmarshal input: ")
			}
			// The runtime keeps serving.
			wantResponse(t, api.invoke(t, rt, invocation{Body: []byte(`[1]`)}), []int{1})
		})
	}
}

func TestClientsMarshalError(t *testing.T) {
	for _, tt := range []struct {
		lang, handler, msg string
		keys               []string
	}{
		{"python", "app.unmarshalable", "Unable to marshal response: Object of type set is not JSON serializable",
			[]string{"errorMessage", "errorType", "requestId", "stackTrace"}},
		{"node", "index.unmarshalable", "Unable to stringify response body",
			[]string{"errorMessage", "errorType", "trace"}},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			t.Parallel()
			api, rt := startRuntime(t, tt.lang, tt.handler)
			doc := errorDoc(t, api.invoke(t, rt, invocation{Body: []byte(`{}`)}), "error", tt.keys...)
			if doc["errorType"] != "Runtime.MarshalError" || doc["errorMessage"] != tt.msg {
				t.Errorf("error = %v: %v; want Runtime.MarshalError: %s", doc["errorType"], doc["errorMessage"], tt.msg)
			}
		})
	}
}

// TestClientsSurviveOversizedResponse runs each client against Hearth's real
// Runtime API: a response over the 6 MB limit is answered with 413 and the
// invocation fails with Function.ResponseSizeTooLarge, but the runtime keeps
// serving (like AWS's Node client), so the next invocation is warm.
func TestClientsSurviveOversizedResponse(t *testing.T) {
	for _, lang := range []string{"python", "node"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			handler := map[string]string{"python": "app.sized", "node": "index.sized"}[lang]
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := runtimeapi.NewServer(ln, runtimeapi.Config{}, slog.New(slog.DiscardHandler))
			served := make(chan struct{})
			go func() { defer close(served); srv.Serve() }()
			t.Cleanup(func() { srv.Close(); <-served })
			rt := startProcess(t, lang, installClient(t, lang), handler, ln.Addr().String())

			invoke := func(n int) *runtimeapi.Response {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				res, err := srv.Invoke(ctx, &runtimeapi.Invocation{
					RequestID:   newRequestID(),
					Payload:     mustJSON(t, map[string]int{"bytes": n}),
					Deadline:    time.Now().Add(waitTimeout),
					FunctionARN: fixtureARN,
				})
				if err != nil {
					t.Fatalf("Invoke(%d bytes) = %v\nstdout:\n%s\nstderr:\n%s", n, err, rt.stdout(), rt.stderr())
				}
				return res
			}
			pid := func(res *runtimeapi.Response) float64 {
				t.Helper()
				if res.Error {
					t.Fatalf("invocation failed: %s %.300s\nstderr:\n%s", res.ErrorType, res.Body, rt.stderr())
				}
				m, _ := decodeJSON(t, res.Body).(map[string]any)
				return m["pid"].(float64)
			}

			before := pid(invoke(10))
			over := invoke(7 << 20)
			if !over.Error || over.ErrorType != "Function.ResponseSizeTooLarge" {
				t.Errorf("7 MB response: error %v, type %q; want Function.ResponseSizeTooLarge", over.Error, over.ErrorType)
			}
			select {
			case <-rt.exited:
				t.Fatalf("runtime exited after the oversized response (%v)\nstderr:\n%s", rt.err, rt.stderr())
			case <-time.After(200 * time.Millisecond):
			}
			if after := pid(invoke(10)); after != before {
				t.Errorf("invocation after the oversized response ran in pid %v; want the warm runtime, pid %v", after, before)
			}
		})
	}
}

func TestClientsReconnectWhenServerDropsIdleConnection(t *testing.T) {
	for _, tt := range []struct{ lang, handler string }{{"python", "app.counter"}, {"node", "index.counter"}} {
		t.Run(tt.lang, func(t *testing.T) {
			t.Parallel()
			api, rt := startRuntime(t, tt.lang, tt.handler)
			api.closeAfterPost.Store(true)
			for i := 1; i <= 3; i++ {
				p := api.invoke(t, rt, invocation{Body: []byte(`{}`)})
				got, _ := decodeJSON(t, p.Body).(map[string]any)
				if p.Kind != "response" || got["count"] != float64(i) {
					t.Fatalf("invocation %d: posted %s %s; want a response with count %d", i, p.Kind, p.Body, i)
				}
			}
		})
	}
}

func TestClientsExitWhenNextFails(t *testing.T) {
	for _, tt := range []struct{ lang, handler string }{{"python", "app.echo"}, {"node", "index.echo"}} {
		t.Run(tt.lang, func(t *testing.T) {
			t.Parallel()
			api, rt := startRuntime(t, tt.lang, tt.handler)
			api.nextStatus.Store(http.StatusInternalServerError)
			if code := rt.waitExit(t); code != 1 {
				t.Errorf("exit code = %d; want 1\nstderr:\n%s", code, rt.stderr())
			}
			if !strings.Contains(rt.stderr(), "500") {
				t.Errorf("stderr does not mention the status:\n%s", rt.stderr())
			}
		})
	}
}

func TestClientsExitWhenPostFails(t *testing.T) {
	for _, tt := range []struct{ lang, handler string }{{"python", "app.echo"}, {"node", "index.echo"}} {
		t.Run(tt.lang, func(t *testing.T) {
			t.Parallel()
			api, rt := startRuntime(t, tt.lang, tt.handler)
			api.postStatus.Store(http.StatusBadRequest)
			api.invoke(t, rt, invocation{Body: []byte(`{}`)})
			if code := rt.waitExit(t); code != 1 {
				t.Errorf("exit code = %d; want 1\nstderr:\n%s", code, rt.stderr())
			}
			if !strings.Contains(rt.stderr(), "400") {
				t.Errorf("stderr does not mention the status:\n%s", rt.stderr())
			}
		})
	}
}

// initErrorCase is an init failure and what the client must report.
type initErrorCase struct {
	handler   string
	errorType string
	message   string // substring of errorMessage
}

func runInitErrors(t *testing.T, lang string, cases []initErrorCase, keys []string, traceKey string) {
	for _, tt := range cases {
		t.Run(tt.handler, func(t *testing.T) {
			t.Parallel()
			api, rt := startRuntime(t, lang, tt.handler)
			p := api.waitPost(t, rt)
			doc := errorDoc(t, p, "init/error", keys...)
			if got := p.Header.Get("Lambda-Runtime-Function-Error-Type"); got != tt.errorType {
				t.Errorf("Lambda-Runtime-Function-Error-Type = %q; want %q", got, tt.errorType)
			}
			if doc["errorType"] != tt.errorType {
				t.Errorf("errorType = %v; want %s", doc["errorType"], tt.errorType)
			}
			if msg, _ := doc["errorMessage"].(string); !strings.Contains(msg, tt.message) {
				t.Errorf("errorMessage = %q; want it to contain %q", msg, tt.message)
			}
			stringList(t, doc[traceKey], traceKey)
			if code := rt.waitExit(t); code == 0 {
				t.Errorf("exit code = 0; want non-zero")
			}
			if n := api.nextCount.Load(); n != 0 {
				t.Errorf("GET /next called %d times after a failed init; want 0", n)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Python

func TestPythonContext(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "python", "app.context_fields")
	id := newRequestID()
	p := api.invoke(t, rt, invocation{ID: id, Body: []byte(`{}`), Headers: map[string]string{
		"Lambda-Runtime-Trace-Id":         fixtureTrace,
		"Lambda-Runtime-Client-Context":   `{"client":{"app_title":"Hearth Test","installation_id":"i-1"},"custom":{"k":"v"},"env":{"platform":"linux"}}`,
		"Lambda-Runtime-Cognito-Identity": `{"cognitoIdentityId":"us-east-1:id","cognitoIdentityPoolId":"us-east-1:pool"}`,
	}})
	if p.Kind != "response" {
		t.Fatalf("posted %s %s", p.Kind, p.Body)
	}
	got := decodeJSON(t, p.Body).(map[string]any)
	remaining, _ := got["remaining_ms"].(float64)
	if remaining <= 0 || remaining > 60000 {
		t.Errorf("get_remaining_time_in_millis() = %v; want in (0, 60000]", got["remaining_ms"])
	}
	delete(got, "remaining_ms")
	task := filepath.Dir(rt.stdoutPath) + "/task"
	want := map[string]any{
		"function_name":            "fixture",
		"function_version":         "$LATEST",
		"invoked_function_arn":     fixtureARN,
		"memory_limit_in_mb":       strconv.Itoa(memorySizeMB), // a string, as in AWS's client
		"memory_is_str":            true,
		"aws_request_id":           id,
		"log_group_name":           "/aws/lambda/fixture",
		"log_stream_name":          "2024/01/31/[$LATEST]3893a0d5e4a14d9fb45bcd3e1e6ed83c",
		"cognito_identity_id":      "us-east-1:id",
		"cognito_identity_pool_id": "us-east-1:pool",
		"client_context_custom":    map[string]any{"k": "v"},
		"client_context_app_title": "Hearth Test",
		"trace_id":                 fixtureTrace,
		"sys_path_0":               task,
		"cwd":                      task,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("context = %s\nwant      %s", mustJSON(t, got), mustJSON(t, want))
	}
}

func TestPythonHandlerError(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "python", "app.fail")
	id := newRequestID()
	p := api.invoke(t, rt, invocation{ID: id, Body: []byte(`"why"`)})
	doc := errorDoc(t, p, "error", "errorMessage", "errorType", "requestId", "stackTrace")
	if doc["errorType"] != "ValueError" || doc["errorMessage"] != "boom: why" || doc["requestId"] != id {
		t.Errorf("error = %s; want ValueError, \"boom: why\", requestId %s", p.Body, id)
	}
	trace := stringList(t, doc["stackTrace"], "stackTrace")
	if len(trace) != 1 || !strings.Contains(trace[0], `app.py", line `) || !strings.Contains(trace[0], "in fail\n") ||
		!strings.Contains(trace[0], `raise ValueError("boom: " + str(event))`) {
		t.Errorf("stackTrace = %q; want one frame in app.py's fail with its source line", trace)
	}
	if p.Header.Get("Lambda-Runtime-Function-Error-Type") != "" {
		t.Errorf("invocation errors carry no Lambda-Runtime-Function-Error-Type header (like the official client)")
	}
	// One line (one log event): the error's lines are joined with CR, as AWS's client does.
	wantLine(t, p.Stdout, regexp.QuoteMeta("[ERROR] ValueError: boom: why\rTraceback (most recent call last):\r")+
		"\u00a0\u00a0File \"[^\r\n]*app.py\", line \\d+, in fail\r\u00a0\u00a0\u00a0\u00a0"+
		regexp.QuoteMeta(`raise ValueError("boom: " + str(event))`))
	// Still serving.
	if p := api.invoke(t, rt, invocation{Body: []byte(`"again"`)}); p.Kind != "error" {
		t.Errorf("second invocation posted %s; want error", p.Kind)
	}
}

func TestPythonInitErrors(t *testing.T) {
	runInitErrors(t, "python", []initErrorCase{
		{"nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot': not enough values to unpack"},
		{"no_such_module.handler", "Runtime.ImportModuleError", "Unable to import module 'no_such_module': No module named 'no_such_module'"},
		{"import_missing.handler", "Runtime.ImportModuleError", "Unable to import module 'import_missing': No module named 'hearth_no_such_dependency'"},
		{"syntax_error.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'syntax_error'"},
		{"app.no_such_function", "Runtime.HandlerNotFound", "Handler 'no_such_function' missing on module 'app'"},
		{"init_raises.handler", "ConfigurationError", "missing TABLE_NAME"},
		{"sys.handler", "Runtime.BuiltInModuleConflict", "Cannot use built-in module sys as a handler module"},
	}, []string{"errorMessage", "errorType", "requestId", "stackTrace"}, "stackTrace")
}

func TestPythonInitExceptionTrace(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "python", "init_raises.handler")
	p := api.waitPost(t, rt)
	doc := errorDoc(t, p, "init/error", "errorMessage", "errorType", "requestId", "stackTrace")
	trace := stringList(t, doc["stackTrace"], "stackTrace")
	if len(trace) == 0 || !strings.Contains(trace[len(trace)-1], "init_raises.py\", line 5, in <module>") {
		t.Errorf("stackTrace = %q; want it to end in init_raises.py line 5", trace)
	}
	for _, f := range trace {
		if strings.Contains(f, "bootstrap.py") {
			t.Errorf("stackTrace shows the client's own frame: %q", f)
		}
	}
	wantLine(t, p.Stdout, regexp.QuoteMeta("[ERROR] ConfigurationError: missing TABLE_NAME\rTraceback (most recent call last):\r")+"[^\n]*")
}

func TestPythonSrcPathHandler(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "python", "src/app.handler")
	wantResponse(t, api.invoke(t, rt, invocation{Body: []byte(`{"x": 1}`)}),
		map[string]any{"from": "src/app", "event": map[string]any{"x": 1}})
}

func TestPythonLogFormat(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "python", "app.logs")
	id := newRequestID()
	p := api.invoke(t, rt, invocation{ID: id, Body: []byte(`{}`)})
	wantResponse(t, p, "logged")
	// Everything the handler wrote is on disk before the response is posted.
	wantLine(t, p.Stdout, "app.py imported")
	wantLine(t, p.Stdout, "plain print line")
	wantLine(t, p.Stdout, `\[WARNING\]\t`+isoMillis+`\t`+id+`\thello logging`)
	if !strings.HasSuffix(p.Stdout, "partial line without newline") {
		t.Errorf("stdout at POST time does not end with the unterminated line:\n%q", p.Stdout)
	}
	wantLine(t, p.Stderr, "to stderr")
}

func TestPythonLoggingConfiguredAtImport(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "python", "init_logging.handler")
	id := newRequestID()
	p := api.invoke(t, rt, invocation{ID: id, Body: []byte(`{}`)})
	// basicConfig-style duplicates would show up as a second handler.
	wantResponse(t, p, map[string]int{"handlers": 1})
	wantLine(t, p.Stdout, `\[INFO\]\t`+isoMillis+`\t\tcold start`)
	wantLine(t, p.Stdout, `\[INFO\]\t`+isoMillis+`\t`+id+`\tin handler 7`)
	wantLine(t, p.Stdout, `\[ERROR\]\t`+isoMillis+`\t`+id+`\tchild logger`)
}

func TestPythonLogLevelFromEnvironment(t *testing.T) {
	// The handler sets no level, so the root logger's default (WARNING) applies
	// unless the client honours AWS_LAMBDA_LOG_LEVEL.
	tests := []struct {
		level string
		want  []string // records printed, of debug, info, warning, error
	}{
		{"", []string{"warning", "error"}},
		{"DEBUG", []string{"debug", "info", "warning", "error"}},
		{"TRACE", []string{"debug", "info", "warning", "error"}}, // logging has no TRACE
		{"info", []string{"info", "warning", "error"}},
		{"ERROR", []string{"error"}},
	}
	for _, tt := range tests {
		t.Run("level="+tt.level, func(t *testing.T) {
			t.Parallel()
			api, rt := startRuntime(t, "python", "app.log_levels", "AWS_LAMBDA_LOG_LEVEL="+tt.level)
			p := api.invoke(t, rt, invocation{Body: []byte(`{}`)})
			wantResponse(t, p, "logged")
			var got []string
			for _, name := range []string{"debug", "info", "warning", "error"} {
				if strings.Contains(p.Stdout, "\t"+name+" record\n") {
					got = append(got, name)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("AWS_LAMBDA_LOG_LEVEL=%q printed %q; want %q\nstdout:\n%s", tt.level, got, tt.want, p.Stdout)
			}
		})
	}
}

// jsonLines decodes the lines of output that are JSON objects and returns
// them with the lines that are not.
func jsonLines(t testing.TB, output string) (records []map[string]any, plain []string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSuffix(output, "\n"), "\n") {
		var m map[string]any
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &m) == nil {
			records = append(records, m)
		} else {
			plain = append(plain, line)
		}
	}
	return records, plain
}

func TestPythonJSONLogFormat(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "python", "app.json_logs", "AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=INFO")
	id := newRequestID()
	p := api.invoke(t, rt, invocation{ID: id, Body: []byte(`{}`)})
	wantResponse(t, p, "logged")
	records, plain := jsonLines(t, p.Stdout)
	// print() stays plain text, as with AWS's client.
	if want := []string{"app.py imported", "plain print line"}; !reflect.DeepEqual(plain, want) {
		t.Errorf("plain lines = %q; want %q", plain, want)
	}
	if len(records) != 3 {
		t.Fatalf("JSON records = %d; want 3 (the DEBUG one filtered out):\n%s", len(records), p.Stdout)
	}
	ts := regexp.MustCompile(`^` + isoMillis + `$`)
	for _, r := range records {
		if s, _ := r["timestamp"].(string); !ts.MatchString(s) {
			t.Errorf("timestamp = %v; want ISO time with milliseconds", r["timestamp"])
		}
		delete(r, "timestamp")
	}
	if want := map[string]any{"level": "INFO", "message": "hello json", "logger": "root", "requestId": id}; !reflect.DeepEqual(records[0], want) {
		t.Errorf("info record = %v; want %v", records[0], want)
	}
	if want := map[string]any{"level": "WARNING", "message": "with extra", "logger": "child", "requestId": id, "k": "v"}; !reflect.DeepEqual(records[1], want) {
		t.Errorf("warning record = %v; want %v", records[1], want)
	}
	exc := records[2]
	if exc["level"] != "ERROR" || exc["message"] != "caught" || exc["errorType"] != "KeyError" || exc["errorMessage"] != "'missing'" ||
		!strings.Contains(fmt.Sprint(exc["stackTrace"]), "in json_logs") || !regexp.MustCompile(`/app\.py:json_logs:\d+$`).MatchString(fmt.Sprint(exc["location"])) {
		t.Errorf("exception record = %v; want level ERROR, errorType KeyError, errorMessage 'missing', stackTrace and location", exc)
	}
}

func TestPythonJSONErrorLog(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "python", "app.fail", "AWS_LAMBDA_LOG_FORMAT=JSON")
	id := newRequestID()
	p := api.invoke(t, rt, invocation{ID: id, Body: []byte(`"why"`)})
	errorDoc(t, p, "error", "errorMessage", "errorType", "requestId", "stackTrace")
	records, _ := jsonLines(t, p.Stdout)
	if len(records) != 1 {
		t.Fatalf("JSON records = %d; want the error:\n%s", len(records), p.Stdout)
	}
	r := records[0]
	// AWS's client stamps error records with seconds, no zone.
	if ts, _ := r["timestamp"].(string); !regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`).MatchString(ts) {
		t.Errorf("timestamp = %q", ts)
	}
	if r["level"] != "ERROR" || r["errorType"] != "ValueError" || r["errorMessage"] != "boom: why" || r["requestId"] != id {
		t.Errorf("error record = %v; want level ERROR, ValueError, boom: why, requestId %s", r, id)
	}
	if trace := stringList(t, r["stackTrace"], "stackTrace"); len(trace) != 1 || !strings.Contains(trace[0], "in fail") {
		t.Errorf("stackTrace = %q", trace)
	}
}

func TestPythonSpecialResults(t *testing.T) {
	t.Run("bytes", func(t *testing.T) {
		t.Parallel()
		api, rt := startRuntime(t, "python", "app.raw_bytes")
		p := api.invoke(t, rt, invocation{Body: []byte(`{}`)})
		if p.Kind != "response" || string(p.Body) != "\x00raw\xff" {
			t.Errorf("posted %s %q; want the raw bytes", p.Kind, p.Body)
		}
		if ct := p.Header.Get("Content-Type"); ct != "application/unknown" {
			t.Errorf("Content-Type = %q; want application/unknown", ct)
		}
	})
	t.Run("decimal", func(t *testing.T) {
		t.Parallel()
		api, rt := startRuntime(t, "python", "app.decimal_result")
		p := api.invoke(t, rt, invocation{Body: []byte(`{}`)})
		// AWS's client writes str(Decimal) verbatim: trailing zeros, every digit
		// and exponents stay; NaN is NaN.
		want := `{"int": 42, "frac": 1.5, "zeros": 1.50, "long": 0.1000000000000000055511151231257827, ` +
			`"exp": 1E+2, "nan": NaN, "list": [-0.000001, "\u0000not a decimal"]}`
		if p.Kind != "response" || string(p.Body) != want {
			t.Errorf("posted %s %s\nwant %s", p.Kind, p.Body, want)
		}
	})
	t.Run("float event", func(t *testing.T) {
		// AWS's client parses event numbers as float (simplejson's default), not
		// Decimal: handlers do float arithmetic on them. The number's value
		// survives the round trip; its text becomes float's shortest form.
		t.Parallel()
		api, rt := startRuntime(t, "python", "app.float_event")
		p := api.invoke(t, rt, invocation{Body: []byte(`{"x": 0.1000000000000000055511151231257827}`)})
		if want := `{"event": {"x": 0.1}, "type": "float"}`; p.Kind != "response" || string(p.Body) != want {
			t.Errorf("posted %s %s; want %s", p.Kind, p.Body, want)
		}
	})
}

func TestPythonCodeCache(t *testing.T) {
	t.Parallel()
	dir := installClient(t, "python")
	script := filepath.Join(dir, "bootstrap.py")
	cacheFile := func() string {
		t.Helper()
		m, _ := filepath.Glob(filepath.Join(dir, "__pycache__", "bootstrap.*.hearth"))
		if len(m) != 1 {
			t.Fatalf("cache files = %q; want exactly one", m)
		}
		return m[0]
	}
	roundTrip := func() {
		t.Helper()
		api, rt := startRuntimeIn(t, "python", dir, "app.echo")
		wantResponse(t, api.invoke(t, rt, invocation{Body: []byte(`{"ok": true}`)}), map[string]bool{"ok": true})
		rt.cmd.Process.Kill()
		<-rt.exited
	}

	if out, err := exec.Command(realPython(t), script, "--precompile").CombinedOutput(); err != nil {
		t.Fatalf("bootstrap.py --precompile: %v\n%s", err, out)
	}
	cache := cacheFile()
	precompiled, _ := os.ReadFile(cache)

	roundTrip()
	if now, _ := os.ReadFile(cacheFile()); !bytes.Equal(now, precompiled) {
		t.Errorf("a fresh cache was rewritten by a runtime start")
	}

	// Editing bootstrap.py (as an upgrade does) invalidates the cache.
	f, err := os.OpenFile(script, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n# edited\n")
	f.Close()
	roundTrip()
	rewritten, _ := os.ReadFile(cacheFile())
	if bytes.Equal(rewritten, precompiled) {
		t.Errorf("the cache was not rewritten after bootstrap.py changed")
	}

	// A corrupt cache (right stamp, bad code) is ignored and replaced.
	stamp := bytes.SplitAfter(rewritten, []byte("\n"))[0]
	if err := os.WriteFile(cache, append(stamp, "garbage"...), 0o644); err != nil {
		t.Fatal(err)
	}
	roundTrip()
	if now, _ := os.ReadFile(cacheFile()); !bytes.HasPrefix(now, stamp) || bytes.HasSuffix(now, []byte("garbage")) {
		t.Errorf("the corrupt cache was not replaced")
	}
}

// ---------------------------------------------------------------------------
// Node.js

func TestNodeHandlers(t *testing.T) {
	tests := []struct {
		name, handler string
		event         string
		want          any
	}{
		{"CommonJSAsync", "index.echo", `{"a":1}`, map[string]any{"a": 1}},
		{"ESModuleMjs", "esm.handler", `{"b":2}`, map[string]any{"esm": true, "count": 1, "event": map[string]any{"b": 2}}},
		{"ESModuleDefaultExport", "esm.viaDefault", `{}`, map[string]any{"viaDefault": true}},
		{"PackageTypeModule", "esmpkg/app.handler", `"x"`, map[string]any{"typeModule": true, "file": "app.js", "event": "x"}},
		{"CommonJSCjsCallback", "cjsext/app.handler", `{}`, map[string]any{"cjs": true}},
		{"Callback", "index.callback", `[1,2]`, map[string]any{"via": "callback", "event": []any{1, 2}}},
		{"NestedExport", "index.nested.deep.handler", `{}`, map[string]any{"nested": true}},
		{"ContextSucceed", "index.succeed", `{}`, map[string]any{"via": "succeed"}},
		{"SyncWithoutCallbackIsNull", "index.syncNoCallback", `{}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api, rt := startRuntime(t, "node", tt.handler)
			wantResponse(t, api.invoke(t, rt, invocation{Body: []byte(tt.event)}), tt.want)
		})
	}
}

func TestNodeContext(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "node", "index.context")
	id := newRequestID()
	p := api.invoke(t, rt, invocation{ID: id, Body: []byte(`{}`), Headers: map[string]string{
		"Lambda-Runtime-Trace-Id":         fixtureTrace,
		"Lambda-Runtime-Client-Context":   `{"client":{"appTitle":"Hearth Test"},"custom":{"k":"v"},"env":{"platform":"linux"}}`,
		"Lambda-Runtime-Cognito-Identity": `{"cognitoIdentityId":"us-east-1:id","cognitoIdentityPoolId":"us-east-1:pool"}`,
	}})
	if p.Kind != "response" {
		t.Fatalf("posted %s %s", p.Kind, p.Body)
	}
	got := decodeJSON(t, p.Body).(map[string]any)
	remaining, _ := got["remainingMs"].(float64)
	if remaining <= 0 || remaining > 60000 {
		t.Errorf("getRemainingTimeInMillis() = %v; want in (0, 60000]", got["remainingMs"])
	}
	delete(got, "remainingMs")
	want := map[string]any{
		"functionName":                   "fixture",
		"functionVersion":                "$LATEST",
		"invokedFunctionArn":             fixtureARN,
		"memoryLimitInMB":                strconv.Itoa(memorySizeMB),
		"awsRequestId":                   id,
		"logGroupName":                   "/aws/lambda/fixture",
		"logStreamName":                  "2024/01/31/[$LATEST]3893a0d5e4a14d9fb45bcd3e1e6ed83c",
		"identity":                       map[string]any{"cognitoIdentityId": "us-east-1:id", "cognitoIdentityPoolId": "us-east-1:pool"},
		"clientContext":                  map[string]any{"client": map[string]any{"appTitle": "Hearth Test"}, "custom": map[string]any{"k": "v"}, "env": map[string]any{"platform": "linux"}},
		"callbackWaitsForEmptyEventLoop": true,
		"hasDone":                        true,
		"hasSucceed":                     true,
		"hasFail":                        true,
		"traceId":                        fixtureTrace,
		"cwd":                            filepath.Dir(rt.stdoutPath) + "/task",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("context = %s\nwant      %s", mustJSON(t, got), mustJSON(t, want))
	}
}

func TestNodeHandlerErrors(t *testing.T) {
	tests := []struct {
		name, handler, event   string
		errorType, message     string
		traceHead, traceSubstr string
	}{
		{"AsyncThrow", "index.fail", `{"why":"because"}`, "TypeError", "bad thing: because", "TypeError: bad thing: because", "index.js"},
		{"CallbackError", "index.callbackError", `{}`, "RangeError", "callback failed", "RangeError: callback failed", "index.js"},
		{"SyncThrow", "index.syncThrow", `{}`, "Error", "sync throw", "Error: sync throw", "index.js"},
		{"PromiseNeverSettles", "index.neverSettles", `{}`, "Runtime.NodeJsExit", "Promise that was never settled", "Runtime.NodeJsExit", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api, rt := startRuntime(t, "node", tt.handler)
			for i := 0; i < 2; i++ { // the runtime survives handler errors
				p := api.invoke(t, rt, invocation{Body: []byte(tt.event)})
				doc := errorDoc(t, p, "error", "errorType", "errorMessage", "trace")
				if doc["errorType"] != tt.errorType {
					t.Errorf("errorType = %v; want %s", doc["errorType"], tt.errorType)
				}
				if msg, _ := doc["errorMessage"].(string); !strings.Contains(msg, tt.message) {
					t.Errorf("errorMessage = %q; want it to contain %q", msg, tt.message)
				}
				trace := stringList(t, doc["trace"], "trace")
				if len(trace) == 0 || !strings.HasPrefix(trace[0], tt.traceHead) || !strings.Contains(strings.Join(trace, "\n"), tt.traceSubstr) {
					t.Errorf("trace = %q; want it to start with %q and mention %q", trace, tt.traceHead, tt.traceSubstr)
				}
				wantLine(t, p.Stdout, isoMillis+`\t`+p.ID+`\tERROR\tInvoke Error \t\{"errorType":"`+regexp.QuoteMeta(tt.errorType)+`".*`)
			}
		})
	}
}

func TestNodeUnhandledRejectionDuringInvoke(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "node", "index.rejection")
	p := api.invoke(t, rt, invocation{Body: []byte(`{}`)})
	doc := errorDoc(t, p, "error", "errorType", "errorMessage", "trace")
	if doc["errorType"] != "Runtime.UnhandledPromiseRejection" || doc["errorMessage"] != "Error: nobody handles me" {
		t.Errorf("error = %s; want Runtime.UnhandledPromiseRejection: Error: nobody handles me", p.Body)
	}
	if code := rt.waitExit(t); code == 0 {
		t.Errorf("exit code = 0; want non-zero")
	}
	wantLine(t, rt.stdout(), isoMillis+`\t`+p.ID+`\tERROR\tUnhandled Promise Rejection \t\{"errorType":"Runtime.UnhandledPromiseRejection".*`)
}

func TestNodeInitErrors(t *testing.T) {
	runInitErrors(t, "node", []initErrorCase{
		{"index", "Runtime.MalformedHandlerName", "Bad handler"},
		{"../index.echo", "Runtime.MalformedHandlerName", "'../index.echo' is not a valid handler name"},
		{"nosuchfile.handler", "Runtime.ImportModuleError", "Error: Cannot find module 'nosuchfile'"},
		{"missingdep.handler", "Runtime.ImportModuleError", "Cannot find module 'hearth-no-such-dependency'"},
		{"syntax.handler", "Runtime.UserCodeSyntaxError", "SyntaxError: Unexpected token"},
		{"index.nothere", "Runtime.HandlerNotFound", "index.nothere is undefined or not exported"},
		{"notfunction.handler", "Runtime.HandlerNotFound", "notfunction.handler is not a function"},
		{"initthrow.handler", "RangeError", "init failed on purpose"},
		{"syntaxesm.handler", "Runtime.UserCodeSyntaxError", "SyntaxError: Unexpected token"},
		{"esmmissing.handler", "Runtime.ImportModuleError", "hearth-no-such-esm-dependency"},
		{"initrejection.handler", "Runtime.UnhandledPromiseRejection", "Error: rejected during init"},
	}, []string{"errorType", "errorMessage", "trace"}, "trace")
}

func TestNodeInitErrorExitCodes(t *testing.T) {
	// The official client's codes: 129 after an uncaught exception, 128 after an
	// unhandled rejection.
	for _, tt := range []struct {
		handler string
		code    int
	}{{"initthrow.handler", 129}, {"nosuchfile.handler", 129}, {"initrejection.handler", 128}} {
		t.Run(tt.handler, func(t *testing.T) {
			t.Parallel()
			api, rt := startRuntime(t, "node", tt.handler)
			if p := api.waitPost(t, rt); p.Kind != "init/error" {
				t.Fatalf("posted %s; want init/error", p.Kind)
			}
			if code := rt.waitExit(t); code != tt.code {
				t.Errorf("exit code = %d; want %d", code, tt.code)
			}
		})
	}
}

func TestNodeUncaughtExceptionDuringInvoke(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "node", "timerthrow.handler")
	p := api.invoke(t, rt, invocation{Body: []byte(`{}`)})
	doc := errorDoc(t, p, "error", "errorType", "errorMessage", "trace")
	if doc["errorType"] != "SyntaxError" || doc["errorMessage"] != "thrown from a timer" {
		t.Errorf("error = %s; want SyntaxError: thrown from a timer", p.Body)
	}
	if code := rt.waitExit(t); code != 129 {
		t.Errorf("exit code = %d; want 129", code)
	}
	wantLine(t, rt.stdout(), isoMillis+`	`+p.ID+`	ERROR	Uncaught Exception \t\{"errorType":"SyntaxError".*`)
}

func TestNodeInitErrorLogLine(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "node", "nosuchfile.handler")
	p := api.waitPost(t, rt)
	if p.Kind != "init/error" {
		t.Fatalf("posted %s; want init/error", p.Kind)
	}
	// The official client logs init failures with the request id "undefined".
	wantLine(t, p.Stdout, isoMillis+`\tundefined\tERROR\tUncaught Exception \t\{"errorType":"Runtime.ImportModuleError".*`)
}

func TestNodeLogFormat(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "node", "index.logs")
	id := newRequestID()
	p := api.invoke(t, rt, invocation{ID: id, Body: []byte(`{}`)})
	wantResponse(t, p, "logged")
	prefix := isoMillis + `\t` + id + `\t`
	wantLine(t, p.Stdout, isoMillis+`\tundefined\tINFO\tindex.js loaded`)
	wantLine(t, p.Stdout, prefix+`INFO\thello world \{ a: 1 \}`)
	wantLine(t, p.Stdout, prefix+`INFO\tinfo line`)
	wantLine(t, p.Stdout, prefix+`WARN\twarn line`)
	// One line (one log event): the stack's newlines are CRs, as in AWS's client.
	wantLine(t, p.Stdout, prefix+"ERROR\terror line Error: logged error\r    at [^\n]*index\\.js[^\n]*")
	wantLine(t, p.Stdout, prefix+`DEBUG\tdebug line`)
	if p.Stderr != "" {
		t.Errorf("stderr = %q; want nothing (console output goes to stdout, like the official client)", p.Stderr)
	}
}

func TestNodeJSONLogFormat(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "node", "index.jsonLogs", "AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=INFO")
	id := newRequestID()
	p := api.invoke(t, rt, invocation{ID: id, Body: []byte(`{}`)})
	wantResponse(t, p, "logged")
	records, plain := jsonLines(t, p.Stdout)
	if len(plain) != 0 {
		t.Errorf("non-JSON lines: %q", plain)
	}
	ts := regexp.MustCompile(`^` + isoMillis + `$`)
	for _, r := range records {
		if s, _ := r["timestamp"].(string); !ts.MatchString(s) {
			t.Errorf("timestamp = %v; want ISO time with milliseconds", r["timestamp"])
		}
		delete(r, "timestamp")
	}
	if len(records) != 4 {
		t.Fatalf("records = %d; want 4 (DEBUG filtered out):\n%s", len(records), p.Stdout)
	}
	// Before the first invocation there is no request id: the key is left out.
	if want := map[string]any{"level": "INFO", "message": "index.js loaded"}; !reflect.DeepEqual(records[0], want) {
		t.Errorf("init record = %v; want %v", records[0], want)
	}
	// A single argument stays a JSON value.
	if want := map[string]any{"level": "INFO", "requestId": id, "message": map[string]any{"a": float64(1)}}; !reflect.DeepEqual(records[1], want) {
		t.Errorf("object record = %v; want %v", records[1], want)
	}
	r := records[2]
	if msg, _ := r["message"].(string); r["level"] != "INFO" || r["requestId"] != id || !strings.HasPrefix(msg, "two args RangeError: inside\n") ||
		r["errorType"] != "RangeError" || r["errorMessage"] != "inside" || len(stringList(t, r["stackTrace"], "stackTrace")) < 2 {
		t.Errorf("record with an error = %v; want util.format text and the error's type, message and stack", r)
	}
	if want := map[string]any{"level": "WARN", "requestId": id, "message": "multi\nline"}; !reflect.DeepEqual(records[3], want) {
		t.Errorf("warn record = %v; want %v", records[3], want)
	}

	// The invoke error of a failing handler is one ERROR record holding the error.
	api2, rt2 := startRuntime(t, "node", "index.fail", "AWS_LAMBDA_LOG_FORMAT=JSON")
	id = newRequestID()
	p = api2.invoke(t, rt2, invocation{ID: id, Body: []byte(`{"why":"x"}`)})
	records, _ = jsonLines(t, p.Stdout)
	last := records[len(records)-1]
	errRec, _ := last["message"].(map[string]any)
	if last["level"] != "ERROR" || last["requestId"] != id || errRec["errorType"] != "TypeError" || errRec["errorMessage"] != "bad thing: x" {
		t.Errorf("error record = %v; want ERROR with message {errorType: TypeError, errorMessage: bad thing: x, ...}", last)
	}
}

func TestNodeLogLevelFromEnvironment(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "node", "index.logs", "AWS_LAMBDA_LOG_LEVEL=WARN")
	p := api.invoke(t, rt, invocation{Body: []byte(`{}`)})
	if strings.Contains(p.Stdout, "info line") || strings.Contains(p.Stdout, "debug line") {
		t.Errorf("INFO/DEBUG lines printed with AWS_LAMBDA_LOG_LEVEL=WARN:\n%s", p.Stdout)
	}
	if !strings.Contains(p.Stdout, "\tWARN\twarn line") {
		t.Errorf("WARN line missing:\n%s", p.Stdout)
	}
}

func TestNodeCallbackWaitsForEmptyEventLoop(t *testing.T) {
	t.Run("waits", func(t *testing.T) {
		t.Parallel()
		api, rt := startRuntime(t, "node", "index.waits")
		p := api.invoke(t, rt, invocation{Body: []byte(`{}`)})
		wantResponse(t, p, "waited")
		if !strings.Contains(p.Stdout, "timer fired") {
			t.Errorf("response posted before the pending timer ran:\n%s", p.Stdout)
		}
	})
	t.Run("does not wait", func(t *testing.T) {
		t.Parallel()
		api, rt := startRuntime(t, "node", "index.noWait")
		p := api.invoke(t, rt, invocation{Body: []byte(`{}`)})
		wantResponse(t, p, "did not wait")
		if strings.Contains(p.Stdout, "timer fired") {
			t.Errorf("response waited for the timer although callbackWaitsForEmptyEventLoop = false:\n%s", p.Stdout)
		}
		// The leftover timer runs during the next invocation's wait; the runtime carries on.
		wantResponse(t, api.invoke(t, rt, invocation{Body: []byte(`{}`)}), "did not wait")
	})
}

// ---------------------------------------------------------------------------
// Benchmarks: start-up (process start → first GET /next) and per-invoke cost.
//
//	go test -run '^$' -bench . -benchtime 20x ./internal/runtimes/

func BenchmarkColdStart(b *testing.B) {
	for _, tt := range []struct{ lang, handler string }{{"python", "minimal.handler"}, {"node", "minimal.handler"}} {
		b.Run(tt.lang, func(b *testing.B) {
			dir := installClient(b, tt.lang) // shared, so the Python client's code cache is warm
			var total time.Duration
			for i := 0; i < b.N; i++ {
				api, rt := startRuntimeIn(b, tt.lang, dir, tt.handler)
				select {
				case at := <-api.nexts:
					total += at.Sub(rt.started)
				case <-rt.exited:
					b.Fatalf("runtime exited: %v\n%s", rt.err, rt.stderr())
				case <-time.After(waitTimeout):
					b.Fatal("no GET /next")
				}
				rt.cmd.Process.Kill()
				<-rt.exited
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/start")
		})
	}
}

func BenchmarkInvoke(b *testing.B) {
	event := []byte(`{"key1":"value1","key2":"value2","key3":"value3"}`)
	for _, tt := range []struct{ lang, handler string }{{"python", "minimal.handler"}, {"node", "minimal.handler"}} {
		b.Run(tt.lang, func(b *testing.B) {
			api, rt := startRuntime(b, tt.lang, tt.handler)
			api.noSnapshots.Store(true)
			api.invoke(b, rt, invocation{Body: event}) // warm up
			cpu0 := cpuTime(rt.cmd.Process.Pid)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				api.invoke(b, rt, invocation{ID: "req-" + strconv.Itoa(i), Body: event})
			}
			b.StopTimer()
			if cpu0 >= 0 {
				b.ReportMetric(float64((cpuTime(rt.cmd.Process.Pid)-cpu0).Microseconds())/float64(b.N), "runtime-cpu-µs/op")
			}
		})
	}
	// The floor: the same exchange driven by a Go client in this process.
	b.Run("go-client", func(b *testing.B) {
		done := make(chan struct{})
		b.Cleanup(func() { <-done }) // runs after the fake API has shut down
		api := newRuntimeAPI(b)
		api.noSnapshots.Store(true)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		go func() {
			defer close(done)
			base := "http://" + api.addr() + "/2018-06-01/runtime/invocation/"
			for {
				resp, err := client.Get(base + "next")
				if err != nil {
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return
				}
				id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
				if id == "" {
					return
				}
				resp, err = client.Post(base+id+"/response", "application/json", bytes.NewReader(body))
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		rt := &runtimeProc{exited: make(chan struct{})}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			api.invoke(b, rt, invocation{ID: "req-" + strconv.Itoa(i), Body: event})
		}
		b.StopTimer()
	})
}

// cpuTime is the user+system CPU time of a process so far (Linux), or -1.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the parenthesised command name; utime and stime are 14 and 15.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		return -1
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// TestPythonOutputUnbuffered checks that what a handler writes reaches the
// output at once, newline or not, as with Lambda's client (which wraps
// stdout and stderr to flush at every write), even when the process then
// dies without flushing. The server starts the client without
// PYTHONUNBUFFERED, which Lambda does not set either.
func TestPythonOutputUnbuffered(t *testing.T) {
	t.Parallel()
	api, rt := startRuntime(t, "python", "app.partial_then_exit")
	api.queue <- invocation{ID: newRequestID(), Body: []byte(`{}`)}
	if code := rt.waitExit(t); code != 7 {
		t.Fatalf("exit code = %d; want 7 (os._exit in the handler)\nstderr:\n%s", code, rt.stderr())
	}
	if out := rt.stdout(); !strings.Contains(out, "out-without-newline") || !strings.Contains(out, "print-without-newline") {
		t.Errorf("stdout = %q; want the handler's unterminated writes", out)
	}
	if errOut := rt.stderr(); !strings.Contains(errOut, "err-without-newline") {
		t.Errorf("stderr = %q; want the handler's unterminated write", errOut)
	}
}
