package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"hearth/internal/auth"
	"hearth/internal/function"
	"hearth/internal/functionurl"
	"hearth/internal/invoke"
	"hearth/internal/lambdaapi"
	"hearth/internal/worker"
)

// URLPathPrefix is the path form of function URLs, for clients that
// cannot set a Host header: /_hearth/url/<url-id>/<the function's path>.
const URLPathPrefix = "/_hearth/url/"

// URLHandler serves function URLs, addressed by Host
// (<url-id>.lambda-url.<region>.<anything>, so that names under
// .localhost reach a loopback listener with no DNS set up) or by the path
// form (URLPathPrefix). It is meant for a listener of its own: every path
// reaches the function.
func (a *API) URLHandler() http.Handler { return http.HandlerFunc(a.serveURL) }

// urlAddress finds the URL id r addresses, the path the function sees and
// the URL's domain name.
func (a *API) urlAddress(r *http.Request) (id, path, domain string, ok bool) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	raw := r.URL.EscapedPath()
	if rest, found := strings.CutPrefix(raw, URLPathPrefix); found {
		id, path, _ = strings.Cut(rest, "/")
		return id, "/" + path, id + ".lambda-url." + a.cfg.Region + "." + host, function.ValidURLID(id)
	}
	labels := strings.SplitN(host, ".", 3)
	if len(labels) < 3 || labels[1] != "lambda-url" || !function.ValidURLID(labels[0]) {
		return "", "", "", false
	}
	if raw == "" {
		raw = "/"
	}
	return labels[0], raw, host, true
}

// urlError answers as a function URL's front end does: a JSON body with
// Message, the code in X-Amzn-ErrorType.
func urlError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(struct {
		Message string `json:"Message"`
	}{msg})
	urlErrorBody(w, status, code, b)
}

