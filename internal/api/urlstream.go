package api

import (
	"bytes"
	"errors"
	"net/http"
	"time"

	"hearth/internal/function"
	"hearth/internal/functionurl"
	"hearth/internal/lambdaapi"
)

// httpIntegration is the Content-Type of a streamed response that starts
// with a prelude (awslambda.HttpResponseStream.from): the HTTP status,
// headers and cookies, then functionurl.PreludeDelimiter, then the body.
const httpIntegration = "application/vnd.awslambda.http-integration-response"

// maxPrelude bounds what a function URL holds of a prelude still waiting
// for its delimiter.
const maxPrelude = 64 << 10

var errBadPrelude = errors.New("malformed streamed response prelude")

// urlSink is the worker.StreamSink of a RESPONSE_STREAM function URL: it
// writes the function's bytes to the client as the function writes them,
// after the status and headers (200 and the stream's Content-Type, or
// those of the prelude an HTTP integration response starts with). Its
// methods run from one goroutine at a time and never after the
// invocation returns (worker.StreamSink).
type urlSink struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	r    *http.Request
	cors *function.Cors
	rid  string

	integration bool   // the stream starts with a prelude
	prelude     []byte // the prelude so far, until its delimiter
	started     bool   // the status and headers are sent
	failed      error  // the prelude was malformed or the client went away
}

func (s *urlSink) Begin(contentType string) error {
	if contentType == httpIntegration {
		s.integration = true
		return nil
	}
	return s.start(&functionurl.Response{StatusCode: http.StatusOK, Headers: [][2]string{{"Content-Type", contentType}}})
}

func (s *urlSink) Write(p []byte) (int, error) {
	if s.failed != nil {
		return 0, s.failed
	}
	n := len(p)
	if !s.started {
		s.prelude = append(s.prelude, p...)
		i := bytes.Index(s.prelude, functionurl.PreludeDelimiter)
		if i < 0 {
			if len(s.prelude) > maxPrelude {
				s.failed = errBadPrelude
				return 0, s.failed
			}
			return n, nil
		}
		meta, err := functionurl.ParsePrelude(s.prelude[:i])
		if err != nil {
			s.failed = errBadPrelude
			return 0, s.failed
		}
		p = s.prelude[i+len(functionurl.PreludeDelimiter):]
		s.prelude = nil
		if err := s.start(meta); err != nil {
			return 0, err
		}
	}
	if len(p) == 0 {
		return n, nil
	}
	s.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if _, err := s.w.Write(p); err != nil {
		s.failed = err
		return 0, err
	}
	if err := s.rc.Flush(); err != nil {
		s.failed = err
		return 0, err
	}
	return n, nil
}

// start sends the status and headers of out (its body is not used).
func (s *urlSink) start(out *functionurl.Response) error {
	s.started = true
	h := s.w.Header()
	for _, kv := range out.Headers {
		h.Set(kv[0], kv[1])
	}
	for _, c := range out.Cookies {
		h.Add("Set-Cookie", c)
	}
	if s.cors != nil {
		functionurl.AddCORS(h, s.cors, s.r)
	}
	h.Set(lambdaapi.HeaderRequestID, s.rid)
	s.w.WriteHeader(out.StatusCode)
	if err := s.rc.Flush(); err != nil {
		s.failed = err
		return err
	}
	return nil
}

// finish ends a streamed answer once the invocation returned: a stream
// that never got as far as its status (a function that failed first, or
// a prelude that never ended) is answered as a buffered failure is.
func (s *urlSink) finish(w http.ResponseWriter, functionError, errorType string) {
	s.rc.SetWriteDeadline(time.Time{})
	if s.started {
		// The status is out: a failure midway can only end the body,
		// as Lambda's front end ends it.
		return
	}
	if functionError != "" && errorType == "Sandbox.Timedout" {
		urlError(w, http.StatusGatewayTimeout, "ServiceException", "Endpoint request timed out")
		return
	}
	badGateway(w)
}
