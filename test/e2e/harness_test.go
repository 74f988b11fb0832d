// Package e2e drives a real hearth binary with real clients: it builds
// cmd/hearth (with the race detector when the tests run under it), starts
// it on a fresh data directory, and talks to it with aws-sdk-go-v2. The
// functions are real too: a Go function built with aws-lambda-go, and
// Python and Node functions on Hearth's own runtime clients.
package e2e

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	// testdata/gofn is built with aws-lambda-go; importing it here keeps
	// it in go.mod, since go mod tidy does not look into testdata.
	_ "github.com/aws/aws-lambda-go/lambda"

	"hearth/internal/auth"
)

var (
	hearthBin string // built in TestMain
	goFnBin   []byte // the aws-lambda-go function's bootstrap
	goFnZip   []byte // the same, zipped
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hearth-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildErr = build(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func build(dir string) error {
	hearthBin = filepath.Join(dir, "hearth")
	args := []string{"build", "-o", hearthBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "hearth/cmd/hearth")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build hearth: %v\n%s", err, out)
	}
	boot := filepath.Join(dir, "bootstrap")
	cmd = exec.Command("go", "build", "-o", boot, "./testdata/gofn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build go function: %v\n%s", err, out)
	}
	b, err := os.ReadFile(boot)
	if err != nil {
		return err
	}
	goFnBin = b
	goFnZip = zipFiles(map[string]zipFile{"bootstrap": {data: b, mode: 0o755}})
	return nil
}

type zipFile struct {
	data []byte
	mode fs.FileMode
}

func zipFiles(files map[string]zipFile) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, f := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		mode := f.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			panic(err)
		}
		w.Write(f.data)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// zipDir zips every file under testdata/<dir>.
func zipDir(t testing.TB, dir string) []byte {
	t.Helper()
	files := map[string]zipFile{}
	root := filepath.Join("testdata", dir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = zipFile{data: b}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return zipFiles(files)
}

// server is a running hearth binary.
type server struct {
	t       testing.TB
	cmd     *exec.Cmd
	URL     string
	DataDir string
	Client  *lambda.Client
	// NoRetry is a client that does not retry throttles.
	NoRetry *lambda.Client
	// creds are the root credentials the server wrote to its data
	// directory (empty under --auth none).
	creds aws.Credentials

	mu      sync.Mutex
	stderr  bytes.Buffer // guarded by mu
	cgroup  string       // guarded by mu; the linux driver's cgroup, if it runs one
	urlAddr string       // guarded by mu; the function URL listener's address, under --url-addr
	exited  chan struct{}
}

var (
	readyRE  = regexp.MustCompile(`msg="hearth ready" addr=(\S+)`)
	cgroupRE = regexp.MustCompile(`msg="linux sandbox ready" .*cgroup=(\S+)`)
	urlRE    = regexp.MustCompile(`msg="function URLs" addr=(\S+)`)
)

// startServer starts hearth on dataDir (a fresh one when empty) with extra
// flags. t.Cleanup stops it and checks that it left no process behind.
func startServer(t testing.TB, dataDir string, flags ...string) *server {
	t.Helper()
	return startServerIn(t, "", dataDir, flags...)
}

// startServerIn is startServer in network namespace netns (under ip netns
// exec, which execs hearth, so the server's pid is hearth's); "" is the
// test's own.
func startServerIn(t testing.TB, netns, dataDir string, flags ...string) *server {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	// The driver is chosen explicitly, never by auto's silent fallback:
	// as root (CI) every test runs under linux isolation. A flag the test
	// passes comes later and wins.
	args := []string{"server", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "debug",
		"--isolation", defaultIsolation()}
	if z := os.Getenv("HEARTH_E2E_ZYGOTE"); z != "" {
		// The whole suite with zygotes on or off: HEARTH_E2E_ZYGOTE=on.
		args = append(args, "--zygote", z)
	}
	args = append(args, flags...)
	cmd := exec.Command(hearthBin, args...)
	if netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", netns, hearthBin}, args...)...)
	}
	cmd.Env = serverEnv()
	s := &server{t: t, cmd: cmd, DataDir: dataDir, exited: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.stderr.WriteString(line + "\n")
			s.mu.Unlock()
			if m := cgroupRE.FindStringSubmatch(line); m != nil {
				s.mu.Lock()
				s.cgroup = m[1]
				s.mu.Unlock()
			}
			if m := urlRE.FindStringSubmatch(line); m != nil {
				s.mu.Lock()
				s.urlAddr = m[1]
				s.mu.Unlock()
			}
			if m := readyRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(s.exited)
	}()
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case <-s.exited:
		t.Fatalf("hearth exited before it was ready:\n%s", s.Log())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("hearth not ready after 60s:\n%s", s.Log())
	}
	s.creds = readCredentials(t, dataDir)
	s.Client = newClient(s.URL, 3, s.creds)
	s.NoRetry = newClient(s.URL, 1, s.creds)
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("hearth log:\n%s", tailString(s.Log(), 30000))
		}
	})
	return s
}

