package runtimeapi_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth/internal/runtimeapi"
)

// rawConn is a client connection driven by hand, to behave the way a
// hostile runtime would.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, h *harness) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// get sends one keep-alive request and reads its answer.
func (c *rawConn) get(path string) (*http.Response, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: rapi\r\n\r\n", path); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// closedWithin reports whether the server closes c within d: a read ends
// in EOF or a reset rather than a timeout.
func (c *rawConn) closedWithin(d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	_, err := io.Copy(io.Discard, c.r)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// A runtime that opens connections without end gets a handful served; the
// server closes the rest at once, so their descriptors are released.
func TestConnectionsPerEnvironmentAreBounded(t *testing.T) {
	const max = 4
	h := startWith(t, runtimeapi.Config{MaxConns: max})
	var held []*rawConn
	for i := range max {
		c := dial(t, h)
		if resp, err := c.get("/nope"); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("request on connection %d = %v, %v; want 404", i, resp, err)
		}
		held = append(held, c)
	}
	for i := range 3 * max {
		c := dial(t, h)
		if !c.closedWithin(2 * time.Second) {
			t.Fatalf("connection %d beyond the limit of %d still open after 2s; want it closed at once", max+i, max)
		}
	}
	// The connections within the limit still work.
	for i, c := range held {
		if resp, err := c.get("/nope"); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("second request on held connection %d = %v, %v; want 404", i, resp, err)
		}
	}
	// Closing one makes room for another.
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dial(t, h)
		resp, err := c.get("/nope")
		if err == nil && resp.StatusCode == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new connection served 5s after one of %d was closed: %v", max, err)
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	h := startWith(t, runtimeapi.Config{IdleTimeout: 100 * time.Millisecond})
	c := dial(t, h)
	if _, err := c.get("/nope"); err != nil {
		t.Fatal(err)
	}
	if !c.closedWithin(3 * time.Second) {
		t.Errorf("idle keep-alive connection still open 3s past an IdleTimeout of 100ms")
	}
}

// Headers sent a byte at a time are cut at ReadHeaderTimeout.
func TestSlowHeadersAreCut(t *testing.T) {
	h := startWith(t, runtimeapi.Config{ReadHeaderTimeout: 200 * time.Millisecond})
	c := dial(t, h)
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		io.Copy(io.Discard, c)
	}()
	req := "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: rapi\r\nX-Slow: " + strings.Repeat("a", 1000)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	giveUp := time.After(3 * time.Second)
writing:
	for i := 0; ; i++ {
		c.Write([]byte{req[i%len(req)]}) // fails once the server has closed
		select {
		case <-closed:
			break writing
		case <-giveUp:
			t.Fatalf("connection sending headers slowly still open after 3s; want it closed after 200ms")
		case <-tick.C:
		}
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("connection closed after %v; want no earlier than the 200ms timeout", d)
	}
}

// A body that stops making progress is cut after BodyReadTimeout, and a
// stalled init error ends init with an error rather than hanging.
func TestStalledBodyIsCut(t *testing.T) {
	h := startWith(t, runtimeapi.Config{BodyReadTimeout: 200 * time.Millisecond})
	c := dial(t, h)
	fmt.Fprintf(c, "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: rapi\r\nContent-Length: 1000\r\n\r\n{\"errorMessage\":")
	if !c.closedWithin(3 * time.Second) {
		t.Fatalf("connection with a stalled body still open after 3s; want it cut after 200ms")
	}
	select {
	case res := <-h.srv.Init():
		if res.Err == nil || !res.Err.Error {
			t.Errorf("Init() = %+v; want an init error", res)
		}
	case <-time.After(time.Second):
		t.Errorf("Init() yielded nothing after the init error's body was cut")
	}
}

// The body timeout bounds stalls, not waits the protocol allows: GET /next
// blocks until an event arrives, and a streamed response may pause for
// longer than BodyReadTimeout before the invocation's deadline.
func TestLegitimateWaitsAreNotCut(t *testing.T) {
	h := startWith(t, runtimeapi.Config{BodyReadTimeout: 100 * time.Millisecond, ReadHeaderTimeout: 100 * time.Millisecond})
	next := make(chan *http.Response, 1)
	go func() {
		resp, err := h.c.Get(h.base + "/invocation/next")
		if err != nil {
			t.Errorf("GET /next: %v", err)
			close(next)
			return
		}
		next <- resp
	}()
	time.Sleep(500 * time.Millisecond) // GET /next waits past every timeout
	res := h.invoke(t, &runtimeapi.Invocation{RequestID: "r", Payload: []byte(`{}`), Deadline: time.Now().Add(10 * time.Second)})
	resp := <-next
	if resp == nil {
		t.FailNow()
	}
	resp.Body.Close()

	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`"first`))
		time.Sleep(500 * time.Millisecond)
		pw.Write([]byte(` second"`))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", h.base+"/invocation/r/response", pr)
	req.Header.Set("Lambda-Runtime-Function-Response-Mode", "streaming")
	post, err := h.c.Do(req)
	if err != nil {
		t.Fatalf("streamed POST /response: %v", err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusAccepted {
		t.Errorf("streamed POST /response = %d; want 202", post.StatusCode)
	}
	if r := <-res; r == nil || r.Error || string(r.Body) != `"first second"` {
		t.Errorf("Invoke() = %+v; want body \"first second\"", r)
	}
}

// A runtime that posts many large init errors and stalls them cannot make
// the server hold more than one environment's budget.
func TestStalledBodiesDoNotGrowMemory(t *testing.T) {
	const (
		posts = 20
		size  = 6 << 20
	)
	// The generous body timeout keeps every stalled body in flight while
	// memory is measured.
	h := startWith(t, runtimeapi.Config{BodyReadTimeout: time.Minute, MaxConns: posts + 1})
	before := heapInuse()
	body := make([]byte, size-1)
	var wg sync.WaitGroup
	for range posts {
		c := dial(t, h)
		wg.Go(func() {
			// All but the last byte: each handler waits for it.
			fmt.Fprintf(c, "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: rapi\r\nContent-Length: %d\r\n\r\n", size)
			c.Write(body) // fails once the server refuses the request and closes
		})
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		t.Fatal("the stalled posts were neither read nor refused within 30s")
	}
	grew := int64(heapInuse()) - int64(before)
	const bound = 32 << 20 // two budgets' worth, and room for noise
	if grew > bound {
		t.Errorf("heap grew by %d MB with %d stalled %d MB init errors; want under %d MB", grew>>20, posts, size>>20, bound>>20)
	}
	t.Logf("heap grew by %.1f MB", float64(grew)/(1<<20))
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
