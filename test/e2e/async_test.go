package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// queueARN is the destination ARN of a Hearth queue.
func queueARN(name string) string { return "arn:aws:sqs:us-east-1:000000000000:" + name }

type record struct {
	Version        string `json:"version"`
	Timestamp      string `json:"timestamp"`
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionArn            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	RequestPayload  json.RawMessage `json:"requestPayload"`
	ResponseContext *struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError"`
	} `json:"responseContext"`
	ResponsePayload json.RawMessage `json:"responsePayload"`
}

type queued struct {
	Body       json.RawMessage   `json:"body"`
	Attributes map[string]string `json:"attributes"`
}

// receive takes every message of queue until it holds want of them or
// timeout passes.
func (s *server) receive(t testing.TB, queue string, want int, timeout time.Duration) []queued {
	t.Helper()
	var got []queued
	deadline := time.Now().Add(timeout)
	for len(got) < want && time.Now().Before(deadline) {
		resp, err := s.get(t, "/_hearth/v1/queues/"+queue+"/messages?max=100&wait=1s")
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ Messages []queued }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("receive from %s: %d %v", queue, resp.StatusCode, err)
		}
		got = append(got, out.Messages...)
	}
	return got
}

func records(t testing.TB, msgs []queued) []record {
	t.Helper()
	var out []record
	for _, m := range msgs {
		var r record
		if err := json.Unmarshal(m.Body, &r); err != nil {
			t.Fatalf("queue message %s is not an invocation record: %v", m.Body, err)
		}
		out = append(out, r)
	}
	return out
}

func (s *server) putEventConfig(t testing.TB, name string, retries int, onSuccess, onFailure string) {
	t.Helper()
	dc := &types.DestinationConfig{}
	if onSuccess != "" {
		dc.OnSuccess = &types.OnSuccess{Destination: aws.String(onSuccess)}
	}
	if onFailure != "" {
		dc.OnFailure = &types.OnFailure{Destination: aws.String(onFailure)}
	}
	_, err := s.Client.PutFunctionEventInvokeConfig(t.Context(), &lambda.PutFunctionEventInvokeConfigInput{
		FunctionName: aws.String(name), MaximumRetryAttempts: aws.Int32(int32(retries)), DestinationConfig: dc,
	})
	if err != nil {
		t.Fatalf("PutFunctionEventInvokeConfig(%s) = %v", name, err)
	}
}

func (s *server) event(t testing.TB, name string, payload string) string {
	t.Helper()
	out, err := s.Client.Invoke(t.Context(), &lambda.InvokeInput{
		FunctionName: aws.String(name), InvocationType: types.InvocationTypeEvent, Payload: []byte(payload),
	})
	if err != nil {
		t.Fatalf("Invoke(%s, Event) = %v", name, err)
	}
	if out.StatusCode != 202 {
		t.Fatalf("Invoke(%s, Event) status = %d; want 202", name, out.StatusCode)
	}
	return requestIDOf(out.ResultMetadata)
}

