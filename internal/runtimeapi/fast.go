package runtimeapi

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Runtime API's hot path, served without net/http's server.
//
// A runtime's connection carries, for every warm invocation, a GET /next
// (answered when the event arrives) and a POST /response (answered 202).
// Serving those two through net/http costs a request context, a
// background read goroutine per request, a ServeMux match, header maps
// and a channel hand-off between the invoker and the waiting handler. A
// fastConn serves them on the raw connection instead:
//
//   - A GET /next that finds no event waiting registers the connection;
//     the invoker then writes the event to it directly, from its own
//     goroutine, and the connection's goroutine, already blocked reading
//     the connection (which is how a runtime that disconnects while
//     waiting is noticed), wakes up only for the runtime's answer.
//   - Requests are parsed by http.ReadRequest (the parser net/http's
//     server uses) and answered by the same handlers as on net/http,
//     through a ResponseWriter that frames the answer byte for byte as
//     net/http's server does.
//
// Only requests of the usual shape take this path, decided by looking at
// the buffered request head before anything of it is consumed (see
// screenHead): a runtime's GET /next, POST /response and POST /error, as
// HTTP/1.1 with headers that are plain tokens and visible ASCII, one
// Host, at most one of Content-Length and Transfer-Encoding: chunked, no
// Expect, no Connection other than close or keep-alive, and a head that
// fits in the read buffer. At the first request of any other shape the
// connection, with the bytes read so far, is handed to the net/http
// server for the rest of its life, so everything unusual (extensions,
// telemetry, init errors, malformed requests) is answered exactly as
// before.

// fastReadBuffer is net/http's server read buffer size; it bounds the
// request heads the fast path takes, and a chunked body's trailer, as
// net/http's own buffer does.
const fastReadBuffer = 4096

// maxPostHandlerReadBytes is what net/http's server discards of a body a
// handler left unread before it gives up on the connection.
const maxPostHandlerReadBytes = 256 << 10

// rstAvoidanceDelay is how long net/http's server waits after a
// half-close before it closes a connection it will not reuse.
const rstAvoidanceDelay = 500 * time.Millisecond

type route int

const (
	routeNone route = iota
	routeNext
	routeResponse
	routeError
)

const (
	pathNext       = "/2018-06-01/runtime/invocation/next"
	pathInvocation = "/2018-06-01/runtime/invocation/"
)

// screenHead decides whether the request head (request line and headers,
// up to and including the blank line) takes the fast path. It accepts
// only heads net/http's server would parse to the same request and answer
// through the same handler: anything else returns routeNone.
func screenHead(head []byte) (rt route, id string, close bool) {
	line, rest, ok := cutLine(head)
	if !ok {
		return routeNone, "", false
	}
	method, line, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return routeNone, "", false
	}
	target, proto, ok := bytes.Cut(line, []byte{' '})
	if !ok || string(proto) != "HTTP/1.1" {
		return routeNone, "", false
	}
	switch {
	case string(method) == "GET" && string(target) == pathNext:
		rt = routeNext
	case string(method) == "POST" && bytes.HasPrefix(target, []byte(pathInvocation)):
		t := target[len(pathInvocation):]
		switch {
		case bytes.HasSuffix(t, []byte("/response")):
			rt, t = routeResponse, t[:len(t)-len("/response")]
		case bytes.HasSuffix(t, []byte("/error")):
			rt, t = routeError, t[:len(t)-len("/error")]
		default:
			return routeNone, "", false
		}
		if len(t) == 0 || len(t) > 128 {
			return routeNone, "", false
		}
		for _, c := range t {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return routeNone, "", false
			}
		}
		id = string(t)
	default:
		return routeNone, "", false
	}
	var hosts, lengths, encodings int
	for {
		line, rest, ok = cutLine(rest)
		if !ok {
			return routeNone, "", false
		}
		if len(line) == 0 {
			break // the blank line ending the head
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(name) == 0 {
			return routeNone, "", false
		}
		for _, c := range name {
			if !isTokenByte(c) {
				return routeNone, "", false
			}
		}
		for _, c := range value {
			if (c < ' ' && c != '\t') || c > '~' {
				return routeNone, "", false
			}
		}
		value = bytes.Trim(value, " \t")
		switch {
		case asciiEqualFold(name, "Host"):
			hosts++
			if len(value) == 0 {
				return routeNone, "", false
			}
			for _, c := range value {
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == ':' || c == '-' || c == '[' || c == ']') {
					return routeNone, "", false
				}
			}
		case asciiEqualFold(name, "Content-Length"):
			lengths++
			if len(value) == 0 || len(value) > 15 {
				return routeNone, "", false
			}
			for _, c := range value {
				if c < '0' || c > '9' {
					return routeNone, "", false
				}
			}
		case asciiEqualFold(name, "Transfer-Encoding"):
			encodings++
			if !asciiEqualFold(value, "chunked") {
				return routeNone, "", false
			}
		case asciiEqualFold(name, "Connection"):
			switch {
			case asciiEqualFold(value, "close"):
				close = true
			case !asciiEqualFold(value, "keep-alive"):
				return routeNone, "", false
			}
		case asciiEqualFold(name, "Expect"), asciiEqualFold(name, "Upgrade"):
			return routeNone, "", false
		}
	}
	if len(rest) != 0 || hosts != 1 || lengths+encodings > 1 {
		return routeNone, "", false
	}
	// A GET /next that asks to close is answered by net/http: the event's
	// answer is written without a Connection header.
	if rt == routeNext && (lengths+encodings != 0 || close) {
		return routeNone, "", false
	}
	return rt, id, close
}

