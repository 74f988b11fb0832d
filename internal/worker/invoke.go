package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"hearth/internal/function"
	"hearth/internal/logs"
	"hearth/internal/runtimeapi"
	"hearth/internal/sandbox"
)

// Request is one invocation for the worker to run.
type Request struct {
	// Function is the configuration of the version to run.
	Function function.Config
	// RequestID identifies the invocation (AWS request id).
	RequestID string
	Payload   []byte
	// InvokedARN is the ARN as the caller addressed the function.
	InvokedARN      string
	ClientContext   string // decoded JSON
	CognitoIdentity string
	// TraceID is the caller's X-Amzn-Trace-Id, if any; Invoke makes it
	// the trace header the runtime gets (see TraceHeader).
	TraceID string
	// OptDir is the host directory the environment shows at /opt (the
	// function's layers, merged); empty for none. Its extensions
	// directory holds the external extensions.
	OptDir string
	// Stream, when set, receives the response as the runtime sends it
	// (Lambda-Runtime-Function-Response-Mode: streaming, or any chunked
	// body), up to runtimeapi.MaxStreamedResponse. When nil, a streamed
	// response is collected into Result.Payload, within the 6 MB limit of
	// buffered responses.
	Stream StreamSink
}

// StreamSink receives a response the runtime streams
// (Lambda-Runtime-Function-Response-Mode: streaming). Its methods are
// called from one goroutine at a time, and never after Invoke returns.
type StreamSink interface {
	// Begin is called once, before the first chunk, with the response's
	// Content-Type.
	Begin(contentType string) error
	// Write is called with each chunk as the function writes it; the sink
	// flushes it to its client. An error stops the stream to the sink;
	// the function runs on.
	Write(p []byte) (int, error)
}

// Result is what an invocation produced. A function that failed, crashed
// or timed out still yields a Result; Invoke returns an error only when
// the platform could not run the function at all.
type Result struct {
	Payload []byte
	// FunctionError is "" on success, or "Unhandled" when the function or
	// its environment failed (X-Amz-Function-Error).
	FunctionError string
	// ErrorType classifies failures: the runtime's errorType, or a
	// platform type such as "Runtime.ExitError" or "Sandbox.Timedout".
	ErrorType       string
	ExecutedVersion string
	// Log is the tail of the invocation's log, platform lines included.
	Log []byte
	// Duration is how long the invocation ran (the REPORT Duration).
	Duration time.Duration
	// ColdStart reports that the invocation started an environment.
	ColdStart bool
	// Streamed reports that the body went to Request.Stream (Begin was
	// called): Payload then holds only the error document when
	// FunctionError is set, since the sink may have part of the body.
	Streamed bool
	// InitDuration is the environment's init phase, on a cold start.
	InitDuration time.Duration

	release func()
}

// Release must be called once the caller has used the Result (after
// sending the response). It frees the payload buffer and lets the
// environment be frozen and reused. It is idempotent.
func (r *Result) Release() {
	if f := r.release; f != nil {
		r.release = nil
		f()
	}
}

var errTimedOut = errors.New("task timed out")

// beganSink records whether the runtime API began a stream to the sink.
// Invoke reads began only after the runtime API is done with the sink.
type beganSink struct {
	StreamSink
	began bool
}

func (s *beganSink) Begin(contentType string) error {
	s.began = true
	return s.StreamSink.Begin(contentType)
}

// Invoke runs req in an environment of its function version.
func (w *Worker) Invoke(ctx context.Context, req *Request) (*Result, error) {
	req.TraceID = TraceHeader(req.TraceID)
	for {
		p, err := w.pool(&req.Function)
		if err != nil {
			return nil, err
		}
		e, cold, err := p.acquire(ctx)
		if errors.Is(err, errRetired) {
			continue // the version changed under us; use the new pool
		}
		if errors.Is(err, errRetiredEnv) {
			w.destroy(e, "retired")
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, err
		}
		if !cold {
			if e.exited() || e.crashed() != nil {
				// Its runtime ended between invocations (aws-lambda-go
				// exits after the Runtime API refuses a response, say):
				// the next invocation belongs in a new environment, as on
				// Lambda, not in this one's corpse.
				p.remove(e, false)
				w.destroy(e, "exited while idle")
				continue
			}
			if !e.thaw() {
				p.remove(e, false)
				w.destroy(e, "thaw failed")
				continue
			}
			if res := w.run(e, req, time.Time{}); res != nil {
				return res, nil
			}
			continue // the environment died before it took the event
		}
		res, err := w.coldInvoke(p, req)
		if errors.Is(err, errRetired) || (res == nil && err == nil) {
			continue // retired while the environment started, or it died before it took the event
		}
		return res, err
	}
}

