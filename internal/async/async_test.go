package async_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"hearth/internal/async"
	"hearth/internal/broker"
	"hearth/internal/function"
	"hearth/internal/invoke"
	"hearth/internal/worker"
)

// scripted plays invocation outcomes in order and records each call.
type scripted struct {
	mu       sync.Mutex
	outcomes []func() (*worker.Result, error)
	calls    []call
}

type call struct {
	at        time.Time
	requestID string
	traceID   string
}

func (s *scripted) Invoke(ctx context.Context, req *invoke.Request) (*worker.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call{time.Now(), req.RequestID, req.TraceID})
	if len(s.outcomes) == 0 {
		return &worker.Result{Payload: []byte(`"ok"`), ExecutedVersion: "$LATEST"}, nil
	}
	f := s.outcomes[0]
	s.outcomes = s.outcomes[1:]
	return f()
}

func (s *scripted) callsSoFar() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...)
}

func failure() (*worker.Result, error) {
	return &worker.Result{Payload: []byte(`{"errorType":"x","errorMessage":"boom"}`), FunctionError: "Unhandled", ErrorType: "x", ExecutedVersion: "$LATEST"}, nil
}

func throttled() (*worker.Result, error) { return nil, invoke.ErrThrottled }

type configs map[string]function.Config

func (c configs) EventInvoke(_, name, _ string) (*function.EventInvokeConfig, error) {
	f, err := c.Function("", name)
	return f.EventInvoke, err
}

func (c configs) Function(_, name string) (function.Config, error) {
	if f, ok := c[name]; ok {
		return f, nil
	}
	return function.Config{}, errors.New("not found")
}

type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func setup(t *testing.T, inv async.Invoker, fns configs, clk *clock) *async.Queue {
	t.Helper()
	cfg := async.Config{RetryBase: 100 * time.Millisecond, Region: "us-east-1", Account: "000000000000", Recover: true}
	if clk != nil {
		cfg.Now = clk.Now
	}
	return setupConfig(t, cfg, inv, fns)
}

