package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"hearth/internal/async"
	"hearth/internal/auth"
	"hearth/internal/broker"
	"hearth/internal/function"
	"hearth/internal/invoke"
	"hearth/internal/metrics"
	"hearth/internal/store"
	"hearth/internal/worker"
)

// echoRunner answers every invocation at once with its payload: what is
// left is the front of the invocation path.
type echoRunner struct{}

func (echoRunner) Invoke(_ context.Context, req *worker.Request) (*worker.Result, error) {
	return &worker.Result{Payload: req.Payload, ExecutedVersion: req.Function.Version}, nil
}

// frontEnd is the server's front end as cmd/hearth builds it (SigV4,
// the route table, the invoke service with metrics, the async queue on an
// embedded broker), serving on a loopback listener; the functions run in
// echoRunner.
type frontEnd struct {
	addr string
	key  auth.Key
	// handler is the whole handler stack, as the server's http.Server
	// has it.
	handler http.Handler
}

const benchAccount = "123456789012"

func startFrontEnd(tb testing.TB) *frontEnd {
	tb.Helper()
	log := slog.New(slog.DiscardHandler)
	br, err := broker.Start(broker.Config{Dir: tb.TempDir()}, log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(br.Close)
	ctx := context.Background()
	st, err := store.Open(ctx, br.JetStream(), benchAccount, log)
	if err != nil {
		tb.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); st.Run(runCtx) }()
	tb.Cleanup(func() { cancel(); <-done })
	keys, err := auth.OpenKeys(ctx, br.JetStream())
	if err != nil {
		tb.Fatal(err)
	}
	root, _, err := keys.Bootstrap(ctx, benchAccount)
	if err != nil {
		tb.Fatal(err)
	}
	sessions := auth.NewSessions()
	verifier := auth.NewVerifier("us-east-1", keys, sessions)
	err = st.Create(ctx, function.Config{Account: benchAccount, Name: "f", Runtime: "python3.12", Handler: "app.h",
		Role: "arn:aws:iam::" + benchAccount + ":role/r", State: function.StateActive}.WithDefaults())
	if err != nil {
		tb.Fatal(err)
	}
	mx := metrics.New(0)
	inv := invoke.New(invoke.Config{Region: "us-east-1", Account: benchAccount}, st, mx.Wrap(echoRunner{}, benchAccount))
	inv.SetThrottled(mx.Throttled)
	aq, err := async.Open(ctx, br.JetStream(), async.Config{Region: "us-east-1", Account: benchAccount, MaxBytes: 8 << 30, AccountMaxBytes: 8 << 30},
		inv, st, log)
	if err != nil {
		tb.Fatal(err)
	}
	inv.SetQueue(aq) // not run: the events stay queued
	a := New(Config{Region: "us-east-1", Account: benchAccount}, st, inv, nil, nil, nil, log)
	a.SetAsync(aq)
	a.SetMetrics(mx.Handler())
	a.SetStorage(br)
	a.SetAuth(verifier, keys)
	a.SetReady()
	h := WithRequestID(BodyTimeout(2*time.Minute, Guard(GuardConfig{LoopbackOnly: true}, a.Handler())))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ln) }()
	tb.Cleanup(func() { srv.Close(); <-served; a.Close() })
	for {
		if _, err := st.Function(benchAccount, "f"); err == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return &frontEnd{addr: ln.Addr().String(), key: root, handler: h}
}

// sdkRequest returns the bytes aws-sdk-go-v2's Lambda client sends to the
// server on addr for an Invoke of function f with payload and invocation
// type typ, signed with key now (the server's skew check lets the same
// bytes be sent again for a few minutes). The SDK's own request is sent
// and answered; its bytes are recorded as they go to the connection.
func sdkRequest(tb testing.TB, addr string, key auth.Key, typ types.InvocationType, payload []byte) []byte {
	tb.Helper()
	var mu sync.Mutex
	var raw bytes.Buffer
	tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, a)
		if err != nil {
			return nil, err
		}
		return recordingConn{c, &mu, &raw}, nil
	}}
	defer tr.CloseIdleConnections()
	client := lambda.New(lambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String("http://" + addr),
		Credentials:      credentials.NewStaticCredentialsProvider(key.ID, key.Secret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: tr},
	})
	if _, err := client.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("f"), Payload: payload, InvocationType: typ}); err != nil {
		tb.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return bytes.Clone(raw.Bytes())
}