// coldInvoke starts an environment in p and runs req in it. Like Lambda,
// when the init phase fails or overruns its 10 s, it retries init once as
// part of the invocation, in the same log stream, within the function's
// timeout, which then bounds the retried init and the invocation together
// (its REPORT's Duration counts both, and has no Init Duration). p counts
// the cold start (acquire did) until coldInvoke records its outcome,
// across the retry, so p stays the live pool of the version meanwhile.
func (w *Worker) coldInvoke(p *pool, req *Request) (*Result, error) {
	in := initAttempt{Init: logs.Init{Type: initOnDemand, Phase: phaseInit}, stream: logStreamName(time.Now(), req.Function.Version)}
	e, fail, err := w.startEnvironment(p, req, w.cfg.InitTimeout, in)
	var since time.Time // zero: the invocation's time begins in run
	var prior []byte    // the failed init's log, for the invocation's tail
	if fail != nil {
		// The retry's lines follow all of the first init's, as on Lambda,
		// which resets the environment before it inits again.
		prior = w.drainInit(fail)
		since = time.Now()
		in.Phase = phaseInvoke
		e, fail, err = w.startEnvironment(p, req, req.Function.TimeoutDuration(), in)
	}
	if err != nil {
		w.startFailed(p)
		return nil, err
	}
	if fail != nil {
		w.startFailed(p)
		return w.failedInit(req, fail, since, prior), nil
	}
	if !p.started(e) {
		w.destroy(e, "retired")
		return nil, errRetired
	}
	res := w.run(e, req, since)
	if res != nil && prior != nil {
		res.Log = joinTail(prior, res.Log)
	}
	return res, nil
}

// failedInit is the result of an invocation whose init failed twice, in
// the init phase and once more as part of the invocation (since is when
// the retry began; prior is the first init's log). As on Lambda, its lines
// follow the retry's INIT_REPORT: START, the failure's detail (or the
// timeout's line), END and REPORT, whose Duration runs from the retry's
// start. The caller gets the retry's error: its document, or a timeout
// when the retry ran into the function's timeout.
func (w *Worker) failedInit(req *Request, f *initFailure, since time.Time, prior []byte) *Result {
	cfg := &req.Function
	res := &Result{ExecutedVersion: cfg.Version, ColdStart: true, InitDuration: f.dur, Duration: time.Since(since)}
	tr := invocationTracing(req)
	report := logs.Report{RequestID: req.RequestID, Duration: res.Duration, MemoryMB: cfg.MemorySize, MaxMemoryUsed: f.maxMemory, Tracing: tr}
	f.log.platform(func(p logs.Platform) string { return p.Start(req.RequestID, cfg.Version, tr) })
	if f.timedOut {
		timedOut(f.log.platform, req, res, &report)
	} else {
		for _, l := range f.detail {
			f.log.line(logs.TextLine(l))
		}
		res.FunctionError, res.ErrorType, res.Payload = "Unhandled", f.errorType, f.body
		report.Status, report.ErrorType = "error", f.errorType
	}
	f.log.platform(func(p logs.Platform) string { return p.End(report) })
	f.log.platform(func(p logs.Platform) string { return p.Report(report) })
	res.Log = joinTail(prior, w.discardInit(f))
	return res
}

// joinTail is the tail of an invocation's log whose first part is a and
// the rest b: their last logs.TailSize bytes.
func joinTail(a, b []byte) []byte {
	t := append(a[:len(a):len(a)], b...)
	if len(t) > logs.TailSize {
		t = t[len(t)-logs.TailSize:]
	}
	return t
}

// startFailed records in p a cold start that produced no environment.
func (w *Worker) startFailed(p *pool) {
	p.startFailed()
	w.dropIfEmpty(p)
}

