package e2e

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
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
		resp, err := http.Get(s.URL + "/_hearth/v1/functions/tailed/logs?tail=" + tt.tail)
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
