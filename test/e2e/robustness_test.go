package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/go-cmp/cmp"
)

// A tail beyond any log's length is refused with an AWS error, not a
// panic; a sensible one is served.
func TestLogsTailIsBounded(t *testing.T) {
	s := startServer(t, "")
	s.create(t, "tailed", goFn())
	for _, tt := range []struct {
		tail string
		want int
	}{
		{"4611686018427387904", http.StatusBadRequest},
		{"9223372036854775807", http.StatusBadRequest},
		{"1000001", http.StatusBadRequest},
		{"-1", http.StatusBadRequest},
		{"1000000", http.StatusOK},
		{"5", http.StatusOK},
	} {
		resp, err := s.get(t, "/_hearth/v1/functions/tailed/logs?tail="+tt.tail)
		if err != nil {
			t.Errorf("GET logs?tail=%s = %v", tt.tail, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET logs?tail=%s: status %d, want %d (%s)", tt.tail, resp.StatusCode, tt.want, body)
		}
		if tt.want == http.StatusBadRequest {
			if got := resp.Header.Get("X-Amzn-Errortype"); got != "InvalidParameterValueException" {
				t.Errorf("GET logs?tail=%s: X-Amzn-Errortype = %q, want InvalidParameterValueException", tt.tail, got)
			}
		}
	}
}

// A function deleted and created again is there: Get answers 200 after
// every create, and the last one is invocable.
func TestRecreatedFunctionIsNotAGhost(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	create := func(name string) {
		t.Helper()
		_, err := s.Client.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: aws.String(name),
			Runtime:      types.Runtime("provided.al2023"),
			Handler:      aws.String("bootstrap"),
			Role:         aws.String("arn:aws:iam::000000000000:role/e2e"),
			Code:         &types.FunctionCode{ZipFile: goFnZip},
		})
		if err != nil {
			t.Fatalf("CreateFunction(%s) = %v", name, err)
		}
		if _, err := s.Client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}); err != nil {
			t.Errorf("GetFunction(%s) right after CreateFunction = %v; want 200", name, err)
		}
	}
	for i := range 20 {
		name := fmt.Sprint("ghost-", i)
		create(name)
		if _, err := s.Client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)}); err != nil {
			t.Fatalf("DeleteFunction(%s) = %v", name, err)
		}
		create(name)
	}
	for _, name := range []string{"ghost-0", "ghost-19"} {
		w := lambda.NewFunctionActiveV2Waiter(s.Client, func(o *lambda.FunctionActiveV2WaiterOptions) {
			o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
		})
		if err := w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
			t.Fatalf("waiting for %s to be active: %v", name, err)
		}
		s.invoke(t, name, map[string]any{"op": "echo"})
	}
}

// state answers, for every name, whether GetFunction finds it and its
// RevisionId; a function GetFunction does not find is missing.
func functionState(t *testing.T, c *lambda.Client, names []string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, name := range names {
		got, err := c.GetFunction(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		var nf *types.ResourceNotFoundException
		switch {
		case err == nil:
			out[name] = aws.ToString(got.Configuration.RevisionId)
		case !errors.As(err, &nf):
			t.Errorf("GetFunction(%s) = %v; want 200 or 404", name, err)
		}
	}
	return out
}

// Twenty clients mixing create, delete, update and invoke on a few names
// leave every name in one state that every operation agrees on, and a
// restart keeps it.
func TestConcurrentManagementAgrees(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--isolation", "process")
	names := []string{"mix-0", "mix-1", "mix-2", "mix-3"}
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			for i := range 12 {
				name := names[(g+i)%len(names)]
				var err error
				switch (g + 3*i) % 4 {
				case 0:
					err = createFn(ctx, s.NoRetry, name)
				case 1:
					_, err = s.NoRetry.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
				case 2:
					_, err = s.NoRetry.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
						FunctionName: aws.String(name), Description: aws.String(fmt.Sprint(g, "-", i))})
				case 3:
					// An invocation racing a delete may fail any way, but
					// not with a server error.
					_, err = s.tryInvoke(ctx, s.NoRetry, name, map[string]any{"op": "echo"})
				}
				var re *awshttp.ResponseError
				if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
					t.Errorf("client %d op %d on %s = %v; want no server error", g, i, name, err)
				}
			}
		})
	}
	wg.Wait()

	// What the running server answers (its in-memory copy) is what a
	// restarted one loads from the store.
	before := functionState(t, s.Client, names)
	s.Stop()
	s = startServer(t, dir, "--isolation", "process")
	if diff := cmp.Diff(before, functionState(t, s.Client, names)); diff != "" {
		t.Errorf("functions after restart (-before +after):\n%s", diff)
	}

	// And every operation agrees with GetFunction.
	for _, name := range names {
		_, exists := before[name]
		if exists {
			if err := createFn(t.Context(), s.NoRetry, name); err == nil || !strings.Contains(err.Error(), "ResourceConflictException") {
				t.Errorf("CreateFunction(%s), which GetFunction finds = %v; want ResourceConflictException", name, err)
			}
		}
		_, delErr := s.NoRetry.DeleteFunction(t.Context(), &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
		var nf *types.ResourceNotFoundException
		if exists != (delErr == nil) || (!exists && !errors.As(delErr, &nf)) {
			t.Errorf("%s: GetFunction found it = %v, but DeleteFunction = %v", name, exists, delErr)
		}
		if err := createFn(t.Context(), s.NoRetry, name); err != nil {
			t.Errorf("CreateFunction(%s) after DeleteFunction = %v", name, err)
		}
	}
	if got := functionState(t, s.Client, names); len(got) != len(names) {
		t.Errorf("functions after delete and create of each = %v; want all of %v", got, names)
	}
}