// run invokes req in the busy environment e. The invocation's time began
// at since (an init retried as part of it started then), or now when since
// is zero: its deadline is the function's timeout from then, and its
// Duration counts from then. It returns nil when the runtime exited before
// it took the event (it ended after its previous invocation, and that went
// unnoticed until now): e is destroyed and the caller runs req elsewhere,
// since nothing of it ran.
func (w *Worker) run(e *env, req *Request, since time.Time) *Result {
	cfg := &req.Function
	start := since
	if start.IsZero() {
		start = time.Now()
	}
	deadline := start.Add(cfg.TimeoutDuration())
	e.deadline = deadline
	tr := invocationTracing(req)
	e.platform(func(p logs.Platform) string { return p.Start(req.RequestID, cfg.Version, tr) })
	ictx, cancel := context.WithDeadlineCause(e.ctx, deadline, errTimedOut)
	inv := &runtimeapi.Invocation{
		RequestID:       req.RequestID,
		Payload:         req.Payload,
		Deadline:        deadline,
		FunctionARN:     req.InvokedARN,
		TraceID:         req.TraceID,
		ClientContext:   req.ClientContext,
		CognitoIdentity: req.CognitoIdentity,
	}
	var sink *beganSink
	if req.Stream != nil {
		sink = &beganSink{StreamSink: req.Stream}
		inv.Stream = sink
	}
	resp, err := e.rapi.Invoke(ictx, inv)
	dur := time.Since(start)
	cancel()
	e.capture.Flush()
	if errors.Is(err, runtimeapi.ErrUndelivered) && errors.Is(err, errExited) {
		e.pool.remove(e, false)
		w.destroy(e, "exited before taking an event")
		return nil
	}

	res := &Result{ExecutedVersion: cfg.Version, Duration: dur, ColdStart: e.initDuration > 0, InitDuration: e.initDuration}
	if sink != nil {
		res.Streamed = sink.began // also when the stream was cut by a timeout or a crash
	}
	report := logs.Report{RequestID: req.RequestID, Duration: dur, MemoryMB: cfg.MemorySize, Tracing: tr}
	if e.reportInit {
		report.InitDuration = e.initDuration
	}
	e.initDuration, e.reportInit = 0, false
	healthy := false
	switch {
	case err == nil:
		res.Payload = resp.Body
		res.release = resp.Release
		report.Start, report.Posted, report.Read, report.ProducedBytes = start, resp.Posted, resp.Read, resp.Produced
		if resp.Error {
			res.FunctionError, res.ErrorType = "Unhandled", resp.ErrorType
			report.Status, report.ErrorType = "error", resp.ErrorType
		}
		healthy = true
	case errors.Is(err, errExtensionCrash) && e.crashed() != nil:
		typ, msg, line := e.extensionFailure(req.RequestID, e.crashed())
		e.capture.Platform(line)
		e.capture.Platform(logs.TextLine(msg))
		setError(res, typ, msg)
		report.Status, report.ErrorType = "error", typ
	case errors.Is(err, errTimedOut):
		timedOut(e.platform, req, res, &report)
	default: // the runtime exited, or the environment was destroyed under it
		w.exited(e, req.RequestID, res, &report)
	}
	if healthy && !report.Posted.IsZero() && (e.pf.WritesRuntimeDone(report.Status) || e.rapi.Subscribed()) {
		// The invocation runs until the runtime asks for its next event:
		// Lambda's report counts that time too (its durationMs is never
		// below runtimeDone's).
		if report.Next = e.awaitNext(); !report.Next.IsZero() {
			report.Duration = report.Next.Sub(start)
		}
	}
	report.MaxMemoryUsed = e.sb.MaxMemory()
	if res.ErrorType == "Runtime.OutOfMemory" {
		report.MaxMemoryUsed = int64(cfg.MemorySize) << 20
	}
	e.platform(func(p logs.Platform) string { return p.End(report) })
	e.platform(func(p logs.Platform) string { return p.Report(report) })
	res.Log = e.capture.Tail()

	if !healthy {
		e.pool.remove(e, false)
		w.destroy(e, "invocation failed: "+res.ErrorType)
		return res
	}
	// The environment comes back once the caller has its answer: Release
	// parks it, off the caller's goroutine, so the caller's connection is
	// free for its next request at once.
	e.pool.park(e)
	free := res.release
	res.release = func() {
		if free != nil {
			free()
		}
		// Under load a caller is usually waiting already: hand the
		// environment over here rather than from a goroutine of its own
		// (putBack's first step, for environments without extensions).
		if !e.rapi.HasExtensions() && e.pool.handOff(e) {
			return
		}
		w.envs.Go(func() { w.putBack(e) })
	}
	return res
}

