package functionurl

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Response is the HTTP response a function's result maps to.
type Response struct {
	StatusCode int
	// Headers are the function's headers in the order of their names as
	// the result gave them; Content-Type is always among them.
	Headers [][2]string
	// Cookies each become a Set-Cookie header.
	Cookies []string
	Body    []byte
}

// ErrMalformed reports a result that maps to no HTTP response: Lambda
// answers 502.
var ErrMalformed = errors.New("malformed function URL response")

// ParseResponse maps a function's result to an HTTP response:
//
//   - a JSON object with statusCode is a structured response: statusCode
//     (200-599, a number or a string of digits; informational ones cannot
//     end a response),
//     headers (strings; numbers and booleans as their JSON text), cookies,
//     body (a string) and isBase64Encoded;
//   - any other JSON value is the body of a 200 response of type
//     application/json, verbatim (a string keeps its quotes);
//   - anything else is ErrMalformed.
func ParseResponse(payload []byte) (*Response, error) {
	trimmed := bytes.TrimSpace(payload)
	if !json.Valid(trimmed) {
		return nil, fmt.Errorf("%w: the result is not JSON", ErrMalformed)
	}
	inferred := &Response{StatusCode: 200, Headers: [][2]string{{"Content-Type", "application/json"}}, Body: trimmed}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return inferred, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &obj); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	rawStatus, ok := obj["statusCode"]
	if !ok {
		return inferred, nil
	}
	out, err := parseMeta(obj, rawStatus)
	if err != nil {
		return nil, err
	}
	var body string
	if raw, ok := obj["body"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &body); err != nil {
			return nil, fmt.Errorf("%w: body is not a string", ErrMalformed)
		}
	}
	b64 := false
	if raw, ok := obj["isBase64Encoded"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &b64); err != nil {
			return nil, fmt.Errorf("%w: isBase64Encoded is not a boolean", ErrMalformed)
		}
	}
	if b64 {
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return nil, fmt.Errorf("%w: body is not base64: %w", ErrMalformed, err)
		}
		out.Body = b
	} else {
		out.Body = []byte(body)
	}
	return out, nil
}

// PreludeDelimiter ends the prelude of a streamed HTTP integration
// response (awslambda.HttpResponseStream.from): the JSON of its status,
// headers and cookies, then eight NUL bytes, then the body.
var PreludeDelimiter = []byte{0, 0, 0, 0, 0, 0, 0, 0}

// ParsePrelude maps the prelude of a streamed HTTP integration response
// (without its delimiter) to the response's status, headers and cookies,
// as ParseResponse maps a structured result's; a missing statusCode is
// 200, and the body follows the prelude on the stream.
func ParsePrelude(prelude []byte) (*Response, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(prelude, &obj); err != nil {
		return nil, fmt.Errorf("%w: the prelude is not a JSON object: %w", ErrMalformed, err)
	}
	rawStatus, ok := obj["statusCode"]
	if !ok || isNull(rawStatus) {
		rawStatus = json.RawMessage("200")
	}
	return parseMeta(obj, rawStatus)
}

// parseMeta reads a structured response's statusCode, headers and
// cookies.
func parseMeta(obj map[string]json.RawMessage, rawStatus json.RawMessage) (*Response, error) {
	out := &Response{}
	// A string of digits counts as the number: AWS answers 418 for
	// {"statusCode":"418"} (localstack's test_lambda_url_headers_and_status,
	// validated against AWS).
	if s := ""; json.Unmarshal(rawStatus, &s) == nil {
		rawStatus = json.RawMessage(s)
		if _, err := strconv.ParseUint(s, 10, 16); err != nil {
			rawStatus = nil
		}
	}
	var status float64
	if err := json.Unmarshal(rawStatus, &status); err != nil || status != math.Trunc(status) || status < 200 || status > 599 {
		return nil, fmt.Errorf("%w: statusCode %s is not an HTTP status", ErrMalformed, rawStatus)
	}
	out.StatusCode = int(status)
	if raw, ok := obj["headers"]; ok && !isNull(raw) {
		h, err := headers(raw)
		if err != nil {
			return nil, err
		}
		out.Headers = h
	}
	typed := false
	for _, h := range out.Headers {
		if equalFold(h[0], "content-type") {
			typed = true
		}
	}
	if !typed {
		out.Headers = append(out.Headers, [2]string{"Content-Type", "application/json"})
	}
	if raw, ok := obj["cookies"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &out.Cookies); err != nil {
			return nil, fmt.Errorf("%w: cookies is not a list of strings", ErrMalformed)
		}
		for _, c := range out.Cookies {
			if !validHeaderValue(c) {
				return nil, fmt.Errorf("%w: a cookie cannot be sent", ErrMalformed)
			}
		}
	}
	return out, nil
}

// headers decodes the headers object in the order its names come.
func headers(raw json.RawMessage) ([][2]string, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: headers is not an object", ErrMalformed)
	}
	var out [][2]string
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: headers: %w", ErrMalformed, err)
		}
		name, _ := tok.(string)
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: headers: %w", ErrMalformed, err)
		}
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case json.Number:
			s = v.String()
		case bool:
			s = strconv.FormatBool(v)
		case nil:
			continue
		default:
			return nil, fmt.Errorf("%w: header %q is not a string", ErrMalformed, name)
		}
		if !validHeaderName(name) || !validHeaderValue(s) {
			return nil, fmt.Errorf("%w: header %q cannot be sent", ErrMalformed, name)
		}
		if hopByHop(name) {
			continue // the listener frames the response itself
		}
		out = append(out, [2]string{name, s})
	}
	return out, nil
}

// hopByHop reports whether name is a header of the connection or the
// framing, which the server writes, not the function.
func hopByHop(name string) bool {
	for _, h := range []string{"Connection", "Content-Length", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		if equalFold(name, h) {
			return true
		}
	}
	return false
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func equalFold(a, b string) bool { return len(a) == len(b) && bytes.EqualFold([]byte(a), []byte(b)) }

// validHeaderName reports whether name is an HTTP token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue refuses what would split or end a header line.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}