// cutLine cuts a CRLF-terminated line off b. A bare CR or LF fails.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return nil, nil, false
	}
	line = b[:i-1]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, nil, false
	}
	return line, b[i+1:], true
}

func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

var doubleCRLF = []byte("\r\n\r\n")

// fastConn is one runtime connection served on the fast path.
type fastConn struct {
	s    *Server
	conn net.Conn
	br   *bufio.Reader
	wbuf []byte // the connection's answers are assembled here

	// delivered (cap 1) is signalled by an invoker once it has written
	// an event to this connection, registered as waiting in GET /next.
	delivered chan struct{}
	// waiting is set while this connection is registered in s.waiters.
	// Only the connection's goroutine sets it; it learns of a delivery
	// under s.mu, by no longer finding itself registered.
	waiting bool
}

// serve runs the connection until it closes or is handed to net/http.
func (c *fastConn) serve() {
	s := c.s
	c.conn.SetReadDeadline(time.Now().Add(s.cfg.ReadHeaderTimeout))
	for {
		_, err := c.br.Peek(1)
		if c.waiting {
			if !c.settleWait(err) {
				c.close()
				return
			}
		}
		if err != nil {
			c.close()
			return
		}
		rt, id, closing, n := c.peekHead()
		if rt == routeNone {
			c.handOff()
			return
		}
		if rt == routeNext {
			// Nothing of a GET /next but its route and whether it asks
			// to close is used: skip parsing it again.
			c.br.Discard(n)
			if !c.next(closing) { // sets the connection's read deadline
				c.close()
				return
			}
			continue
		}
		req, err := http.ReadRequest(c.br)
		if err != nil {
			// screenHead admits only heads ReadRequest parses; answer as
			// net/http's server would anyway.
			c.conn.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"))
			c.closeWriteAndWait()
			return
		}
		c.conn.SetReadDeadline(time.Time{})
		body := &countingBody{r: req.Body}
		req.Body = body
		req.SetPathValue("id", id)
		w := &fastResponse{c: c, header: make(http.Header, 2), status: http.StatusOK}
		if rt == routeResponse {
			s.handleResponse(w, req)
		} else {
			s.handleInvocationError(w, req)
		}
		if !c.respond(w, req, body) {
			return
		}
		c.conn.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	}
}

// peekHead buffers the request head (n bytes) without consuming it and
// screens it. rt is routeNone also when the head does not fit in the
// buffer or the connection failed first: net/http then takes it over and
// answers as it does.
func (c *fastConn) peekHead() (rt route, id string, close bool, n int) {
	deadline := false
	for {
		b, _ := c.br.Peek(c.br.Buffered())
		if i := bytes.Index(b, doubleCRLF); i >= 0 {
			rt, id, close = screenHead(b[:i+4])
			return rt, id, close, i + 4
		}
		if c.br.Buffered() >= c.br.Size() {
			return routeNone, "", false, 0
		}
		// The head is still arriving: it has ReadHeaderTimeout from its
		// first byte, as on net/http. (A head that came whole needs no
		// deadline set.)
		if !deadline {
			c.conn.SetReadDeadline(time.Now().Add(c.s.cfg.ReadHeaderTimeout))
			deadline = true
		}
		if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil {
			return routeNone, "", false, 0
		}
	}
}