// recordingConn records what is written to a connection.
type recordingConn struct {
	net.Conn
	mu  *sync.Mutex
	out *bytes.Buffer
}

func (c recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.out.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// respReader reads HTTP/1.1 responses framed by Content-Length (or none,
// for 204) off a connection with few allocations, so that a benchmark's
// client costs little next to the server.
type respReader struct {
	br  *bufio.Reader
	buf []byte
}

// read reads one response and returns its status and body (valid until
// the next read).
func (r *respReader) read() (int, []byte, error) {
	status := 0
	length := 0
	for first := true; ; first = false {
		line, err := r.br.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		if len(line) <= 2 {
			break
		}
		if first {
			if len(line) < 12 {
				return 0, nil, errors.New("bad status line")
			}
			status, _ = strconv.Atoi(string(line[9:12]))
			continue
		}
		if len(line) > 16 && (line[0] == 'C' || line[0] == 'c') && bytes.EqualFold(line[:15], []byte("Content-Length:")) {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(line[15:])))
		}
	}
	if cap(r.buf) < length {
		r.buf = make([]byte, length)
	}
	r.buf = r.buf[:length]
	_, err := io.ReadFull(r.br, r.buf)
	return status, r.buf, err
}

// BenchmarkInvokeFrontEnd is the server's front end for a client's Invoke:
// aws-sdk-go-v2's signed request (captured from the SDK, replayed as
// bytes on kept-alive loopback connections) through net/http, the guard,
// SigV4, the router, validation and the invoke service, with a small
// payload; the function itself answers at once (echoRunner), an Event is
// stored in the embedded broker's stream, a DryRun is everything but
// running the function. The client only writes bytes and reads the
// answer's framing, so nearly all the cost is the server's: cpu-ns/op is
// the process's CPU time per request (client, server and, for Event, the
// embedded broker), steadier than ns/op on a shared machine.
//
//	go test -run XXX -bench InvokeFrontEnd -benchmem -count 4 ./internal/api/
//	go test -run XXX -bench 'InvokeFrontEnd/DryRun/c=1' -cpuprofile /tmp/fe.pprof ./internal/api/
func BenchmarkInvokeFrontEnd(b *testing.B) {
	fe := startFrontEnd(b)
	payload := []byte(`{"op":"echo","data":"0123456789abcdef0123456789abcdef"}`)
	for _, tt := range []struct {
		typ    types.InvocationType
		status int
	}{
		{types.InvocationTypeRequestResponse, 200},
		{types.InvocationTypeEvent, 202},
		{types.InvocationTypeDryRun, 204},
	} {
		raw := sdkRequest(b, fe.addr, fe.key, tt.typ, payload)
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/c=%d", tt.typ, conc), func(b *testing.B) {
				b.ReportAllocs()
				var mu sync.Mutex
				var firstErr error
				run := func(pb interface{ Next() bool }) {
					c, err := net.Dial("tcp", fe.addr)
					if err != nil {
						b.Error(err)
						return
					}
					defer c.Close()
					rr := &respReader{br: bufio.NewReaderSize(c, 16<<10)}
					for pb.Next() {
						if _, err := c.Write(raw); err != nil {
							b.Error(err)
							return
						}
						status, body, err := rr.read()
						if err == nil && status != tt.status {
							err = fmt.Errorf("status %d: %s", status, body)
						}
						if err != nil {
							mu.Lock()
							if firstErr == nil {
								firstErr = err
							}
							mu.Unlock()
							return
						}
					}
				}
				cpu0 := processCPU()
				defer func() {
					b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
				}()
				if conc == 1 {
					// One connection, one request at a time.
					run(loopPB{b})
				} else {
					// RunParallel starts GOMAXPROCS×conc goroutines.
					b.SetParallelism(max(1, conc/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) { run(pb) })
				}
				if firstErr != nil {
					b.Fatal(firstErr)
				}
			})
		}
	}
}

// processCPU is the CPU time (user and system) this process has used:
// on a shared machine, a steadier measure of the server's cost than the
// time per request.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type loopPB struct{ b *testing.B }

func (l loopPB) Next() bool { return l.b.Loop() }
