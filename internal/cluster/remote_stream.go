package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"hearth/internal/placement"
	"hearth/internal/worker"
)

// streamPath is the worker's HTTP endpoint for streamed invocations
// (worker.Request.Stream: InvokeWithResponseStream, RESPONSE_STREAM
// function URLs). The request is the frame of invokePath; the answer is a
// sequence of records, each flushed as it is written:
//
//	type (1 byte) | length (4 bytes, big endian) | data
//
// recBegin once with the stream's Content-Type, recChunk with each chunk
// as the function writes it, then one recResult whose data is a frame
// (writeFrame) of a streamResult and the payload. An answer that ends
// before its recResult means the worker was lost.
const streamPath = "/_hearth/cluster/v1/invoke-stream"

// Record types of a streamed answer.
const (
	recBegin  = 'B'
	recChunk  = 'C'
	recResult = 'R'
)

// maxRecord bounds one record: a result frame, with a buffered payload of
// up to 6 MB.
const maxRecord = maxMeta + maxFrame

// workerStreamWriteTimeout bounds each record's write to the api node. It
// is longer than the api node's own bound on its client's writes
// (api.streamWriteTimeout, a minute), so a slow client is cut off by the
// api node, which then drains the rest; this only frees an environment
// whose api node is stuck without its connection breaking.
const workerStreamWriteTimeout = 2 * time.Minute

// streamResult is the metadata of a streamed answer's last record.
type streamResult struct {
	resultMeta
	// Streamed reports that the runtime began a stream (Begin was
	// called): the payload is then only an error document, if any.
	Streamed bool `json:"streamed,omitempty"`
}

// errWireRecord is a malformed record.
var errWireRecord = errors.New("malformed stream record")

