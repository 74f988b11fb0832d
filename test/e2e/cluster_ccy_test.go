package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// spanFn sleeps event.ms milliseconds and answers when it started and
// ended, by the host's clock (the process driver runs it on the host).
func spanFn() fn {
	app := []byte(`import time

def handler(event, context):
    start = time.time_ns()
    time.sleep(event.get("ms", 0) / 1000)
    return {"start_ns": start, "end_ns": time.time_ns()}
`)
	return fn{runtime: "python3.12", handler: "app.handler", timeout: 10, zip: zipFiles(map[string]zipFile{"app.py": {data: app}})}
}

// maxOverlap is the most of spans [start, end) that overlap at any time.
func maxOverlap(spans [][2]int64) int {
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	for _, s := range spans {
		edges = append(edges, edge{s[0], 1}, edge{s[1], -1})
	}
	// Ends before starts at the same instant: [start, end) spans.
	slices.SortFunc(edges, func(a, b edge) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return a.delta - b.delta
	})
	most, n := 0, 0
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
	}
	return most
}

// Reserved concurrency holds across api nodes: two api nodes and a
// worker on a NATS server of their own, a function with reserved
// concurrency 2, and sleeping invocations sent through both api nodes at
// once. Never more than 2 run at once (by the spans the function
// reports); every other invocation gets Lambda's 429 for reserved
// concurrency.
func TestClusterReservedConcurrency(t *testing.T) {
	url := startNATS(t)
	common := []string{"--nats-url", url, "--isolation", "process"}
	startServer(t, "", append([]string{"--roles", "worker"}, common...)...)
	apis := []*server{
		startServer(t, "", append([]string{"--roles", "api,poller"}, common...)...),
		startServer(t, "", append([]string{"--roles", "api"}, common...)...),
	}
	ctx := t.Context()
	apis[0].create(t, "ccy", spanFn())
	if _, err := apis[0].Client.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("ccy"), ReservedConcurrentExecutions: aws.Int32(2)}); err != nil {
		t.Fatalf("PutFunctionConcurrency(2) = %v", err)
	}
	eventually(t, 10*time.Second, "the second api node sees the reservation", func() bool {
		got, err := apis[1].Client.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("ccy")})
		return err == nil && aws.ToInt32(got.ReservedConcurrentExecutions) == 2
	})

	var mu sync.Mutex
	var spans [][2]int64
	var throttled int
	// call invokes the function through s and reports whether it ran.
	call := func(s *server, ms int) (ran bool) {
		r, err := s.tryInvoke(context.Background(), s.NoRetry, "ccy", map[string]any{"ms": ms})
		mu.Lock()
		defer mu.Unlock()
		var tm *types.TooManyRequestsException
		switch {
		case errors.As(err, &tm):
			if tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded || aws.ToString(tm.Message) != "Rate Exceeded." {
				t.Errorf("throttle = reason %q, message %q; want %q, %q", tm.Reason, aws.ToString(tm.Message),
					types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded, "Rate Exceeded.")
			}
			throttled++
			return false
		case err != nil:
			t.Errorf("invoke = %v", err)
		case r.FunctionError != "":
			t.Errorf("invoke: %s %s", r.FunctionError, r.Payload)
		default:
			var span struct {
				Start int64 `json:"start_ns"`
				End   int64 `json:"end_ns"`
			}
			if err := json.Unmarshal(r.Payload, &span); err != nil || span.End <= span.Start {
				t.Errorf("reply %s: %v", r.Payload, err)
				return true
			}
			spans = append(spans, [2]int64{span.Start, span.End})
		}
		return true
	}

	// Six at once, three through each api node, each sleeping 1.5 s:
	// two run, four are throttled.
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() { call(apis[i%2], 1500) })
	}
	wg.Wait()
	if got := maxOverlap(spans); got > 2 {
		t.Errorf("%d invocations ran at once with reserved concurrency 2", got)
	}
	if len(spans) == 0 || len(spans)+throttled != 6 {
		t.Errorf("%d ran and %d were throttled of 6 sent at once; want 1 or 2 run, the rest throttled", len(spans), throttled)
	}
	t.Logf("burst of 6 through two api nodes: %d ran, %d throttled", len(spans), throttled)

	// Four callers per api node for 4 s, each invocation sleeping
	// 200 ms and retried 5 ms after a throttle.
	spans, throttled = nil, 0
	stop := time.Now().Add(4 * time.Second)
	for i := range 8 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if !call(apis[i%2], 200) {
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	most := maxOverlap(spans)
	if most > 2 {
		t.Errorf("%d invocations ran at once with reserved concurrency 2", most)
	}
	if most < 2 {
		t.Errorf("at most %d ran at once; want the reservation of 2 used", most)
	}
	busy := time.Duration(0)
	for _, s := range spans {
		busy += time.Duration(s[1] - s[0])
	}
	t.Logf("8 callers for 4 s through two api nodes: %d ran (at most %d at once, %.0f%% of 2 slots busy), %d throttled",
		len(spans), most, 100*busy.Seconds()/(2*4), throttled)
}