// defaultIsolation is linux as root and process otherwise.
func defaultIsolation() string {
	if iso := os.Getenv("HEARTH_E2E_ISOLATION"); iso != "" {
		return iso // HEARTH_E2E_ISOLATION=process runs the suite on the process driver as root
	}
	if os.Geteuid() == 0 {
		return "linux"
	}
	return "process"
}

// serverEnv is the test's environment with a marker, so leftover
// processes can be found.
func serverEnv() []string {
	return append(os.Environ(), "HEARTH_E2E=1")
}

// readCredentials reads the root credentials a server wrote to dataDir;
// none when it runs with --auth none.
func readCredentials(t testing.TB, dataDir string) aws.Credentials {
	t.Helper()
	c, err := auth.ReadFile(filepath.Join(dataDir, auth.FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}
	}
	if err != nil {
		t.Fatal(err)
	}
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}
}

func newClient(url string, attempts int, creds aws.Credentials) *lambda.Client {
	return lambda.New(lambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken),
		RetryMaxAttempts: attempts,
		HTTPClient:       &http.Client{Timeout: 2 * time.Minute},
	})
}

// Log returns what the server has logged so far.
func (s *server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// Stop sends SIGTERM, waits for a clean exit and checks that no process of
// the server's is left. It is idempotent.
func (s *server) Stop() {
	t := s.t
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		// SIGQUIT first: the Go runtime writes every goroutine's stack
		// to the log, which says where the shutdown hung.
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
		t.Errorf("hearth did not stop within 60s of SIGTERM (its goroutines are in the log below)")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("hearth exited with status %d after SIGTERM", code)
	}
	if left := s.envPids(); len(left) > 0 {
		t.Errorf("processes left after shutdown: %v", left)
	}
	if cg := s.cgroupPath(); cg != "" {
		for _, ctrl := range []string{"pids", "memory", "cpu", "freezer", "unified", ""} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, cg)); err == nil {
				t.Errorf("cgroup %s left after shutdown", filepath.Join("/sys/fs/cgroup", ctrl, cg))
			}
		}
	}
}

func (s *server) cgroupPath() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cgroup
}

// envPids lists the host pids of every process of the server's
// environments: those in its linux driver's cgroup, or (process driver)
// those whose command line or working directory lies in its data
// directory.
func (s *server) envPids() []string {
	var left []string
	for _, p := range processesUnder(s.DataDir) {
		if !strings.HasPrefix(p, strconv.Itoa(s.cmd.Process.Pid)+":") {
			left = append(left, p)
		}
	}
	cg := s.cgroupPath()
	if cg == "" {
		return left
	}
	for _, base := range []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup"} {
		root := filepath.Join(base, cg)
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, pid := range strings.Fields(string(b)) {
				cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
				left = append(left, pid+":"+strings.ReplaceAll(string(cmd), "\x00", " "))
			}
			return nil
		})
	}
	return left
}

// functionPids is envPids without the linux driver's prepared sandboxes
// (an idle init waiting in the pool is the driver's, not a function's).
func (s *server) functionPids() []string {
	var out []string
	for _, p := range s.envPids() {
		if !strings.HasSuffix(strings.TrimSpace(p), ":hearth-sandbox-init") {
			out = append(out, p)
		}
	}
	return out
}

// environments lists the server's live environments.
func (s *server) environments(t testing.TB) []map[string]any {
	t.Helper()
	resp, err := s.get(t, "/_hearth/v1/environments")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Environments []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Environments
}

