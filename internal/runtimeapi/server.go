// Package runtimeapi serves the Lambda Runtime API (2018-06-01) for one
// execution environment, on a listener it is handed. It delivers one event
// at a time to the runtime's blocking GET /next, collects the runtime's
// response or error, and reports the end of init or an init error. It knows
// nothing of sandboxes, workers or NATS: the worker drives it through
// [Server.Init] and [Server.Invoke] and watches the process itself.
package runtimeapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxResponse is the largest response or error body a runtime may post:
// 6 MiB plus 100 bytes, as Lambda's own Runtime API enforces.
const MaxResponse = 6*1024*1024 + 100

// ErrClosed is what Invoke returns once the server is closed.
var ErrClosed = errors.New("runtime api closed")

// ErrUndelivered wraps the cause of an Invoke that ended before the runtime
// took the event: the runtime never saw it, so another environment may run
// it.
var ErrUndelivered = errors.New("event not delivered")

// Invocation is one event to hand to the runtime.
type Invocation struct {
	RequestID       string
	Payload         []byte
	Deadline        time.Time
	FunctionARN     string // as the caller addressed it
	TraceID         string
	ClientContext   string // decoded JSON, or empty
	CognitoIdentity string // JSON, or empty
	// Stream, when set, receives the body of the runtime's POST /response
	// as it arrives, instead of it being collected into Response.Body.
	Stream Sink
}

// Response is what the runtime posted for an invocation.
type Response struct {
	// Body is the response payload, or the error document when Error is
	// set. It stays valid until Release.
	Body []byte
	// Error reports that the runtime posted to /error, or ended a
	// streamed /response with an error trailer, or overflowed the size
	// limit.
	Error bool
	// ErrorType is the error's type when known: from the
	// Lambda-Runtime-Function-Error-Type header or trailer, or the body's
	// errorType.
	ErrorType string
	// Streamed reports that the body went to the invocation's Stream; Body
	// then holds only an error document, when Error is set.
	Streamed bool
	// Posted and Read time a response the runtime posted to /response:
	// when its POST arrived and when its body had been read to its end.
	// Produced is the size of that body in bytes (what was streamed, for
	// a streamed one). They are zero when the runtime posted to /error or
	// the answer is the Runtime API's own (a body too large or cut short).
	Posted, Read time.Time
	Produced     int64

	buf *bytes.Buffer
}

// Release returns the response's buffer for reuse. Body must not be used
// afterwards. Release is idempotent.
func (r *Response) Release() {
	if r.buf != nil {
		putBuffer(r.buf)
		r.buf = nil
		r.Body = nil
	}
}

// InitResult reports the end of the init phase.
type InitResult struct {
	// Err is nil when init completed: the runtime and every extension
	// called their next. Otherwise it holds what the runtime posted to
	// /runtime/init/error.
	Err *Response
	// Extension is set instead when an extension posted to
	// /extension/init/error.
	Extension *ExtensionError
}

// Server is the Runtime API of one environment. Everything the
// environment's runtime can make it hold is bounded by its Config: the
// connections, the bytes of request bodies being read (only the answer to
// the invocation in flight and one init error are read at all, and a
// shared budget caps them together), and how long a request may stall.
type Server struct {
	ln     net.Listener
	cfg    Config
	http   *http.Server
	log    *slog.Logger
	handed chan net.Conn // connections the fast path hands to http
	init   chan InitResult
	quit   chan struct{} // closed by Close
	bodies *budget

	mu           sync.Mutex
	idle         chan struct{}          // guarded by mu; closed while a GET /next waits for an event
	idleSince    time.Time              // guarded by mu; when idle was last closed
	inited       bool                   // guarded by mu; init ended (everyone in next, or an init error)
	runtimeReady bool                   // guarded by mu; the runtime has called GET /next
	initErrSeen  bool                   // guarded by mu; an init error is being read
	current      *pending               // guarded by mu; the invocation the runtime holds
	waiters      []nextWaiter           // guarded by mu; GET /next requests waiting for an event, oldest first
	queue        []*pending             // guarded by mu; events waiting for a GET /next, oldest first
	conns        map[*fastConn]struct{} // guarded by mu; connections on the fast path
	closed       bool                   // guarded by mu
	serveErr     error                  // guarded by mu

	exts     []*extension    // guarded by mu; registered extensions, in order
	extIdle  chan struct{}   // guarded by mu; closed while every extension waits in event/next
	shutDone chan struct{}   // guarded by mu; closed once SHUTDOWN has been handled
	exitErr  *ExtensionError // guarded by mu
	subs     []*subscription // guarded by mu; telemetry subscriptions
	tasks    sync.WaitGroup  // telemetry deliveries

	// registered is closed (under mu) once every external extension
	// (Config.External) has registered.
	registered chan struct{}
}

