package runtimeapi

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// MaxStreamedResponse is the largest response a runtime may stream to a
// consumer (InvokeWithResponseStream, a function URL in RESPONSE_STREAM
// mode): Lambda's 200 MB (20 MB until July 2025). Past it the stream ends
// with a Function.ResponseSizeTooLarge error (what Lambda reports then is
// not documented). Lambda's bandwidth cap past the first 6 MB (2 MB/s) is
// not imitated.
const MaxStreamedResponse = 200 * 1024 * 1024

// Sink receives a response as the runtime streams it. worker.StreamSink
// has the same methods.
type Sink interface {
	// Begin is called once, before the first chunk, with the response's
	// Content-Type.
	Begin(contentType string) error
	// Write is called with each chunk as the runtime sends it.
	Write(p []byte) (int, error)
}

// streamChunk is how much of a streamed body is read (and so held) at a
// time: a slow consumer stops the reads, and TCP's flow control stops the
// runtime, so an environment never holds more than this of a stream.
const streamChunk = 32 << 10

var streamBufs = sync.Pool{New: func() any { return new([streamChunk]byte) }}

// stream is the state of a response being streamed to an invocation's
// Sink. Invoke stops it when the invocation ends first (its timeout) and
// waits for done, so the Sink is never written after Invoke returns.
type stream struct {
	rc   *http.ResponseController
	done chan struct{} // closed once the handler no longer uses the Sink

	mu      sync.Mutex
	stopped bool // guarded by mu
	ended   bool // guarded by mu; the handler is returning: rc is no longer usable
}

// stop makes the handler leave the Sink alone and, while it still reads
// the runtime's body, cuts that read.
func (st *stream) stop() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stopped = true
	if !st.ended {
		st.rc.SetReadDeadline(time.Now()) // sets a deadline; no I/O
	}
}

func (st *stream) isStopped() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.stopped
}

func (st *stream) end() {
	st.mu.Lock()
	st.ended = true
	st.mu.Unlock()
	close(st.done)
}

// streamResponse passes the body of a POST /response to the invocation's
// Sink chunk by chunk as it arrives. A chunked body's error trailer ends
// the invocation with that error after whatever was streamed. posted is
// when the POST arrived.
func (s *Server) streamResponse(w http.ResponseWriter, r *http.Request, p *pending, st *stream, posted time.Time) {
	defer st.end()
	sink := p.inv.Stream
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	sinkOK := !st.isStopped() && sink.Begin(ct) == nil
	br := &bodyReader{r: r.Body, rc: st.rc, timeout: s.cfg.BodyReadTimeout, until: p.inv.Deadline}
	buf := streamBufs.Get().(*[streamChunk]byte)
	defer streamBufs.Put(buf)
	var total int64
	var readErr error
	for {
		n, err := br.Read(buf[:])
		if n > 0 {
			total += int64(n)
			if total > MaxStreamedResponse {
				br.done()
				if st.isStopped() {
					return
				}
				s.finish(p, streamed(synthetic("Function.ResponseSizeTooLarge",
					"Response payload size exceeded maximum allowed payload size ("+strconv.Itoa(MaxStreamedResponse)+" bytes).")))
				w.Header().Set("Connection", "close")
				writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
					"Exceeded maximum allowed payload size ("+strconv.Itoa(MaxStreamedResponse)+" bytes).")
				return
			}
			// A consumer that went away gets nothing more; the runtime's
			// body is still read to its end, as the function is not told.
			if sinkOK && !st.isStopped() {
				_, werr := sink.Write(buf[:n])
				sinkOK = werr == nil
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
	}
	br.done()
	if st.isStopped() {
		return // Invoke has given up on the invocation (timed out)
	}
	if readErr != nil {
		s.finish(p, streamed(synthetic("Runtime.TruncatedResponse", "the runtime's response body could not be read: "+readErr.Error())))
		writeError(w, http.StatusBadRequest, "InvalidRequest", "could not read the response body")
		return
	}
	res := &Response{Streamed: true}
	if typ := r.Trailer.Get("Lambda-Runtime-Function-Error-Type"); typ != "" {
		body, _ := base64.StdEncoding.DecodeString(r.Trailer.Get("Lambda-Runtime-Function-Error-Body"))
		res = streamed(errorResponse(typ, body))
	}
	res.Posted, res.Read, res.Produced = posted, time.Now(), total
	s.finish(p, res)
	writeAccepted(w)
}

func streamed(r *Response) *Response {
	r.Streamed = true
	return r
}
