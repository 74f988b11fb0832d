package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Reserved concurrency: the operations, the cap on the function, the
// shrunken unreserved pool, the 100 (here a tenth of 20) that must stay
// unreserved, 0 switching a function off, and async events that wait.
func TestReservedConcurrency(t *testing.T) {
	s := startServer(t, "", "--concurrency", "20")
	ctx := t.Context()
	s.create(t, "capped", goFn())
	s.create(t, "free", goFn())

	if got, err := s.Client.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("capped")}); err != nil || got.ReservedConcurrentExecutions != nil {
		t.Fatalf("GetFunctionConcurrency before Put = %v, %v; want nothing reserved", got, err)
	}
	put, err := s.Client.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("capped"), ReservedConcurrentExecutions: aws.Int32(1)})
	if err != nil || aws.ToInt32(put.ReservedConcurrentExecutions) != 1 {
		t.Fatalf("PutFunctionConcurrency(1) = %v, %v", put, err)
	}
	got, err := s.Client.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("capped")})
	if err != nil || aws.ToInt32(got.ReservedConcurrentExecutions) != 1 {
		t.Errorf("GetFunctionConcurrency = %v, %v; want 1", got, err)
	}
	fn, err := s.Client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("capped")})
	if err != nil || fn.Concurrency == nil || aws.ToInt32(fn.Concurrency.ReservedConcurrentExecutions) != 1 {
		t.Errorf("GetFunction's Concurrency = %+v, %v; want 1", fn.Concurrency, err)
	}
	settings, err := s.Client.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil || aws.ToInt32(settings.AccountLimit.UnreservedConcurrentExecutions) != 19 {
		t.Errorf("UnreservedConcurrentExecutions = %v, %v; want 19", settings.AccountLimit.UnreservedConcurrentExecutions, err)
	}

	// The cap: a second invocation while one runs is throttled.
	done := make(chan error, 1)
	go func() {
		_, err := s.tryInvoke(context.Background(), s.Client, "capped", map[string]any{"op": "sleep", "ms": 1500})
		done <- err
	}()
	eventually(t, 10*time.Second, "the first invocation is running", func() bool { return s.hasEnv(t, "capped", "busy") })
	_, err = s.tryInvoke(ctx, s.NoRetry, "capped", map[string]any{"op": "echo"})
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
		t.Errorf("second concurrent invoke at reserved 1 = %v; want TooManyRequestsException (ReservedFunctionConcurrentInvocationLimitExceeded)", err)
	}
	// Another function is not limited by it.
	if r, err := s.tryInvoke(ctx, s.NoRetry, "free", map[string]any{"op": "echo"}); err != nil || r.FunctionError != "" {
		t.Errorf("invoke of an unreserved function meanwhile = %v, %v", r, err)
	}
	if err := <-done; err != nil {
		t.Errorf("first invoke = %v", err)
	}

	// At least a tenth of 20 stays unreserved: 1 + 18 leaves 1.
	_, err = s.Client.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("free"), ReservedConcurrentExecutions: aws.Int32(18)})
	var inv *types.InvalidParameterValueException
	if !errors.As(err, &inv) || !strings.Contains(aws.ToString(inv.Message), "below its minimum value of [2]") {
		t.Errorf("PutFunctionConcurrency leaving 1 unreserved = %v; want InvalidParameterValueException (minimum 2)", err)
	}
	// 17 leaves exactly 2 to the unreserved pool, which a third function
	// shares: two at once, not three.
	if _, err := s.Client.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("free"), ReservedConcurrentExecutions: aws.Int32(17)}); err != nil {
		t.Fatalf("PutFunctionConcurrency(17) = %v", err)
	}
	s.create(t, "pool", goFn())
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := s.tryInvoke(context.Background(), s.NoRetry, "pool", map[string]any{"op": "sleep", "ms": 2000})
			errs <- err
		}()
	}
	eventually(t, 10*time.Second, "two invocations running", func() bool {
		n := 0
		for _, e := range s.environments(t) {
			if e["function"] == "pool" && e["state"] == "busy" {
				n++
			}
		}
		return n == 2
	})
	_, err = s.tryInvoke(ctx, s.NoRetry, "pool", map[string]any{"op": "echo"})
	if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonConcurrentInvocationLimitExceeded {
		t.Errorf("third invoke with 2 unreserved = %v; want TooManyRequestsException (ConcurrentInvocationLimitExceeded)", err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("invoke in the unreserved pool = %v", err)
		}
	}

	// Reserved 0 switches the function off: its events go to the
	// failure destination at once, unrun and without retries
	// (lambda-api.md §8; TestAsyncZeroReservedConcurrency checks the
	// record). Once the reservation is gone, events run again.
	if _, err := s.Client.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("capped"), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
		t.Fatalf("PutFunctionConcurrency(0) = %v", err)
	}
	if _, err = s.tryInvoke(ctx, s.NoRetry, "capped", map[string]any{"op": "echo"}); !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
		t.Errorf("invoke at reserved 0 = %v; want TooManyRequestsException (ReservedFunctionConcurrentInvocationLimitExceeded)", err)
	}
	s.putEventConfig(t, "capped", 0, queueARN("capped-ok"), queueARN("capped-failed"))
	s.event(t, "capped", `{"op":"echo"}`)
	if failed := s.receive(t, "capped-failed", 1, 30*time.Second); len(failed) != 1 {
		t.Errorf("the event at reserved 0 did not reach the failure destination")
	}
	if ran := s.receive(t, "capped-ok", 1, 100*time.Millisecond); len(ran) != 0 {
		t.Errorf("an event ran at reserved 0")
	}
	if _, err := s.Client.DeleteFunctionConcurrency(ctx, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("capped")}); err != nil {
		t.Fatalf("DeleteFunctionConcurrency = %v", err)
	}
	s.event(t, "capped", `{"op":"echo"}`)
	if recs := s.receive(t, "capped-ok", 1, 30*time.Second); len(recs) != 1 {
		t.Errorf("an event did not run once the reservation was deleted")
	}
	if left := s.receive(t, "capped-failed", 1, 100*time.Millisecond); len(left) != 0 {
		t.Errorf("an event after the reservation was deleted reached the failure destination")
	}
	got, err = s.Client.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("capped")})
	if err != nil || got.ReservedConcurrentExecutions != nil {
		t.Errorf("GetFunctionConcurrency after Delete = %v, %v; want nothing reserved", got.ReservedConcurrentExecutions, err)
	}
	var nf *types.ResourceNotFoundException
	if _, err := s.Client.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("nope"), ReservedConcurrentExecutions: aws.Int32(1)}); !errors.As(err, &nf) {
		t.Errorf("PutFunctionConcurrency of a missing function = %v; want ResourceNotFoundException", err)
	}
}