// writeRecord writes one record to w.
func writeRecord(w io.Writer, typ byte, data []byte) error {
	var h [5]byte
	h[0] = typ
	binary.BigEndian.PutUint32(h[1:], uint32(len(data)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// readRecord reads one record from br into buf (grown as needed) and
// returns its type and data (valid until the next call).
func readRecord(br *bufio.Reader, buf []byte) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // every answer ends with its recResult
		}
		return 0, buf, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > maxRecord {
		return 0, buf, fmt.Errorf("%w: %d bytes", errWireRecord, n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(br, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, buf, err
	}
	return h[0], buf, nil
}

// wireSink is the worker.StreamSink of a streamed invocation on a worker
// node: each Begin and chunk goes to the api node as a record, flushed at
// once. A write that fails (the api node went away) fails the sink, and
// the runtime's body is read to its end without it, as on a single node
// whose client went away. Writes block while the api node does not read:
// TCP's flow control then stops the runtime, as a slow client does on a
// single node.
type wireSink struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	failed error
}

func (s *wireSink) record(typ byte, data []byte) error {
	if s.failed != nil {
		return s.failed
	}
	s.rc.SetWriteDeadline(time.Now().Add(workerStreamWriteTimeout))
	if err := writeRecord(s.w, typ, data); err != nil {
		s.failed = err
		return err
	}
	if err := s.rc.Flush(); err != nil {
		s.failed = err
		return err
	}
	return nil
}

func (s *wireSink) Begin(contentType string) error { return s.record(recBegin, []byte(contentType)) }

func (s *wireSink) Write(p []byte) (int, error) {
	if err := s.record(recChunk, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// serveStream runs a streamed invocation for an api node (streamPath).
func (n *WorkerNode) serveStream(w http.ResponseWriter, r *http.Request) {
	m, payload, ok := n.accept(w, r)
	if !ok {
		return
	}
	defer n.finish(m.Function.MemorySize) // after the answer is written and the environment released
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	sink := &wireSink{w: w, rc: http.NewResponseController(w)}
	res, err := n.wk.Invoke(r.Context(), m.request(payload, sink))
	var out streamResult
	var body []byte
	if err != nil {
		n.log.Warn("streamed invocation failed", "request_id", m.RequestID, "err", err)
		out.resultMeta = resultMeta{Err: err.Error(), Closed: errors.Is(err, worker.ErrClosed), Worker: n.id}
	} else {
		// The environment is frozen and reused only once the api node
		// has the answer.
		defer res.Release()
		out = streamResult{resultMeta: resultMeta{
			FunctionError:   res.FunctionError,
			ErrorType:       res.ErrorType,
			ExecutedVersion: res.ExecutedVersion,
			Log:             res.Log,
			Duration:        res.Duration,
			InitDuration:    res.InitDuration,
			ColdStart:       res.ColdStart,
			Worker:          n.id,
		}, Streamed: res.Streamed}
		body = res.Payload
	}
	var frame bytes.Buffer
	frame.Grow(len(body) + 4096)
	if err := writeFrame(&frame, out, body); err != nil {
		n.log.Warn("encode a streamed answer", "request_id", m.RequestID, "err", err)
		return
	}
	sink.failed = nil // the last record goes out even if a chunk did not
	if err := sink.record(recResult, frame.Bytes()); err != nil {
		n.log.Debug("streamed answer to api node lost", "request_id", m.RequestID, "err", err)
	}
}

// sendStream runs the streamed invocation framed in body on the worker of
// t, feeding req.Stream with the chunks as the worker sends them, and
// settles t. It returns a *refusal when nothing of it ran there. A worker
// lost before the stream began fails the invocation as an unstreamed one
// does (ErrWorkerLost); once the stream began, the invocation ends with a
// function error of type ServiceException after what was streamed, so
// the client's stream ends with an error instead of hanging. A sink that
// fails (a client too slow or gone) gets nothing more, and the rest of
// the answer is read and dropped, as the single node's runtime API does:
// the invocation returns when the function ends, not when its client
// goes away.
func (r *Runner) sendStream(ctx context.Context, t placement.Ticket, req *worker.Request, body []byte) (*worker.Result, error) {
	fn := req.Function
	// A client that goes away fails the sink, not the invocation: as on a
	// single node, the function runs on and its answer is drained, so
	// that the environment is released as it ends. The worker enforces
	// the function's timeout; this only bounds a worker cut off without
	// its connection breaking.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(fn.Timeout)*time.Second+30*time.Second)
	defer cancel()
	resp, err := r.post(ctx, cctx, t, streamPath, req.RequestID, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var buf []byte
	began := false
	var sinkErr error
	for {
		var typ byte
		typ, buf, err = readRecord(br, buf)
		if err != nil {
			lerr := r.lost(ctx, t, req.RequestID, err)
			if !began || ctx.Err() != nil {
				return nil, lerr
			}
			return lostMidStream(fn.Version, lerr), nil
		}
		switch typ {
		case recBegin:
			began = true
			sinkErr = req.Stream.Begin(string(buf))
		case recChunk:
			if sinkErr == nil {
				_, sinkErr = req.Stream.Write(buf)
			}
		case recResult:
			var m streamResult
			payload, err := readFrame(bytes.NewReader(buf), &m, maxFrame)
			if err != nil {
				r.reg.Done(t, false)
				return nil, fmt.Errorf("worker %s: %w", t.Worker, err)
			}
			if m.Err != "" {
				r.reg.Done(t, false)
				if m.Closed {
					return nil, fmt.Errorf("worker %s: %w", t.Worker, worker.ErrClosed)
				}
				return nil, fmt.Errorf("worker %s: %s", t.Worker, m.Err)
			}
			r.reg.Done(t, !strings.HasPrefix(m.ErrorType, "Sandbox.") && !strings.HasPrefix(m.ErrorType, "Runtime."))
			r.log.Debug("streamed on worker", "request_id", req.RequestID, "worker", t.Worker, "cold_start", m.ColdStart)
			res := m.result(payload)
			res.Streamed = began
			return res, nil
		default:
			r.reg.Done(t, false)
			return nil, fmt.Errorf("worker %s: %w: type %q", t.Worker, errWireRecord, typ)
		}
	}
}

// lostMidStream is the result of a streamed invocation whose worker was
// lost after the stream began: a ServiceException that the API reports
// after what was streamed (InvokeComplete's ErrorCode), as it reports a
// function that crashed mid-stream.
func lostMidStream(version string, err error) *worker.Result {
	doc, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{err.Error(), "ServiceException"})
	return &worker.Result{
		Payload:         doc,
		FunctionError:   "Unhandled",
		ErrorType:       "ServiceException",
		ExecutedVersion: version,
		Streamed:        true,
	}
}