// awaitNext waits until the runtime, having posted its response, asks for
// its next event, and returns when it did, for platform.runtimeDone (whose
// durationMs and runtimeOverhead span run until then, as Lambda's do). As
// on Lambda, the invocation is not over before then; but it returns the
// zero time if the runtime has not asked by the invocation's deadline (it
// is busy after its response and will be frozen so) or the environment
// ended (it crashed): the record is then written without them, so that it
// and platform.report always follow the invocation.
func (e *env) awaitNext() time.Time {
	idle := e.rapi.Idle()
	select {
	case <-idle:
		return e.rapi.IdleSince()
	default:
	}
	wait := time.Until(e.deadline)
	if wait <= 0 {
		return time.Time{}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-idle:
		return e.rapi.IdleSince()
	case <-e.ctx.Done():
	case <-t.C:
	}
	return time.Time{}
}

// idleWait bounds how long a parked environment may take to ask for its
// next event before it is frozen anyway (a runtime still busy after its
// response, such as Node with timers pending).
const idleWait = 20 * time.Millisecond

// linger is how long an idle environment stays thawed for a caller that is
// about to arrive. Back-to-back invocations then skip a freeze and a thaw
// (each about a millisecond on cgroup v1); sparse ones are frozen almost at
// once.
const linger = time.Millisecond

// putBack returns a parked environment to its pool. A caller that is
// waiting, or arrives within linger of the runtime's next GET /next, gets
// it at once and unfrozen: no time passes between those two invocations,
// so nothing runs that freezing would have stopped. Once its runtime
// waits in GET /next it goes idle, still thawed for linger (a caller then
// takes it from the idle list without any hand-over), and is frozen after
// that unless taken (so the next invocation finds the request already
// there).
func (w *Worker) putBack(e *env) {
	p := e.pool
	if e.rapi.HasExtensions() {
		// Extensions may work on after the runtime's answer (flushing
		// what they collected, say), up to the invocation's deadline. The
		// environment is neither frozen nor given the next invocation
		// before they are back in event/next, as on Lambda.
		p.lag()
		ok := e.waitExtensions()
		p.unlag()
		if !ok {
			p.remove(e, true)
			w.destroy(e, "extensions crashed or overran the invocation's timeout")
			return
		}
	}
	if p.handOff(e) {
		return
	}
	t := time.NewTimer(idleWait)
	defer t.Stop()
wait:
	for {
		select {
		case <-e.rapi.Idle():
			break wait
		case <-p.arrivals:
			if p.handOff(e) {
				return
			}
		case <-t.C:
			break wait
		case <-e.ctx.Done():
			break wait
		}
	}
	if e.exited() {
		p.remove(e, true)
		w.destroy(e, "exited after its invocation")
		return
	}
	if p.handOff(e) {
		return
	}
	// Idle, and thawed for linger: a caller arriving meanwhile takes it
	// from the idle list as it is, with no hand-over between goroutines.
	// Then, unless it was taken, it is frozen.
	if !p.unpark(e, time.Now()) {
		w.destroy(e, "retired")
		return
	}
	if e.fz == nil {
		return // nothing to freeze
	}
	for {
		t.Reset(linger)
		<-t.C
		if !p.repark(e) {
			return // taken, or gone
		}
		// A caller who arrives while the freeze is under way takes e as
		// it is rather than wait for the freeze to end.
		if !e.freezeUnless(p.arrivals) {
			p.remove(e, true)
			w.destroy(e, "freeze failed")
			return
		}
		frozen := e.frozen
		if !frozen && p.handOff(e) {
			return // given up for a caller, who has it
		}
		if !p.unpark(e, time.Now()) {
			w.destroy(e, "retired")
			return
		}
		if frozen {
			return
		}
		// Given up for a caller who took another or left meanwhile: idle
		// but thawed, so linger and freeze again.
	}
}

// waitExtensions waits until every extension of e is back in event/next,
// and reports false if one crashed first or the invocation's deadline
// passed.
func (e *env) waitExtensions() bool {
	select {
	case <-e.rapi.ExtensionsIdle():
		return e.ctx.Err() == nil // even past the deadline
	default:
	}
	t := time.NewTimer(time.Until(e.deadline))
	defer t.Stop()
	select {
	case <-e.rapi.ExtensionsIdle():
		return e.ctx.Err() == nil
	case <-e.ctx.Done():
		return false
	case <-t.C:
		return false
	}
}