type pending struct {
	inv       *Invocation
	result    chan *Response // cap 1
	delivered bool           // guarded by Server.mu; handed to a GET /next
	answered  bool           // guarded by Server.mu
	stream    *stream        // guarded by Server.mu; set while a /response streams to inv.Stream
}

// NewServer returns a Runtime API server for ln, bounded by cfg. Call
// Serve to run it.
func NewServer(ln net.Listener, cfg Config, log *slog.Logger) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		ln:       ln,
		cfg:      cfg,
		log:      log,
		handed:   make(chan net.Conn),
		conns:    make(map[*fastConn]struct{}),
		init:     make(chan InitResult, 1),
		quit:     make(chan struct{}),
		idle:     make(chan struct{}),
		extIdle:  make(chan struct{}),
		shutDone: make(chan struct{}),
		bodies:   &budget{free: bodyBudget},

		registered: make(chan struct{}),
	}
	close(s.extIdle) // no extension yet
	s.updateRegisteredLocked()
	// No ReadTimeout or WriteTimeout: GET /next blocks until an event
	// arrives, for as long as the environment lives. Bodies get their own
	// deadline as they are read.
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s
}

// Handler returns the Runtime API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.handleNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", s.handleResponse)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", s.handleInvocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", s.handleInitError)
	mux.HandleFunc("POST /2020-01-01/extension/register", s.handleRegister)
	mux.HandleFunc("GET /2020-01-01/extension/event/next", s.handleEventNext)
	mux.HandleFunc("POST /2020-01-01/extension/init/error", s.handleExtensionError(false))
	mux.HandleFunc("POST /2020-01-01/extension/exit/error", s.handleExtensionError(true))
	mux.HandleFunc("PUT /2022-07-01/telemetry", s.handleSubscribe)
	// The Logs API is the Telemetry API's predecessor: the same stream.
	mux.HandleFunc("PUT /2020-08-15/logs", s.handleSubscribe)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "InvalidRequest", "no such Runtime API endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// Serve serves the Runtime API until Close. It returns nil after Close.
