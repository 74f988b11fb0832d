package runtimeapi_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"hearth/internal/runtimeapi"
)

// BenchmarkRuntimeRoundTrip measures one warm invocation's Runtime API
// work: Invoke, the runtime's GET /next answered, its POST /response and
// the 202, with a minimal runtime on one kept-alive connection, on
// net/http alone and on the fast path. Run with -count to interleave:
//
//	go test -run XXX -bench RuntimeRoundTrip -benchmem -count 5 ./internal/runtimeapi/
func BenchmarkRuntimeRoundTrip(b *testing.B) {
	for _, mode := range []struct {
		name string
		only bool
	}{{"nethttp", true}, {"fast", false}} {
		b.Run(mode.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := runtimeapi.NewServer(ln, runtimeapi.Config{NetHTTPOnly: mode.only}, slog.New(slog.DiscardHandler))
			done := make(chan struct{})
			go func() { defer close(done); srv.Serve() }()
			defer func() { srv.Close(); <-done }()
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			stop := make(chan struct{})
			go miniRuntime(conn, stop)
			defer close(stop)
			inv := &runtimeapi.Invocation{RequestID: "8f5d2a7c-1b9e-4c1d-9f60-3a7e5b2c4d10", Payload: []byte(`{"hello":"world"}`),
				FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:load", TraceID: "Root=1-67891233-abcdef012345678912345678;Parent=0123456789abcdef;Sampled=0"}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				inv.Deadline = time.Now().Add(time.Minute)
				r, err := srv.Invoke(context.Background(), inv)
				if err != nil {
					b.Fatal(err)
				}
				r.Release()
			}
		})
	}
}

// miniRuntime answers every event with its own payload, as cheaply as a
// client can.
func miniRuntime(c net.Conn, stop chan struct{}) {
	br := bufio.NewReader(c)
	var out []byte
	for {
		select {
		case <-stop:
			return
		default:
		}
		if _, err := io.WriteString(c, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return
		}
		id, body, err := readAnswer(br)
		if err != nil {
			return
		}
		out = append(out[:0], "POST /2018-06-01/runtime/invocation/"...)
		out = append(out, id...)
		out = append(out, "/response HTTP/1.1\r\nHost: x\r\nContent-Length: "...)
		out = strconv.AppendInt(out, int64(len(body)), 10)
		out = append(out, "\r\n\r\n"...)
		out = append(out, body...)
		if _, err := c.Write(out); err != nil {
			return
		}
		if _, _, err := readAnswer(br); err != nil {
			return
		}
	}
}

func readAnswer(br *bufio.Reader) (id string, body []byte, err error) {
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return "", nil, err
		}
		if len(line) == 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
		if v, ok := bytes.CutPrefix(line, []byte("Lambda-Runtime-Aws-Request-Id: ")); ok {
			id = string(bytes.TrimSpace(v))
		}
	}
	body = make([]byte, n)
	_, err = io.ReadFull(br, body)
	return id, body, err
}
