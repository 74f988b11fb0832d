package runtimeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Telemetry streams, as subscriptions name them.
const (
	StreamPlatform  = "platform"
	StreamFunction  = "function"
	StreamExtension = "extension"
)

// Buffering limits of a subscription (Lambda's ranges and defaults).
const (
	minItems, maxItems, defaultItems = 1000, 10000, 10000
	minBytes, maxBytes, defaultBytes = 262144, 1048576, 262144
	minTimeout, maxTimeout           = 25 * time.Millisecond, 30 * time.Second
	defaultTimeout                   = time.Second
)

// subscription delivers one extension's telemetry to its HTTP destination.
// Its queue holds at most backlog times its batch size (so at most 2 MiB
// besides the batch being sent, 20 MiB for an environment's 10
// extensions); older events are dropped beyond that and reported with
// platform.logsDropped.
type subscription struct {
	ext     string // the extension's name
	types   []string
	items   int
	bytes   int
	timeout time.Duration
	url     string
	addr    string             // host:port dialed through Config.Dial
	tcp     bool               // NDJSON on a TCP connection rather than HTTP POSTs
	kick    chan struct{}      // cap 1: a batch is full
	first   chan struct{}      // cap 1: the queue is no longer empty
	flushes chan chan struct{} // flush requests

	mu      sync.Mutex
	queue   []json.RawMessage // guarded by mu
	size    int               // guarded by mu; bytes in queue
	dropped int               // guarded by mu; events dropped since the last report
}

// backlog bounds a subscription's queue in batches.
const backlog = 2

// handleSubscribe is PUT /2022-07-01/telemetry and PUT /2020-08-15/logs.
func (s *Server) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	e := s.extensionFor(w, r)
	if e == nil {
		return
	}
	var req struct {
		SchemaVersion string   `json:"schemaVersion"`
		Types         []string `json:"types"`
		Buffering     *struct {
			MaxItems  *int `json:"maxItems"`
			MaxBytes  *int `json:"maxBytes"`
			TimeoutMs *int `json:"timeoutMs"`
		} `json:"buffering"`
		Destination struct {
			Protocol string `json:"protocol"`
			URI      string `json:"URI"`
			Port     int    `json:"port"` // TCP
		} `json:"destination"`
	}
	b, err := s.readSmall(w, r, 64<<10)
	if err == nil {
		err = json.Unmarshal(b, &req)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "ValidationError", "the subscription is not valid JSON")
		return
	}
	sub, msg := newSubscription(e.name, req.Types, req.Destination.Protocol, req.Destination.URI, req.Destination.Port)
	if bf := req.Buffering; msg == "" && bf != nil {
		msg = setLimit(&sub.items, bf.MaxItems, minItems, maxItems, "maxItems")
		if msg == "" {
			msg = setLimit(&sub.bytes, bf.MaxBytes, minBytes, maxBytes, "maxBytes")
		}
		if msg == "" && bf.TimeoutMs != nil {
			ms := 0
			msg = setLimit(&ms, bf.TimeoutMs, int(minTimeout/time.Millisecond), int(maxTimeout/time.Millisecond), "timeoutMs")
			sub.timeout = time.Duration(ms) * time.Millisecond
		}
	}
	if msg != "" {
		writeError(w, http.StatusBadRequest, "ValidationError", msg)
		return
	}
	s.mu.Lock()
	old := e.sub
	if s.closed {
		s.mu.Unlock()
		writeError(w, http.StatusInternalServerError, "Extension.ContainerError", "the execution environment is shutting down")
		return
	}
	e.sub = sub
	s.subs = slices.DeleteFunc(s.subs, func(o *subscription) bool { return o == old })
	s.subs = append(s.subs, sub)
	s.tasks.Go(func() { s.deliver(sub) })
	s.mu.Unlock()
	if old != nil {
		old.flush(r.Context(), s.quit)
	}
	s.log.Debug("telemetry subscription", "extension", e.name, "types", sub.types, "destination", sub.url)
	s.Telemetry(StreamPlatform, platformRecord("platform.telemetrySubscription", struct {
		Name  string   `json:"name"`
		State string   `json:"state"`
		Types []string `json:"types"`
	}{e.name, "Subscribed", sub.types}))
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "OK")
}