func (s *Server) Serve() error {
	ll := &limitListener{Listener: s.ln, max: s.cfg.MaxConns}
	if s.cfg.NetHTTPOnly {
		return s.served(s.http.Serve(ll))
	}
	hl := &handoffListener{ch: s.handed, addr: s.ln.Addr(), closed: make(chan struct{})}
	httpDone := make(chan error, 1)
	go func() { httpDone <- s.http.Serve(hl) }()
	var delay time.Duration
	for {
		conn, err := ll.Accept()
		if err != nil {
			if s.isClosed() {
				<-httpDone
				return nil
			}
			// Retry what net/http's server retries (running out of
			// descriptors, say), with its back-off.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Debug("runtime api accept", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			s.http.Close()
			<-httpDone
			return s.served(err)
		}
		delay = 0
		c := &fastConn{s: s, conn: conn, br: bufio.NewReaderSize(conn, fastReadBuffer), delivered: make(chan struct{}, 1)}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go c.serve()
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) served(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	s.mu.Lock()
	s.serveErr = err
	s.mu.Unlock()
	return err
}

// forgetConn stops tracking a fast-path connection, and reports false if
// the server was closed (and the connection with it) meanwhile.
func (s *Server) forgetConn(c *fastConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.conns[c]
	delete(s.conns, c)
	return ok && !s.closed
}

// nextWaiter is a GET /next waiting for an event: on net/http, a handler
// that receives it on ch; on the fast path, a connection the event is
// written to.
type nextWaiter struct {
	ch   chan *pending // cap 1
	conn *fastConn
}

// takeWaiterLocked hands p to the oldest waiting GET /next; the caller
// delivers it with deliverEvent once mu is released.
func (s *Server) takeWaiterLocked(p *pending) nextWaiter {
	w := s.waiters[0]
	s.waiters[0] = nextWaiter{}
	s.waiters = s.waiters[1:]
	s.current = p
	p.delivered = true
	s.setIdleLocked(false)
	return w
}

func (s *Server) deliverEvent(w nextWaiter, p *pending) {
	if w.ch != nil {
		w.ch <- p // cap 1, sent once
	} else {
		w.conn.writeEvent(p, true)
	}
	s.sendInvoke(p.inv)
}

// popQueuedLocked takes the oldest event waiting for a GET /next, if any,
// as the current one.
func (s *Server) popQueuedLocked() *pending {
	if len(s.queue) == 0 {
		return nil
	}
	p := s.queue[0]
	s.queue[0] = nil
	s.queue = s.queue[1:]
	s.current = p
	p.delivered = true
	return p
}

func (s *Server) removeWaiterLocked(w nextWaiter) bool {
	for i, x := range s.waiters {
		if x == w {
			s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// Close stops the server, closes the listener and every connection, and
// fails a pending Invoke with ErrClosed. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.quit)
	conns := make([]*fastConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	clear(s.conns)
	s.mu.Unlock()
	s.http.Close()
	s.ln.Close()
	for _, c := range conns {
		c.conn.Close()
	}
	s.tasks.Wait()
}

// Init returns a channel that yields one InitResult when the init phase
// ends. It yields nothing if the runtime exits or hangs first.
func (s *Server) Init() <-chan InitResult { return s.init }

// Idle returns a channel that is closed while the runtime waits in GET
// /next: it has finished with the previous event and holds no request of
// its own in flight. The worker freezes an environment once it is idle.
func (s *Server) Idle() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idle
}

// IdleSince returns when the runtime's GET /next that made it idle
// arrived: it ends the previous invocation's platform.runtimeDone. It is
// meaningful once Idle's channel is closed.
func (s *Server) IdleSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idleSince
}

// Invoke hands inv to the runtime and waits for its response. It returns an
// error only when the event could not be handed over or no answer came:
// ctx ended (the caller's timeout) or the server was closed.
func (s *Server) Invoke(ctx context.Context, inv *Invocation) (*Response, error) {
	p := &pending{inv: inv, result: make(chan *Response, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrUndelivered, ErrClosed)
	}
	if len(s.waiters) > 0 {
		w := s.takeWaiterLocked(p)
		s.mu.Unlock()
		s.deliverEvent(w, p)
	} else {
		s.queue = append(s.queue, p)
		s.mu.Unlock()
	}
	select {
	case r := <-p.result:
		return r, nil
	case <-ctx.Done():
	case <-s.quit:
	}
	s.mu.Lock()
	if !p.delivered {
		if i := slices.Index(s.queue, p); i >= 0 {
			s.queue = slices.Delete(s.queue, i, i+1)
		}
		s.mu.Unlock()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrUndelivered, context.Cause(ctx))
		}
		return nil, fmt.Errorf("%w: %w", ErrUndelivered, ErrClosed)
	}
	s.mu.Unlock()
	// A runtime that posts its answer and exits (aws-lambda-go after a
	// panic) is answered before its exit is noticed: the answer is queued
	// before the 202 that lets it exit. Prefer the answer.
	if st := s.abandon(p); st != nil {
		// A response is streaming to inv.Stream: stop it, and return only
		// once the Stream is no longer written.
		st.stop()
		<-st.done
	}
	select {
	case r := <-p.result:
		return r, nil
	default:
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	return nil, ErrClosed
}

// abandon forgets p so that a late answer for it is refused. It returns
// p's stream if its response is streaming.
func (s *Server) abandon(p *pending) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == p {
		s.current = nil
	}
	return p.stream
}

func (s *Server) endInit(res InitResult) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inited {
		return false
	}
	s.inited = true
	s.init <- res // cap 1 and sent once
	return true
}

