package api

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"hearth/internal/function"
	"hearth/internal/invoke"
	"hearth/internal/lambdaapi"
)

// Request bodies are pooled: allocating 6 MB afresh per invocation costs
// tens of milliseconds on this class of machine.
var payloads = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledPayload = 8 << 20

func (a *API) invokeFunction(w http.ResponseWriter, r *http.Request) {
	id := requestID(r)
	// The router has checked the headers against the model's enums.
	typ := r.Header.Get(lambdaapi.HeaderInvocationType)
	logType := r.Header.Get(lambdaapi.HeaderLogType)
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

	if typ == lambdaapi.InvocationEvent {
		a.enqueue(w, r, owner, id, buf.Bytes(), invoke.MaxEventPayload, http.StatusAccepted, nil)
		return
	}
	res, err := a.invoke.Invoke(r.Context(), &invoke.Request{
		Account:       owner,
		FunctionName:  r.PathValue("FunctionName"),
		Qualifier:     query(r).Get("Qualifier"),
		RequestID:     id,
		Payload:       buf.Bytes(),
		ClientContext: r.Header.Get(lambdaapi.HeaderClientContext),
		TraceID:       r.Header.Get(lambdaapi.HeaderTraceID),
		DryRun:        typ == lambdaapi.InvocationDryRun,
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if res == nil { // DryRun
		w.Header().Set(lambdaapi.HeaderRequestID, id)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	defer res.Release()
	// The headers' values share one array (each slice capped at its own
	// value), as h.Set would make one slice each.
	h := w.Header()
	vals := [6]string{"application/json", id, res.ExecutedVersion, strconv.Itoa(len(res.Payload))}
	vs := vals[:]
	h["Content-Type"] = vs[0:1:1]
	h[lambdaapi.HeaderRequestID] = vs[1:2:2]
	h[lambdaapi.HeaderExecutedVersion] = vs[2:3:3]
	if res.FunctionError != "" {
		vs[4] = res.FunctionError
		h[lambdaapi.HeaderFunctionError] = vs[4:5:5]
	}
	if logType == "Tail" {
		vs[5] = base64.StdEncoding.EncodeToString(res.Log)
		h[lambdaapi.HeaderLogResult] = vs[5:6:6]
	}
	h["Content-Length"] = vs[3:4:4]
	w.WriteHeader(http.StatusOK)
	w.Write(res.Payload)
}

// invokePayload reads the payload of a synchronous or Event invocation of
// type typ into a pooled buffer, which the caller returns with
// putPayload. It answers a payload over the limit, and then returns nil.
func (a *API) invokePayload(w http.ResponseWriter, r *http.Request, typ string) *bytes.Buffer {
	// Under --auth sigv4 the body has been read (and hashed) already.
	buf, read := bodyBuffer(r)
	if !read {
		buf = payloads.Get().(*bytes.Buffer)
		buf.Reset()
	}
	// The limit is checked from the declared size before a byte is read,
	// and again on what arrives.
	limit, kind := int64(invoke.MaxPayload), "RequestResponse"
	if typ == lambdaapi.InvocationEvent {
		limit, kind = invoke.MaxEventPayload, "Event"
	}
	if r.ContentLength > limit {
		putPayload(buf)
		a.tooLarge(w, r, r.ContentLength, kind, limit)
		return nil
	}
	n := int64(buf.Len())
	if !read {
		if r.ContentLength > 0 {
			buf.Grow(int(r.ContentLength))
		}
		var err error
		if n, err = buf.ReadFrom(io.LimitReader(r.Body, limit+1)); err != nil {
			putPayload(buf)
			a.fail(w, r, lambdaapi.ErrInvalidRequestContent.WithMessage("Could not read request body: "+err.Error()))
			return nil
		}
	}
	if n > limit {
		putPayload(buf)
		a.tooLarge(w, r, n, kind, limit)
		return nil
	}
	return buf
}

func putPayload(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledPayload {
		buf.Reset()
		payloads.Put(buf)
	}
}

// checkInvokeTarget applies AWS's name and ARN checks to an invocation and
// answers a missing function as Invoke does: with the ARN qualified,
// $LATEST when the caller gave no qualifier (recorded AWS answers).
// Versions and aliases are the invoke service's to resolve.
func (a *API) checkInvokeTarget(r *http.Request) (owner string, err error) {
	ref, err := a.functionRef(r, r.PathValue("FunctionName"), query(r).Get("Qualifier"))
	if err != nil {
		return "", err
	}
	owner = a.owner(r, ref)
	if ref.Qualifier != "" && ref.Qualifier != function.Latest {
		return owner, nil
	}
	if _, err := a.store.Function(owner, ref.Name); err != nil {
		return "", lambdaapi.ErrNotFound.WithMessage("Function not found: " + function.ARN(a.cfg.Region, owner, ref.Name, function.Latest))
	}
	return owner, nil
}

func (a *API) tooLarge(w http.ResponseWriter, r *http.Request, n int64, kind string, limit int64) {
	discardOversized(w, r)
	w.Header().Set("Connection", "close")
	a.fail(w, r, lambdaapi.ErrRequestTooLarge.WithMessage(
		fmt.Sprintf("%d byte payload is too large for the %s invocation type (limit %d bytes)", n, kind, limit)))
}

// maxDiscard bounds what discardOversized reads of a body past its limit,
// and discardTimeout how long it waits for it.
const (
	maxDiscard     = 16 << 20
	discardTimeout = 10 * time.Second
)

// discardOversized reads and drops the rest of a body found too large, up
// to maxDiscard, so that a client still sending it reads the 413 rather
// than a connection reset under its write; a longer body is left unread
// and the connection closes.
func discardOversized(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > maxDiscard+invoke.MaxPayload {
		return
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(discardTimeout))
	io.Copy(io.Discard, io.LimitReader(r.Body, maxDiscard))
	rc.SetReadDeadline(time.Time{})
}

// enqueue accepts an asynchronous invocation and answers once it is stored.
func (a *API) enqueue(w http.ResponseWriter, r *http.Request, owner, id string, payload []byte, limit, status int, body []byte) {
	if err := a.storageErr(); err != nil {
		a.fail(w, r, err)
		return
	}
	_, err := a.invoke.Enqueue(r.Context(), &invoke.Request{
		Account:      owner,
		FunctionName: r.PathValue("FunctionName"),
		Qualifier:    query(r).Get("Qualifier"),
		RequestID:    id,
		Payload:      payload,
		TraceID:      r.Header.Get(lambdaapi.HeaderTraceID),
	}, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set(lambdaapi.HeaderRequestID, id)
	if body != nil {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	w.Write(body)
}

// invokeAsync is the deprecated InvokeAsync: an Event invocation with a
// 256 KB limit, answering {"Status":202}.
func (a *API) invokeAsync(w http.ResponseWriter, r *http.Request) {
	owner, err := a.checkInvokeTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if r.ContentLength > invoke.MaxInvokeAsyncPayload {
		a.tooLarge(w, r, r.ContentLength, "Event", invoke.MaxInvokeAsyncPayload)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, invoke.MaxInvokeAsyncPayload+1))
	if err != nil {
		a.fail(w, r, lambdaapi.ErrInvalidRequestContent.WithMessage("Could not read request body: "+err.Error()))
		return
	}
	a.enqueue(w, r, owner, requestID(r), body, invoke.MaxInvokeAsyncPayload, http.StatusAccepted, []byte(`{"Status":202}`))
}