// timedOut fills res and report for invocation req, which ran into its
// function's timeout, and logs the timeout's line through platform. As on
// Lambda, its Duration and Billed Duration are the timeout, however long
// past it the platform took to stop it: captured logs of the service read
// "Duration: 3000.00 ms\tBilled Duration: 3000 ms\t…\tStatus: timeout",
// for an invocation that overran a 3 s timeout and for an init retried in
// the invoke phase that did.
func timedOut(platform func(func(logs.Platform) string), req *Request, res *Result, report *logs.Report) {
	timeout := req.Function.TimeoutDuration()
	now := time.Now()
	platform(func(p logs.Platform) string { return p.Timeout(req.RequestID, now, timeout) })
	setError(res, "Sandbox.Timedout", fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", req.RequestID, timeout.Seconds()))
	report.Status = "timeout"
	res.Duration, report.Duration = timeout, timeout
}

// exited fills res for an environment whose runtime died during an
// invocation, and logs it as Lambda does.
func (w *Worker) exited(e *env, requestID string, res *Result, report *logs.Report) {
	exit := sandbox.Exit{Code: -1, Signal: 9}
	select {
	case <-e.sb.Done():
		exit = e.sb.Exit()
	case <-time.After(2 * time.Second):
		// Destroyed under a live invocation (shutdown): report a kill.
	}
	typ, msg := exitError(requestID, exit)
	e.capture.Platform(logs.TextLine(msg))
	e.capture.Platform(logs.TextLine(typ))
	setError(res, typ, msg)
	report.Status, report.ErrorType = "error", typ
}

func exitError(requestID string, exit sandbox.Exit) (typ, msg string) {
	typ = "Runtime.ExitError"
	if exit.OOM {
		typ = "Runtime.OutOfMemory"
	}
	if exit.Code == 0 && exit.Signal == 0 {
		return typ, "RequestId: " + requestID + " Error: Runtime exited without providing a reason"
	}
	return typ, "RequestId: " + requestID + " Error: Runtime exited with error: " + exit.String()
}

func setError(res *Result, typ, msg string) {
	res.FunctionError, res.ErrorType = "Unhandled", typ
	res.Payload = errorDocument(typ, msg)
}

func errorDocument(typ, msg string) []byte {
	b, _ := json.Marshal(struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}{typ, msg})
	return b
}

// platformLog renders platform lines in cfg's log format and system level.
func platformLog(cfg *function.Config) logs.Platform {
	_, system := cfg.LogLevels()
	return logs.NewPlatform(cfg.LogFormat, system)
}

// appendLine appends line, without the newlines it ends in, and one
// newline to log (a tail), unless line is empty (a record the system log
// level filtered out).
func appendLine(log []byte, line string) []byte {
	if line == "" {
		return log
	}
	return append(append(log, strings.TrimRight(line, "\n")...), '\n')
}

// TraceHeader is the trace header the runtime gets for an invocation
// whose caller sent X-Amzn-Trace-Id given (empty when it sent none). A
// header with a valid Root continues the caller's trace: its Root, Parent
// and Sampled, normalised to "Root=…;Parent=…;Sampled=…" (a missing Parent
// is made up, a missing or undecided Sampled is 0, other fields such as
// Self and Lineage are dropped). Lambda would make its own segment the
// Parent; Hearth records no segments, so the caller's stays the parent of
// whatever the function records. Otherwise the invocation starts a trace
// of its own, unsampled.
func TraceHeader(given string) string {
	var root, parent, sampled string
	for field := range strings.SplitSeq(given, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(field), "=")
		switch k {
		case "Root":
			root = v
		case "Parent":
			parent = v
		case "Sampled":
			sampled = v
		}
	}
	if len(root) != 35 || root[:2] != "1-" || root[10] != '-' || !isHex(root[2:10]) || !isHex(root[11:]) {
		root = "1-" + strconv.FormatInt(time.Now().Unix(), 16) + "-" + newID("") + newID("")[:8]
		parent, sampled = "", ""
	}
	if len(parent) != 16 || !isHex(parent) {
		parent = newID("")
	}
	if sampled != "1" {
		sampled = "0"
	}
	return "Root=" + root + ";Parent=" + parent + ";Sampled=" + sampled
}

// isHex reports whether s is lower-case hexadecimal digits, as X-Ray ids
// are.
func isHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// invocationTracing is the tracing of req's platform records: its trace
// header and a new span, the platform's, of the invocation. As on Lambda,
// only a sampled invocation's records carry tracing (captured CloudWatch
// JSON logs of unsampled invocations have none in platform.start,
// runtimeDone or report): for the others it is empty.
func invocationTracing(req *Request) logs.Tracing {
	if !strings.HasSuffix(req.TraceID, ";Sampled=1") { // TraceHeader normalised it
		return logs.Tracing{}
	}
	return logs.Tracing{SpanID: newID(""), Value: req.TraceID}
}
