// Command gofn is the end-to-end suite's Go function, built with
// aws-lambda-go into a provided.al2023 bootstrap. The event's "op" picks a
// behaviour.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-lambda-go/lambdaurl"
)

var counter int

func init() {
	fmt.Println("gofn init", os.Getpid())
	if os.Getenv("FAIL_INIT") != "" {
		fmt.Println("failing init on purpose")
		os.Exit(3)
	}
}

type event struct {
	Op    string `json:"op"`
	Ms    int    `json:"ms"`
	N     int    `json:"n"`
	Text  string `json:"text"`
	Bytes int    `json:"bytes"`
	// SentNs is when the caller sent the event (benchmarks).
	SentNs int64 `json:"sent_ns"`
}

type reply struct {
	Op            string            `json:"op"`
	Pid           int               `json:"pid"`
	EnvID         string            `json:"env_id"`
	Counter       int               `json:"counter"`
	RequestID     string            `json:"request_id,omitempty"`
	FunctionARN   string            `json:"function_arn,omitempty"`
	ClientContext map[string]string `json:"client_context,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
	Tmp           string            `json:"tmp,omitempty"`
	Data          string            `json:"data,omitempty"`
	Remaining     int64             `json:"remaining_ms,omitempty"`
	StartNs       int64             `json:"start_ns"`
	SentNs        int64             `json:"sent_ns,omitempty"`
}

// handle returns a *reply, or for "stream" and "streamfail" an io.Reader,
// which aws-lambda-go posts as a chunked body as it reads it.
func handle(ctx context.Context, e event) (any, error) {
	start := time.Now().UnixNano()
	counter++
	lc, _ := lambdacontext.FromContext(ctx)
	r := &reply{Op: e.Op, Pid: os.Getpid(), EnvID: os.Getenv("AWS_LAMBDA_LOG_STREAM_NAME"), Counter: counter, StartNs: start, SentNs: e.SentNs}
	if lc != nil {
		r.RequestID, r.FunctionARN = lc.AwsRequestID, lc.InvokedFunctionArn
		r.ClientContext = lc.ClientContext.Custom
	}
	if dl, ok := ctx.Deadline(); ok {
		r.Remaining = time.Until(dl).Milliseconds()
	}
	fmt.Println("handling", e.Op, "count", counter)
	switch e.Op {
	case "sleep":
		time.Sleep(time.Duration(e.Ms) * time.Millisecond)
	case "error":
		return nil, errors.New("boom: " + e.Text)
	case "panic":
		panic("go panic: " + e.Text)
	case "exit":
		os.Exit(e.N)
	case "env":
		r.Env = map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			r.Env[k] = v
		}
	case "tmp":
		// /tmp survives between invocations of one environment.
		p := os.TempDir() + "/gofn-state"
		old, _ := os.ReadFile(p)
		os.WriteFile(p, append(old, 'x'), 0o644)
		r.Tmp = string(old)
	case "big":
		r.Data = strings.Repeat("a", e.Bytes)
	case "print":
		for i := 0; i < max(e.N, 1); i++ {
			fmt.Println(e.Text, i)
		}
	case "hang":
		select {}
	case "url":
		// aws-lambda-go's lambdaurl, as a RESPONSE_STREAM function URL
		// handler runs it: its response streams with the HTTP prelude.
		h := lambdaurl.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "from lambdaurl "+r.URL.Path)
		}))
		return h(ctx, &events.LambdaFunctionURLRequest{RawPath: "/p", RequestContext: events.LambdaFunctionURLRequestContext{
			DomainName: "example.com", HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "GET", Path: "/p"}}})
	case "stream", "streamfail":
		// N chunks "chunk <i> <ms since epoch>\n", Ms apart; streamfail
		// then fails the read, which aws-lambda-go reports in the error
		// trailers.
		pr, pw := io.Pipe()
		go func() {
			for i := range max(e.N, 1) {
				if i > 0 {
					time.Sleep(time.Duration(e.Ms) * time.Millisecond)
				}
				fmt.Fprintf(pw, "chunk %d %d\n", i, time.Now().UnixMilli())
			}
			if e.Op == "streamfail" {
				pw.CloseWithError(errors.New("reader failed: " + e.Text))
				return
			}
			pw.Close()
		}()
		return pr, nil
	case "flaky":
		// Fails the first time it sees a request id in this environment.
		p := os.TempDir() + "/flaky-" + r.RequestID
		if _, err := os.Stat(p); err != nil {
			os.WriteFile(p, nil, 0o644)
			return nil, errors.New("flaky: first attempt fails")
		}
	}
	return r, nil
}

func main() { lambda.Start(handle) }