// Kill stops the server with SIGKILL, as a crash would.
func (s *server) Kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// processesUnder lists processes whose command line or working directory
// lies under dir.
func processesUnder(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		cwd, _ := os.Readlink("/proc/" + e.Name() + "/cwd")
		if bytes.Contains(cmdline, []byte(dir)) || strings.HasPrefix(cwd, dir) {
			out = append(out, e.Name()+":"+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// fn describes a test function to create.
type fn struct {
	runtime string
	handler string
	zip     []byte
	timeout int32
	memory  int32
	env     map[string]string
}

func goFn() fn { return fn{runtime: "provided.al2023", handler: "bootstrap", zip: goFnZip} }
func pythonFn(t testing.TB) fn {
	return fn{runtime: "python3.12", handler: "app.handler", zip: zipDir(t, "python")}
}
func nodeFn(t testing.TB) fn {
	return fn{runtime: "nodejs20.x", handler: "index.handler", zip: zipDir(t, "node")}
}

// create creates a function and waits until it is Active.
func (s *server) create(t testing.TB, name string, f fn) *types.FunctionConfiguration {
	t.Helper()
	in := &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      types.Runtime(f.runtime),
		Handler:      aws.String(f.handler),
		Role:         aws.String("arn:aws:iam::000000000000:role/e2e"),
		Code:         &types.FunctionCode{ZipFile: f.zip},
	}
	if f.timeout > 0 {
		in.Timeout = aws.Int32(f.timeout)
	}
	if f.memory > 0 {
		in.MemorySize = aws.Int32(f.memory)
	}
	if f.env != nil {
		in.Environment = &types.Environment{Variables: f.env}
	}
	out, err := s.Client.CreateFunction(t.Context(), in)
	if err != nil {
		t.Fatalf("CreateFunction(%s) = %v", name, err)
	}
	w := lambda.NewFunctionActiveV2Waiter(s.Client, func(o *lambda.FunctionActiveV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("waiting for %s to be active: %v", name, err)
	}
	return &types.FunctionConfiguration{FunctionName: out.FunctionName, FunctionArn: out.FunctionArn}
}

// invoked is the outcome of one synchronous invocation.
type invoked struct {
	Status        int32
	FunctionError string
	Payload       []byte
	Log           string
	Version       string
}

// decode unmarshals the payload into a map.
func (r *invoked) decode(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Payload, &m); err != nil {
		t.Fatalf("payload %q is not a JSON object: %v", r.Payload, err)
	}
	return m
}

func (s *server) invoke(t testing.TB, name string, event any) *invoked {
	t.Helper()
	r, err := s.tryInvoke(t.Context(), s.Client, name, event)
	if err != nil {
		t.Fatalf("Invoke(%s) = %v", name, err)
	}
	return r
}

func (s *server) tryInvoke(ctx context.Context, c *lambda.Client, name string, event any) (*invoked, error) {
	payload, ok := event.([]byte)
	if !ok {
		var err error
		if payload, err = json.Marshal(event); err != nil {
			return nil, err
		}
	}
	out, err := c.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(name),
		Payload:      payload,
		LogType:      types.LogTypeTail,
	})
	if err != nil {
		return nil, err
	}
	r := &invoked{Status: out.StatusCode, Payload: out.Payload, Version: aws.ToString(out.ExecutedVersion)}
	if out.FunctionError != nil {
		r.FunctionError = *out.FunctionError
	}
	if out.LogResult != nil {
		b, err := decodeBase64(*out.LogResult)
		if err != nil {
			return nil, fmt.Errorf("LogResult is not base64: %w", err)
		}
		r.Log = string(b)
	}
	return r, nil
}

// num reads a JSON number field as an int.
func num(t testing.TB, m map[string]any, key string) int {
	t.Helper()
	f, ok := m[key].(float64)
	if !ok {
		t.Fatalf("field %q = %v (%T); want a number", key, m[key], m[key])
	}
	return int(f)
}

// errorDoc decodes a function error payload.
func errorDoc(t testing.TB, r *invoked) (typ, msg string) {
	t.Helper()
	if r.FunctionError != "Unhandled" {
		t.Fatalf("FunctionError = %q; want Unhandled (payload %s)", r.FunctionError, r.Payload)
	}
	var d struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if err := json.Unmarshal(r.Payload, &d); err != nil {
		t.Fatalf("error payload %q is not JSON: %v", r.Payload, err)
	}
	return d.ErrorType, d.ErrorMessage
}

func pidAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// needRuntime skips t when this host has no interpreter of exactly the
// runtime's version, as `hearth runtimes --local` resolves them (the
// server resolves them the same way). A runtime listed in
// HEARTH_REQUIRE_RUNTIMES (comma-separated; CI installs them) fails the
// test instead.
func needRuntime(t testing.TB, runtime string) {
	t.Helper()
	st, ok := hostRuntimes(t)[runtime]
	if !ok {
		t.Fatalf("hearth runtimes --local does not list %s", runtime)
	}
	if st.Available {
		return
	}
	if slices.Contains(strings.Split(os.Getenv("HEARTH_REQUIRE_RUNTIMES"), ","), runtime) {
		t.Fatalf("%s is required here (HEARTH_REQUIRE_RUNTIMES) but unavailable: %s", runtime, st.Reason)
	}
	t.Skipf("%s is not available on this host: %s", runtime, st.Reason)
}

// runtimeStatus is one entry of /_hearth/v1/runtimes.
type runtimeStatus struct {
	Runtime     string `json:"runtime"`
	Kind        string `json:"kind"`
	Interpreter string `json:"interpreter"`
	Version     string `json:"version"`
	Available   bool   `json:"available"`
	Reason      string `json:"reason"`
}

var hostRuntimesOnce = sync.OnceValues(func() (map[string]runtimeStatus, error) {
	if buildErr != nil {
		return nil, buildErr
	}
	cmd := exec.Command(hearthBin, "runtimes", "--local", "--json")
	cmd.Env = serverEnv()
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("hearth runtimes --local: %v", err)
	}
	return decodeRuntimes(out)
})

func decodeRuntimes(b []byte) (map[string]runtimeStatus, error) {
	var list struct{ Runtimes []runtimeStatus }
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("runtimes %q: %v", b, err)
	}
	m := map[string]runtimeStatus{}
	for _, st := range list.Runtimes {
		m[st.Runtime] = st
	}
	return m, nil
}

// hostRuntimes is how this host serves each runtime id.
func hostRuntimes(t testing.TB) map[string]runtimeStatus {
	t.Helper()
	m, err := hostRuntimesOnce()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sign signs req for the server's API with its root key (SigV4, service
// lambda), over body.
func (s *server) sign(req *http.Request, body []byte) {
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), s.creds, req, hex.EncodeToString(sum[:]), "lambda", "us-east-1", time.Now()); err != nil {
		panic(err)
	}
}

// do sends req signed with the server's root key. It reads the body to
// hash it.
func (s *server) do(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	s.sign(req, body)
	return http.DefaultClient.Do(req)
}

// get sends a signed GET for path (and query) to the server.
func (s *server) get(t testing.TB, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(t.Context()), "GET", s.URL+path, nil)
	if err != nil {
		return nil, err
	}
	return s.do(req)
}

// post sends a signed POST of body to path.
func (s *server) post(t testing.TB, path, contentType string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(t.Context()), "POST", s.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	return s.do(req)
}

// authLines returns the header lines (CRLF-terminated) that sign a
// request for method and path whose body the test writes by hand: the
// signature does not hold for the body, but the key, scope and time do,
// which is all the server checks before it has the body.
func (s *server) authLines(method, path string) string {
	req, _ := http.NewRequest(method, s.URL+path, nil)
	s.sign(req, nil)
	return "Authorization: " + req.Header.Get("Authorization") + "\r\nX-Amz-Date: " + req.Header.Get("X-Amz-Date") + "\r\n"
}

// credEnv is the environment of a command that talks to the server as
// its root.
func (s *server) credEnv() []string {
	return append(os.Environ(), "AWS_ACCESS_KEY_ID="+s.creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+s.creds.SecretAccessKey,
		"AWS_SESSION_TOKEN=", "AWS_REGION=us-east-1")
}

// cli runs the hearth CLI against the server, as its root.
func (s *server) cli(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, hearthBin, append(args, "--endpoint-url", s.URL)...)
	cmd.Env = s.credEnv()
	return cmd
}

// signing is an http.RoundTripper that signs every request with the
// server's root key, then sends it with base (http.DefaultTransport when
// nil).
type signing struct {
	s    *server
	base http.RoundTripper
}

func (t signing) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	req = req.Clone(req.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	t.s.sign(req, body)
	if t.base != nil {
		return t.base.RoundTrip(req)
	}
	return http.DefaultTransport.RoundTrip(req)
}

// httpClient returns a client whose requests are signed with the server's
// root key.
func (s *server) httpClient() *http.Client { return &http.Client{Transport: signing{s: s}} }
