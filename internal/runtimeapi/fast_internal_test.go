package runtimeapi

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// FuzzScreenHead checks the fast path's screening of request heads (the
// runtime is untrusted): it never panics, and a head it admits is one
// net/http parses to the route and id it found, as HTTP/1.1 with one
// Host and the body framing it saw.
func FuzzScreenHead(f *testing.F) {
	for _, s := range []string{
		"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nUser-Agent: x\r\n\r\n",
		"POST /2018-06-01/runtime/invocation/8f5d-aa/response HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n",
		"POST /2018-06-01/runtime/invocation/8f5d-aa/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\nLambda-Runtime-Function-Response-Mode: streaming\r\n\r\n",
		"POST /2018-06-01/runtime/invocation/x/error HTTP/1.1\r\nHost: x\r\nLambda-Runtime-Function-Error-Type: T\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
		"GET /2018-06-01/runtime/invocation/next?a HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		i := bytes.Index(head, doubleCRLF)
		if i < 0 {
			return
		}
		head = head[:i+4]
		rt, id, closing := screenHead(head)
		if rt == routeNone {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("screenHead admitted %q, which net/http refuses: %v", head, err)
		}
		var wantMethod, wantPath string
		switch rt {
		case routeNext:
			wantMethod, wantPath = "GET", pathNext
		case routeResponse:
			wantMethod, wantPath = "POST", pathInvocation+id+"/response"
		case routeError:
			wantMethod, wantPath = "POST", pathInvocation+id+"/error"
		}
		if req.Method != wantMethod || req.URL.Path != wantPath || req.URL.RawPath != "" || req.URL.RawQuery != "" || req.RequestURI != wantPath {
			t.Fatalf("screenHead(%q) = %v %q; net/http reads %s %q", head, rt, id, req.Method, req.RequestURI)
		}
		if req.ProtoMajor != 1 || req.ProtoMinor != 1 || req.Host == "" {
			t.Fatalf("screenHead admitted %q: proto %s, host %q", head, req.Proto, req.Host)
		}
		if req.Header.Get("Expect") != "" || len(req.TransferEncoding) > 1 || (len(req.TransferEncoding) == 1 && req.TransferEncoding[0] != "chunked") {
			t.Fatalf("screenHead admitted %q with Expect or an unusual transfer encoding", head)
		}
		for k, vv := range req.Header {
			for _, v := range vv {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("screenHead admitted %q: header %s = %q", head, k, v)
				}
			}
		}
		if closing != req.Close {
			t.Fatalf("screenHead(%q) says close %v; net/http %v", head, closing, req.Close)
		}
		if rt == routeNext && (req.ContentLength != 0 || len(req.TransferEncoding) != 0) {
			t.Fatalf("screenHead admitted a GET /next with a body: %q", head)
		}
	})
}

func TestScreenHead(t *testing.T) {
	tests := []struct {
		head   string
		wantRt route
		wantID string
	}{
		{"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n", routeNext, ""},
		{"POST /2018-06-01/runtime/invocation/a-1/response HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n", routeResponse, "a-1"},
		{"POST /2018-06-01/runtime/invocation/a-1/error HTTP/1.1\r\nHost: x\r\ntransfer-encoding: Chunked\r\n\r\n", routeError, "a-1"},
		{"HEAD /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n", routeNone, ""},
		{"GET /2018-06-01/runtime/invocation/next HTTP/1.0\r\nHost: x\r\n\r\n", routeNone, ""},
		{"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n", routeNone, ""},
		{"GET /2018-06-01/runtime/invocation/next HTTP/1.1\nHost: x\r\n\r\n", routeNone, ""},
		{"GET //2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n", routeNone, ""},
		{"POST /2018-06-01/runtime/invocation/a%2F/response HTTP/1.1\r\nHost: x\r\n\r\n", routeNone, ""},
		{"POST /2018-06-01/runtime/invocation/a/response HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n", routeNone, ""},
		{"POST /2018-06-01/runtime/invocation/a/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", routeNone, ""},
		{"POST /2018-06-01/runtime/invocation/a/response HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", routeNone, ""},
		{"POST /2018-06-01/runtime/invocation/a/response HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n", routeNone, ""},
		{"POST /2018-06-01/runtime/invocation/a/response HTTP/1.1\r\nHost: x\r\nX-A: \x01\r\n\r\n", routeNone, ""},
		{"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", routeNone, ""},
		{"PUT /2022-07-01/telemetry HTTP/1.1\r\nHost: x\r\n\r\n", routeNone, ""},
	}
	for _, tt := range tests {
		rt, id, _ := screenHead([]byte(tt.head))
		if rt != tt.wantRt || id != tt.wantID {
			t.Errorf("screenHead(%q) = %v, %q; want %v, %q", tt.head, rt, id, tt.wantRt, tt.wantID)
		}
	}
}
