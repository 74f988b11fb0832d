package api

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"hearth/internal/invoke"
	"hearth/internal/lambdaapi"
)

// Request bodies are pooled: allocating 6 MB afresh per invocation costs
// tens of milliseconds on this class of machine.
var payloads = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledPayload = 8 << 20

func (a *API) invokeFunction(w http.ResponseWriter, r *http.Request) {
	id := requestID(r)
	typ := r.Header.Get(lambdaapi.HeaderInvocationType)
	switch typ {
	case "", lambdaapi.InvocationRequestResponse, lambdaapi.InvocationDryRun, lambdaapi.InvocationEvent:
	default:
		a.fail(w, r, invalid(fmt.Sprintf("1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", typ)))
		return
	}
	logType := r.Header.Get(lambdaapi.HeaderLogType)
	if logType != "" && logType != "None" && logType != "Tail" {
		a.fail(w, r, invalid(fmt.Sprintf("1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None]", logType)))
		return
	}

	buf := payloads.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledPayload {
			buf.Reset()
			payloads.Put(buf)
		}
	}()
	buf.Reset()
	if r.ContentLength > invoke.MaxPayload {
		a.tooLarge(w, r, r.ContentLength)
		return
	}
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, invoke.MaxPayload+1))
	if err != nil {
		a.fail(w, r, lambdaapi.ErrInvalidRequestContent.WithMessage("Could not read request body: "+err.Error()))
		return
	}
	if n > invoke.MaxPayload {
		a.tooLarge(w, r, n)
		return
	}

	if typ == lambdaapi.InvocationEvent {
		a.enqueue(w, r, id, buf.Bytes(), invoke.MaxEventPayload, http.StatusAccepted, nil)
		return
	}
	res, err := a.invoke.Invoke(r.Context(), &invoke.Request{
		FunctionName:  r.PathValue("name"),
		Qualifier:     r.URL.Query().Get("Qualifier"),
		RequestID:     id,
		Payload:       buf.Bytes(),
		ClientContext: r.Header.Get(lambdaapi.HeaderClientContext),
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
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(lambdaapi.HeaderRequestID, id)
	h.Set(lambdaapi.HeaderExecutedVersion, res.ExecutedVersion)
	if res.FunctionError != "" {
		h.Set(lambdaapi.HeaderFunctionError, res.FunctionError)
	}
	if logType == "Tail" {
		h.Set(lambdaapi.HeaderLogResult, base64.StdEncoding.EncodeToString(res.Log))
	}
	h.Set("Content-Length", strconv.Itoa(len(res.Payload)))
	w.WriteHeader(http.StatusOK)
	w.Write(res.Payload)
}

func (a *API) tooLarge(w http.ResponseWriter, r *http.Request, n int64) {
	// Leave the rest of an oversized body unread; the connection closes.
	w.Header().Set("Connection", "close")
	a.fail(w, r, lambdaapi.ErrRequestTooLarge.WithMessage(
		fmt.Sprintf("%d byte payload is too large for the RequestResponse invocation type (limit %d bytes)", n, invoke.MaxPayload)))
}

// enqueue accepts an asynchronous invocation and answers once it is stored.
func (a *API) enqueue(w http.ResponseWriter, r *http.Request, id string, payload []byte, limit, status int, body []byte) {
	if err := a.storageErr(); err != nil {
		a.fail(w, r, err)
		return
	}
	_, err := a.invoke.Enqueue(r.Context(), &invoke.Request{
		FunctionName: r.PathValue("name"),
		Qualifier:    r.URL.Query().Get("Qualifier"),
		RequestID:    id,
		Payload:      payload,
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
	body, err := io.ReadAll(io.LimitReader(r.Body, invoke.MaxInvokeAsyncPayload+1))
	if err != nil {
		a.fail(w, r, lambdaapi.ErrInvalidRequestContent.WithMessage("Could not read request body: "+err.Error()))
		return
	}
	a.enqueue(w, r, requestID(r), body, invoke.MaxInvokeAsyncPayload, http.StatusAccepted, []byte(`{"Status":202}`))
}
