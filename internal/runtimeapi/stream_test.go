package runtimeapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/runtimeapi"
)

// sink records what the runtime API streams to it. gate, when set, holds
// every Write until it is closed (a slow consumer).
type sink struct {
	gate <-chan struct{}

	mu          sync.Mutex
	contentType string   // guarded by mu
	begins      int      // guarded by mu
	chunks      [][]byte // guarded by mu
	afterReturn bool     // guarded by mu; a call came after Invoke returned
	returned    bool     // guarded by mu
	got         chan struct{}
}

func newSink() *sink { return &sink{got: make(chan struct{}, 1024)} }

func (s *sink) Begin(ct string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.contentType = ct
	s.begins++
	s.afterReturn = s.afterReturn || s.returned
	return nil
}

func (s *sink) Write(p []byte) (int, error) {
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	s.chunks = append(s.chunks, bytes.Clone(p))
	s.afterReturn = s.afterReturn || s.returned
	s.mu.Unlock()
	s.got <- struct{}{}
	return len(p), nil
}

func (s *sink) body() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Join(s.chunks, nil)
}

// streamInvoke runs an Invoke with the sink, bounded by ctx.
func streamInvoke(ctx context.Context, h *harness, id string, sk *sink, deadline time.Time) <-chan *runtimeapi.Response {
	ch := make(chan *runtimeapi.Response, 1)
	go func() {
		r, _ := h.srv.Invoke(ctx, &runtimeapi.Invocation{RequestID: id, Payload: []byte(`{}`), Deadline: deadline, Stream: sk})
		sk.mu.Lock()
		sk.returned = true
		sk.mu.Unlock()
		ch <- r
	}()
	return ch
}

// postStream posts a streamed /response whose body the caller writes to
// the returned pipe; trailers are set before the pipe is closed.
func postStream(t *testing.T, h *harness, id string, trailer http.Header) (*io.PipeWriter, <-chan *http.Response) {
	t.Helper()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", h.base+"/invocation/"+id+"/response", pr)
	req.Header.Set("Lambda-Runtime-Function-Response-Mode", "streaming")
	req.Header.Set("Content-Type", "text/event-stream")
	if trailer != nil {
		req.Trailer = trailer
	}
	out := make(chan *http.Response, 1)
	go func() {
		resp, err := h.c.Do(req)
		if err != nil {
			pr.CloseWithError(err)
			out <- nil
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out <- resp
	}()
	return pw, out
}

func waitChunk(t *testing.T, sk *sink) {
	t.Helper()
	select {
	case <-sk.got:
	case <-time.After(5 * time.Second):
		t.Fatal("the sink received no chunk within 5s: the response is not streamed")
	}
}

// TestStreamedResponseReachesSinkAsWritten: each chunk reaches the sink
// before the runtime writes the next one.
func TestStreamedResponseReachesSinkAsWritten(t *testing.T) {
	h := start(t)
	sk := newSink()
	res := streamInvoke(t.Context(), h, "r", sk, time.Now().Add(time.Minute))
	h.do(t, "GET", "/invocation/next", nil, nil)
	pw, resp := postStream(t, h, "r", nil)
	for _, c := range []string{"one ", "two ", "three"} {
		pw.Write([]byte(c))
		waitChunk(t, sk) // the runtime has not written the next chunk yet
	}
	pw.Close()
	if r := <-resp; r == nil || r.StatusCode != http.StatusAccepted {
		t.Fatalf("streamed POST = %v; want 202", r)
	}
	r := <-res
	if r == nil || r.Error || !r.Streamed || len(r.Body) != 0 {
		t.Fatalf("Invoke() = %+v; want a streamed success with no body", r)
	}
	if got, want := string(sk.body()), "one two three"; got != want {
		t.Errorf("sink got %q; want %q", got, want)
	}
	if r.Posted.IsZero() || r.Read.Before(r.Posted) || r.Produced != 13 {
		t.Errorf("streamed response posted %v, read %v, %d bytes; want it timed, 13 bytes", r.Posted, r.Read, r.Produced)
	}
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.begins != 1 || sk.contentType != "text/event-stream" {
		t.Errorf("Begin called %d times with %q; want once with text/event-stream", sk.begins, sk.contentType)
	}
}

// TestStreamedResponseErrorTrailer: the error trailers end a stream with
// the function's error, after what was streamed.
func TestStreamedResponseErrorTrailer(t *testing.T) {
	h := start(t)
	sk := newSink()
	res := streamInvoke(t.Context(), h, "r", sk, time.Now().Add(time.Minute))
	h.do(t, "GET", "/invocation/next", nil, nil)
	tr := http.Header{"Lambda-Runtime-Function-Error-Type": nil, "Lambda-Runtime-Function-Error-Body": nil}
	pw, resp := postStream(t, h, "r", tr)
	pw.Write([]byte("partial"))
	waitChunk(t, sk)
	tr.Set("Lambda-Runtime-Function-Error-Type", "Error")
	tr.Set("Lambda-Runtime-Function-Error-Body", base64.StdEncoding.EncodeToString([]byte(`{"errorType":"Error","errorMessage":"boom"}`)))
	pw.Close()
	if r := <-resp; r == nil || r.StatusCode != http.StatusAccepted {
		t.Fatalf("streamed POST = %v; want 202", r)
	}
	r := <-res
	if r == nil || !r.Error || !r.Streamed || r.ErrorType != "Error" {
		t.Fatalf("Invoke() = %+v; want a streamed Error", r)
	}
	if diff := cmp.Diff(`{"errorType":"Error","errorMessage":"boom"}`, string(r.Body)); diff != "" {
		t.Errorf("error body (-want +got):\n%s", diff)
	}
	if got := string(sk.body()); got != "partial" {
		t.Errorf("sink got %q; want %q", got, "partial")
	}
}

// TestStreamBackpressure: a consumer that takes nothing stops the reads
// of the runtime's body, and so the runtime's writes, instead of the
// server buffering them.
func TestStreamBackpressure(t *testing.T) {
	h := start(t)
	gate := make(chan struct{})
	sk := newSink()
	sk.gate = gate
	res := streamInvoke(t.Context(), h, "r", sk, time.Now().Add(time.Minute))
	h.do(t, "GET", "/invocation/next", nil, nil)
	pw, resp := postStream(t, h, "r", nil)
	const total = runtimeapi.MaxStreamedResponse + 8<<20
	var written atomic.Int64
	wrote := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for written.Load() < total {
			n, err := pw.Write(buf)
			written.Add(int64(n))
			if err != nil {
				wrote <- err
				return
			}
		}
		wrote <- pw.Close()
	}()
	// Wait until the runtime's writes stall.
	var last int64 = -1
	for i := 0; ; i++ {
		time.Sleep(100 * time.Millisecond)
		n := written.Load()
		if n == last {
			break
		}
		if i > 50 {
			t.Fatalf("the runtime kept writing (%d bytes) while the consumer took nothing", n)
		}
		last = n
	}
	// Loopback socket buffers may hold a few MB; the server holds one
	// chunk. Without backpressure the whole 208 MB would have gone.
	t.Logf("the runtime stalled after %d bytes", last)
	if last > 32<<20 {
		t.Errorf("the runtime wrote %d bytes before it stalled; want the socket buffers' worth", last)
	}
	close(gate)
	go func() {
		for range sk.got {
		}
	}()
	<-wrote // an error: the server stops reading past the limit
	// The client may see the 413 or, having had its write cut, an error.
	if r := <-resp; r != nil && r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("POST past the limit = %d; want 413", r.StatusCode)
	}
	r := <-res
	// total is past MaxStreamedResponse: the stream is cut there.
	if r == nil || r.ErrorType != "Function.ResponseSizeTooLarge" {
		t.Fatalf("Invoke() = %+v; want Function.ResponseSizeTooLarge", r)
	}
	if n := len(sk.body()); n > runtimeapi.MaxStreamedResponse {
		t.Errorf("sink got %d bytes; want at most MaxStreamedResponse (%d)", n, runtimeapi.MaxStreamedResponse)
	}
}

