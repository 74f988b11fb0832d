package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"hash"
	"io"
	"net/http"
	"strings"

	"hearth/internal/auth"
	"hearth/internal/invoke"
	"hearth/internal/lambdaapi"
)

// SetAuth makes every request but /healthz (and code downloads, which
// carry their own signature, and the console's pages, which hold no data)
// prove who sends it with SigV4, or with the console's session
// (console.go). Without it
// (--auth none) every request acts as the default account's root. Call
// it before serving.
func (a *API) SetAuth(v *auth.Verifier, keys *auth.Keys) {
	a.verifier, a.keys = v, keys
}

// authExempt lists the paths served without a signature.
func authExempt(path string) bool {
	return path == "/healthz" || strings.HasPrefix(path, "/_hearth/v1/code/") || consolePath(path)
}

type pendingKey struct{}

// pendingAuth is a code upload whose signature waits for its body, which
// operation streams to disk while hashing it.
type pendingAuth struct {
	p    *auth.Pending
	body io.Reader // r's body, read through h
	h    hash.Hash
}

// authenticate verifies r's signature before any handler acts on it and
// puts the caller in its context. The body's hash is part of the
// signature: small bodies are read here (each handler would read them
// whole anyway, within the same limits); a code upload's is hashed while
// operation streams it to disk, and checked before the handler runs.
func (a *API) authenticate(mux *http.ServeMux, routes map[string]route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.verifier == nil || authExempt(r.URL.Path) {
			mux.ServeHTTP(w, r)
			return
		}
		if c, ok := a.consoleCaller(r); ok {
			// The console's session (console.go); handlers bound and
			// read the body as they do under --auth none.
			mux.ServeHTTP(w, withCaller(r, c))
			return
		}
		target := r.Header.Get("X-Amz-Target")
		// STS's query protocol: POST / with a form, or GET / with the
		// same in the query (a presigned GetCallerIdentity, as tools that
		// prove an identity to a third party send it).
		sts := r.URL.Path == "/" && target == "" && (r.Method == http.MethodPost || r.Method == http.MethodGet && r.URL.Query().Has("Action"))
		service := "lambda"
		switch {
		case sts, strings.HasPrefix(target, stsTarget):
			service = "sts"
		case strings.HasPrefix(target, logsTarget):
			service = "logs" // CloudWatch Logs (cwlogs.go)
		case target != "":
			// Another service's JSON protocol: signed for that service,
			// answered with UnknownOperation once the signature holds.
			service = ""
		}
		p, err := a.verifier.Begin(r, service)
		if err != nil {
			a.authFail(w, r, err, sts)
			return
		}
		if !p.NeedsBody() || r.ContentLength == 0 {
			c, err := p.Finish(auth.EmptyHash)
			if err != nil {
				a.authFail(w, r, err, sts)
				return
			}
			mux.ServeHTTP(w, withCaller(r, c))
			return
		}
		rt, ok := routes[invokePattern]
		if !ok || !isInvokePath(r) {
			_, pattern := mux.Handler(r)
			rt = routes[pattern]
		}
		if zipMember(rt.op) != nil {
			h := sha256.New()
			pa := &pendingAuth{p: p, body: io.TeeReader(r.Body, h), h: h}
			r.Body = struct {
				io.Reader
				io.Closer
			}{pa.body, r.Body}
			mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), pendingKey{}, pa)))
			return
		}
		bl := a.authBodyLimit(r, rt)
		limit := bl.limit
		if r.ContentLength > limit {
			a.authTooLarge(w, r, bl, r.ContentLength)
			return
		}
		buf := payloads.Get().(*bytes.Buffer) // back to the pool from the invoke handlers
		buf.Reset()
		if r.ContentLength > 0 {
			buf.Grow(int(r.ContentLength))
		}
		n, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
		if err != nil {
			a.fail(w, r, lambdaapi.ErrInvalidRequestContent.WithMessage("Could not read request body: "+err.Error()))
			return
		}
		if n > limit {
			a.authTooLarge(w, r, bl, n)
			return
		}
		sum := sha256.Sum256(buf.Bytes())
		var hx [2 * sha256.Size]byte
		hex.Encode(hx[:], sum[:])
		c, err := p.Finish(string(hx[:]))
		if err != nil {
			a.authFail(w, r, err, sts)
			return
		}
		r.Body = readBody{buf}
		mux.ServeHTTP(w, withCaller(r, c))
	})
}

// readBody is a request body the authentication has already read (within
// the limit its operation takes) to hash it. Handlers that buffer a body
// anyway take the buffer itself (bodyBuffer) instead of copying it again.
type readBody struct{ *bytes.Buffer }

func (readBody) Close() error { return nil }

// bodyBuffer returns r's body already read into a buffer from payloads, if
// it is one, so that the caller reads nothing and puts the buffer back.
func bodyBuffer(r *http.Request) (*bytes.Buffer, bool) {
	b, ok := r.Body.(readBody)
	return b.Buffer, ok
}

