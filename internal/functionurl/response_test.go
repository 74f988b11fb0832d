package functionurl

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseResponse(t *testing.T) {
	jsonType := [2]string{"Content-Type", "application/json"}
	for _, tc := range []struct {
		name    string
		payload string
		want    *Response // nil: malformed
	}{
		{"bare string keeps its quotes", `"Hello, world!"`, &Response{200, [][2]string{jsonType}, nil, []byte(`"Hello, world!"`)}},
		{"object without statusCode is the body", ` {"message":"hi"} `, &Response{200, [][2]string{jsonType}, nil, []byte(`{"message":"hi"}`)}},
		{"number", `42`, &Response{200, [][2]string{jsonType}, nil, []byte(`42`)}},
		{"null", `null`, &Response{200, [][2]string{jsonType}, nil, []byte(`null`)}},
		{"structured", `{"statusCode":201,"headers":{"X-A":"1","x-b":2,"x-c":true},"cookies":["a=1","b=2"],"body":"hi"}`,
			&Response{201, [][2]string{{"X-A", "1"}, {"x-b", "2"}, {"x-c", "true"}, jsonType}, []string{"a=1", "b=2"}, []byte("hi")}},
		{"structured with its own type", `{"statusCode":200,"headers":{"content-type":"text/plain"},"body":"x"}`,
			&Response{200, [][2]string{{"content-type", "text/plain"}}, nil, []byte("x")}},
		{"base64 body", `{"statusCode":200,"body":"AAH/","isBase64Encoded":true}`, &Response{200, [][2]string{jsonType}, nil, []byte{0, 1, 0xff}}},
		{"nulls as absent", `{"statusCode":204,"headers":null,"cookies":null,"body":null,"isBase64Encoded":null}`, &Response{204, [][2]string{jsonType}, nil, []byte{}}},
		{"aws-lambda-go's zero response", `{"statusCode":200,"headers":null,"body":"","isBase64Encoded":false}`, &Response{200, [][2]string{jsonType}, nil, []byte{}}},
		{"not JSON", `Hello`, nil},
		{"empty", ``, nil},
		{"statusCode a string of digits", `{"statusCode":"418","body":"i'm a teapot"}`, &Response{418, [][2]string{jsonType}, nil, []byte("i'm a teapot")}},
		{"statusCode a string not a number", `{"statusCode":"OK"}`, nil},
		{"statusCode a string of a fraction", `{"statusCode":"200.0"}`, nil},
		{"statusCode a string out of range", `{"statusCode":"700"}`, nil},
		{"statusCode a fraction", `{"statusCode":200.5}`, nil},
		{"statusCode out of range", `{"statusCode":600}`, nil},
		{"statusCode informational", `{"statusCode":101}`, nil},
		{"framing headers are the server's", `{"statusCode":200,"headers":{"Transfer-Encoding":"chunked","content-length":"9","X":"y"}}`,
			&Response{200, [][2]string{{"X", "y"}, jsonType}, nil, []byte{}}},
		{"body an object", `{"statusCode":200,"body":{"a":1}}`, nil},
		{"header a list", `{"statusCode":200,"headers":{"a":["1"]}}`, nil},
		{"header splitting a line", `{"statusCode":200,"headers":{"a":"1\r\nX-Evil: 1"}}`, nil},
		{"header name not a token", `{"statusCode":200,"headers":{"a b":"1"}}`, nil},
		{"cookie splitting a line", `{"statusCode":200,"cookies":["a=1\nX: y"]}`, nil},
		{"bad base64", `{"statusCode":200,"body":"!!","isBase64Encoded":true}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseResponse([]byte(tc.payload))
			if tc.want == nil {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("ParseResponse(%s) = %+v, %v; want ErrMalformed", tc.payload, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseResponse(%s) = %v", tc.payload, err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })); diff != "" {
				t.Errorf("ParseResponse(%s) (-want +got):\n%s", tc.payload, diff)
			}
		})
	}
}

// FuzzParseResponse checks that any result maps to a response that can
// be sent (a status, header lines that cannot be split) or to
// ErrMalformed, never a panic, and that a JSON value other than an object
// with statusCode is passed through verbatim.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{`"hi"`, `{"statusCode":200,"headers":{"a":"b"},"cookies":["c=d"],"body":"e","isBase64Encoded":false}`,
		`{"statusCode":404}`, `{"message":"x"}`, `[1,2]`, `{"statusCode":200,"body":"AA==","isBase64Encoded":true}`, `nope`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, err := ParseResponse(payload)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			if json.Valid(payload) && !structured(payload) {
				t.Fatalf("valid JSON without statusCode %q refused: %v", payload, err)
			}
			return
		}
		if got.StatusCode < 200 || got.StatusCode > 599 {
			t.Fatalf("status %d", got.StatusCode)
		}
		typed := false
		for _, h := range got.Headers {
			if !validHeaderName(h[0]) || strings.ContainsAny(h[1], "\r\n\x00") || hopByHop(h[0]) {
				t.Fatalf("header %q cannot be sent", h)
			}
			typed = typed || strings.EqualFold(h[0], "content-type")
		}
		if !typed {
			t.Fatalf("no Content-Type in %q", got.Headers)
		}
		for _, c := range got.Cookies {
			if strings.ContainsAny(c, "\r\n\x00") {
				t.Fatalf("cookie %q cannot be sent", c)
			}
		}
		if !structured(payload) && !bytes.Equal(got.Body, bytes.TrimSpace(payload)) {
			t.Fatalf("inferred body %q; want the result verbatim %q", got.Body, payload)
		}
	})
}

// structured reports whether payload is a JSON object with statusCode.
func structured(payload []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(payload, &m) != nil {
		return false
	}
	_, ok := m["statusCode"]
	return ok
}

func TestParsePrelude(t *testing.T) {
	got, err := ParsePrelude([]byte(`{"statusCode":201,"headers":{"x-a":"1"},"cookies":["c=d"]}`))
	if err != nil || got.StatusCode != 201 || len(got.Headers) != 2 || got.Headers[0] != [2]string{"x-a", "1"} || len(got.Cookies) != 1 {
		t.Errorf("ParsePrelude = %+v, %v; want 201, x-a and the default Content-Type, one cookie", got, err)
	}
	if got, err := ParsePrelude([]byte(`{}`)); err != nil || got.StatusCode != 200 {
		t.Errorf("ParsePrelude({}) = %+v, %v; want 200", got, err)
	}
	for _, bad := range []string{``, `[]`, `{"statusCode":99}`, `{"statusCode":"x"}`, `{"headers":[1]}`, `{"cookies":"x"}`} {
		if _, err := ParsePrelude([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParsePrelude(%q) = %v; want ErrMalformed", bad, err)
		}
	}
}