// next serves a GET /next: it takes a queued event or registers the
// connection as waiting for one. It reports false when the connection
// must close.
func (c *fastConn) next(closing bool) bool {
	s := c.s
	s.mu.Lock()
	s.runtimeReady = true
	s.maybeEndInitLocked()
	busy := s.current != nil && !s.current.answered
	if busy {
		s.mu.Unlock()
		w := &fastResponse{c: c, header: make(http.Header, 1), status: http.StatusOK}
		writeError(w, http.StatusForbidden, "InvalidStateTransition",
			"State transition from Invoking to Ready failed: the runtime asked for the next event before answering the current one")
		ok := c.respond(w, &http.Request{Method: "GET", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Close: closing}, nil)
		c.conn.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		return ok
	}
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if p := s.popQueuedLocked(); p != nil {
		s.mu.Unlock()
		c.writeEvent(p, false)
		s.sendInvoke(p.inv)
		return true
	}
	// While waiting, the connection is read with no deadline, as
	// net/http reads it while a handler runs.
	c.conn.SetReadDeadline(time.Time{})
	c.waiting = true
	s.waiters = append(s.waiters, nextWaiter{conn: c})
	s.setIdleLocked(true)
	s.mu.Unlock()
	return true
}

// settleWait is called once the connection's read returns while it waits
// in GET /next, with the read's error. Unless an event was delivered, a
// failed read withdraws the wait (the runtime went away), and a request
// sent meanwhile (pipelined) waits for the event to be delivered first,
// as net/http's server serves a connection's requests in order. It
// reports false when the connection must close.
func (c *fastConn) settleWait(err error) bool {
	s := c.s
	c.waiting = false
	s.mu.Lock()
	mine := s.removeWaiterLocked(nextWaiter{conn: c})
	if mine && err == nil {
		// A pipelined request: stay registered until delivered.
		s.waiters = append(s.waiters, nextWaiter{conn: c})
		s.mu.Unlock()
		select {
		case <-c.delivered:
			return true
		case <-s.quit:
			return false
		}
	}
	if mine {
		s.setIdleLocked(false)
	}
	s.mu.Unlock()
	if !mine {
		<-c.delivered // the event is written before anything else is
	}
	return err == nil
}

// writeEvent answers the connection's GET /next with p's event. It runs
// in the goroutine that delivers the event (the invoker's, or the
// connection's when the event was queued first); signal tells the
// connection's goroutine that the write is done.
func (c *fastConn) writeEvent(p *pending, signal bool) {
	inv := p.inv
	b := c.wbuf[:0]
	b = append(b, "HTTP/1.1 200 OK\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(inv.Payload)), 10)
	b = append(b, "\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: "...)
	b = appendHeaderValue(b, inv.RequestID)
	if inv.ClientContext != "" {
		b = append(b, "\r\nLambda-Runtime-Client-Context: "...)
		b = appendHeaderValue(b, inv.ClientContext)
	}
	if inv.CognitoIdentity != "" {
		b = append(b, "\r\nLambda-Runtime-Cognito-Identity: "...)
		b = appendHeaderValue(b, inv.CognitoIdentity)
	}
	b = append(b, "\r\nLambda-Runtime-Deadline-Ms: "...)
	b = strconv.AppendInt(b, inv.Deadline.UnixMilli(), 10)
	b = append(b, "\r\nLambda-Runtime-Invoked-Function-Arn: "...)
	b = appendHeaderValue(b, inv.FunctionARN)
	if inv.TraceID != "" {
		b = append(b, "\r\nLambda-Runtime-Trace-Id: "...)
		b = appendHeaderValue(b, inv.TraceID)
	}
	b = append(b, "\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\n\r\n"...)
	// The runtime waits for this; a runtime that does not read it holds
	// the invoker no longer than the invocation's deadline, or a stalled
	// body's timeout past now (or until the environment is closed).
	now := time.Now()
	c.conn.SetReadDeadline(now.Add(c.s.cfg.IdleTimeout))
	c.conn.SetWriteDeadline(later(inv.Deadline, now.Add(c.s.cfg.BodyReadTimeout)))
	var err error
	if len(inv.Payload) <= 16<<10 {
		b = append(b, inv.Payload...)
		_, err = c.conn.Write(b)
	} else {
		bufs := net.Buffers{b, inv.Payload}
		_, err = bufs.WriteTo(c.conn)
	}
	c.conn.SetWriteDeadline(time.Time{})
	if cap(b) <= 64<<10 {
		c.wbuf = b[:0]
	}
	if err != nil {
		c.s.log.Debug("deliver event", "request_id", inv.RequestID, "err", err)
	}
	if signal {
		c.delivered <- struct{}{}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// appendHeaderValue appends v as net/http writes a header value: CR and
// LF become spaces, and surrounding spaces and tabs are trimmed.
func appendHeaderValue(b []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	if strings.ContainsAny(v, "\r\n") {
		v = strings.Trim(strings.NewReplacer("\r", " ", "\n", " ").Replace(v), " \t")
	}
	return append(b, v...)
}

// respond writes w's answer to req as net/http's server frames it, after
// deciding as net/http does whether the connection is kept. It reports
// false (having closed the connection) when it is not.
func (c *fastConn) respond(w *fastResponse, req *http.Request, body *countingBody) bool {
	closeAfter := req.Close || w.header.Get("Connection") == "close"
	var connection string
	if req.ContentLength != 0 && !closeAfter && body != nil && !body.eof {
		tooBig := false
		if req.ContentLength > 0 && req.ContentLength-body.n >= maxPostHandlerReadBytes {
			tooBig = true
		} else {
			switch _, err := io.CopyN(io.Discard, body, maxPostHandlerReadBytes+1); err {
			case nil:
				tooBig = true
			case io.EOF:
			default:
				closeAfter = true
			}
		}
		if tooBig {
			closeAfter = true
			w.header.Del("Connection")
			connection = "close"
		}
	}
	if closeAfter && !hasCloseToken(w.header.Get("Connection")) {
		w.header.Del("Connection")
		connection = "close"
	}
	b := c.wbuf[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(w.status), 10)
	b = append(b, ' ')
	if text := http.StatusText(w.status); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(w.status), 10)
	}
	b = append(b, "\r\n"...)
	hb := bytes.NewBuffer(b)
	w.header.Write(hb) // sorted, sanitized, as net/http writes them
	b = hb.Bytes()
	b = append(b, "Date: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\n"...)
	if w.header.Get("Content-Length") == "" {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(w.body)), 10)
		b = append(b, "\r\n"...)
	}
	if _, ok := w.header["Content-Type"]; !ok && len(w.body) > 0 {
		b = append(b, "Content-Type: "...)
		b = append(b, http.DetectContentType(w.body)...)
		b = append(b, "\r\n"...)
	}
	if connection != "" {
		b = append(b, "Connection: "...)
		b = append(b, connection...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, w.body...)
	_, err := c.conn.Write(b)
	if cap(b) <= 64<<10 {
		c.wbuf = b[:0]
	}
	if err != nil {
		c.close()
		return false
	}
	if closeAfter {
		c.closeWriteAndWait()
		return false
	}
	return true
}