// setupConfig opens a queue with cfg on a fresh broker and runs its
// pollers until the test ends.
func setupConfig(t *testing.T, cfg async.Config, inv async.Invoker, fns configs) *async.Queue {
	t.Helper()
	b, err := broker.Start(broker.Config{Dir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	q, err := async.Open(t.Context(), b.JetStream(), cfg, inv, fns, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); q.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return q
}

func fn(retries int, onSuccess, onFailure string) function.Config {
	return function.Config{Name: "f", EventInvoke: &function.EventInvokeConfig{
		MaximumRetryAttempts: &retries, OnSuccess: onSuccess, OnFailure: onFailure,
	}}
}

func enqueue(t *testing.T, q *async.Queue, id string, enqueued time.Time) {
	t.Helper()
	if err := q.Enqueue(t.Context(), &invoke.Event{RequestID: id, Function: "f", Payload: []byte(`{"k":1}`), Enqueued: enqueued}); err != nil {
		t.Fatal(err)
	}
}

type rec struct {
	RequestContext struct {
		RequestID              string `json:"requestId"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	ResponsePayload json.RawMessage `json:"responsePayload"`
}

func receiveOne(t *testing.T, q *async.Queue, queue string) rec {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		msgs, err := q.Receive(t.Context(), "", queue, 1, 500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 1 {
			var r rec
			if err := json.Unmarshal(msgs[0].Body, &r); err != nil {
				t.Fatalf("record %s: %v", msgs[0].Body, err)
			}
			return r
		}
	}
	t.Fatalf("nothing arrived in queue %s", queue)
	return rec{}
}

const qOK, qFail = "arn:aws:sqs:us-east-1:000000000000:ok", "arn:aws:sqs:us-east-1:000000000000:fail"

func TestRetryBackoffAndSameRequestID(t *testing.T) {
	inv := &scripted{outcomes: []func() (*worker.Result, error){failure, failure, failure}}
	q := setup(t, inv, configs{"f": fn(2, qOK, qFail)}, nil)
	enqueue(t, q, "req-1", time.Now())
	r := receiveOne(t, q, "fail")
	if r.RequestContext.Condition != "RetriesExhausted" || r.RequestContext.ApproximateInvokeCount != 3 {
		t.Fatalf("record = %+v; want RetriesExhausted after 3", r)
	}
	calls := inv.callsSoFar()
	if len(calls) != 3 {
		t.Fatalf("%d invocations; want 3", len(calls))
	}
	for i, c := range calls {
		if c.requestID != "req-1" {
			t.Errorf("attempt %d ran as %s; want req-1", i+1, c.requestID)
		}
	}
	// Lambda's schedule: base before the second attempt, twice base before
	// the third. JetStream's redelivery timer may fire a little early (it
	// was seen at 199.9 ms for 200), hence the 5% slack.
	if d := calls[1].at.Sub(calls[0].at); d < 95*time.Millisecond {
		t.Errorf("second attempt %v after the first; want >= 100ms", d)
	}
	if d := calls[2].at.Sub(calls[1].at); d < 190*time.Millisecond {
		t.Errorf("third attempt %v after the second; want >= 200ms", d)
	}
}

// An event's trace header reaches every attempt; an event without one
// (as every event queued before Hearth kept it) runs without.
func TestEventTraceID(t *testing.T) {
	inv := &scripted{outcomes: []func() (*worker.Result, error){failure, failure}}
	q := setup(t, inv, configs{"f": fn(2, qOK, qFail)}, nil)
	const trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	if err := q.Enqueue(t.Context(), &invoke.Event{RequestID: "req-traced", Function: "f", Payload: []byte(`{}`), Enqueued: time.Now(), TraceID: trace}); err != nil {
		t.Fatal(err)
	}
	if r := receiveOne(t, q, "ok"); r.RequestContext.ApproximateInvokeCount != 3 {
		t.Fatalf("record = %+v; want Success on the third attempt", r)
	}
	enqueue(t, q, "req-untraced", time.Now())
	receiveOne(t, q, "ok")
	var got []string
	for _, c := range inv.callsSoFar() {
		got = append(got, c.requestID+" "+c.traceID)
	}
	want := []string{"req-traced " + trace, "req-traced " + trace, "req-traced " + trace, "req-untraced "}
	if !slices.Equal(got, want) {
		t.Errorf("invocations (request id, trace) = %q; want %q", got, want)
	}
}

func TestThrottledEventsAreRetriedNotDropped(t *testing.T) {
	inv := &scripted{outcomes: []func() (*worker.Result, error){throttled, throttled}}
	q := setup(t, inv, configs{"f": fn(0, qOK, qFail)}, nil)
	enqueue(t, q, "req-t", time.Now())
	r := receiveOne(t, q, "ok")
	// Throttles are not attempts: the success is the first invocation.
	if r.RequestContext.Condition != "Success" || r.RequestContext.ApproximateInvokeCount != 1 {
		t.Fatalf("record = %+v; want Success, count 1", r)
	}
	if n := len(inv.callsSoFar()); n != 3 {
		t.Errorf("%d calls; want 2 throttled + 1 success", n)
	}
	st, err := q.Stats(t.Context())
	if err != nil || st.Throttled != 2 || st.Succeeded != 1 || st.Depth != 0 {
		t.Errorf("Stats() = %+v, %v", st, err)
	}
}

func TestEventAgeExceeded(t *testing.T) {
	clk := &clock{}
	inv := &scripted{outcomes: []func() (*worker.Result, error){failure, failure}}
	age := 60
	f := fn(2, qOK, qFail)
	f.EventInvoke.MaximumEventAgeInSeconds = &age
	f.DeadLetterTarget = "arn:aws:sqs:us-east-1:000000000000:dlq"
	q := setup(t, inv, configs{"f": f}, clk)
	enqueue(t, q, "req-old", clk.Now())
	// Let the first attempt fail, then jump past the maximum age before
	// the retry is due.
	waitFor(t, "the first attempt", func() bool { return len(inv.callsSoFar()) >= 1 })
	clk.Advance(61 * time.Second)
	r := receiveOne(t, q, "fail")
	if r.RequestContext.Condition != "EventAgeExceeded" || r.RequestContext.ApproximateInvokeCount != 1 {
		t.Fatalf("record = %+v; want EventAgeExceeded after 1 invocation", r)
	}
	if n := len(inv.callsSoFar()); n != 1 {
		t.Errorf("%d invocations; an expired event must not run again", n)
	}
	msgs, err := q.Receive(t.Context(), "", "dlq", 1, 2*time.Second)
	if err != nil || len(msgs) != 1 || string(msgs[0].Body) != `{"k":1}` || msgs[0].Attributes["RequestID"] != "req-old" {
		t.Errorf("dead-letter queue got %+v, %v; want the original event", msgs, err)
	}
	if st, _ := q.Stats(t.Context()); st.Expired != 1 {
		t.Errorf("Stats().Expired = %d; want 1", st.Expired)
	}
}

func TestDeletedFunctionDropsEvent(t *testing.T) {
	inv := &scripted{}
	q := setup(t, inv, configs{}, nil)
	enqueue(t, q, "req-gone", time.Now())
	waitFor(t, "the event for a deleted function is dropped", func() bool {
		st, _ := q.Stats(t.Context())
		return st.Dropped == 1 && st.Depth == 0
	})
	if n := len(inv.callsSoFar()); n != 0 {
		t.Errorf("%d invocations of a deleted function", n)
	}
}

func TestQueueSendReceive(t *testing.T) {
	q := setup(t, &scripted{}, configs{}, nil)
	h := nats.Header{}
	h.Set("K", "v")
	for _, body := range []string{`{"a":1}`, `not json`} {
		if err := q.Send(t.Context(), "", "named", []byte(body), h); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := q.Receive(t.Context(), "", "named", 10, time.Second)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("Receive() = %d messages, %v", len(msgs), err)
	}
	if string(msgs[0].Body) != `{"a":1}` || string(msgs[1].Body) != `"not json"` || msgs[0].Attributes["K"] != "v" {
		t.Errorf("messages = %s, %s, %v", msgs[0].Body, msgs[1].Body, msgs[0].Attributes)
	}
	if again, _ := q.Receive(t.Context(), "", "named", 10, 100*time.Millisecond); len(again) != 0 {
		t.Errorf("received messages came back: %d", len(again))
	}
	if err := q.Send(t.Context(), "", "bad name!", nil, nil); !errors.Is(err, async.ErrInvalidQueue) {
		t.Errorf("Send(bad name) = %v; want ErrInvalidQueue", err)
	}
}

// TestQueuesPerAccount checks that two accounts' queues of one name are two
// queues: neither reads the other's messages. The server's own account
// reads its queue under the bare name, as before accounts.
func TestQueuesPerAccount(t *testing.T) {
	q := setup(t, &scripted{}, configs{}, nil)
	for _, m := range []struct{ account, body string }{
		{"111111111111", `"a"`}, {"222222222222", `"b"`}, {"000000000000", `"own"`},
	} {
		if err := q.Send(t.Context(), m.account, "done", []byte(m.body), nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []struct{ account, body string }{
		{"222222222222", `"b"`}, {"111111111111", `"a"`}, {"", `"own"`},
	} {
		msgs, err := q.Receive(t.Context(), want.account, "done", 10, 200*time.Millisecond)
		if err != nil || len(msgs) != 1 || string(msgs[0].Body) != want.body {
			var got []string
			for _, m := range msgs {
				got = append(got, string(m.Body))
			}
			t.Errorf("account %q's queue done = %v, %v; want only %s", want.account, got, err, want.body)
		}
	}
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitUpTo(t, 5*time.Second, what, cond)
}

// waitUpTo polls cond until it holds, failing the test after limit.
func waitUpTo(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: did not happen within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// blocking holds every invocation until released, so events stay queued.
type blocking struct {
	release chan struct{}
	mu      sync.Mutex
	seen    map[string]bool
}

func (b *blocking) Invoke(ctx context.Context, req *invoke.Request) (*worker.Result, error) {
	<-b.release
	b.mu.Lock()
	b.seen[req.RequestID] = true
	b.mu.Unlock()
	return &worker.Result{Payload: []byte(`"ok"`), ExecutedVersion: "$LATEST"}, nil
}

func (b *blocking) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

// A full queue refuses new events with ErrQueueFull, loses none it
// accepted, and takes events again once it has drained.
func TestQueueFullRefusesAndLosesNothing(t *testing.T) {
	inv := &blocking{release: make(chan struct{}), seen: map[string]bool{}}
	var once sync.Once
	release := func() { once.Do(func() { close(inv.release) }) }
	q := setupConfig(t, async.Config{MaxBytes: 64 << 10, AccountMaxBytes: 64 << 10, Concurrency: 1, Batch: 1, Recover: true}, inv, configs{"f": fn(0, "", "")})
	t.Cleanup(release) // cleanups run last-in first-out: before the pollers stop

	payload := []byte(`{"pad":"` + strings.Repeat("x", 1000) + `"}`)
	accepted := 0
	var full error
	for i := 0; i < 200 && full == nil; i++ {
		err := q.Enqueue(t.Context(), &invoke.Event{RequestID: fmt.Sprintf("req-%d", i), Function: "f", Payload: payload, Enqueued: time.Now()})
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, invoke.ErrQueueFull):
			full = err
		default:
			t.Fatalf("Enqueue() = %v", err)
		}
	}
	if full == nil {
		t.Fatalf("accepted 200 events of 1 KB into a 64 KiB queue; want ErrQueueFull")
	}
	if accepted < 20 {
		t.Errorf("accepted %d events of 1 KB before a 64 KiB queue was full; want most of it used", accepted)
	}
	release()
	waitFor(t, "every accepted event is invoked", func() bool { return inv.count() == accepted })
	waitFor(t, "the drained queue takes events again", func() bool {
		return q.Enqueue(t.Context(), &invoke.Event{RequestID: "after", Function: "f", Payload: payload, Enqueued: time.Now()}) == nil
	})
}

// TestDeadLetterAttributes checks the attributes of a failed event's
// dead-letter message: ErrorMessage is the function's errorMessage, not
// its whole error document, as an AWS recording shows (localstack's
// test_lambda_destinations snapshot, TestLambdaDLQ: ErrorCode 200,
// ErrorMessage "Test exception (this is intentional)").
func TestDeadLetterAttributes(t *testing.T) {
	inv := &scripted{outcomes: []func() (*worker.Result, error){failure}}
	f := fn(0, "", "")
	f.DeadLetterTarget = "arn:aws:sqs:us-east-1:000000000000:dlq"
	q := setup(t, inv, configs{"f": f}, nil)
	enqueue(t, q, "req-dl", time.Now())
	var msgs []async.Message
	waitFor(t, "the dead-letter message", func() bool {
		var err error
		msgs, err = q.Receive(t.Context(), "", "dlq", 1, 100*time.Millisecond)
		return err == nil && len(msgs) == 1
	})
	want := map[string]string{"RequestID": "req-dl", "ErrorCode": "200", "ErrorMessage": "boom"}
	for k, v := range want {
		if got := msgs[0].Attributes[k]; got != v {
			t.Errorf("dead-letter attribute %s = %q; want %q", k, got, v)
		}
	}
	if string(msgs[0].Body) != `{"k":1}` {
		t.Errorf("dead-letter body = %s; want the original event", msgs[0].Body)
	}
}

// TestEventAgeExceededBeforeRetry checks that a failed event whose next
// attempt would come after its maximum age ends at once, as on Lambda:
// with MaximumEventAgeInSeconds 90 and 2 retries, AWS ran it twice (the
// third attempt would be 3 minutes in) and sent an EventAgeExceeded
// record with approximateInvokeCount 2 and the last attempt's response
// (localstack's test_maxeventage, recorded against AWS). Here the
// schedule is scaled down: retries 700 ms and 1.4 s apart, a 1 s age.
func TestEventAgeExceededBeforeRetry(t *testing.T) {
	inv := &scripted{outcomes: []func() (*worker.Result, error){failure, failure, failure}}
	age := 1
	f := fn(2, qOK, qFail)
	f.EventInvoke.MaximumEventAgeInSeconds = &age
	f.DeadLetterTarget = "arn:aws:sqs:us-east-1:000000000000:dlq"
	q := setupConfig(t, async.Config{RetryBase: 700 * time.Millisecond, Region: "us-east-1", Account: "000000000000", Recover: true}, inv, configs{"f": f})
	enqueue(t, q, "req-age", time.Now())
	msgs := receiveRaw(t, q, "fail")
	var r struct {
		RequestContext struct {
			Condition              string `json:"condition"`
			ApproximateInvokeCount int    `json:"approximateInvokeCount"`
		} `json:"requestContext"`
		ResponseContext *struct {
			StatusCode      int    `json:"statusCode"`
			ExecutedVersion string `json:"executedVersion"`
			FunctionError   string `json:"functionError"`
		} `json:"responseContext"`
		ResponsePayload json.RawMessage `json:"responsePayload"`
	}
	if err := json.Unmarshal(msgs, &r); err != nil {
		t.Fatalf("record %s: %v", msgs, err)
	}
	if r.RequestContext.Condition != "EventAgeExceeded" || r.RequestContext.ApproximateInvokeCount != 2 {
		t.Errorf("record = %s; want EventAgeExceeded after 2 invocations", msgs)
	}
	if rc := r.ResponseContext; rc == nil || rc.StatusCode != 200 || rc.ExecutedVersion != "$LATEST" || rc.FunctionError != "Unhandled" {
		t.Errorf("record = %s; want the last attempt's responseContext", msgs)
	}
	if string(r.ResponsePayload) != `{"errorType":"x","errorMessage":"boom"}` {
		t.Errorf("responsePayload = %s; want the last attempt's error", r.ResponsePayload)
	}
	if n := len(inv.callsSoFar()); n != 2 {
		t.Errorf("%d invocations; want 2", n)
	}
	dl, err := q.Receive(t.Context(), "", "dlq", 1, 2*time.Second)
	if err != nil || len(dl) != 1 || dl[0].Attributes["ErrorCode"] != "200" || dl[0].Attributes["ErrorMessage"] != "boom" {
		t.Errorf("dead-letter queue got %+v, %v; want the event with the function's error", dl, err)
	}
}

// receiveRaw returns the body of the first message of queue, failing the
// test after 10 s.
func receiveRaw(t *testing.T, q *async.Queue, queue string) json.RawMessage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		msgs, err := q.Receive(t.Context(), "", queue, 1, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 1 {
			return msgs[0].Body
		}
	}
	t.Fatalf("nothing arrived in queue %s", queue)
	return nil
}

// TestZeroReservedConcurrency checks that an event of a function whose
// reserved concurrency is 0 goes to the failure destination at once, not
// back to the queue as a throttled one: AWS sent a record with condition
// ZeroReservedConcurrency, approximateInvokeCount 0 and no response
// (localstack's test_reserved_concurrency, recorded against AWS).
func TestZeroReservedConcurrency(t *testing.T) {
	reservedThrottled := func() (*worker.Result, error) { return nil, invoke.ErrReservedThrottled }
	inv := &scripted{outcomes: []func() (*worker.Result, error){reservedThrottled, reservedThrottled}}
	zero := 0
	f := fn(2, qOK, qFail)
	f.ReservedConcurrency = &zero
	q := setup(t, inv, configs{"f": f}, nil)
	enqueue(t, q, "req-zero", time.Now())
	body := receiveRaw(t, q, "fail")
	var r map[string]json.RawMessage
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("record %s: %v", body, err)
	}
	var rc struct {
		Condition              string `json:"condition"`
		ApproximateInvokeCount *int   `json:"approximateInvokeCount"`
	}
	json.Unmarshal(r["requestContext"], &rc)
	if rc.Condition != "ZeroReservedConcurrency" || rc.ApproximateInvokeCount == nil || *rc.ApproximateInvokeCount != 0 {
		t.Errorf("record = %s; want condition ZeroReservedConcurrency, approximateInvokeCount 0", body)
	}
	if _, ok := r["responseContext"]; ok {
		t.Errorf("record = %s; want no responseContext (the function never ran)", body)
	}
	if _, ok := r["responsePayload"]; ok {
		t.Errorf("record = %s; want no responsePayload", body)
	}
	if string(r["requestPayload"]) != `{"k":1}` {
		t.Errorf("requestPayload = %s", r["requestPayload"])
	}
	if n := len(inv.callsSoFar()); n != 1 {
		t.Errorf("%d invocation attempts; want 1 (no retries)", n)
	}
}
