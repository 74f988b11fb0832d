package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// streamed is what InvokeWithResponseStream delivered.
type streamed struct {
	Version     string
	ContentType string
	Chunks      [][]byte  // the first 32 MiB or so
	N           int       // bytes received in all
	FirstAt     time.Time // when the first PayloadChunk arrived
	Complete    *types.InvokeWithResponseStreamCompleteEvent
}

func (s *streamed) payload() []byte { return bytes.Join(s.Chunks, nil) }

func invokeStream(t testing.TB, c *lambda.Client, name string, event any) (*streamed, error) {
	t.Helper()
	payload, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.InvokeWithResponseStream(t.Context(), &lambda.InvokeWithResponseStreamInput{
		FunctionName: aws.String(name),
		Payload:      payload,
		LogType:      types.LogTypeTail,
	})
	if err != nil {
		return nil, err
	}
	st := out.GetStream()
	defer st.Close()
	r := &streamed{Version: aws.ToString(out.ExecutedVersion), ContentType: aws.ToString(out.ResponseStreamContentType)}
	for ev := range st.Events() {
		switch v := ev.(type) {
		case *types.InvokeWithResponseStreamResponseEventMemberPayloadChunk:
			if r.Complete != nil {
				t.Errorf("PayloadChunk after InvokeComplete")
			}
			if len(r.Chunks) == 0 {
				r.FirstAt = time.Now()
			}
			if r.N < 32<<20 {
				r.Chunks = append(r.Chunks, v.Value.Payload)
			}
			r.N += len(v.Value.Payload)
		case *types.InvokeWithResponseStreamResponseEventMemberInvokeComplete:
			if r.Complete != nil {
				t.Errorf("a second InvokeComplete")
			}
			r.Complete = &v.Value
		default:
			t.Errorf("unexpected event %T", ev)
		}
	}
	if err := st.Err(); err != nil {
		return nil, err
	}
	if r.Complete == nil {
		t.Fatalf("stream of %s ended without InvokeComplete", name)
	}
	return r, nil
}

func nodeStreamFn(t testing.TB, handler string, timeout int32) fn {
	needRuntime(t, "nodejs20.x")
	return fn{runtime: "nodejs20.x", handler: handler, zip: zipDir(t, "nodestream"), timeout: timeout}
}

// TestInvokeWithResponseStream streams a Node function's chunks through
// aws-sdk-go-v2's InvokeWithResponseStream.
func TestInvokeWithResponseStream(t *testing.T) {
	s := startServer(t, "")
	s.create(t, "streamer", nodeStreamFn(t, "index.handler", 5))
	s.create(t, "buffered", nodeFn(t))

	t.Run("chunks arrive as written", func(t *testing.T) {
		const n = 4
		r, err := invokeStream(t, s.Client, "streamer", map[string]any{"mode": "chunks", "n": n, "delay": 300})
		if err != nil {
			t.Fatal(err)
		}
		if r.Complete.ErrorCode != nil {
			t.Fatalf("InvokeComplete.ErrorCode = %q (%q)", aws.ToString(r.Complete.ErrorCode), aws.ToString(r.Complete.ErrorDetails))
		}
		lines := strings.Split(strings.TrimSuffix(string(r.payload()), "\n"), "\n")
		if len(lines) != n {
			t.Fatalf("payload = %q; want %d lines", r.payload(), n)
		}
		var lastWritten int64
		for i, l := range lines {
			var got int
			if err := parseChunk(l, &got, &lastWritten); err != nil || got != i {
				t.Fatalf("line %d = %q", i, l)
			}
		}
		// Ordering evidence: the first chunk was in the client's hands
		// before the function wrote its last one.
		if first := r.FirstAt.UnixMilli(); first >= lastWritten {
			t.Errorf("first chunk received at %d ms, after the function wrote its last chunk at %d ms: the response was buffered", first, lastWritten)
		}
		if len(r.Chunks) < n {
			t.Errorf("got %d PayloadChunk events; want at least %d (one per write)", len(r.Chunks), n)
		}
		if r.Version != "$LATEST" {
			t.Errorf("ExecutedVersion = %q; want $LATEST", r.Version)
		}
		if r.ContentType != "text/plain" {
			t.Errorf("ResponseStreamContentType = %q; want text/plain", r.ContentType)
		}
		log, _ := decodeBase64(aws.ToString(r.Complete.LogResult))
		if !strings.Contains(string(log), "REPORT RequestId:") {
			t.Errorf("LogResult = %q; want the log tail with REPORT", log)
		}
	})

	t.Run("mid-stream error", func(t *testing.T) {
		r, err := invokeStream(t, s.Client, "streamer", map[string]any{"mode": "error"})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(r.payload()); got != "partial\n" {
			t.Errorf("payload = %q; want %q", got, "partial\n")
		}
		if got := aws.ToString(r.Complete.ErrorCode); got != "Error" {
			t.Errorf("ErrorCode = %q; want Error", got)
		}
		if got := aws.ToString(r.Complete.ErrorDetails); got != "boom midway" {
			t.Errorf("ErrorDetails = %q; want %q", got, "boom midway")
		}
	})

	t.Run("timeout mid-stream", func(t *testing.T) {
		s.create(t, "streamer-short", nodeStreamFn(t, "index.handler", 1))
		r, err := invokeStream(t, s.Client, "streamer-short", map[string]any{"mode": "hang"})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(r.payload()); got != "before the timeout\n" {
			t.Errorf("payload = %q", got)
		}
		if got := aws.ToString(r.Complete.ErrorCode); got != "Sandbox.Timedout" {
			t.Errorf("ErrorCode = %q; want Sandbox.Timedout", got)
		}
	})

	t.Run("buffered function", func(t *testing.T) {
		r, err := invokeStream(t, s.Client, "buffered", map[string]any{"op": "echo", "k": "v"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Complete.ErrorCode != nil {
			t.Fatalf("ErrorCode = %q", aws.ToString(r.Complete.ErrorCode))
		}
		var doc struct {
			Op    string         `json:"op"`
			Event map[string]any `json:"event"`
		}
		if err := json.Unmarshal(r.payload(), &doc); err != nil || doc.Op != "echo" || doc.Event["k"] != "v" {
			t.Errorf("payload = %q (%v); want the echo document", r.payload(), err)
		}
		r, err = invokeStream(t, s.Client, "buffered", map[string]any{"op": "error", "text": "x"})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(r.Complete.ErrorCode); got != "TypeError" {
			t.Errorf("ErrorCode = %q; want TypeError", got)
		}
		if got := aws.ToString(r.Complete.ErrorDetails); got != "boom: x" {
			t.Errorf("ErrorDetails = %q; want %q", got, "boom: x")
		}
	})

	t.Run("alias and throttling as for Invoke", func(t *testing.T) {
		ctx := t.Context()
		v, err := s.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("streamer")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("streamer"), Name: aws.String("live"), FunctionVersion: v.Version}); err != nil {
			t.Fatal(err)
		}
		r, err := invokeStream(t, s.Client, "streamer:live", map[string]any{"mode": "chunks", "n": 1})
		if err != nil {
			t.Fatal(err)
		}
		if r.Version != aws.ToString(v.Version) || r.Complete.ErrorCode != nil {
			t.Errorf("through alias live: ExecutedVersion %q, ErrorCode %v; want %q, none", r.Version, r.Complete.ErrorCode, aws.ToString(v.Version))
		}
		if _, err := s.Client.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("streamer"), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
			t.Fatal(err)
		}
		_, err = invokeStream(t, s.NoRetry, "streamer", map[string]any{})
		var tm *types.TooManyRequestsException
		if !errors.As(err, &tm) {
			t.Errorf("with reserved concurrency 0: %v; want TooManyRequestsException", err)
		}
		if _, err := s.Client.DeleteFunctionConcurrency(ctx, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("streamer")}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unknown function", func(t *testing.T) {
		_, err := invokeStream(t, s.NoRetry, "nope", map[string]any{})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("err = %v; want ResourceNotFoundException", err)
		}
		if want := "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope:$LATEST"; aws.ToString(nf.Message) != want {
			t.Errorf("message = %q; want %q", aws.ToString(nf.Message), want)
		}
	})

	t.Run("over the streamed limit", func(t *testing.T) {
		const size = 201 << 20
		// 200 MiB may take more than 5 s under the race detector.
		s.create(t, "streamer-big", nodeStreamFn(t, "index.handler", 120))
		peak := peakRSS(t, s.cmd.Process.Pid)
		r, err := invokeStream(t, s.Client, "streamer-big", map[string]any{"mode": "big", "bytes": size})
		if err != nil {
			t.Fatal(err)
		}
		// Bounded memory: the server passed 200 MiB on without holding it.
		t.Logf("peak RSS before %d MiB, after %d MiB", peak>>20, peakRSS(t, s.cmd.Process.Pid)>>20)
		if grown := peakRSS(t, s.cmd.Process.Pid) - peak; grown > 64<<20 {
			t.Errorf("hearth's peak RSS grew by %d MiB while streaming 200 MiB; want it bounded", grown>>20)
		}
		if got := aws.ToString(r.Complete.ErrorCode); got != "Function.ResponseSizeTooLarge" {
			t.Errorf("ErrorCode = %q; want Function.ResponseSizeTooLarge", got)
		}
		if n := r.N; n > 200<<20 || n < 199<<20 {
			t.Errorf("received %d bytes; want the first 200 MiB at most (and most of them)", n)
		}
		// The environment carries on.
		r, err = invokeStream(t, s.Client, "streamer-big", map[string]any{"mode": "chunks", "n": 1})
		if err != nil || r.Complete.ErrorCode != nil {
			t.Fatalf("next invocation: %v %+v", err, r)
		}
	})

	t.Run("big stream under the limit", func(t *testing.T) {
		const size = 8 << 20
		r, err := invokeStream(t, s.Client, "streamer", map[string]any{"mode": "big", "bytes": size})
		if err != nil {
			t.Fatal(err)
		}
		if r.Complete.ErrorCode != nil {
			t.Fatalf("ErrorCode = %q", aws.ToString(r.Complete.ErrorCode))
		}
		if p := r.payload(); len(p) != size || bytes.Count(p, []byte("x")) != size {
			t.Errorf("received %d bytes; want %d x", len(p), size)
		}
	})

	t.Run("plain Invoke collects the stream", func(t *testing.T) {
		r := s.invoke(t, "streamer", map[string]any{"mode": "chunks", "n": 2, "delay": 10})
		if r.FunctionError != "" || !strings.HasPrefix(string(r.Payload), "chunk 0 ") || strings.Count(string(r.Payload), "\n") != 2 {
			t.Errorf("Invoke = %s %q", r.FunctionError, r.Payload)
		}
		r = s.invoke(t, "streamer", map[string]any{"mode": "big", "bytes": 7 << 20})
		if typ, _ := errorDoc(t, r); typ != "Function.ResponseSizeTooLarge" {
			t.Errorf("Invoke of a 7 MiB stream: errorType %q; want Function.ResponseSizeTooLarge", typ)
		}
		r = s.invoke(t, "streamer", map[string]any{"mode": "error"})
		if typ, msg := errorDoc(t, r); typ != "Error" || msg != "boom midway" {
			t.Errorf("Invoke of a failing stream: %q %q", typ, msg)
		}
	})

	t.Run("HttpResponseStream", func(t *testing.T) {
		r, err := invokeStream(t, s.Client, "streamer", map[string]any{"mode": "http"})
		if err != nil {
			t.Fatal(err)
		}
		if r.ContentType != "application/vnd.awslambda.http-integration-response" {
			t.Errorf("content type = %q", r.ContentType)
		}
		prelude, body, ok := bytes.Cut(r.payload(), make([]byte, 8))
		if !ok || string(body) != "hello world" {
			t.Fatalf("payload = %q; want prelude, 8 NULs, hello world", r.payload())
		}
		var meta struct {
			StatusCode int               `json:"statusCode"`
			Headers    map[string]string `json:"headers"`
			Cookies    []string          `json:"cookies"`
		}
		if err := json.Unmarshal(prelude, &meta); err != nil || meta.StatusCode != 201 || meta.Headers["x-custom"] != "yes" || len(meta.Cookies) != 1 {
			t.Errorf("prelude = %q (%v)", prelude, err)
		}
	})

	t.Run("boto3", func(t *testing.T) {
		if exec.Command("python3", "-c", "import boto3").Run() != nil {
			t.Skip("python3 with boto3 is not installed")
		}
		// botocore's own event stream parser decodes the response.
		const script = `
import json, sys, boto3
c = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1")
out = c.invoke_with_response_stream(FunctionName="streamer", Payload=json.dumps({"mode": "error"}), LogType="Tail")
events = []
for ev in out["EventStream"]:
    if "PayloadChunk" in ev:
        events.append({"chunk": ev["PayloadChunk"]["Payload"].decode()})
    if "InvokeComplete" in ev:
        ic = ev["InvokeComplete"]
        events.append({"code": ic.get("ErrorCode"), "details": ic.get("ErrorDetails"), "log": bool(ic.get("LogResult"))})
print(json.dumps({"status": out["StatusCode"], "version": out.get("ExecutedVersion"), "events": events}))
`
		cmd := exec.CommandContext(t.Context(), "python3", "-c", script, s.URL)
		cmd.Env = s.credEnv()
		b, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("boto3: %v\n%s", err, ee.Stderr)
			}
			t.Fatal(err)
		}
		var got struct {
			Status  int              `json:"status"`
			Version string           `json:"version"`
			Events  []map[string]any `json:"events"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("boto3 printed %q: %v", b, err)
		}
		want := []map[string]any{{"chunk": "partial\n"}, {"code": "Error", "details": "boom midway", "log": true}}
		if got.Status != 200 || got.Version != "$LATEST" || !reflect.DeepEqual(got.Events, want) {
			t.Errorf("boto3 saw %s; want status 200, $LATEST, events %v", b, want)
		}
	})

	t.Run("handler without a promise", func(t *testing.T) {
		s.create(t, "plain-streamer", nodeStreamFn(t, "index.plain", 5))
		r, err := invokeStream(t, s.Client, "plain-streamer", map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(r.payload()); got != "plain done" || r.Complete.ErrorCode != nil {
			t.Errorf("payload = %q, ErrorCode %v", got, r.Complete.ErrorCode)
		}
	})
}

// peakRSS is the peak resident set (VmHWM) of process pid, in bytes.
func peakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/pid/status")
	return 0
}

// parseChunk parses a line "chunk <i> <ms since epoch>".
func parseChunk(line string, i *int, ms *int64) error {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "chunk" {
		return errors.New("malformed")
	}
	var err error
	if *i, err = strconv.Atoi(f[1]); err != nil {
		return err
	}
	*ms, err = strconv.ParseInt(f[2], 10, 64)
	return err
}

// TestInvokeWithResponseStreamGo streams an aws-lambda-go handler's
// io.Reader: aws-lambda-go posts it as a chunked body (without the
// response-mode header), with error trailers when the read fails.
func TestInvokeWithResponseStreamGo(t *testing.T) {
	s := startServer(t, "")
	s.create(t, "gostream", goFn())
	const n = 3
	r, err := invokeStream(t, s.Client, "gostream", map[string]any{"op": "stream", "n": n, "ms": 300})
	if err != nil {
		t.Fatal(err)
	}
	if r.Complete.ErrorCode != nil {
		t.Fatalf("ErrorCode = %q", aws.ToString(r.Complete.ErrorCode))
	}
	lines := strings.Split(strings.TrimSuffix(string(r.payload()), "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("payload = %q; want %d lines", r.payload(), n)
	}
	var i int
	var last int64
	if err := parseChunk(lines[n-1], &i, &last); err != nil {
		t.Fatal(err)
	}
	if first := r.FirstAt.UnixMilli(); first >= last {
		t.Errorf("first chunk received at %d ms, after the last was written at %d ms: buffered", first, last)
	}

	r, err = invokeStream(t, s.Client, "gostream", map[string]any{"op": "streamfail", "n": 1, "text": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(r.payload()), "chunk 0 ") {
		t.Errorf("payload = %q; want the chunk before the failure", r.payload())
	}
	if got := aws.ToString(r.Complete.ErrorCode); got == "" || !strings.Contains(aws.ToString(r.Complete.ErrorDetails), "reader failed: x") {
		t.Errorf("InvokeComplete = %q %q; want the reader's error", got, aws.ToString(r.Complete.ErrorDetails))
	}
	// lambdaurl's streaming response: the HTTP prelude, 8 NULs, the body.
	r, err = invokeStream(t, s.Client, "gostream", map[string]any{"op": "url"})
	if err != nil {
		t.Fatal(err)
	}
	if r.ContentType != "application/vnd.awslambda.http-integration-response" {
		t.Errorf("lambdaurl content type = %q", r.ContentType)
	}
	prelude, body, ok := bytes.Cut(r.payload(), make([]byte, 8))
	if !ok || string(body) != "from lambdaurl /p" || !strings.Contains(string(prelude), `"statusCode":201`) {
		t.Errorf("lambdaurl payload = %q", r.payload())
	}
	// Through plain Invoke the same reader is one buffered payload.
	ir := s.invoke(t, "gostream", map[string]any{"op": "stream", "n": 2})
	if ir.FunctionError != "" || strings.Count(string(ir.Payload), "chunk ") != 2 {
		t.Errorf("Invoke = %s %q", ir.FunctionError, ir.Payload)
	}
}