// authLimit is the largest body an operation takes, and what its answer
// to a larger one names.
type authLimit struct {
	limit int64
	kind  string // an invocation's type ("RequestResponse", "Event"); "" for other operations
	op    string // other operations: the operation, or the path outside Lambda's
}

// authBodyLimit is the largest body rt takes: the limits the handlers
// apply, so that a signed request finds the same limits with or without
// authentication.
func (a *API) authBodyLimit(r *http.Request, rt route) authLimit {
	switch rt.op {
	case "Invoke", "InvokeWithResponseStream":
		if r.Header.Get(lambdaapi.HeaderInvocationType) == lambdaapi.InvocationEvent {
			return authLimit{limit: invoke.MaxEventPayload, kind: "Event"}
		}
		return authLimit{limit: invoke.MaxPayload, kind: "RequestResponse"}
	case "InvokeAsync":
		return authLimit{limit: invoke.MaxInvokeAsyncPayload, kind: "Event"}
	}
	op := rt.op
	if op == "" {
		op = r.URL.Path
	}
	return authLimit{limit: logsBodyLimit(r, maxOtherBody), op: op}
}

// authTooLarge answers a body of n bytes over l's limit as the handlers
// answer it.
func (a *API) authTooLarge(w http.ResponseWriter, r *http.Request, l authLimit, n int64) {
	if l.kind != "" {
		a.tooLarge(w, r, n, l.kind, l.limit)
		return
	}
	a.tooLargeBody(w, r, l.op, l.limit)
}

// invokePattern is Invoke's route.
const invokePattern = "POST /2015-03-31/functions/{FunctionName}/invocations"

// isInvokePath reports that the router would serve r by Invoke's route
// (invokePattern), without asking it (which matches the whole route table
// once more): a POST to /2015-03-31/functions/NAME/invocations where NAME
// is a path segment of plain characters, so that the path is clean (the
// router redirects others) and reads the same escaped or not. Any other
// request, Invoke or not, is left to the router.
func isInvokePath(r *http.Request) bool {
	const prefix, suffix = "/2015-03-31/functions/", "/invocations"
	p := r.URL.Path
	if r.Method != http.MethodPost || len(p) <= len(prefix)+len(suffix) || !strings.HasPrefix(p, prefix) || !strings.HasSuffix(p, suffix) {
		return false
	}
	name := p[len(prefix) : len(p)-len(suffix)]
	if name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == ':' || c == '.') {
			return false
		}
	}
	return true
}

// finishAuth completes the verification of a code upload once operation
// has read its body, and returns r with the caller. It writes the failure
// and returns nil when the signature does not hold.
func (a *API) finishAuth(w http.ResponseWriter, r *http.Request) *http.Request {
	pa, ok := r.Context().Value(pendingKey{}).(*pendingAuth)
	if !ok {
		return r
	}
	// What follows the JSON object (a newline, perhaps) is signed too.
	if n, _ := io.Copy(io.Discard, io.LimitReader(pa.body, 64<<10)); n == 64<<10 {
		a.authFail(w, r, errors.New("trailing data"), false)
		return nil
	}
	c, err := pa.p.Finish(hex.EncodeToString(pa.h.Sum(nil)))
	if err != nil {
		a.authFail(w, r, err, false)
		return nil
	}
	return withCaller(r, c)
}

// authFail answers an authentication failure as the API's clients decode
// it: rest-json for Lambda and Hearth's endpoints, the query protocol's
// XML for STS.
func (a *API) authFail(w http.ResponseWriter, r *http.Request, err error, sts bool) {
	var ae *auth.Error
	if !errors.As(err, &ae) {
		ae = &auth.Error{Status: http.StatusForbidden, Code: "InvalidSignatureException", STSCode: "SignatureDoesNotMatch",
			Message: "The request signature we calculated does not match the signature you provided."}
	}
	a.log.Debug("request refused", "request_id", requestID(r), "code", ae.Code, "method", r.Method, "path", r.URL.Path)
	if sts {
		stsError(w, r, ae.Status, ae.STSCode, ae.Message)
		return
	}
	e := &lambdaapi.Error{Status: ae.Status, Code: ae.Code, Type: "User", Message: ae.Message}
	if strings.HasPrefix(r.URL.Path, "/_hearth/") || r.Header.Get("X-Amz-Target") != "" {
		e.BodyType = true
	}
	// A body the client is still sending is left unread.
	w.Header().Set("Connection", "close")
	e.Write(w, requestID(r))
}

// stsError writes a query-protocol error document.
func stsError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	var doc struct {
		XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
		Error   struct {
			Type    string
			Code    string
			Message string
		}
		RequestID string `xml:"RequestId"`
	}
	doc.Error.Type, doc.Error.Code, doc.Error.Message, doc.RequestID = typ, code, msg, requestID(r)
	b, _ := xml.Marshal(doc)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set(lambdaapi.HeaderRequestID, requestID(r))
	w.WriteHeader(status)
	w.Write(b)
}