func (s *Server) handleNext(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.runtimeReady = true
	s.maybeEndInitLocked()
	busy := s.current != nil && !s.current.answered
	s.mu.Unlock()
	if busy {
		writeError(w, http.StatusForbidden, "InvalidStateTransition",
			"State transition from Invoking to Ready failed: the runtime asked for the next event before answering the current one")
		return
	}
	s.mu.Lock()
	p := s.popQueuedLocked()
	if p == nil && s.closed {
		s.mu.Unlock()
		writeError(w, http.StatusInternalServerError, "Runtime.ContainerError", "the execution environment is shutting down")
		return
	}
	var ch chan *pending
	if p == nil {
		ch = make(chan *pending, 1)
		s.waiters = append(s.waiters, nextWaiter{ch: ch})
		s.setIdleLocked(true)
	}
	s.mu.Unlock()
	if p != nil {
		s.sendInvoke(p.inv)
	} else {
		select {
		case p = <-ch:
		case <-r.Context().Done():
		case <-s.quit:
		}
		if p == nil {
			s.mu.Lock()
			if s.removeWaiterLocked(nextWaiter{ch: ch}) {
				s.setIdleLocked(false)
				s.mu.Unlock()
				if r.Context().Err() == nil {
					writeError(w, http.StatusInternalServerError, "Runtime.ContainerError", "the execution environment is shutting down")
				}
				return
			}
			s.mu.Unlock()
			p = <-ch // delivered as the wait ended: deliver it
		}
	}

	inv := p.inv
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.RequestID)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.Deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", inv.FunctionARN)
	if inv.TraceID != "" {
		h.Set("Lambda-Runtime-Trace-Id", inv.TraceID)
	}
	if inv.ClientContext != "" {
		h.Set("Lambda-Runtime-Client-Context", inv.ClientContext)
	}
	if inv.CognitoIdentity != "" {
		h.Set("Lambda-Runtime-Cognito-Identity", inv.CognitoIdentity)
	}
	h.Set("Content-Length", strconv.Itoa(len(inv.Payload)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(inv.Payload); err != nil {
		s.log.Debug("deliver event", "request_id", inv.RequestID, "err", err)
	}
}

func (s *Server) setIdleLocked(idle bool) {
	select {
	case <-s.idle: // closed: idle now
		if !idle {
			s.idle = make(chan struct{})
		}
	default:
		if idle {
			s.idleSince = time.Now()
			close(s.idle)
		}
	}
}

// claim finds the invocation id refers to and marks it answered, or
// writes the Runtime API's error and returns nil. A response claimed for
// an invocation with a Stream gets p.stream.
func (s *Server) claim(w http.ResponseWriter, id string, response bool) *pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.current
	if p == nil || p.inv.RequestID != id || p.answered {
		writeError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID")
		return nil
	}
	p.answered = true
	if response && p.inv.Stream != nil {
		p.stream = &stream{rc: http.NewResponseController(w), done: make(chan struct{})}
	}
	return p
}

func (s *Server) finish(p *pending, res *Response) {
	s.mu.Lock()
	if s.current == p {
		s.current = nil
	}
	s.mu.Unlock()
	p.result <- res // cap 1, sent once per pending
}

func (s *Server) handleResponse(w http.ResponseWriter, r *http.Request) {
	posted := time.Now()
	p := s.claim(w, r.PathValue("id"), true)
	if p == nil {
		return
	}
	if mode := r.Header.Get("Lambda-Runtime-Function-Response-Mode"); mode != "" && mode != "streaming" {
		if p.stream != nil {
			p.stream.end()
		}
		s.finish(p, synthetic("Runtime.InvalidResponseModeHeader", "Invalid response mode header: "+mode))
		writeError(w, http.StatusBadRequest, "InvalidFunctionResponseMode", "Invalid function response mode")
		return
	}
	if p.stream != nil {
		// The invocation's consumer takes the body as it comes, whether
		// or not the runtime declared streaming: aws-lambda-go streams an
		// io.Reader's bytes with the same chunked POST, without the
		// header, and Lambda passes them on as they come.
		s.streamResponse(w, r, p, p.stream, posted)
		return
	}
	buf, tooLarge, err := s.readBody(w, r, MaxResponse, p.inv.Deadline)
	if tooLarge {
		putBuffer(buf)
		s.finish(p, synthetic("Function.ResponseSizeTooLarge",
			"Response payload size exceeded maximum allowed payload size ("+strconv.Itoa(MaxResponse)+" bytes)."))
		writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			"Exceeded maximum allowed payload size ("+strconv.Itoa(MaxResponse)+" bytes).")
		return
	}
	if err != nil {
		putBuffer(buf)
		s.finish(p, synthetic("Runtime.TruncatedResponse", "the runtime's response body could not be read: "+err.Error()))
		writeError(w, http.StatusBadRequest, "InvalidRequest", "could not read the response body")
		return
	}
	res := &Response{Body: buf.Bytes(), buf: buf}
	read, produced := time.Now(), int64(buf.Len())
	// A chunked body may end with an error trailer (aws-lambda-go and the
	// Node client use it when producing the body fails midway).
	if typ := r.Trailer.Get("Lambda-Runtime-Function-Error-Type"); typ != "" {
		res.Release()
		body, _ := base64.StdEncoding.DecodeString(r.Trailer.Get("Lambda-Runtime-Function-Error-Body"))
		res = errorResponse(typ, body)
	}
	res.Posted, res.Read, res.Produced = posted, read, produced
	s.finish(p, res)
	writeAccepted(w)
}

func (s *Server) handleInvocationError(w http.ResponseWriter, r *http.Request) {
	p := s.claim(w, r.PathValue("id"), false)
	if p == nil {
		return
	}
	res := s.readError(w, r, MaxResponse, p.inv.Deadline, true)
	s.finish(p, res)
	writeAccepted(w)
}