func TestAsyncDestinationsAndRetries(t *testing.T) {
	s := startServer(t, "", "--async-retry-base", "200ms")
	s.create(t, "ev", goFn())
	s.putEventConfig(t, "ev", 2, queueARN("ok"), queueARN("failed"))

	t.Run("Success", func(t *testing.T) {
		id := s.event(t, "ev", `{"op":"echo"}`)
		recs := records(t, s.receive(t, "ok", 1, 20*time.Second))
		if len(recs) != 1 {
			t.Fatalf("%d success records; want 1", len(recs))
		}
		r := recs[0]
		if r.Version != "1.0" || r.RequestContext.Condition != "Success" || r.RequestContext.ApproximateInvokeCount != 1 ||
			r.RequestContext.FunctionArn != "arn:aws:lambda:us-east-1:000000000000:function:ev:$LATEST" ||
			r.ResponseContext == nil || r.ResponseContext.StatusCode != 200 || r.ResponseContext.ExecutedVersion != "$LATEST" {
			t.Errorf("success record = %+v", r)
		}
		if id != "" && r.RequestContext.RequestID != id {
			t.Errorf("record request id %s; the 202 said %s", r.RequestContext.RequestID, id)
		}
		var resp map[string]any
		json.Unmarshal(r.ResponsePayload, &resp)
		if resp["request_id"] != r.RequestContext.RequestID {
			t.Errorf("the function saw request id %v; the record says %s", resp["request_id"], r.RequestContext.RequestID)
		}
		if string(r.RequestPayload) != `{"op":"echo"}` {
			t.Errorf("requestPayload = %s", r.RequestPayload)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", r.Timestamp); err != nil {
			t.Errorf("timestamp %q: %v", r.Timestamp, err)
		}
	})

	t.Run("RetriesExhausted", func(t *testing.T) {
		start := time.Now()
		s.event(t, "ev", `{"op":"error","text":"always"}`)
		recs := records(t, s.receive(t, "failed", 1, 30*time.Second))
		if len(recs) != 1 {
			t.Fatalf("%d failure records; want 1", len(recs))
		}
		r := recs[0]
		if r.RequestContext.Condition != "RetriesExhausted" || r.RequestContext.ApproximateInvokeCount != 3 ||
			r.ResponseContext == nil || r.ResponseContext.FunctionError != "Unhandled" {
			t.Errorf("failure record = %+v", r)
		}
		// Three attempts with 200 ms then 400 ms between them.
		if elapsed := time.Since(start); elapsed < 600*time.Millisecond {
			t.Errorf("three attempts took %v; the backoff alone is 600ms", elapsed)
		}
		logs := s.functionLog(t, "ev")
		if n := strings.Count(logs, "START RequestId: "+r.RequestContext.RequestID); n != 3 {
			t.Errorf("the event ran %d times under its request id; want 3 (same id on every attempt)", n)
		}
	})

	t.Run("RetrySucceeds", func(t *testing.T) {
		s.event(t, "ev", `{"op":"flaky"}`)
		recs := records(t, s.receive(t, "ok", 1, 20*time.Second))
		if len(recs) != 1 || recs[0].RequestContext.ApproximateInvokeCount != 2 {
			t.Fatalf("records = %+v; want one success after 2 invocations", recs)
		}
	})

	t.Run("NoRetries", func(t *testing.T) {
		s.putEventConfig(t, "ev", 0, "", queueARN("failed0"))
		s.event(t, "ev", `{"op":"error"}`)
		recs := records(t, s.receive(t, "failed0", 1, 20*time.Second))
		if len(recs) != 1 || recs[0].RequestContext.ApproximateInvokeCount != 1 {
			t.Fatalf("records = %+v; want one failure after 1 invocation", recs)
		}
	})
}

// TestAsyncTraceHeader checks that an Event invocation's X-Amzn-Trace-Id
// reaches the function as a synchronous one's does, as _X_AMZN_TRACE_ID,
// and that an event sent without one gets a trace of its own.
func TestAsyncTraceHeader(t *testing.T) {
	f := pythonFn(t)
	needRuntime(t, f.runtime)
	s := startServer(t, "")
	s.create(t, "traced", f)
	s.putEventConfig(t, "traced", 0, queueARN("traced-ok"), "")
	given := fmt.Sprintf("Root=1-%08x-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1", time.Now().Unix())
	send := func(optFns ...func(*lambda.Options)) string {
		out, err := s.Client.Invoke(t.Context(), &lambda.InvokeInput{
			FunctionName: aws.String("traced"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"op":"env"}`),
		}, optFns...)
		if err != nil || out.StatusCode != 202 {
			t.Fatalf("Invoke(Event) = %v, %v", out, err)
		}
		return requestIDOf(out.ResultMetadata)
	}
	traced, untraced := send(withTraceHeader(given)), send()
	got := map[string]string{}
	for _, r := range records(t, s.receive(t, "traced-ok", 2, 30*time.Second)) {
		var resp struct {
			Env map[string]string `json:"env"`
		}
		if err := json.Unmarshal(r.ResponsePayload, &resp); err != nil {
			t.Fatalf("responsePayload %s: %v", r.ResponsePayload, err)
		}
		got[r.RequestContext.RequestID] = resp.Env["_X_AMZN_TRACE_ID"]
	}
	if len(got) != 2 {
		t.Fatalf("success records for %v; want the 2 events", got)
	}
	if got[traced] != given {
		t.Errorf("the traced event's function saw _X_AMZN_TRACE_ID %q; want the caller's %q", got[traced], given)
	}
	if own := got[untraced]; !regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$`).MatchString(own) || strings.Contains(own, given[5:40]) {
		t.Errorf("the untraced event's function saw _X_AMZN_TRACE_ID %q; want a trace of its own", own)
	}
}

func TestAsyncDeadLetterAndFunctionDestination(t *testing.T) {
	s := startServer(t, "", "--async-retry-base", "100ms")
	f := goFn()
	s.create(t, "dl", f)
	if _, err := s.Client.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("dl"), DeadLetterConfig: &types.DeadLetterConfig{TargetArn: aws.String(queueARN("dlq"))},
	}); err != nil {
		t.Fatal(err)
	}
	s.putEventConfig(t, "dl", 1, "", "")
	s.event(t, "dl", `{"op":"error","text":"to the dlq"}`)
	msgs := s.receive(t, "dlq", 1, 20*time.Second)
	if len(msgs) != 1 || string(msgs[0].Body) != `{"op":"error","text":"to the dlq"}` {
		t.Fatalf("dead-letter messages = %+v; want the original event", msgs)
	}
	if a := msgs[0].Attributes; a["RequestID"] == "" || a["ErrorCode"] != "200" || a["ErrorMessage"] != "boom: to the dlq" {
		t.Errorf("dead-letter attributes = %v", a)
	}

	// A function destination is invoked asynchronously with the record.
	s.create(t, "first", goFn())
	s.create(t, "second", goFn())
	s.putEventConfig(t, "first", 0, "arn:aws:lambda:us-east-1:000000000000:function:second", "")
	s.putEventConfig(t, "second", 0, queueARN("chain"), "")
	s.event(t, "first", `{"op":"echo"}`)
	recs := records(t, s.receive(t, "chain", 1, 20*time.Second))
	if len(recs) != 1 {
		t.Fatalf("chained records = %d; want 1", len(recs))
	}
	var inner record
	if err := json.Unmarshal(recs[0].RequestPayload, &inner); err != nil || inner.RequestContext.Condition != "Success" ||
		!strings.HasSuffix(inner.RequestContext.FunctionArn, ":function:first:$LATEST") {
		t.Errorf("second function's event = %s; want first's success record", recs[0].RequestPayload)
	}
}

// TestAsyncZeroReservedConcurrency checks that an Event invocation of a
// function switched off with reserved concurrency 0 is failed at once,
// as on Lambda (lambda-api.md §8): its record, condition
// ZeroReservedConcurrency with no attempt and no response, reaches the
// failure destination without the throttle retries (1 s, 2 s, ... for
// up to 6 hours) that a busy function's events get.
func TestAsyncZeroReservedConcurrency(t *testing.T) {
	s := startServer(t, "")
	s.create(t, "off", goFn())
	s.putEventConfig(t, "off", 2, queueARN("off-ok"), queueARN("off-failed"))
	if _, err := s.Client.PutFunctionConcurrency(t.Context(), &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("off"), ReservedConcurrentExecutions: aws.Int32(0),
	}); err != nil {
		t.Fatal(err)
	}
	id := s.event(t, "off", `{"op":"echo"}`)
	msgs := s.receive(t, "off-failed", 1, 5*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d failure records within 5 s; want 1", len(msgs))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(msgs[0].Body, &raw); err != nil {
		t.Fatal(err)
	}
	r := records(t, msgs)[0]
	if r.RequestContext.Condition != "ZeroReservedConcurrency" || r.RequestContext.ApproximateInvokeCount != 0 ||
		(id != "" && r.RequestContext.RequestID != id) || string(r.RequestPayload) != `{"op":"echo"}` ||
		r.RequestContext.FunctionArn != "arn:aws:lambda:us-east-1:000000000000:function:off:$LATEST" {
		t.Errorf("failure record = %s", msgs[0].Body)
	}
	if _, ok := raw["responseContext"]; ok {
		t.Errorf("failure record = %s; want no responseContext", msgs[0].Body)
	}
	if strings.Contains(s.functionLog(t, "off"), "START RequestId") {
		t.Errorf("the switched-off function ran")
	}
}

func TestAsyncThrottledEventsWait(t *testing.T) {
	s := startServer(t, "", "--concurrency", "1")
	s.create(t, "thr", goFn())
	s.putEventConfig(t, "thr", 0, queueARN("thr-ok"), queueARN("thr-failed"))
	const n = 4
	for range n {
		s.event(t, "thr", `{"op":"sleep","ms":100}`)
	}
	recs := records(t, s.receive(t, "thr-ok", n, 60*time.Second))
	if len(recs) != n {
		t.Fatalf("%d of %d throttled events succeeded", len(recs), n)
	}
	if left := s.receive(t, "thr-failed", 1, time.Second); len(left) != 0 {
		t.Errorf("throttled events reached the failure destination: %d", len(left))
	}
	out, err := s.cli(t.Context(), "async").CombinedOutput()
	if err != nil {
		t.Fatalf("hearth async: %v\n%s", err, out)
	}
	for _, want := range []string{"depth                0", fmt.Sprintf("succeeded            %d", n), "throttled"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("hearth async output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "throttled            0\n") {
		t.Errorf("%d events at concurrency 1 were never throttled:\n%s", n, out)
	}
}

func TestAsyncAPI(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	s.create(t, "cfg", goFn())
	var nf *types.ResourceNotFoundException
	if _, err := s.Client.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg")}); !errors.As(err, &nf) {
		t.Errorf("Get before Put = %v; want ResourceNotFoundException", err)
	}
	put, err := s.Client.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{
		FunctionName: aws.String("cfg"), MaximumRetryAttempts: aws.Int32(1), MaximumEventAgeInSeconds: aws.Int32(120),
		DestinationConfig: &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String(queueARN("x"))}},
	})
	if err != nil {
		t.Fatalf("Put = %v", err)
	}
	if put.LastModified == nil || time.Since(*put.LastModified) > time.Minute || aws.ToString(put.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:cfg:$LATEST" {
		t.Errorf("Put = LastModified %v, FunctionArn %s", put.LastModified, aws.ToString(put.FunctionArn))
	}
	upd, err := s.Client.UpdateFunctionEventInvokeConfig(ctx, &lambda.UpdateFunctionEventInvokeConfigInput{
		FunctionName: aws.String("cfg"), MaximumRetryAttempts: aws.Int32(0),
	})
	if err != nil || aws.ToInt32(upd.MaximumRetryAttempts) != 0 || aws.ToInt32(upd.MaximumEventAgeInSeconds) != 120 ||
		aws.ToString(upd.DestinationConfig.OnFailure.Destination) != queueARN("x") {
		t.Errorf("Update merges: got %+v, %v", upd, err)
	}
	again, err := s.Client.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg"), MaximumRetryAttempts: aws.Int32(2)})
	if err != nil || again.MaximumEventAgeInSeconds != nil || again.DestinationConfig.OnFailure.Destination != nil {
		t.Errorf("Put replaces: got %+v, %v", again, err)
	}
	list, err := s.Client.ListFunctionEventInvokeConfigs(ctx, &lambda.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String("cfg")})
	if err != nil || len(list.FunctionEventInvokeConfigs) != 1 {
		t.Errorf("List = %+v, %v", list, err)
	}
	for name, in := range map[string]*lambda.PutFunctionEventInvokeConfigInput{
		"retries 3":  {FunctionName: aws.String("cfg"), MaximumRetryAttempts: aws.Int32(3)},
		"age 30":     {FunctionName: aws.String("cfg"), MaximumEventAgeInSeconds: aws.Int32(30)},
		"sns target": {FunctionName: aws.String("cfg"), DestinationConfig: &types.DestinationConfig{OnSuccess: &types.OnSuccess{Destination: aws.String("arn:aws:sns:us-east-1:000000000000:t")}}},
		"missing fn": {FunctionName: aws.String("nope"), MaximumRetryAttempts: aws.Int32(1)},
	} {
		_, err := s.NoRetry.PutFunctionEventInvokeConfig(ctx, in)
		// Out-of-range numbers break the model (ValidationException, as
		// AWS answers them); an SNS target is Hearth's own refusal.
		want := "ValidationException"
		switch name {
		case "missing fn":
			want = "ResourceNotFoundException"
		case "sns target":
			want = "InvalidParameterValueException"
		}
		if apiCode(err) != want {
			t.Errorf("Put %s = %v; want %s", name, err, want)
		}
	}
	if _, err := s.Client.DeleteFunctionEventInvokeConfig(ctx, &lambda.DeleteFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg")}); err != nil {
		t.Errorf("Delete = %v", err)
	}
	if _, err := s.Client.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg")}); !errors.As(err, &nf) {
		t.Errorf("Get after Delete = %v; want ResourceNotFoundException", err)
	}

	big := `{"pad":"` + strings.Repeat("a", 1<<20) + `"}`
	_, err = s.NoRetry.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("cfg"), InvocationType: types.InvocationTypeEvent, Payload: []byte(big)})
	var tl *types.RequestTooLargeException
	if !errors.As(err, &tl) {
		t.Errorf("1 MB + Event = %v; want RequestTooLargeException", err)
	}
	if _, err := s.NoRetry.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("missing"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{}`)}); !errors.As(err, &nf) {
		t.Errorf("Event to a missing function = %v; want ResourceNotFoundException", err)
	}
	if _, err := s.NoRetry.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("cfg"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{oops`)}); apiCode(err) != "InvalidRequestContentException" {
		t.Errorf("Event with malformed JSON = %v; want InvalidRequestContentException", err)
	}
	//lint:ignore SA1019 InvokeAsync is deprecated, but old clients still call it and Hearth serves it.
	out, err := s.Client.InvokeAsync(ctx, &lambda.InvokeAsyncInput{FunctionName: aws.String("cfg"), InvokeArgs: strings.NewReader(`{"op":"echo"}`)})
	if err != nil || out.Status != 202 {
		t.Errorf("InvokeAsync = %+v, %v; want Status 202", out, err)
	}
}

// TestAsyncSurvivesKill9 proves at-least-once delivery: every event
// answered with 202 is invoked, although the server is killed with SIGKILL
// while events are queued and running, and restarted.
func TestAsyncSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--async-concurrency", "2")
	s.create(t, "durable", goFn())
	s.putEventConfig(t, "durable", 2, queueARN("delivered"), queueARN("lost"))
	const n = 60
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range n / 4 {
				id := s.event(t, "durable", `{"op":"sleep","ms":50}`)
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	var st struct {
		Depth uint64 `json:"depth"`
	}
	if resp, err := s.get(t, "/_hearth/v1/async"); err == nil {
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
	}
	s.Kill()
	if st.Depth == 0 {
		t.Fatal("every event was settled before the kill; the test proves nothing (make the events slower)")
	}

	s = startServer(t, dir, "--async-concurrency", "8")
	recs := records(t, s.receive(t, "delivered", n, 90*time.Second))
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.RequestContext.RequestID]++
		var resp map[string]any
		json.Unmarshal(r.ResponsePayload, &resp)
		if resp["request_id"] != r.RequestContext.RequestID {
			t.Errorf("invocation saw request id %v; event was %s", resp["request_id"], r.RequestContext.RequestID)
		}
	}
	missing := 0
	for id := range ids {
		if seen[id] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged events were never invoked after kill -9 (%d records)", missing, n, len(recs))
	}
	if lost := s.receive(t, "lost", 1, time.Second); len(lost) > 0 {
		t.Errorf("%d events failed", len(lost))
	}
}

// functionLog returns the function's stored log.
func (s *server) functionLog(t testing.TB, name string) string {
	t.Helper()
	out, err := s.cli(context.Background(), "logs", name).Output()
	if err != nil {
		t.Fatalf("hearth logs %s: %v", name, err)
	}
	return string(out)
}
