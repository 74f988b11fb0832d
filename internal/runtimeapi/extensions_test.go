package runtimeapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/runtimeapi"
)

// ext is a test extension speaking the Extensions API over plain HTTP.
type ext struct {
	h  *harness
	id string
}

func (h *harness) ext(t *testing.T, method, path, id string, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+h.addr+path, strings.NewReader(body))
	if id != "" {
		req.Header.Set("Lambda-Extension-Identifier", id)
	}
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

func (h *harness) register(t *testing.T, name string, events ...string) *ext {
	t.Helper()
	b, _ := json.Marshal(map[string][]string{"events": events})
	resp, body := h.ext(t, "POST", "/2020-01-01/extension/register", "", string(b),
		map[string]string{"Lambda-Extension-Name": name, "Lambda-Extension-Accept-Feature": "accountId"})
	if resp.StatusCode != 200 {
		t.Fatalf("register %s = %d %s", name, resp.StatusCode, body)
	}
	return &ext{h: h, id: resp.Header.Get("Lambda-Extension-Identifier")}
}

// next calls event/next in the background and returns the event's body.
func (e *ext) next(t *testing.T) <-chan map[string]any {
	ch := make(chan map[string]any, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+e.h.addr+"/2020-01-01/extension/event/next", nil)
		req.Header.Set("Lambda-Extension-Identifier", e.id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- nil
			return
		}
		defer resp.Body.Close()
		var ev map[string]any
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&ev) != nil {
			ch <- nil
			return
		}
		ch <- ev
	}()
	return ch
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s within 5s", what)
		var zero T
		return zero
	}
}

func pending[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s happened too early: %v", what, v)
	case <-time.After(100 * time.Millisecond):
	}
}

func runtimeNext(h *harness) <-chan string {
	ch := make(chan string, 1)
	go func() {
		resp, err := http.Get(h.base + "/invocation/next")
		if err != nil {
			ch <- ""
			return
		}
		resp.Body.Close()
		ch <- resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
	}()
	return ch
}

func TestRegisterAnswersFunction(t *testing.T) {
	h := startWith(t, runtimeapi.Config{
		Function: runtimeapi.Function{Name: "f", Version: "$LATEST", Handler: "app.handler", Account: "123456789012"},
		External: []string{"ext-a"},
	})
	resp, body := h.ext(t, "POST", "/2020-01-01/extension/register", "", `{"events":["INVOKE","SHUTDOWN"]}`,
		map[string]string{"Lambda-Extension-Name": "ext-a", "Lambda-Extension-Accept-Feature": "accountId"})
	if resp.StatusCode != 200 {
		t.Fatalf("register = %d %s", resp.StatusCode, body)
	}
	if id := resp.Header.Get("Lambda-Extension-Identifier"); len(id) != 36 {
		t.Errorf("Lambda-Extension-Identifier = %q, want a UUID", id)
	}
	var got map[string]string
	json.Unmarshal([]byte(body), &got)
	want := map[string]string{"functionName": "f", "functionVersion": "$LATEST", "handler": "app.handler", "accountId": "123456789012"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("register body (-want +got):\n%s", d)
	}
}

