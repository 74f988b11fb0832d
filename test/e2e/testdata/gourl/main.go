// Command gourl is the end-to-end suite's function behind a function URL,
// built with aws-lambda-go's events.LambdaFunctionURLRequest and
// LambdaFunctionURLResponse. The request's path picks a behaviour; by
// default it answers with the event as it decoded it.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func handle(ctx context.Context, req events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	switch req.RawPath {
	case "/bench":
		return events.LambdaFunctionURLResponse{StatusCode: 200, Body: "ok"}, nil
	case "/binary":
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		return events.LambdaFunctionURLResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/octet-stream"},
			Body: base64.StdEncoding.EncodeToString(b), IsBase64Encoded: true}, nil
	case "/cookies":
		return events.LambdaFunctionURLResponse{StatusCode: 201, Headers: map[string]string{"X-Custom": "v1,v2", "Content-Type": "text/plain"},
			Cookies: []string{"a=1; Path=/", "b=2; Max-Age=60"}, Body: "made"}, nil
	case "/error":
		return events.LambdaFunctionURLResponse{}, errors.New("boom")
	case "/sleep":
		time.Sleep(5 * time.Second)
	case "/trace":
		// The trace header the invocation got, as aws-lambda-go hands it
		// on: in the environment and in the context.
		ctxTrace, _ := ctx.Value("x-amzn-trace-id").(string)
		b, _ := json.Marshal(map[string]string{"env": os.Getenv("_X_AMZN_TRACE_ID"), "ctx": ctxTrace})
		return events.LambdaFunctionURLResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(b)}, nil
	}
	b, err := json.Marshal(req)
	if err != nil {
		return events.LambdaFunctionURLResponse{}, err
	}
	return events.LambdaFunctionURLResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(b)}, nil
}

func main() { lambda.Start(handle) }