func hasCloseToken(v string) bool {
	for _, t := range strings.Split(v, ",") {
		if strings.EqualFold(strings.TrimSpace(t), "close") {
			return true
		}
	}
	return false
}

func (c *fastConn) closeWriteAndWait() {
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	time.Sleep(rstAvoidanceDelay)
	c.close()
}

func (c *fastConn) close() {
	c.s.forgetConn(c)
	c.conn.Close()
}

// handOff gives the connection, and what has been read of it, to the
// net/http server for the rest of its life.
func (c *fastConn) handOff() {
	s := c.s
	c.conn.SetDeadline(time.Time{})
	if !s.forgetConn(c) {
		c.conn.Close() // closed meanwhile
		return
	}
	hc := &bufferedConn{Conn: c.conn, br: c.br}
	select {
	case s.handed <- hc:
	case <-s.quit:
		c.conn.Close()
	}
}

// fastResponse is the ResponseWriter of a request served on the fast
// path. It keeps the (small) answer until the handler returns.
type fastResponse struct {
	c           *fastConn
	header      http.Header
	status      int
	wroteHeader bool
	body        []byte
}

func (w *fastResponse) Header() http.Header { return w.header }

func (w *fastResponse) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.status = code
	}
}

func (w *fastResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, p...)
	return len(p), nil
}

// SetReadDeadline lets the handlers bound body reads, as
// http.ResponseController does on net/http.
func (w *fastResponse) SetReadDeadline(t time.Time) error { return w.c.conn.SetReadDeadline(t) }

// countingBody records how much of a request body a handler read.
type countingBody struct {
	r   io.ReadCloser
	n   int64
	eof bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *countingBody) Close() error { return b.r.Close() }

// bufferedConn is a connection handed to net/http: reads drain what the
// fast path buffered first.
type bufferedConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.br.Buffered() > 0 {
		return c.br.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// handoffListener feeds net/http the connections the fast path hands
// over.
type handoffListener struct {
	ch     chan net.Conn
	addr   net.Addr
	once   sync.Once
	closed chan struct{}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }
