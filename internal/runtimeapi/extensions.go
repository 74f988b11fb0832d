package runtimeapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxExtensions is how many extensions may register in one environment.
const MaxExtensions = 10

// Function is what the Extensions API tells an extension about the
// function it runs with.
type Function struct {
	Name    string
	Version string
	Handler string
	Account string // sent only to extensions that accept the accountId feature
}

// Shutdown reasons, as Lambda's emulator spells them.
const (
	ShutdownSpindown = "spindown"
	ShutdownTimeout  = "timeout"
	ShutdownFailure  = "failure"
)

// extension is one registered extension.
type extension struct {
	id       string
	name     string
	external bool
	invoke   bool // subscribed to INVOKE
	shutdown bool // subscribed to SHUTDOWN

	// guarded by Server.mu
	queue    [][]byte      // events not yet taken
	waiting  bool          // in event/next with nothing to take
	wake     chan struct{} // cap 1; an event was queued
	shutSent bool          // SHUTDOWN was queued
	shutDone bool          // came back to event/next after SHUTDOWN
	sub      *subscription
}

// ExtensionError is what an extension posted to init/error or exit/error.
type ExtensionError struct {
	Name string
	// Type is the Lambda-Extension-Function-Error-Type header.
	Type string
	// Body is the error document the extension posted (at most 1 MiB).
	Body []byte
}

// handleRegister is POST /2020-01-01/extension/register.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	name := r.Header.Get("Lambda-Extension-Name")
	if name == "" {
		writeError(w, http.StatusForbidden, "Extension.InvalidExtensionName", "Empty extension name")
		return
	}
	var body struct {
		Events []string `json:"events"`
	}
	if b, err := s.readSmall(w, r, 64<<10); err != nil || json.Unmarshal(b, &body) != nil {
		writeError(w, http.StatusForbidden, "Extension.InvalidRequest", "the registration body must be {\"events\":[...]}")
		return
	}
	e := &extension{id: newUUID(), name: name, external: slices.Contains(s.cfg.External, name), wake: make(chan struct{}, 1)}
	for _, ev := range body.Events {
		switch ev {
		case "INVOKE":
			e.invoke = true
		case "SHUTDOWN":
			if !e.external {
				writeError(w, http.StatusForbidden, "Extension.InvalidEventType", "internal extensions cannot register for the SHUTDOWN event")
				return
			}
			e.shutdown = true
		default:
			writeError(w, http.StatusForbidden, "Extension.InvalidEventType", "unknown event type: "+ev)
			return
		}
	}
	s.mu.Lock()
	var refuse, typ string
	switch {
	case s.inited || s.closed:
		typ, refuse = "Extension.RegistrationError", "registration is closed: the init phase has ended"
	case len(s.exts) >= MaxExtensions:
		typ, refuse = "Extension.TooManyExtensions", "too many extensions: at most "+strconv.Itoa(MaxExtensions)
	case slices.ContainsFunc(s.exts, func(o *extension) bool { return o.name == name }):
		typ, refuse = "Extension.AlreadyRegistered", "an extension named "+name+" has already registered"
	}
	if refuse == "" {
		s.exts = append(s.exts, e)
		s.updateExtIdleLocked()
		s.updateRegisteredLocked()
	}
	s.mu.Unlock()
	if refuse != "" {
		writeError(w, http.StatusForbidden, typ, refuse)
		return
	}
	s.log.Debug("extension registered", "name", name, "external", e.external, "invoke", e.invoke, "shutdown", e.shutdown)
	resp := map[string]string{
		"functionName":    s.cfg.Function.Name,
		"functionVersion": s.cfg.Function.Version,
		"handler":         s.cfg.Function.Handler,
	}
	for f := range strings.SplitSeq(r.Header.Get("Lambda-Extension-Accept-Feature"), ",") {
		if strings.TrimSpace(f) == "accountId" && s.cfg.Function.Account != "" {
			resp["accountId"] = s.cfg.Function.Account
		}
	}
	b, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Lambda-Extension-Identifier", e.id)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// extensionFor finds the extension a request identifies, or writes the
