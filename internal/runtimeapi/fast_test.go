package runtimeapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/runtimeapi"
)

// exchange sends raw request bytes and returns the raw answer, with its
// Date header's value replaced, or "<closed: ...>" when the server closed
// the connection instead.
func (c *rawConn) exchange(t *testing.T, req string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if req != "" {
		if _, err := io.WriteString(c, req); err != nil {
			return "<write failed>"
		}
	}
	return c.readAnswer()
}

var dateLine = regexp.MustCompile(`(?m)^Date: [^\r]*\r$`)

func (c *rawConn) readAnswer() string {
	var head strings.Builder
	n := -1
	for {
		line, err := c.r.ReadString('\n')
		head.WriteString(line)
		if err != nil {
			return head.String() + "<closed: " + err.Error() + ">"
		}
		if line == "\r\n" {
			if strings.HasPrefix(head.String(), "HTTP/1.1 100 ") {
				return head.String() + c.readAnswer()
			}
			break
		}
		if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	var body []byte
	if n >= 0 {
		body = make([]byte, n)
		if _, err := io.ReadFull(c.r, body); err != nil {
			return head.String() + "<short body>"
		}
	} else {
		body, _ = io.ReadAll(c.r) // no length: the server closes after it
	}
	return dateLine.ReplaceAllString(head.String(), "Date: <date>\r") + string(body)
}

// fastScenarios drive one runtime connection; each returns a transcript
// of what the runtime received and what the invoker got.
var fastScenarios = []struct {
	name string
	run  func(t *testing.T, h *harness, c *rawConn) []string
}{
	{"round trip", func(t *testing.T, h *harness, c *rawConn) []string {
		res := h.invoke(t, &runtimeapi.Invocation{
			RequestID: "req-1", Payload: []byte(`{"k":"v"}`), Deadline: time.UnixMilli(1706702403123),
			FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:f", TraceID: "Root=1-x",
			ClientContext: " {\"custom\":\n{\"a\":1}}\r\n", CognitoIdentity: `{"cognitoIdentityId":"id"}`,
		})
		time.Sleep(10 * time.Millisecond) // queued before the GET /next
		out := []string{c.exchange(t, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nUser-Agent: x\r\n\r\n")}
		out = append(out, c.exchange(t, "POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n\"ok\""))
		return append(out, result(<-res))
	}},
	{"next waits, chunked answer with error trailer", func(t *testing.T, h *harness, c *rawConn) []string {
		io.WriteString(c, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
		waitIdle(t, h)
		res := h.invoke(t, &runtimeapi.Invocation{RequestID: "r2", Payload: []byte(`[1,2]`), Deadline: time.Now().Add(time.Minute).Truncate(time.Hour)})
		out := []string{c.exchange(t, "")}
		doc := base64.StdEncoding.EncodeToString([]byte(`{"errorMessage":"m","errorType":"T"}`))
		out = append(out, c.exchange(t, "POST /2018-06-01/runtime/invocation/r2/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n3\r\nabc\r\n0\r\nLambda-Runtime-Function-Error-Type: T\r\nLambda-Runtime-Function-Error-Body: "+doc+"\r\n\r\n"))
		return append(out, result(<-res))
	}},
	{"error post", func(t *testing.T, h *harness, c *rawConn) []string {
		res := h.invoke(t, &runtimeapi.Invocation{RequestID: "r3", Payload: []byte(`{}`)})
		out := []string{c.exchange(t, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")}
		body := `{"errorMessage":"boom","errorType":"E"}`
		out = append(out, c.exchange(t, "POST /2018-06-01/runtime/invocation/r3/error HTTP/1.1\r\nHost: x\r\nLambda-Runtime-Function-Error-Type: Custom\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body))
		return append(out, result(<-res))
	}},
	{"unknown id, then the connection goes on", func(t *testing.T, h *harness, c *rawConn) []string {
		out := []string{c.exchange(t, "POST /2018-06-01/runtime/invocation/nope/response HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789")}
		res := h.invoke(t, &runtimeapi.Invocation{RequestID: "r4", Payload: []byte(`{}`)})
		out = append(out, c.exchange(t, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"))
		out = append(out, c.exchange(t, "POST /2018-06-01/runtime/invocation/r4/response HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n1"))
		return append(out, result(<-res))
	}},
	{"unknown id with a large unread body", func(t *testing.T, h *harness, c *rawConn) []string {
		n := 300 << 10
		go io.WriteString(c, "POST /2018-06-01/runtime/invocation/nope/response HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(n)+"\r\n\r\n"+strings.Repeat("x", n))
		return []string{c.exchange(t, ""), c.exchange(t, "")}
	}},
	{"connection close", func(t *testing.T, h *harness, c *rawConn) []string {
		res := h.invoke(t, &runtimeapi.Invocation{RequestID: "r5", Payload: []byte(`{}`)})
		out := []string{c.exchange(t, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")}
		out = append(out, c.exchange(t, "POST /2018-06-01/runtime/invocation/r5/response HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"))
		out = append(out, c.exchange(t, ""))
		return append(out, result(<-res))
	}},
	{"response too large", func(t *testing.T, h *harness, c *rawConn) []string {
		res := h.invoke(t, &runtimeapi.Invocation{RequestID: "r6", Payload: []byte(`{}`), Deadline: time.UnixMilli(4102444800000)})
		out := []string{c.exchange(t, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")}
		n := runtimeapi.MaxResponse + 1
		go io.WriteString(c, "POST /2018-06-01/runtime/invocation/r6/response HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(n)+"\r\n\r\n"+strings.Repeat("x", n))
		out = append(out, c.exchange(t, ""))
		out = append(out, result(<-res))
		res = h.invoke(t, &runtimeapi.Invocation{RequestID: "r7", Payload: []byte(`{}`)})
		out = append(out, c.exchange(t, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"))
		out = append(out, c.exchange(t, "POST /2018-06-01/runtime/invocation/r7/response HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n7"))
		return append(out, result(<-res))
	}},
	{"next before answering", func(t *testing.T, h *harness, c *rawConn) []string {
		res := h.invoke(t, &runtimeapi.Invocation{RequestID: "r8", Payload: []byte(`{}`)})
		out := []string{c.exchange(t, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")}
		out = append(out, c.exchange(t, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"))
		out = append(out, c.exchange(t, "POST /2018-06-01/runtime/invocation/r8/response HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n8"))
		return append(out, result(<-res))
	}},
	{"unusual requests go to net/http", func(t *testing.T, h *harness, c *rawConn) []string {
		out := []string{c.exchange(t, "GET /2018-06-01/runtime/nothing HTTP/1.1\r\nHost: x\r\n\r\n")}
		res := h.invoke(t, &runtimeapi.Invocation{RequestID: "r9", Payload: []byte(`{}`)})
		out = append(out, c.exchange(t, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"))
		out = append(out, c.exchange(t, "POST /2018-06-01/runtime/invocation/r9/response HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n9"))
		return append(out, result(<-res))
	}},
	{"next asking to close", func(t *testing.T, h *harness, c *rawConn) []string {
		res := h.invoke(t, &runtimeapi.Invocation{RequestID: "r11", Payload: []byte(`{}`)})
		out := []string{c.exchange(t, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")}
		out = append(out, c.exchange(t, ""))
		c2 := dial(t, h)
		out = append(out, c2.exchange(t, "POST /2018-06-01/runtime/invocation/r11/response HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n1"))
		return append(out, result(<-res))
	}},
	{"malformed head", func(t *testing.T, h *harness, c *rawConn) []string {
		return []string{c.exchange(t, "POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n12")}
	}},
	{"missing host", func(t *testing.T, h *harness, c *rawConn) []string {
		return []string{c.exchange(t, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n")}
	}},
	{"runtime leaves while waiting", func(t *testing.T, h *harness, c *rawConn) []string {
		io.WriteString(c, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
		waitIdle(t, h)
		c.Close()
		deadline := time.Now().Add(2 * time.Second)
		for idle(h) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := h.srv.Invoke(ctx, &runtimeapi.Invocation{RequestID: "r10", Payload: []byte(`{}`)})
		return []string{fmt.Sprintf("idle after leaving: %v", idle(h)), fmt.Sprintf("invoke: %v", err)}
	}},
}

func idle(h *harness) bool {
	select {
	case <-h.srv.Idle():
		return true
	default:
		return false
	}
}

func waitIdle(t *testing.T, h *harness) {
	t.Helper()
	select {
	case <-h.srv.Idle():
	case <-time.After(2 * time.Second):
		t.Fatal("GET /next did not wait")
	}
}

func result(r *runtimeapi.Response) string {
	if r == nil {
		return "invoke: no response"
	}
	defer r.Release()
	return fmt.Sprintf("invoke: error=%v type=%q body=%q", r.Error, r.ErrorType, r.Body)
}

// The fast path answers a runtime byte for byte as net/http's server
// does (but for the Date), for the requests it takes and for those it
// hands over.
func TestFastPathAnswersAsNetHTTP(t *testing.T) {
	for _, sc := range fastScenarios {
		t.Run(sc.name, func(t *testing.T) {
			var got [2][]string
			for i, only := range []bool{true, false} {
				h := startWith(t, runtimeapi.Config{NetHTTPOnly: only})
				got[i] = sc.run(t, h, dial(t, h))
			}
			if diff := cmp.Diff(got[0], got[1]); diff != "" {
				t.Errorf("fast path differs from net/http (-net/http +fast):\n%s", diff)
			}
			if len(got[1]) == 0 || got[1][0] == "" {
				t.Errorf("no answer: %q", got[1])
			}
		})
	}
}

// A runtime that sends its next request before the answer to GET /next
// (pipelining) gets its answers in order.
func TestFastPathPipelined(t *testing.T) {
	h := start(t)
	c := dial(t, h)
	io.WriteString(c, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\nGET /2018-06-01/runtime/nothing HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(20 * time.Millisecond)
	res := h.invoke(t, &runtimeapi.Invocation{RequestID: "p1", Payload: []byte(`{"p":1}`)})
	first := c.exchange(t, "")
	second := c.exchange(t, "")
	if !strings.HasPrefix(first, "HTTP/1.1 200 OK") || !strings.HasSuffix(first, `{"p":1}`) {
		t.Errorf("first answer = %q; want the event", first)
	}
	if !strings.HasPrefix(second, "HTTP/1.1 404 Not Found") {
		t.Errorf("second answer = %q; want 404", second)
	}
	if got := c.exchange(t, "POST /2018-06-01/runtime/invocation/p1/response HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n1"); !strings.HasPrefix(got, "HTTP/1.1 202 Accepted") {
		t.Errorf("POST /response = %q; want 202", got)
	}
	if got := result(<-res); got != `invoke: error=false type="" body="1"` {
		t.Errorf("%s", got)
	}
}