func TestRegisterRefusals(t *testing.T) {
	h := startWith(t, runtimeapi.Config{External: []string{"ext-a"}})
	for _, tc := range []struct {
		name, body, wantType string
	}{
		{"", `{"events":["INVOKE"]}`, "Extension.InvalidExtensionName"},
		{"ext-a", `{"events":["BOGUS"]}`, "Extension.InvalidEventType"},
		{"internal", `{"events":["SHUTDOWN"]}`, "Extension.InvalidEventType"},
	} {
		resp, body := h.ext(t, "POST", "/2020-01-01/extension/register", "", tc.body, map[string]string{"Lambda-Extension-Name": tc.name})
		if resp.StatusCode != 403 || !strings.Contains(body, tc.wantType) {
			t.Errorf("register %q %s = %d %s, want 403 %s", tc.name, tc.body, resp.StatusCode, body, tc.wantType)
		}
	}
	h.register(t, "ext-a", "INVOKE")
	if resp, body := h.ext(t, "POST", "/2020-01-01/extension/register", "", `{"events":[]}`, map[string]string{"Lambda-Extension-Name": "ext-a"}); resp.StatusCode != 403 {
		t.Errorf("second register of ext-a = %d %s, want 403", resp.StatusCode, body)
	}
	for _, id := range []string{"", "not-an-id"} {
		resp, body := h.ext(t, "GET", "/2020-01-01/extension/event/next", id, "", nil)
		want := "Extension.MissingExtensionIdentifier"
		if id != "" {
			want = "Extension.InvalidExtensionIdentifier"
		}
		if resp.StatusCode != 403 || !strings.Contains(body, want) {
			t.Errorf("event/next with id %q = %d %s, want 403 %s", id, resp.StatusCode, body, want)
		}
	}
}

func TestTooManyExtensions(t *testing.T) {
	h := start(t)
	for i := range runtimeapi.MaxExtensions {
		h.register(t, "e"+string(rune('a'+i)))
	}
	resp, body := h.ext(t, "POST", "/2020-01-01/extension/register", "", `{"events":[]}`, map[string]string{"Lambda-Extension-Name": "one-more"})
	if resp.StatusCode != 403 || !strings.Contains(body, "Extension.TooManyExtensions") {
		t.Errorf("register beyond %d = %d %s", runtimeapi.MaxExtensions, resp.StatusCode, body)
	}
}

