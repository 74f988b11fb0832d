package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"hearth/internal/eventstream"
	"hearth/internal/invoke"
	"hearth/internal/lambdaapi"
)

// maxEventChunk bounds the payload of one PayloadChunk event: a buffered
// response of 6 MB goes out in several.
const maxEventChunk = 256 << 10

// streamWriteTimeout bounds each write to an InvokeWithResponseStream
// client. A client that takes no more bytes for this long loses its
// stream; the function runs on, and its environment is not held by the
// client's pace beyond it.
const streamWriteTimeout = time.Minute

// invokeWithResponseStream is InvokeWithResponseStream: Invoke's checks
// and limits, and the response as an AWS event stream of PayloadChunk
// events, written as the function writes them, then one InvokeComplete.
func (a *API) invokeWithResponseStream(w http.ResponseWriter, r *http.Request) {
	id := requestID(r)
	typ := r.Header.Get(lambdaapi.HeaderInvocationType) // RequestResponse or DryRun: the router checked the enum
	owner, err := a.checkInvokeTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	buf := a.invokePayload(w, r, typ)
	if buf == nil {
		return
	}
	defer putPayload(buf)
	sink := &eventSink{w: w, rc: http.NewResponseController(w), id: id}
	res, err := a.invoke.Invoke(r.Context(), &invoke.Request{
		Account:       owner,
		FunctionName:  r.PathValue("FunctionName"),
		Qualifier:     r.URL.Query().Get("Qualifier"),
		RequestID:     id,
		Payload:       buf.Bytes(),
		ClientContext: r.Header.Get(lambdaapi.HeaderClientContext),
		TraceID:       r.Header.Get(lambdaapi.HeaderTraceID),
		DryRun:        typ == lambdaapi.InvocationDryRun,
		Stream:        sink,
		Resolved:      func(t *invoke.Target) { sink.version = t.Config.Version },
	})
	if err != nil {
		// Refused before it ran (not found, throttled, too large...): an
		// ordinary AWS error, no stream has begun.
		a.fail(w, r, err)
		return
	}
	if res == nil { // DryRun
		w.Header().Set(lambdaapi.HeaderRequestID, id)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	defer res.Release()
	if !sink.begun {
		sink.Begin("application/octet-stream")
	}
	var done struct {
		ErrorCode    string `json:",omitempty"`
		ErrorDetails string `json:",omitempty"`
		LogResult    string `json:",omitempty"`
	}
	if res.FunctionError != "" {
		// The body (or part of it) may have gone out already: the error
		// travels in InvokeComplete, as Lambda reports a mid-stream one.
		done.ErrorCode, done.ErrorDetails = res.ErrorType, errorDetails(res.Payload)
		if done.ErrorCode == "" {
			done.ErrorCode = res.FunctionError
		}
	} else if !res.Streamed && len(res.Payload) > 0 {
		sink.Write(res.Payload)
	}
	if r.Header.Get(lambdaapi.HeaderLogType) == "Tail" {
		done.LogResult = base64.StdEncoding.EncodeToString(res.Log)
	}
	payload, _ := json.Marshal(done)
	sink.event("InvokeComplete", "application/json", payload)
	sink.rc.SetWriteDeadline(time.Time{})
}

// errorDetails is the errorMessage of a function error document, or the
// document itself when it has none.
func errorDetails(doc []byte) string {
	var e struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(doc, &e) == nil && e.ErrorMessage != "" {
		return e.ErrorMessage
	}
	return string(doc)
}

// eventSink is the worker.StreamSink of InvokeWithResponseStream: it
// frames each chunk as a PayloadChunk event and flushes it to the client.
// The runtime API calls it from one goroutine at a time, and never after
// the invocation returns; the handler then finishes the stream.
type eventSink struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	id      string
	version string // the executed version, set once the invocation resolved
	begun   bool
	failed  error  // a write to the client failed: nothing more is sent
	buf     []byte // one encoded event
}

// Begin sends the response's status and headers. Lambda binds the HTTP
// Content-Type to ResponseStreamContentType, the function's own.
func (s *eventSink) Begin(contentType string) error {
	s.begun = true
	h := s.w.Header()
	h.Set("Content-Type", contentType)
	h.Set(lambdaapi.HeaderRequestID, s.id)
	h.Set(lambdaapi.HeaderExecutedVersion, s.version)
	s.w.WriteHeader(http.StatusOK)
	return s.flush()
}

func (s *eventSink) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := p[:min(len(p), maxEventChunk)]
		if err := s.event("PayloadChunk", "application/octet-stream", c); err != nil {
			return n, err
		}
		n += len(c)
		p = p[len(c):]
	}
	return n, nil
}

func (s *eventSink) event(eventType, contentType string, payload []byte) error {
	if s.failed != nil {
		return s.failed
	}
	var err error
	if s.buf, err = eventstream.AppendEvent(s.buf[:0], eventType, contentType, payload); err != nil {
		return err
	}
	s.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if _, err := s.w.Write(s.buf); err != nil {
		s.failed = err
		return err
	}
	return s.flush()
}

func (s *eventSink) flush() error {
	if err := s.rc.Flush(); err != nil {
		s.failed = err
		return err
	}
	return nil
}