func newSubscription(ext string, types []string, protocol, uri string, port int) (*subscription, string) {
	sub := &subscription{ext: ext, items: defaultItems, bytes: defaultBytes, timeout: defaultTimeout,
		kick: make(chan struct{}, 1), first: make(chan struct{}, 1), flushes: make(chan chan struct{})}
	if len(types) == 0 {
		return nil, "types must name at least one of platform, function, extension"
	}
	for _, t := range types {
		if t != StreamPlatform && t != StreamFunction && t != StreamExtension {
			return nil, "unknown telemetry type: " + t
		}
		if !slices.Contains(sub.types, t) {
			sub.types = append(sub.types, t)
		}
	}
	if protocol == "TCP" {
		// Newline-delimited JSON on a connection to the port.
		if port <= 0 || port > 65535 {
			return nil, "a TCP destination needs a port"
		}
		sub.tcp = true
		sub.url = "tcp://sandbox.localdomain:" + strconv.Itoa(port)
		sub.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		return sub, ""
	}
	if protocol != "HTTP" {
		return nil, "destination protocol must be HTTP or TCP"
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		return nil, "destination URI must be http://sandbox.localdomain:PORT/..."
	}
	switch u.Hostname() {
	case "sandbox.localdomain", "sandbox", "localhost", "127.0.0.1":
	default:
		return nil, "destination host must be sandbox.localdomain, sandbox or localhost: the destination is in the execution environment"
	}
	sub.url = uri
	sub.addr = net.JoinHostPort("127.0.0.1", u.Port())
	return sub, ""
}

func setLimit(dst *int, v *int, lo, hi int, name string) string {
	if v == nil {
		return ""
	}
	if *v < lo || *v > hi {
		return fmt.Sprintf("buffering.%s must be between %d and %d", name, lo, hi)
	}
	*dst = *v
	return ""
}

// platformRecord renders a {"time","type","record"} event.
func platformRecord(typ string, rec any) []byte {
	b, _ := json.Marshal(struct {
		Time   string `json:"time"`
		Type   string `json:"type"`
		Record any    `json:"record"`
	}{time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), typ, rec})
	return b
}

// FunctionRecord renders a line of the function's output as a Telemetry
// API "function" event: a JSON log line is the record itself, any other
// line a string.
func FunctionRecord(stream string, at time.Time, line []byte) []byte {
	rec := json.RawMessage(line)
	if !json.Valid(line) || len(line) == 0 || line[0] != '{' {
		rec, _ = json.Marshal(string(line))
	}
	b, _ := json.Marshal(struct {
		Time   string          `json:"time"`
		Type   string          `json:"type"`
		Record json.RawMessage `json:"record"`
	}{at.UTC().Format("2006-01-02T15:04:05.000Z"), stream, rec})
	return b
}

// Telemetry queues ev, one {"time","type","record"} event of stream, for
// every subscription to that stream. It holds no lock across I/O and
// never blocks.
func (s *Server) Telemetry(stream string, ev []byte) {
	if len(ev) == 0 {
		return
	}
	s.mu.Lock()
	subs := slices.Clone(s.subs)
	s.mu.Unlock()
	for _, sub := range subs {
		if slices.Contains(sub.types, stream) {
			sub.add(ev)
		}
	}
}

// Subscribed reports whether any extension has subscribed to telemetry.
func (s *Server) Subscribed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs) > 0
}

func (sub *subscription) add(ev []byte) {
	sub.mu.Lock()
	wasEmpty := len(sub.queue) == 0
	sub.queue = append(sub.queue, json.RawMessage(bytes.Clone(ev)))
	sub.size += len(ev)
	for len(sub.queue) > backlog*sub.items || sub.size > backlog*sub.bytes {
		sub.size -= len(sub.queue[0])
		sub.queue = sub.queue[1:]
		sub.dropped++
	}
	full := len(sub.queue) >= sub.items || sub.size >= sub.bytes
	sub.mu.Unlock()
	if wasEmpty {
		select {
		case sub.first <- struct{}{}:
		default:
		}
	}
	if full {
		select {
		case sub.kick <- struct{}{}:
		default:
		}
	}
}

// full reports whether a whole batch is queued.
func (sub *subscription) full() bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return len(sub.queue) >= sub.items || sub.size >= sub.bytes
}

// pending reports whether events are queued.
func (sub *subscription) pending() bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return len(sub.queue) > 0 || sub.dropped > 0
}

