package e2e

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestFunctionURLStreaming calls a RESPONSE_STREAM function URL of a Node
// streaming function over plain HTTP: the body arrives as the function
// writes it, an HttpResponseStream prelude becomes the status, headers
// and cookies, and a failure midway ends a body already begun.
func TestFunctionURLStreaming(t *testing.T) {
	s := startURLServer(t)
	s.create(t, "streamer", nodeStreamFn(t, "index.handler", 3))
	s.allowPublic(t, "streamer", "")
	out, err := s.Client.CreateFunctionUrlConfig(t.Context(), &lambda.CreateFunctionUrlConfigInput{
		FunctionName: aws.String("streamer"), AuthType: types.FunctionUrlAuthTypeNone, InvokeMode: types.InvokeModeResponseStream})
	if err != nil {
		t.Fatal(err)
	}
	m := functionURLRE.FindStringSubmatch(aws.ToString(out.FunctionUrl))
	if m == nil {
		t.Fatalf("FunctionUrl = %q", aws.ToString(out.FunctionUrl))
	}
	s.mu.Lock()
	addr := s.urlAddr
	s.mu.Unlock()
	get := func(t *testing.T, query string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+addr+"/_hearth/url/"+m[1]+"/?"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}

	t.Run("chunks arrive as written", func(t *testing.T) {
		const n = 4
		res := get(t, url.Values{"mode": {"chunks"}, "n": {"4"}, "delay": {"300"}}.Encode())
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/plain" || res.Header.Get("X-Amzn-Requestid") == "" {
			t.Fatalf("status %d, headers %v; want 200 text/plain with a request id", res.StatusCode, res.Header)
		}
		br := bufio.NewReader(res.Body)
		var firstAt time.Time
		var lastWritten int64
		for i := range n {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			if i == 0 {
				firstAt = time.Now()
			}
			var got int
			if err := parseChunk(strings.TrimSuffix(line, "\n"), &got, &lastWritten); err != nil || got != i {
				t.Fatalf("line %d = %q", i, line)
			}
		}
		if rest, _ := io.ReadAll(br); len(rest) != 0 {
			t.Errorf("after %d chunks: %q", n, rest)
		}
		if first := firstAt.UnixMilli(); first >= lastWritten {
			t.Errorf("first chunk read at %d ms, after the function wrote its last at %d ms: the URL buffered the response", first, lastWritten)
		}
	})

	t.Run("HttpResponseStream prelude", func(t *testing.T) {
		res := get(t, "mode=http")
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 201 || res.Header.Get("X-Custom") != "yes" || res.Header.Get("Set-Cookie") != "a=b" || string(body) != "hello world" {
			t.Errorf("got %d %v %q; want 201, x-custom: yes, Set-Cookie a=b, hello world", res.StatusCode, res.Header, body)
		}
	})

	t.Run("failure midway", func(t *testing.T) {
		res := get(t, "mode=error")
		body, _ := io.ReadAll(res.Body)
		// The status went out with the first chunk: the body ends there.
		if res.StatusCode != 200 || string(body) != "partial\n" {
			t.Errorf("got %d %q; want 200 and the chunk written before the failure", res.StatusCode, body)
		}
	})

	t.Run("timeout midway", func(t *testing.T) {
		res := get(t, "mode=hang")
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(body) != "before the timeout\n" {
			t.Errorf("got %d %q; want 200 and the chunk written before the timeout", res.StatusCode, body)
		}
	})
}