func (s *Server) handleInitError(w http.ResponseWriter, r *http.Request) {
	// Only the first init error is read: a runtime reports one.
	s.mu.Lock()
	refuse := s.inited || s.initErrSeen
	s.initErrSeen = true
	s.mu.Unlock()
	if refuse {
		writeError(w, http.StatusForbidden, "InvalidStateTransition", "State transition from Ready to InitError failed: init has already completed")
		return
	}
	if !s.endInit(InitResult{Err: s.readError(w, r, MaxInitError, time.Time{}, false)}) {
		writeError(w, http.StatusForbidden, "InvalidStateTransition", "State transition from Ready to InitError failed: init has already completed")
		return
	}
	writeAccepted(w)
}

// readError reads an error document posted to /error or /init/error.
// With splitCause (an invocation's /error), a document posted as
// errorWithCause loses its X-Ray cause.
func (s *Server) readError(w http.ResponseWriter, r *http.Request, limit int64, until time.Time, splitCause bool) *Response {
	buf, tooLarge, err := s.readBody(w, r, limit, until)
	typ := r.Header.Get("Lambda-Runtime-Function-Error-Type")
	if tooLarge || err != nil {
		putBuffer(buf)
		if typ == "" {
			typ = "Runtime.Unknown"
		}
		return synthetic(typ, "the runtime's error document could not be read")
	}
	res := &Response{Body: buf.Bytes(), buf: buf, Error: true, ErrorType: typ}
	if len(bytes.TrimSpace(res.Body)) == 0 {
		res.Release()
		if typ == "" {
			typ = "Runtime.Unknown"
		}
		return synthetic(typ, "")
	}
	if mime, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); splitCause && strings.EqualFold(strings.TrimSpace(mime), errorWithCause) {
		body := withoutCause(res.Body)
		res.Release()
		res = &Response{Body: body, Error: true, ErrorType: typ}
	}
	if res.ErrorType == "" {
		var doc struct {
			ErrorType string `json:"errorType"`
		}
		if json.Unmarshal(res.Body, &doc) == nil {
			res.ErrorType = doc.ErrorType
		}
	}
	return res
}

// errorWithCause is the Content-Type of an error document that carries,
// beside the error, its X-Ray cause in errorCause.
const errorWithCause = "application/vnd.aws.lambda.error.cause+json"

// withoutCause is what the caller gets of an error document posted as
// errorWithCause: its error alone, re-encoded as Lambda's ErrorResponse
// (the cause goes to X-Ray, which Hearth has not), or the JSON string
// "Invalid error body" when the document does not have that shape. This is
// what Lambda's Runtime API does (RIE rapi/handler/invocationerror.go).
func withoutCause(body []byte) []byte {
	var doc struct {
		ErrorMessage string   `json:"errorMessage"`
		ErrorType    string   `json:"errorType"`
		StackTrace   []string `json:"stackTrace,omitempty"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return []byte(`"Invalid error body"`)
	}
	b, _ := json.Marshal(doc)
	return b
}

// errorResponse builds an error Response from a trailer's type and body.
func errorResponse(typ string, body []byte) *Response {
	if len(bytes.TrimSpace(body)) == 0 || !json.Valid(body) {
		return synthetic(typ, string(body))
	}
	return &Response{Body: body, Error: true, ErrorType: typ}
}

// synthetic builds Lambda's error document {"errorMessage","errorType"}.
func synthetic(typ, msg string) *Response {
	b, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{msg, typ})
	return &Response{Body: b, Error: true, ErrorType: typ}
}

// readBody reads r's body into a pooled buffer, up to limit bytes, within
// the environment's budget for bodies in flight. A body that stops making
// progress for BodyReadTimeout is cut, though not before until.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64, until time.Time) (buf *bytes.Buffer, tooLarge bool, err error) {
	br := s.bodyReader(w, r, until)
	defer br.done()
	buf = getBuffer()
	n, err := buf.ReadFrom(io.LimitReader(br, limit+1))
	if errors.Is(err, errBudget) {
		return buf, true, nil
	}
	if err != nil {
		return buf, false, err
	}
	if n > limit {
		// Let the client finish its request; nothing more is kept.
		br.uncharge()
		io.Copy(io.Discard, io.LimitReader(br, 64<<20))
		return buf, true, nil
	}
	return buf, false, nil
}

func (s *Server) bodyReader(w http.ResponseWriter, r *http.Request, until time.Time) *bodyReader {
	return &bodyReader{r: r.Body, rc: http.NewResponseController(w), b: s.bodies, timeout: s.cfg.BodyReadTimeout, until: until}
}

var acceptedBody = []byte(`{"status":"OK"}` + "\n")

func writeAccepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	w.Write(acceptedBody)
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{msg, typ})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