// TestStreamTimeout: the invocation's timeout applies to a stream; once
// Invoke has returned, the sink is never written again.
func TestStreamTimeout(t *testing.T) {
	h := start(t)
	sk := newSink()
	ctx, cancel := context.WithTimeoutCause(t.Context(), 500*time.Millisecond, errors.New("timed out"))
	defer cancel()
	res := streamInvoke(ctx, h, "r", sk, time.Now().Add(500*time.Millisecond))
	h.do(t, "GET", "/invocation/next", nil, nil)
	pw, resp := postStream(t, h, "r", nil)
	pw.Write([]byte("before"))
	waitChunk(t, sk)
	if r := <-res; r != nil {
		t.Fatalf("Invoke() = %+v; want the timeout", r)
	}
	// The runtime writes on; nothing more reaches the sink.
	pw.Write([]byte("after"))
	pw.Close()
	<-resp
	time.Sleep(50 * time.Millisecond)
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.afterReturn {
		t.Error("the sink was written after Invoke returned")
	}
	if got := string(bytes.Join(sk.chunks, nil)); got != "before" {
		t.Errorf("sink got %q; want %q", got, "before")
	}
}

// TestStreamedResponseWithoutSink: a streamed response to an invocation
// without a sink (plain Invoke) is collected within the 6 MB limit.
func TestStreamedResponseWithoutSink(t *testing.T) {
	h := start(t)
	res := h.invoke(t, &runtimeapi.Invocation{RequestID: "r", Payload: []byte(`{}`), Deadline: time.Now().Add(time.Minute)})
	h.do(t, "GET", "/invocation/next", nil, nil)
	pw, resp := postStream(t, h, "r", nil)
	pw.Write([]byte("a "))
	pw.Write([]byte("b"))
	pw.Close()
	<-resp
	if r := <-res; r == nil || r.Error || r.Streamed || string(r.Body) != "a b" {
		t.Errorf("Invoke() = %+v; want the body collected", r)
	}

	res = h.invoke(t, &runtimeapi.Invocation{RequestID: "r2", Payload: []byte(`{}`), Deadline: time.Now().Add(time.Minute)})
	h.do(t, "GET", "/invocation/next", nil, nil)
	pw, resp = postStream(t, h, "r2", nil)
	go func() {
		pw.Write(bytes.Repeat([]byte("x"), runtimeapi.MaxResponse+1))
		pw.Close()
	}()
	if r := <-resp; r == nil || r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("streamed POST over 6 MB = %v; want 413", r)
	}
	if r := <-res; r == nil || r.ErrorType != "Function.ResponseSizeTooLarge" || !strings.Contains(string(r.Body), "6291556") {
		t.Errorf("Invoke() = %+v; want Function.ResponseSizeTooLarge", r)
	}
}