// FlushTelemetry delivers every event queued so far and returns once the
// destinations have answered, or ctx ends.
func (s *Server) FlushTelemetry(ctx context.Context) {
	s.mu.Lock()
	subs := slices.Clone(s.subs)
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, sub := range subs {
		wg.Go(func() { sub.flush(ctx, s.quit) })
	}
	wg.Wait()
}

// flush asks sub's delivery to send everything queued and waits for it.
func (sub *subscription) flush(ctx context.Context, quit <-chan struct{}) {
	done := make(chan struct{})
	select {
	case sub.flushes <- done:
	case <-ctx.Done():
		return
	case <-quit:
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	case <-quit:
	}
}

// deliver is sub's delivery goroutine: it posts batches as they fill, as
// the buffering timeout passes, or as a flush asks, until the server
// closes or the subscription is replaced. With nothing queued it sleeps
// without a timer.
func (s *Server) deliver(sub *subscription) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	dial := s.cfg.Dial
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx, sub.addr) },
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}}
	defer client.CloseIdleConnections()
	var conn net.Conn // TCP destinations
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	send := func(batch []byte) error {
		if !sub.tcp {
			return post(ctx, client, sub.url, batch)
		}
		if conn == nil {
			c, err := dial(ctx, sub.addr)
			if err != nil {
				return err
			}
			conn = c
		}
		if err := writeNDJSON(ctx, conn, batch); err != nil {
			conn.Close()
			conn = nil
			return err
		}
		return nil
	}
	timer := time.NewTimer(sub.timeout)
	timer.Stop()
	defer timer.Stop()
	for {
		var flushed chan struct{}
		var timeout <-chan time.Time
		timedOut := false
		if sub.pending() {
			timer.Reset(sub.timeout)
			timeout = timer.C
		} else {
			select {
			case <-sub.first:
				continue // now something is queued: start its timer
			case <-ctx.Done():
				return
			case <-sub.kick:
			case flushed = <-sub.flushes:
			}
		}
		if timeout != nil {
			select {
			case <-ctx.Done():
				return
			case <-sub.kick:
			case <-timeout:
				timedOut = true
			case flushed = <-sub.flushes:
			}
			timer.Stop()
		}
		// A kick may be stale (a batch filled and was sent since): send
		// only full batches, all on a flush, one partial on the timeout.
		for flushed != nil || timedOut || sub.full() {
			timedOut = false
			batch := sub.take()
			if batch == nil {
				break
			}
			if err := send(batch); err != nil {
				s.log.Debug("telemetry delivery failed", "extension", sub.ext, "err", err)
				if ctx.Err() != nil {
					return
				}
			}
		}
		if flushed != nil {
			close(flushed)
		}
		s.mu.Lock()
		gone := !slices.Contains(s.subs, sub)
		s.mu.Unlock()
		if gone {
			return
		}
	}
}

// take removes and returns the next batch, or nil when nothing is queued.
func (sub *subscription) take() []byte {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.dropped > 0 {
		drop := platformRecord("platform.logsDropped", struct {
			Reason         string `json:"reason"`
			DroppedRecords int    `json:"droppedRecords"`
			DroppedBytes   int    `json:"droppedBytes"`
		}{"Consumer seems to have fallen behind as it has not acknowledged receipt of logs.", sub.dropped, 0})
		sub.queue = append([]json.RawMessage{drop}, sub.queue...)
		sub.dropped = 0
	}
	if len(sub.queue) == 0 {
		return nil
	}
	n, size := 0, 2
	for n < len(sub.queue) && n < sub.items && (n == 0 || size+len(sub.queue[n])+1 <= sub.bytes) {
		size += len(sub.queue[n]) + 1
		n++
	}
	b, _ := json.Marshal(sub.queue[:n])
	sub.queue = sub.queue[n:]
	sub.size -= size - 2 - n
	return b
}

// writeNDJSON writes a batch (a JSON array) to c as one event per line.
func writeNDJSON(ctx context.Context, c net.Conn, batch []byte) error {
	var events []json.RawMessage
	if err := json.Unmarshal(batch, &events); err != nil {
		return err
	}
	var b bytes.Buffer
	for _, ev := range events {
		b.Write(ev)
		b.WriteByte('\n')
	}
	stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Now()) })
	defer stop()
	_, err := c.Write(b.Bytes())
	return err
}

func post(ctx context.Context, c *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(body))
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("destination answered %s", strconv.Itoa(resp.StatusCode))
	}
	return nil
}
