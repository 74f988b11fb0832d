// Package functionurl turns HTTP requests to a function URL into Lambda's
// payload format 2.0 events, and a function's result back into an HTTP
// response, as Lambda's function URLs do (lambda-api.md §10). It is pure:
// serving, authentication and invocation are package api's.
package functionurl

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is the request event of payload format 2.0. Members Lambda leaves
// out when empty (cookies, query parameters, body) are omitted.
type Event struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies,omitempty"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters,omitempty"`
	RequestContext        RequestContext    `json:"requestContext"`
	Body                  string            `json:"body,omitempty"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
}

// RequestContext is the event's requestContext.
type RequestContext struct {
	AccountID    string      `json:"accountId"`
	APIID        string      `json:"apiId"`
	Authorizer   *Authorizer `json:"authorizer,omitempty"`
	DomainName   string      `json:"domainName"`
	DomainPrefix string      `json:"domainPrefix"`
	HTTP         HTTP        `json:"http"`
	RequestID    string      `json:"requestId"`
	RouteKey     string      `json:"routeKey"`
	Stage        string      `json:"stage"`
	Time         string      `json:"time"`
	TimeEpoch    int64       `json:"timeEpoch"` // milliseconds, a JSON number
}

// Authorizer is present for AWS_IAM URLs only.
type Authorizer struct {
	IAM IAM `json:"iam"`
}

// IAM describes the signer of an AWS_IAM request.
type IAM struct {
	AccessKey       string  `json:"accessKey"`
	AccountID       string  `json:"accountId"`
	CallerID        string  `json:"callerId"`
	CognitoIdentity *string `json:"cognitoIdentity"` // always null
	PrincipalOrgID  *string `json:"principalOrgId"`  // always null: Hearth has no organizations
	UserARN         string  `json:"userArn"`
	UserID          string  `json:"userId"`
}

// HTTP is requestContext.http.
type HTTP struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// Request is what the event is built from, besides the HTTP request.
type Request struct {
	URLID      string
	DomainName string // <url-id>.lambda-url.<region>.<host>, no port
	Path       string // the path the function sees (the path form's prefix removed), escaped as received
	AccountID  string // requestContext.accountId
	RequestID  string
	Time       time.Time
	Authorizer *Authorizer
	Body       []byte
}

// timeLayout is requestContext.time's form: 12/Mar/2020:19:03:58 +0000.
const timeLayout = "02/Jan/2006:15:04:05 -0700"

// NewEvent builds the event of r.
func NewEvent(r *http.Request, in Request) *Event {
	ev := &Event{
		Version:        "2.0",
		RouteKey:       "$default",
		RawPath:        in.Path,
		RawQueryString: r.URL.RawQuery,
		Headers:        make(map[string]string, len(r.Header)+4),
	}
	for name, values := range r.Header {
		name = strings.ToLower(name)
		if name == "cookie" {
			// Cookies go to cookies, and stay in headers too: Lambda's
			// function URLs keep the cookie header (unlike API Gateway's
			// payload 2.0), as the AWS-maintained Rust runtime found
			// (aws-lambda-rust-runtime#586). Several cookie headers are
			// joined as HTTP/2 joins them, with "; " (UNCONFIRMED for
			// Lambda).
			for _, v := range values {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			ev.Headers[name] = strings.Join(values, "; ")
			continue
		}
		ev.Headers[name] = strings.Join(values, ",")
	}
	ev.Headers["host"] = r.Host
	ip, port := r.RemoteAddr, ""
	if h, p, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ip, port = h, p
	}
	if xff := ev.Headers["x-forwarded-for"]; xff != "" {
		ev.Headers["x-forwarded-for"] = xff + ", " + ip
	} else {
		ev.Headers["x-forwarded-for"] = ip
	}
	ev.Headers["x-forwarded-proto"] = "http"
	if _, p, err := net.SplitHostPort(r.Host); err == nil {
		port = p
	} else if port == "" {
		port = "80"
	}
	ev.Headers["x-forwarded-port"] = port
	if r.URL.RawQuery != "" {
		ev.QueryStringParameters = queryParameters(r.URL.RawQuery)
	}
	path, err := url.PathUnescape(in.Path)
	if err != nil {
		path = in.Path
	}
	t := in.Time.UTC()
	ev.RequestContext = RequestContext{
		AccountID:    in.AccountID,
		APIID:        in.URLID,
		Authorizer:   in.Authorizer,
		DomainName:   in.DomainName,
		DomainPrefix: in.URLID,
		HTTP: HTTP{
			Method:    r.Method,
			Path:      path,
			Protocol:  r.Proto,
			SourceIP:  ip,
			UserAgent: r.Header.Get("User-Agent"),
		},
		RequestID: in.RequestID,
		RouteKey:  "$default",
		Stage:     "$default",
		Time:      t.Format(timeLayout),
		TimeEpoch: t.UnixMilli(),
	}
	if len(in.Body) > 0 {
		if isText(r.Header.Get("Content-Type"), in.Body) {
			ev.Body = string(in.Body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(in.Body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// queryParameters decodes a query string, joining a repeated key's values
// with commas in the order they came.
func queryParameters(raw string) map[string]string {
	out := map[string]string{}
	var keys []string
	vals := map[string][]string{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		if _, ok := vals[k]; !ok {
			keys = append(keys, k)
		}
		vals[k] = append(vals[k], v)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out[k] = strings.Join(vals[k], ",")
	}
	return out
}

// isText reports whether a body of contentType goes into the event as
// text rather than base64: text/*, and JSON, XML and JavaScript by their
// media types, when it is valid UTF-8. Everything else, form posts and
// bodies without a type included, is base64, as Lambda sends them.
func isText(contentType string, body []byte) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	text := strings.HasPrefix(mt, "text/")
	switch mt {
	case "application/json", "application/javascript", "application/xml", "application/graphql":
		text = true
	}
	if strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml") {
		text = true
	}
	return text && utf8.Valid(body)
}

// Marshal encodes the event.
func (ev *Event) Marshal() ([]byte, error) { return json.Marshal(ev) }
