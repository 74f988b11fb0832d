package functionurl

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/function"
)

func TestNewEvent(t *testing.T) {
	r := httptest.NewRequest("POST", "http://x/a%2Fb/c?k=1&k=2&e=%20&flag", strings.NewReader(""))
	r.Host = "id.lambda-url.us-east-1.localhost:9002"
	r.RemoteAddr = "10.1.2.3:4567"
	r.Header = http.Header{"X-Rep": {"a", "b"}, "Cookie": {"a=1; b=2", "c=3"}, "User-Agent": {"ua"}, "Content-Type": {"image/png"}}
	at := time.Date(2020, 3, 12, 19, 3, 58, 390e6, time.UTC)
	ev := NewEvent(r, Request{URLID: "id", DomainName: "id.lambda-url.us-east-1.localhost", Path: "/a%2Fb/c", AccountID: "anonymous",
		RequestID: "rid", Time: at, Body: []byte{0xff, 0}})
	b, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	want := map[string]any{
		"version": "2.0", "routeKey": "$default", "rawPath": "/a%2Fb/c", "rawQueryString": "k=1&k=2&e=%20&flag",
		"cookies": []any{"a=1", "b=2", "c=3"},
		"headers": map[string]any{"x-rep": "a,b", "cookie": "a=1; b=2; c=3", "user-agent": "ua", "content-type": "image/png", "host": "id.lambda-url.us-east-1.localhost:9002",
			"x-forwarded-for": "10.1.2.3", "x-forwarded-proto": "http", "x-forwarded-port": "9002"},
		"queryStringParameters": map[string]any{"k": "1,2", "e": " ", "flag": ""},
		"requestContext": map[string]any{"accountId": "anonymous", "apiId": "id", "domainName": "id.lambda-url.us-east-1.localhost", "domainPrefix": "id",
			"http":      map[string]any{"method": "POST", "path": "/a/b/c", "protocol": "HTTP/1.1", "sourceIp": "10.1.2.3", "userAgent": "ua"},
			"requestId": "rid", "routeKey": "$default", "stage": "$default", "time": "12/Mar/2020:19:03:58 +0000", "timeEpoch": float64(1584039838390)},
		"body": "/wA=", "isBase64Encoded": true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
}

func TestIsText(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/plain; charset=utf-8": true, "application/json": true, "application/vnd.api+json": true, "application/xml": true,
		"application/x-www-form-urlencoded": false, "": false, "application/octet-stream": false, "image/png": false,
	} {
		if got := isText(ct, []byte("abc")); got != want {
			t.Errorf("isText(%q) = %v; want %v", ct, got, want)
		}
	}
	if isText("text/plain", []byte{0xff}) {
		t.Errorf("isText of invalid UTF-8 = true; want base64")
	}
}

func TestCORS(t *testing.T) {
	yes, age := true, 60
	c := &function.Cors{AllowOrigins: []string{"https://a.example"}, AllowMethods: []string{"GET"}, AllowHeaders: []string{"x-h"},
		ExposeHeaders: []string{"x-e"}, AllowCredentials: &yes, MaxAge: &age}
	pre := httptest.NewRequest("OPTIONS", "/", nil)
	pre.Header.Set("Origin", "https://a.example")
	pre.Header.Set("Access-Control-Request-Method", "GET")
	if !IsPreflight(pre) {
		t.Fatal("IsPreflight = false")
	}
	h := http.Header{}
	Preflight(h, c, pre)
	want := http.Header{"Access-Control-Allow-Origin": {"https://a.example"}, "Access-Control-Allow-Methods": {"GET"},
		"Access-Control-Allow-Headers": {"x-h"}, "Access-Control-Allow-Credentials": {"true"}, "Access-Control-Max-Age": {"60"}, "Vary": {"Origin"}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("Preflight (-want +got):\n%s", diff)
	}
	pre.Header.Set("Access-Control-Request-Method", "DELETE")
	h = http.Header{}
	if Preflight(h, c, pre); len(h) != 0 {
		t.Errorf("Preflight for a method not allowed = %v; want no headers", h)
	}
	star := &function.Cors{AllowOrigins: []string{"*"}}
	h = http.Header{}
	AddCORS(h, star, pre)
	if got := h.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("AddCORS with * = %q; want *", got)
	}
}