// Init ends only once every external extension has registered and the
// runtime and all extensions wait in their next; registration closes then.
func TestInitWaitsForExtensions(t *testing.T) {
	h := startWith(t, runtimeapi.Config{External: []string{"ext-a", "ext-b"}})
	a := h.register(t, "ext-a", "INVOKE", "SHUTDOWN")
	aNext := a.next(t)
	rtNext := runtimeNext(h)
	pending(t, h.srv.Init(), "init before ext-b registered")
	b := h.register(t, "ext-b", "INVOKE")
	pending(t, h.srv.Init(), "init before ext-b called next")
	bNext := b.next(t)
	if res := recv(t, h.srv.Init(), "init"); res.Err != nil || res.Extension != nil {
		t.Fatalf("init result = %+v, want success", res)
	}
	resp, body := h.ext(t, "POST", "/2020-01-01/extension/register", "", `{"events":[]}`, map[string]string{"Lambda-Extension-Name": "late"})
	if resp.StatusCode != 403 || !strings.Contains(body, "Extension.RegistrationError") {
		t.Errorf("register after init = %d %s, want 403 Extension.RegistrationError", resp.StatusCode, body)
	}

	// An invocation reaches the runtime and both extensions.
	deadline := time.UnixMilli(1700000000123)
	res := h.invoke(t, &runtimeapi.Invocation{RequestID: "req-1", Payload: []byte(`{}`), Deadline: deadline,
		FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:f", TraceID: "Root=1-abc"})
	if id := recv(t, rtNext, "runtime event"); id != "req-1" {
		t.Fatalf("runtime got %q", id)
	}
	want := map[string]any{"eventType": "INVOKE", "deadlineMs": float64(1700000000123), "requestId": "req-1",
		"invokedFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
		"tracing":            map[string]any{"type": "X-Amzn-Trace-Id", "value": "Root=1-abc"}}
	for name, ch := range map[string]<-chan map[string]any{"ext-a": aNext, "ext-b": bNext} {
		if d := cmp.Diff(want, recv(t, ch, name+" INVOKE")); d != "" {
			t.Errorf("%s INVOKE (-want +got):\n%s", name, d)
		}
	}
	// The runtime answers; ext-a is back in next, ext-b still works.
	h.do(t, "POST", "/invocation/req-1/response", strings.NewReader(`"ok"`), nil)
	recv(t, res, "response")
	aNext = a.next(t)
	pending(t, h.srv.ExtensionsIdle(), "extensions idle while ext-b works")
	bNext = b.next(t)
	recv(t, h.srv.ExtensionsIdle(), "extensions idle")

	// SHUTDOWN goes to ext-a only (ext-b did not ask for it); the channel
	// closes once ext-a comes back.
	dl := time.Now().Add(2 * time.Second)
	done := h.srv.Shutdown(runtimeapi.ShutdownSpindown, dl)
	ev := recv(t, aNext, "SHUTDOWN")
	if d := cmp.Diff(map[string]any{"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": float64(dl.UnixMilli())}, ev); d != "" {
		t.Errorf("SHUTDOWN (-want +got):\n%s", d)
	}
	pending(t, done, "shutdown done before ext-a came back")
	a.next(t)
	recv(t, done, "shutdown done")
	pending(t, bNext, "event for ext-b")
}

// ExternalsRegistered closes once every external extension has
// registered (an internal one does not count), at once without any.
func TestExternalsRegistered(t *testing.T) {
	recv(t, start(t).srv.ExternalsRegistered(), "registered without extensions")

	h := startWith(t, runtimeapi.Config{External: []string{"ext-a", "ext-b"}})
	h.register(t, "ext-a", "INVOKE")
	h.register(t, "internal", "INVOKE")
	pending(t, h.srv.ExternalsRegistered(), "registered before ext-b")
	if d := cmp.Diff([]string{"ext-b"}, h.srv.Unregistered()); d != "" {
		t.Errorf("Unregistered() (-want +got):\n%s", d)
	}
	h.register(t, "ext-b", "SHUTDOWN")
	recv(t, h.srv.ExternalsRegistered(), "registered")
	if got := h.srv.Unregistered(); len(got) != 0 {
		t.Errorf("Unregistered() = %q; want none", got)
	}
}

func TestExtensionInitError(t *testing.T) {
	h := startWith(t, runtimeapi.Config{External: []string{"ext-a"}})
	a := h.register(t, "ext-a", "INVOKE")
	resp, body := h.ext(t, "POST", "/2020-01-01/extension/init/error", a.id, `{"errorMessage":"no config","errorType":"Extension.ConfigMissing"}`,
		map[string]string{"Lambda-Extension-Function-Error-Type": "Extension.ConfigMissing"})
	if resp.StatusCode != 202 {
		t.Fatalf("init/error = %d %s", resp.StatusCode, body)
	}
	res := recv(t, h.srv.Init(), "init result")
	if res.Extension == nil || res.Extension.Name != "ext-a" || res.Extension.Type != "Extension.ConfigMissing" || !strings.Contains(string(res.Extension.Body), "no config") {
		t.Errorf("init result = %+v, want ext-a's error", res.Extension)
	}
	resp, _ = h.ext(t, "POST", "/2020-01-01/extension/exit/error", a.id, `{}`, map[string]string{"Lambda-Extension-Function-Error-Type": "Extension.Bye"})
	if resp.StatusCode != 202 {
		t.Errorf("exit/error = %d", resp.StatusCode)
	}
	if e := h.srv.ExitError(); e == nil || e.Type != "Extension.Bye" {
		t.Errorf("ExitError() = %+v", e)
	}
}

// A telemetry subscriber gets the platform events it asked for in
// batches, and not the streams it did not ask for.
func TestTelemetryDelivery(t *testing.T) {
	h := startWith(t, runtimeapi.Config{External: []string{"tel"}})
	var mu sync.Mutex
	var got []map[string]any
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []map[string]any
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			t.Errorf("telemetry batch: %v", err)
		}
		mu.Lock()
		got = append(got, batch...)
		mu.Unlock()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	e := h.register(t, "tel", "INVOKE")
	sub := `{"schemaVersion":"2022-12-13","types":["platform","function"],"buffering":{"maxItems":1000,"maxBytes":262144,"timeoutMs":25},` +
		`"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:` + strconv.Itoa(port) + `/t"}}`
	resp, body := h.ext(t, "PUT", "/2022-07-01/telemetry", e.id, sub, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("subscribe = %d %s", resp.StatusCode, body)
	}
	for _, bad := range []string{
		`{"types":["platform"],"destination":{"protocol":"HTTP","URI":"http://example.com:80/"}}`,
		`{"types":["bogus"],"destination":{"protocol":"HTTP","URI":"http://sandbox:80/"}}`,
		`{"types":["platform"],"buffering":{"timeoutMs":1},"destination":{"protocol":"HTTP","URI":"http://sandbox:80/"}}`,
	} {
		if resp, body := h.ext(t, "PUT", "/2022-07-01/telemetry", e.id, bad, nil); resp.StatusCode != 400 {
			t.Errorf("subscribe %s = %d %s, want 400", bad, resp.StatusCode, body)
		}
	}
	h.srv.Telemetry(runtimeapi.StreamPlatform, []byte(`{"time":"2024-01-01T00:00:00.000Z","type":"platform.start","record":{"requestId":"r1"}}`))
	h.srv.Telemetry(runtimeapi.StreamFunction, runtimeapi.FunctionRecord(runtimeapi.StreamFunction, time.Unix(0, 0), []byte("hello")))
	h.srv.Telemetry(runtimeapi.StreamExtension, runtimeapi.FunctionRecord(runtimeapi.StreamExtension, time.Unix(0, 0), []byte("not subscribed")))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.srv.FlushTelemetry(ctx)
	mu.Lock()
	defer mu.Unlock()
	var types []string
	for _, ev := range got {
		types = append(types, ev["type"].(string))
	}
	if d := cmp.Diff([]string{"platform.telemetrySubscription", "platform.start", "function"}, types); d != "" {
		t.Errorf("delivered types (-want +got):\n%s", d)
	}
	if len(got) == 3 && got[2]["record"] != "hello" {
		t.Errorf("function record = %v, want \"hello\"", got[2]["record"])
	}
}

// A subscription's batches hold at most maxItems events; full batches go
// at once, the rest only when the buffering timeout passes or a flush
// asks.
func TestTelemetryBatching(t *testing.T) {
	h := startWith(t, runtimeapi.Config{External: []string{"tel"}})
	sizes := make(chan int, 16)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []json.RawMessage
		json.NewDecoder(r.Body).Decode(&batch)
		sizes <- len(batch)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	e := h.register(t, "tel")
	sub := `{"types":["platform"],"buffering":{"maxItems":1000,"timeoutMs":30000},"destination":{"protocol":"HTTP","URI":"http://sandbox:` +
		strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + `/"}}`
	if resp, body := h.ext(t, "PUT", "/2022-07-01/telemetry", e.id, sub, nil); resp.StatusCode != 200 {
		t.Fatalf("subscribe = %d %s", resp.StatusCode, body)
	}
	emit := func(n int) {
		for i := range n {
			h.srv.Telemetry(runtimeapi.StreamPlatform, []byte(`{"time":"2024-01-01T00:00:00.000Z","type":"platform.start","record":{"n":`+strconv.Itoa(i)+`}}`))
		}
	}
	// In steps: a producer faster than the destination for long would
	// overflow the queue (2 batches) and see records dropped.
	emit(999)
	got := []int{recv(t, sizes, "first batch")}
	emit(1000)
	got = append(got, recv(t, sizes, "second batch"))
	emit(501)
	pending(t, sizes, "a partial batch before the timeout")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.srv.FlushTelemetry(ctx)
	got = append(got, recv(t, sizes, "flushed batch"))
	// The subscription's own platform.telemetrySubscription record first.
	if d := cmp.Diff([]int{1000, 1000, 501}, got); d != "" {
		t.Errorf("batch sizes (-want +got):\n%s", d)
	}
}

// A TCP destination gets newline-delimited JSON events on one connection.
func TestTelemetryTCP(t *testing.T) {
	h := startWith(t, runtimeapi.Config{External: []string{"tel"}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lines := make(chan string, 16)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	e := h.register(t, "tel")
	sub := `{"types":["platform"],"buffering":{"timeoutMs":25},"destination":{"protocol":"TCP","port":` + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + `}}`
	if resp, body := h.ext(t, "PUT", "/2022-07-01/telemetry", e.id, sub, nil); resp.StatusCode != 200 {
		t.Fatalf("subscribe = %d %s", resp.StatusCode, body)
	}
	h.srv.Telemetry(runtimeapi.StreamPlatform, []byte(`{"time":"2024-01-01T00:00:00.000Z","type":"platform.start","record":{"requestId":"r1"}}`))
	var types []string
	for range 2 {
		var ev map[string]any
		if err := json.Unmarshal([]byte(recv(t, lines, "a line")), &ev); err != nil {
			t.Fatal(err)
		}
		types = append(types, ev["type"].(string))
	}
	if d := cmp.Diff([]string{"platform.telemetrySubscription", "platform.start"}, types); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
}

// A destination that falls behind loses the oldest records beyond two
// batches, and is told so with platform.logsDropped.
func TestTelemetryDrops(t *testing.T) {
	h := startWith(t, runtimeapi.Config{External: []string{"tel"}})
	release := make(chan struct{})
	var mu sync.Mutex
	var types []string
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		var batch []struct {
			Type string `json:"type"`
		}
		json.NewDecoder(r.Body).Decode(&batch)
		mu.Lock()
		for _, ev := range batch {
			types = append(types, ev.Type)
		}
		mu.Unlock()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	e := h.register(t, "tel")
	sub := `{"types":["platform"],"buffering":{"maxItems":1000,"timeoutMs":25},"destination":{"protocol":"HTTP","URI":"http://sandbox:` +
		strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + `/"}}`
	if resp, body := h.ext(t, "PUT", "/2022-07-01/telemetry", e.id, sub, nil); resp.StatusCode != 200 {
		t.Fatalf("subscribe = %d %s", resp.StatusCode, body)
	}
	time.Sleep(100 * time.Millisecond) // the subscription record's batch is in flight, held
	for i := range 5000 {
		h.srv.Telemetry(runtimeapi.StreamPlatform, []byte(`{"time":"2024-01-01T00:00:00.000Z","type":"platform.start","record":{"n":`+strconv.Itoa(i)+`}}`))
	}
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.srv.FlushTelemetry(ctx)
	mu.Lock()
	defer mu.Unlock()
	count := map[string]int{}
	for _, typ := range types {
		count[typ]++
	}
	want := map[string]int{"platform.telemetrySubscription": 1, "platform.logsDropped": 1, "platform.start": 2000}
	if d := cmp.Diff(want, count); d != "" {
		t.Errorf("delivered (-want +got):\n%s", d)
	}
}

// A function's line reaches telemetry subscribers as Lambda sends it: a
// text line as a string with the newline it ended in, a JSON log line as
// the record itself.
func TestFunctionRecord(t *testing.T) {
	for _, tt := range []struct{ line, want string }{
		{"2022-06-23T18:14:44.993Z\tb5051b53\tINFO\tInside handler\n",
			`{"time":"1970-01-01T00:00:00.000Z","type":"function","record":"2022-06-23T18:14:44.993Z\tb5051b53\tINFO\tInside handler\n"}`},
		{"no newline", `{"time":"1970-01-01T00:00:00.000Z","type":"function","record":"no newline"}`},
		{`{"level":"INFO","message":"hi"}` + "\n", `{"time":"1970-01-01T00:00:00.000Z","type":"function","record":{"level":"INFO","message":"hi"}}`},
	} {
		if got := string(runtimeapi.FunctionRecord(runtimeapi.StreamFunction, time.Unix(0, 0), []byte(tt.line))); got != tt.want {
			t.Errorf("FunctionRecord(%q) = %s; want %s", tt.line, got, tt.want)
		}
	}
}