// Extensions API's error and returns nil.
func (s *Server) extensionFor(w http.ResponseWriter, r *http.Request) *extension {
	id := r.Header.Get("Lambda-Extension-Identifier")
	if id == "" {
		writeError(w, http.StatusForbidden, "Extension.MissingExtensionIdentifier", "Missing Lambda-Extension-Identifier header")
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.exts {
		if e.id == id {
			return e
		}
	}
	writeError(w, http.StatusForbidden, "Extension.InvalidExtensionIdentifier", "Invalid Lambda-Extension-Identifier")
	return nil
}

// handleEventNext is GET /2020-01-01/extension/event/next: it blocks until
// the extension's next event.
func (s *Server) handleEventNext(w http.ResponseWriter, r *http.Request) {
	e := s.extensionFor(w, r)
	if e == nil {
		return
	}
	s.mu.Lock()
	if e.shutSent && len(e.queue) == 0 {
		// Done with SHUTDOWN: it waits to be killed.
		e.shutDone = true
		s.updateShutdownLocked()
	}
	var ev []byte
	for {
		if len(e.queue) > 0 {
			ev = e.queue[0]
			e.queue = e.queue[1:]
			e.waiting = false
			s.updateExtIdleLocked()
			break
		}
		e.waiting = true
		s.updateExtIdleLocked()
		s.maybeEndInitLocked()
		s.mu.Unlock()
		select {
		case <-e.wake:
		case <-r.Context().Done():
		case <-s.quit:
		}
		s.mu.Lock()
		if r.Context().Err() != nil || s.closed {
			e.waiting = false
			s.updateExtIdleLocked()
			s.mu.Unlock()
			if s.isClosed() {
				writeError(w, http.StatusInternalServerError, "Extension.ContainerError", "the execution environment is shutting down")
			}
			return
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Lambda-Extension-Event-Identifier", newUUID())
	w.Header().Set("Content-Length", strconv.Itoa(len(ev)))
	w.WriteHeader(http.StatusOK)
	w.Write(ev)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// handleExtensionError is POST /2020-01-01/extension/init/error and
// .../exit/error.
func (s *Server) handleExtensionError(exit bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e := s.extensionFor(w, r)
		if e == nil {
			return
		}
		s.mu.Lock()
		ended := s.inited
		s.mu.Unlock()
		if !exit && ended {
			writeError(w, http.StatusForbidden, "InvalidStateTransition", "State transition from Ready to InitError failed: init has already completed")
			return
		}
		body, _ := s.readSmall(w, r, MaxInitError)
		ee := &ExtensionError{Name: e.name, Type: r.Header.Get("Lambda-Extension-Function-Error-Type"), Body: body}
		if ee.Type == "" {
			ee.Type = "Extension.Unknown"
		}
		if !exit {
			if !s.endInit(InitResult{Extension: ee}) {
				writeError(w, http.StatusForbidden, "InvalidStateTransition", "State transition from Ready to InitError failed: init has already completed")
				return
			}
		} else {
			s.mu.Lock()
			if s.exitErr == nil {
				s.exitErr = ee
			}
			s.mu.Unlock()
			s.log.Debug("extension exit error", "name", e.name, "type", ee.Type)
		}
		writeAccepted(w)
	}
}

// maybeEndInitLocked ends init once the runtime and every extension wait
// in their next, and every external extension has registered.
func (s *Server) maybeEndInitLocked() {
	if s.inited || !s.runtimeReady || !s.allRegisteredLocked() {
		return
	}
	for _, e := range s.exts {
		if !e.waiting {
			return
		}
	}
	s.inited = true
	s.init <- InitResult{} // cap 1 and sent once
}

// allRegisteredLocked reports whether every external extension has
// registered.
func (s *Server) allRegisteredLocked() bool {
	for _, name := range s.cfg.External {
		if !slices.ContainsFunc(s.exts, func(e *extension) bool { return e.name == name }) {
			return false
		}
	}
	return true
}

// updateRegisteredLocked closes registered once every external extension
// has registered.
func (s *Server) updateRegisteredLocked() {
	select {
	case <-s.registered:
	default:
		if s.allRegisteredLocked() {
			close(s.registered)
		}
	}
}

// ExternalsRegistered returns a channel that is closed once every external
// extension (Config.External) has registered, at once when there are
// none. Lambda starts the runtime only then, so that the function's init
// finds the extensions' services up (a sandbox.Spec.HoldBootstrap
// environment waits for it).
func (s *Server) ExternalsRegistered() <-chan struct{} { return s.registered }

// Unregistered lists the external extensions that have not registered.
func (s *Server) Unregistered() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, name := range s.cfg.External {
		if !slices.ContainsFunc(s.exts, func(e *extension) bool { return e.name == name }) {
			out = append(out, name)
		}
	}
	return out
}

// updateExtIdleLocked opens or closes extIdle: closed while every
// registered extension waits in event/next with nothing to take.
func (s *Server) updateExtIdleLocked() {
	idle := true
	for _, e := range s.exts {
		if !e.waiting || len(e.queue) > 0 {
			idle = false
		}
	}
	select {
	case <-s.extIdle:
		if !idle {
			s.extIdle = make(chan struct{})
		}
	default:
		if idle {
			close(s.extIdle)
		}
	}
}

// queueLocked queues ev for e and wakes its event/next.
func (s *Server) queueLocked(e *extension, ev []byte) {
	e.queue = append(e.queue, ev)
	select {
	case e.wake <- struct{}{}:
	default:
	}
	s.updateExtIdleLocked()
}

// sendInvoke queues an INVOKE event for every extension that asked for it.
func (s *Server) sendInvoke(inv *Invocation) {
	s.mu.Lock()
	none := len(s.exts) == 0
	s.mu.Unlock()
	if none {
		return // the usual case: nothing to build the event for
	}
	type tracing struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	ev := struct {
		EventType          string   `json:"eventType"`
		DeadlineMs         int64    `json:"deadlineMs"`
		RequestID          string   `json:"requestId"`
		InvokedFunctionArn string   `json:"invokedFunctionArn"`
		Tracing            *tracing `json:"tracing,omitempty"`
	}{"INVOKE", inv.Deadline.UnixMilli(), inv.RequestID, inv.FunctionARN, nil}
	if inv.TraceID != "" {
		ev.Tracing = &tracing{"X-Amzn-Trace-Id", inv.TraceID}
	}
	b, _ := json.Marshal(ev)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.exts {
		if e.invoke {
			s.queueLocked(e, b)
		}
	}
}

// HasExtensions reports whether any extension has registered.
func (s *Server) HasExtensions() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.exts) > 0
}