// urlErrorBody answers an error with body as it is.
func urlErrorBody(w http.ResponseWriter, status int, code string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-Errortype", code)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// forbiddenMessage is what Lambda answers a request its resource policy
// refuses (recorded from AWS by localstack's validated
// test_lambda_permission_url_invocation, and in users' reports).
const forbiddenMessage = "Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"

func forbidden(w http.ResponseWriter) {
	urlError(w, http.StatusForbidden, "AccessDeniedException", "Forbidden")
}

// refused answers a request the URL's resource policy does not allow.
func refused(w http.ResponseWriter) {
	urlError(w, http.StatusForbidden, "AccessDeniedException", forbiddenMessage)
}

// badGateway answers a function that failed or whose result maps to no
// response. AWS's body is the bare text Internal Server Error, not JSON
// (localstack's validated test_lambda_url_invocation_exception); its
// headers are UNCONFIRMED and kept as urlError's.
func badGateway(w http.ResponseWriter) {
	urlErrorBody(w, http.StatusBadGateway, "ServiceException", []byte("Internal Server Error"))
}

// unknownURL answers a request for a URL id no function has: AWS's front
// end answers 403 with a null Message (localstack's validated
// test_lambda_url_non_existing_url).
func unknownURL(w http.ResponseWriter) {
	urlErrorBody(w, http.StatusForbidden, "AccessDeniedException", []byte(`{"Message":null}`))
}

func (a *API) serveURL(w http.ResponseWriter, r *http.Request) {
	id, path, domain, ok := a.urlAddress(r)
	var u function.URLConfig
	if ok {
		u, ok = a.store.URLByID(id)
	}
	rid := invoke.NewRequestID()
	w.Header().Set(lambdaapi.HeaderRequestID, rid)
	if !ok {
		// AWS's front end answers a URL it does not know as one the
		// caller may not invoke.
		a.log.Debug("function URL not found", "request_id", rid, "host", r.Host, "path", r.URL.Path)
		unknownURL(w)
		return
	}
	if u.Cors != nil && functionurl.IsPreflight(r) {
		functionurl.Preflight(w.Header(), u.Cors, r)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}

	// The body: the signature covers it, and the event carries it.
	if r.ContentLength > invoke.MaxPayload {
		discardOversized(w, r)
		w.Header().Set("Connection", "close")
		urlError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request Entity Too Large")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, invoke.MaxPayload+1))
	if err != nil {
		urlError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not read request body")
		return
	}
	if len(body) > invoke.MaxPayload {
		discardOversized(w, r)
		w.Header().Set("Connection", "close")
		urlError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request Entity Too Large")
		return
	}

	var authorizer *functionurl.Authorizer
	accountID := "anonymous" // what Lambda puts for a NONE URL's callers
	switch u.AuthType {
	case function.URLAuthIAM:
		c, err := a.urlCaller(r, body)
		if err != nil {
			var ae *auth.Error
			if !errors.As(err, &ae) || ae.Code == "MissingAuthenticationTokenException" {
				forbidden(w)
				return
			}
			urlError(w, ae.Status, ae.Code, ae.Message)
			return
		}
		if c.Account != u.Account && !a.urlPolicyAllows(&u, c.Account) {
			a.log.Debug("function URL refused", "request_id", rid, "url", id, "caller", c.ARN)
			refused(w)
			return
		}
		accountID = u.Account
		authorizer = &functionurl.Authorizer{IAM: functionurl.IAM{AccessKey: c.KeyID, AccountID: c.Account,
			CallerID: c.UserID, UserARN: c.ARN, UserID: c.UserID}}
	default:
		if !a.urlPolicyAllows(&u, "") {
			a.log.Debug("function URL refused: the policy does not allow everyone lambda:InvokeFunctionUrl and lambda:InvokeFunction", "request_id", rid, "url", id)
			refused(w)
			return
		}
	}

	// Lambda's front end gives every request a trace: the event's
	// headers carry x-amzn-trace-id whether or not the caller sent one
	// (localstack's validated test_lambda_url_echo_http_fixture_default
	// records it for a client that sent none), and the invocation
	// continues it.
	if r.Header.Get(lambdaapi.HeaderTraceID) == "" {
		root, _, _ := strings.Cut(worker.TraceHeader(""), ";")
		r.Header.Set(lambdaapi.HeaderTraceID, root)
	}
	ev, err := functionurl.NewEvent(r, functionurl.Request{URLID: id, DomainName: domain, Path: path, AccountID: accountID,
		RequestID: rid, Time: time.Now(), Authorizer: authorizer, Body: body}).Marshal()
	if err != nil {
		urlError(w, http.StatusInternalServerError, "ServiceException", "Internal Server Error")
		return
	}
	if len(ev) > invoke.MaxPayload {
		urlError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request Entity Too Large")
		return
	}
	// The caller's X-Amzn-Trace-Id continues into the invocation, as an
	// Invoke's does (the function gets it as Lambda-Runtime-Trace-Id).
	req := &invoke.Request{Account: u.Account, FunctionName: u.Function, Qualifier: u.Qualifier, RequestID: rid, Payload: ev,
		TraceID: r.Header.Get(lambdaapi.HeaderTraceID)}
	// A RESPONSE_STREAM URL sends the function's bytes as it writes
	// them. A function that answers buffered streams too (the runtime
	// API passes any response to the sink), so its result is the body as
	// it is, unmapped, as on Lambda.
	var sink *urlSink
	if u.InvokeMode == function.InvokeStream {
		sink = &urlSink{w: w, rc: http.NewResponseController(w), r: r, cors: u.Cors, rid: rid}
		req.Stream = sink
	}
	res, err := a.invoke.Invoke(r.Context(), req)
	if err != nil {
		a.urlInvokeFailed(w, rid, err)
		return
	}
	defer res.Release()
	if res.Streamed {
		sink.finish(w, res.FunctionError, res.ErrorType)
		return
	}
	if res.FunctionError != "" {
		if res.ErrorType == "Sandbox.Timedout" {
			urlError(w, http.StatusGatewayTimeout, "ServiceException", "Endpoint request timed out")
			return
		}
		badGateway(w)
		return
	}
	out, err := functionurl.ParseResponse(res.Payload)
	if err != nil {
		a.log.Info("function URL response malformed", "request_id", rid, "function", u.Function, "err", err)
		badGateway(w)
		return
	}
	h := w.Header()
	for _, kv := range out.Headers {
		h.Set(kv[0], kv[1])
	}
	for _, c := range out.Cookies {
		h.Add("Set-Cookie", c)
	}
	if u.Cors != nil {
		functionurl.AddCORS(h, u.Cors, r)
	}
	h.Set(lambdaapi.HeaderRequestID, rid)
	h.Set("Content-Length", strconv.Itoa(len(out.Body)))
	w.WriteHeader(out.StatusCode)
	w.Write(out.Body)
}

// urlCaller verifies r's SigV4 signature (service lambda) over body and
// returns the signer. Under --auth none every request is the default
// account's root, as on the API.
func (a *API) urlCaller(r *http.Request, body []byte) (*auth.Caller, error) {
	if a.verifier == nil {
		return a.caller(r), nil
	}
	p, err := a.verifier.Begin(r, "lambda")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return p.Finish(hex.EncodeToString(sum[:]))
}

// urlPolicyAllows reports whether the resource policy of u's function
// (or alias) lets account ("" for anyone) invoke it through its URL:
// lambda:InvokeFunctionUrl and, for a URL created under Lambda's model of
// October 2025, lambda:InvokeFunction.
func (a *API) urlPolicyAllows(u *function.URLConfig, account string) bool {
	p, err := a.store.Policy(u.Account, u.Function, u.Qualifier)
	return err == nil && p.AllowsURL(account, u.AuthType, !u.RequiresInvoke)
}

// urlInvokeFailed answers an invocation the invoke service refused.
func (a *API) urlInvokeFailed(w http.ResponseWriter, rid string, err error) {
	switch {
	case errors.Is(err, invoke.ErrThrottled):
		w.Header().Set("Retry-After", "1")
		urlError(w, http.StatusTooManyRequests, "TooManyRequestsException", "Rate Exceeded.")
	case errors.Is(err, invoke.ErrTooLarge):
		urlError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request Entity Too Large")
	default:
		a.log.Info("function URL invocation failed", "request_id", rid, "err", err)
		badGateway(w)
	}
}
