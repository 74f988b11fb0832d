package runtimeapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"hearth/internal/runtimeapi"
)

type harness struct {
	srv  *runtimeapi.Server
	addr string
	base string
	c    *http.Client
}

func start(t *testing.T) *harness {
	t.Helper()
	return startWith(t, runtimeapi.Config{})
}

func startWith(t *testing.T, cfg runtimeapi.Config) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := runtimeapi.NewServer(ln, cfg, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve() }()
	t.Cleanup(func() { srv.Close(); <-done })
	addr := ln.Addr().String()
	return &harness{srv: srv, addr: addr, base: "http://" + addr + "/2018-06-01/runtime", c: &http.Client{}}
}

func (h *harness) do(t *testing.T, method, path string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, h.base+path, body)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (h *harness) invoke(t *testing.T, inv *runtimeapi.Invocation) <-chan *runtimeapi.Response {
	ch := make(chan *runtimeapi.Response, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := h.srv.Invoke(ctx, inv)
		if err != nil {
			t.Errorf("Invoke() = %v", err)
		}
		ch <- r
	}()
	return ch
}

func TestInvocationRoundTrip(t *testing.T) {
	h := start(t)
	deadline := time.UnixMilli(1706702403123)
	res := h.invoke(t, &runtimeapi.Invocation{
		RequestID: "req-1", Payload: []byte(`{"k":"v"}`), Deadline: deadline,
		FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:f", TraceID: "Root=1-x",
		ClientContext: `{"custom":{"a":1}}`,
	})
	resp, body := h.do(t, "GET", "/invocation/next", nil, nil)
	select {
	case <-h.srv.Init():
	default:
		t.Error("Init() yielded nothing after the first GET /next")
	}
	want := map[string]string{
		"Lambda-Runtime-Aws-Request-Id":       "req-1",
		"Lambda-Runtime-Deadline-Ms":          "1706702403123",
		"Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:000000000000:function:f",
		"Lambda-Runtime-Trace-Id":             "Root=1-x",
		"Lambda-Runtime-Client-Context":       `{"custom":{"a":1}}`,
		"Content-Type":                        "application/json",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("GET /next header %s = %q; want %q", k, got, v)
		}
	}
	if resp.Header.Get("Lambda-Runtime-Cognito-Identity") != "" {
		t.Errorf("GET /next sent an empty Cognito header")
	}
	if body != `{"k":"v"}` {
		t.Errorf("GET /next body = %q", body)
	}
	before := time.Now()
	resp, body = h.do(t, "POST", "/invocation/req-1/response", strings.NewReader(`"ok"`), nil)
	after := time.Now()
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(body, `"status":"OK"`) {
		t.Errorf("POST /response = %d %q; want 202 {\"status\":\"OK\"}", resp.StatusCode, body)
	}
	r := <-res
	if r == nil || r.Error || string(r.Body) != `"ok"` {
		t.Fatalf("Invoke() = %+v; want body \"ok\"", r)
	}
	// The response is timed and measured, for platform.runtimeDone.
	if r.Posted.Before(before) || r.Read.Before(r.Posted) || r.Read.After(after) || r.Produced != 4 {
		t.Errorf("response posted %v, read %v, %d bytes; want within the POST (%v to %v), 4 bytes", r.Posted, r.Read, r.Produced, before, after)
	}
	r.Release()
	// A second answer for the same request is refused.
	resp, _ = h.do(t, "POST", "/invocation/req-1/response", strings.NewReader(`x`), nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("second POST /response = %d; want 400", resp.StatusCode)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		body     string
		hdr      map[string]string
		wantType string
		wantBody string
	}{
		{"error with body", "/invocation/r/error", `{"errorMessage":"boom","errorType":"errorString"}`, nil, "errorString", `{"errorMessage":"boom","errorType":"errorString"}`},
		{"error header wins", "/invocation/r/error", `{"errorMessage":"boom","errorType":"x"}`, map[string]string{"Lambda-Runtime-Function-Error-Type": "Runtime.Custom"}, "Runtime.Custom", `{"errorMessage":"boom","errorType":"x"}`},
		{"error without body", "/invocation/r/error", ``, map[string]string{"Lambda-Runtime-Function-Error-Type": "Runtime.Custom"}, "Runtime.Custom", `{"errorMessage":"","errorType":"Runtime.Custom"}`},
		{"bad response mode", "/invocation/r/response", `x`, map[string]string{"Lambda-Runtime-Function-Response-Mode": "weird"}, "Runtime.InvalidResponseModeHeader", ""},
		// A body of type application/vnd.aws.lambda.error.cause+json holds
		// the error and its X-Ray cause: the caller gets the error alone,
		// re-encoded as Lambda's ErrorResponse (RIE
		// rapi/handler/mime_type_error_cause_json.go).
		{"error with cause", "/invocation/r/error",
			`{"errorCause":{"paths":[],"working_directory":"/var/task","exceptions":[]},"stackTrace":["at a","at b"],"errorType":"E","errorMessage":"boom","extra":1}`,
			map[string]string{"Content-Type": "application/vnd.aws.lambda.error.cause+json"}, "E",
			`{"errorMessage":"boom","errorType":"E","stackTrace":["at a","at b"]}`},
		{"error with cause, no trace", "/invocation/r/error", `{"errorMessage":"boom","errorType":"E","errorCause":{}}`,
			map[string]string{"Content-Type": "application/vnd.aws.lambda.error.cause+json", "Lambda-Runtime-Function-Error-Type": "Function.Boom"}, "Function.Boom",
			`{"errorMessage":"boom","errorType":"E"}`},
		{"error with cause, unparsable", "/invocation/r/error", `{"errorMessage":"boom","stackTrace":"not a list"}`,
			map[string]string{"Content-Type": "application/vnd.aws.lambda.error.cause+json"}, "", `"Invalid error body"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t)
			res := h.invoke(t, &runtimeapi.Invocation{RequestID: "r", Payload: []byte(`{}`), Deadline: time.Now().Add(time.Minute)})
			h.do(t, "GET", "/invocation/next", nil, nil)
			h.do(t, "POST", tt.path, strings.NewReader(tt.body), tt.hdr)
			r := <-res
			if r == nil || !r.Error || r.ErrorType != tt.wantType {
				t.Fatalf("Invoke() = %+v; want error of type %s", r, tt.wantType)
			}
			if tt.wantBody != "" && string(r.Body) != tt.wantBody {
				t.Errorf("error body = %s; want %s", r.Body, tt.wantBody)
			}
			// No response to time: the runtime posted to /error, or the
			// answer is the Runtime API's own.
			if !r.Posted.IsZero() || !r.Read.IsZero() || r.Produced != 0 {
				t.Errorf("error posted %v, read %v, %d bytes; want no response timed", r.Posted, r.Read, r.Produced)
			}
		})
	}
}

// aws-lambda-go streams responses chunked and reports a failure midway in
// trailers.
func TestChunkedResponseWithErrorTrailer(t *testing.T) {
	h := start(t)
	res := h.invoke(t, &runtimeapi.Invocation{RequestID: "r", Payload: []byte(`{}`), Deadline: time.Now().Add(time.Minute)})
	h.do(t, "GET", "/invocation/next", nil, nil)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", h.base+"/invocation/r/response", pr)
	req.Trailer = http.Header{"Lambda-Runtime-Function-Error-Type": nil, "Lambda-Runtime-Function-Error-Body": nil}
	go func() {
		pw.Write([]byte("partial"))
		req.Trailer.Set("Lambda-Runtime-Function-Error-Type", "Runtime.StreamError")
		req.Trailer.Set("Lambda-Runtime-Function-Error-Body", base64.StdEncoding.EncodeToString([]byte(`{"errorMessage":"read failed","errorType":"Runtime.StreamError"}`)))
		pw.Close()
	}()
	resp, err := h.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("chunked POST = %d; want 202", resp.StatusCode)
	}
	r := <-res
	if !r.Error || r.ErrorType != "Runtime.StreamError" || !strings.Contains(string(r.Body), "read failed") {
		t.Errorf("Invoke() = %+v %s; want the trailer's error", r, r.Body)
	}
}

func TestResponseTooLarge(t *testing.T) {
	h := start(t)
	res := h.invoke(t, &runtimeapi.Invocation{RequestID: "r", Payload: []byte(`{}`), Deadline: time.Now().Add(time.Minute)})
	h.do(t, "GET", "/invocation/next", nil, nil)
	resp, body := h.do(t, "POST", "/invocation/r/response", bytes.NewReader(make([]byte, runtimeapi.MaxResponse+1)), nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "RequestEntityTooLarge") {
		t.Errorf("oversized POST = %d %s; want 413 RequestEntityTooLarge", resp.StatusCode, body)
	}
	r := <-res
	if !r.Error || r.ErrorType != "Function.ResponseSizeTooLarge" {
		t.Errorf("Invoke() = %+v; want Function.ResponseSizeTooLarge", r)
	}
	// Exactly the limit is fine.
	res = h.invoke(t, &runtimeapi.Invocation{RequestID: "r2", Payload: []byte(`{}`), Deadline: time.Now().Add(time.Minute)})
	h.do(t, "GET", "/invocation/next", nil, nil)
	resp, _ = h.do(t, "POST", "/invocation/r2/response", bytes.NewReader(make([]byte, runtimeapi.MaxResponse)), nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("POST of exactly MaxResponse = %d; want 202", resp.StatusCode)
	}
	if r := <-res; r.Error || len(r.Body) != runtimeapi.MaxResponse {
		t.Errorf("Invoke() = error %v, %d bytes; want %d bytes", r.Error, len(r.Body), runtimeapi.MaxResponse)
	}
}

func TestInitError(t *testing.T) {
	h := start(t)
	resp, _ := h.do(t, "POST", "/init/error", strings.NewReader(`{"errorMessage":"Unable to import module 'app'","errorType":"Runtime.ImportModuleError"}`),
		map[string]string{"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"})
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("POST /init/error = %d; want 202", resp.StatusCode)
	}
	select {
	case res := <-h.srv.Init():
		if res.Err == nil || res.Err.ErrorType != "Runtime.ImportModuleError" {
			t.Errorf("Init() = %+v; want the init error", res)
		}
	case <-time.After(time.Second):
		t.Fatal("Init() yielded nothing after POST /init/error")
	}
	resp, _ = h.do(t, "POST", "/init/error", strings.NewReader(`{}`), nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("second POST /init/error = %d; want 403", resp.StatusCode)
	}
}

func TestUnknownRequestID(t *testing.T) {
	h := start(t)
	resp, body := h.do(t, "POST", "/invocation/nope/response", strings.NewReader(`{}`), nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "InvalidRequestID") {
		t.Errorf("POST for an unknown id = %d %s; want 400 InvalidRequestID", resp.StatusCode, body)
	}
}

func TestInvokeTimesOutAndCloseUnblocks(t *testing.T) {
	h := start(t)
	ctx, cancel := context.WithTimeoutCause(t.Context(), 50*time.Millisecond, errors.New("deadline"))
	defer cancel()
	if _, err := h.srv.Invoke(ctx, &runtimeapi.Invocation{RequestID: "r"}); !errors.Is(err, runtimeapi.ErrUndelivered) || !strings.HasSuffix(err.Error(), ": deadline") {
		t.Errorf("Invoke() with no runtime = %v; want ErrUndelivered with the context's cause", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.srv.Invoke(t.Context(), &runtimeapi.Invocation{RequestID: "r2"})
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	h.srv.Close()
	select {
	case err := <-done:
		if !errors.Is(err, runtimeapi.ErrClosed) {
			t.Errorf("Invoke() after Close = %v; want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock Invoke")
	}
}

func FuzzRuntimeAPI(f *testing.F) {
	f.Add("GET", "/2018-06-01/runtime/invocation/next", []byte(nil))
	f.Add("POST", "/2018-06-01/runtime/invocation/abc/response", []byte(`{}`))
	f.Add("POST", "/2018-06-01/runtime/invocation/abc/error", []byte(`{"errorType":1}`))
	f.Add("POST", "/2018-06-01/runtime/init/error", []byte(`not json`))
	f.Add("PUT", "/2022-07-01/telemetry", []byte(`{}`))
	srv := runtimeapi.NewServer(nil, runtimeapi.Config{}, slog.New(slog.DiscardHandler))
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		req, err := http.NewRequest(method, "http://x"+path, bytes.NewReader(body))
		if err != nil || !strings.HasPrefix(path, "/") {
			t.Skip()
		}
		// /next blocks until an invocation arrives, so bound every request.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(ctx))
		if rec.Code >= 500 {
			t.Errorf("%s %q: status %d; want < 500", method, path, rec.Code)
		}
	})
}

func TestIdleTracksWaitingNext(t *testing.T) {
	h := start(t)
	select {
	case <-h.srv.Idle():
		t.Fatal("Idle() closed before any GET /next")
	default:
	}
	res := make(chan *runtimeapi.Response, 1)
	go func() {
		r, _ := h.srv.Invoke(context.Background(), &runtimeapi.Invocation{RequestID: "a", Payload: []byte(`{}`), Deadline: time.Now().Add(time.Minute)})
		res <- r
	}()
	h.do(t, "GET", "/invocation/next", nil, nil) // takes event a at once
	select {
	case <-h.srv.Idle():
		t.Fatal("Idle() closed while the runtime holds an event")
	default:
	}
	h.do(t, "POST", "/invocation/a/response", strings.NewReader(`1`), nil)
	<-res
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", h.base+"/invocation/next", nil)
		if resp, err := h.c.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-h.srv.Idle():
	case <-time.After(2 * time.Second):
		t.Fatal("Idle() not closed while GET /next waits")
	}
}