// ExternalRegistered reports whether an external extension of that name
// has registered.
func (s *Server) ExternalRegistered(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.exts, func(e *extension) bool { return e.external && e.name == name })
}

// ExtensionsIdle returns a channel that is closed while every registered
// extension waits in event/next with no event left to take (at once when
// none has registered). After an invocation the worker waits for it before
// the environment is frozen or runs the next one: extensions may go on
// working after the runtime has answered.
func (s *Server) ExtensionsIdle() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.extIdle
}

// ExitError returns the first error an extension posted to exit/error, or
// nil.
func (s *Server) ExitError() *ExtensionError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exitErr
}

// Shutdown queues a SHUTDOWN event with reason and deadline for every
// extension that registered for it and closes registration. The returned
// channel is closed once each of them has come back to event/next (an
// extension may instead exit, which the caller sees from the sandbox), at
// once when there are none. Deliver buffered telemetry first
// ([Server.FlushTelemetry]): Lambda sends the last records before
// SHUTDOWN.
func (s *Server) Shutdown(reason string, deadline time.Time) <-chan struct{} {
	b, _ := json.Marshal(struct {
		EventType      string `json:"eventType"`
		ShutdownReason string `json:"shutdownReason"`
		DeadlineMs     int64  `json:"deadlineMs"`
	}{"SHUTDOWN", reason, deadline.UnixMilli()})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inited = true // closes registration; an init result is no longer awaited
	for _, e := range s.exts {
		if e.shutdown && !e.shutSent {
			e.shutSent = true
			s.queueLocked(e, b)
		}
	}
	s.updateShutdownLocked()
	return s.shutDone
}

// updateShutdownLocked closes shutDone once every extension that was sent
// SHUTDOWN has come back.
func (s *Server) updateShutdownLocked() {
	for _, e := range s.exts {
		if e.shutdown && (!e.shutSent || !e.shutDone) {
			return
		}
	}
	select {
	case <-s.shutDone:
	default:
		close(s.shutDone)
	}
}

// readSmall reads up to limit bytes of a request body that is not charged
// to the environment's budget (each is bounded, and one per connection),
// cutting one that stalls.
func (s *Server) readSmall(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	br := s.bodyReader(w, r, time.Time{})
	br.uncharge()
	defer br.done()
	return io.ReadAll(io.LimitReader(br, limit))
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ExtensionInfo describes a registered extension.
type ExtensionInfo struct {
	Name     string
	External bool
	Events   []string // INVOKE, SHUTDOWN
}

// Extensions lists the registered extensions in the order they registered.
func (s *Server) Extensions() []ExtensionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ExtensionInfo, 0, len(s.exts))
	for _, e := range s.exts {
		info := ExtensionInfo{Name: e.name, External: e.external, Events: []string{}}
		if e.invoke {
			info.Events = append(info.Events, "INVOKE")
		}
		if e.shutdown {
			info.Events = append(info.Events, "SHUTDOWN")
		}
		out = append(out, info)
	}
	return out
}
