package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	tests := []struct {
		name    string
		cfg     GuardConfig
		host    string
		origin  string
		path    string
		allowed bool
	}{
		{"sdk on loopback", GuardConfig{LoopbackOnly: true}, "127.0.0.1:9001", "", "/2015-03-31/functions", true},
		{"localhost", GuardConfig{LoopbackOnly: true}, "localhost:9001", "", "/2015-03-31/functions", true},
		{"name under .localhost", GuardConfig{LoopbackOnly: true}, "abc.lambda-url.us-east-1.localhost", "", "/", true},
		{"ipv6 loopback", GuardConfig{LoopbackOnly: true}, "[::1]:9001", "", "/", true},
		{"other loopback address", GuardConfig{LoopbackOnly: true}, "127.0.0.2", "", "/", true},
		{"rebinding name", GuardConfig{LoopbackOnly: true}, "evil.example", "", "/2015-03-31/functions", false},
		{"rebinding name with port", GuardConfig{LoopbackOnly: true}, "evil.example:9001", "", "/2015-03-31/functions", false},
		{"localhost lookalike", GuardConfig{LoopbackOnly: true}, "localhost.evil.example", "", "/", false},
		{"health check from anywhere", GuardConfig{LoopbackOnly: true}, "evil.example", "", "/healthz", true},
		{"any host when not on loopback", GuardConfig{}, "hearth.internal:9001", "", "/", true},
		{"browser page", GuardConfig{}, "127.0.0.1:9001", "http://evil.example", "/2015-03-31/functions", false},
		{"browser page, null origin", GuardConfig{}, "127.0.0.1:9001", "null", "/", false},
		{"allowed origin", GuardConfig{AllowedOrigins: []string{"https://console.example"}}, "127.0.0.1", "https://console.example", "/", true},
		{"other origin", GuardConfig{AllowedOrigins: []string{"https://console.example"}}, "127.0.0.1", "https://evil.example", "/", false},
		{"any origin", GuardConfig{AllowedOrigins: []string{"*"}}, "127.0.0.1", "https://evil.example", "/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", tt.path, strings.NewReader(`{}`))
			r.Host = tt.host
			r.Header.Set("Content-Type", "text/plain")
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			w := httptest.NewRecorder()
			Guard(tt.cfg, ok).ServeHTTP(w, r)
			if got := w.Code == http.StatusTeapot; got != tt.allowed {
				t.Fatalf("served = %v (status %d, %s); want %v", got, w.Code, w.Body, tt.allowed)
			}
			if !tt.allowed && (w.Code != http.StatusForbidden || w.Header().Get("X-Amzn-Errortype") != "AccessDeniedException") {
				t.Errorf("refusal = %d %s %s; want 403 AccessDeniedException", w.Code, w.Header().Get("X-Amzn-Errortype"), w.Body)
			}
		})
	}
}

// TestBodyTimeout checks that a body that stalls is cut off after the
// timeout, that one making progress is not, and that a request whose body
// has ended is no longer subject to it (its context stays alive while the
// handler works on).
func TestBodyTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	type result struct {
		n      int
		err    error
		ctxErr error
	}
	results := make(chan result, 1)
	srv := httptest.NewServer(BodyTimeout(timeout, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		time.Sleep(3 * timeout) // working after the body
		results <- result{len(b), err, r.Context().Err()}
	})))
	defer srv.Close()

	send := func(chunks int, pause time.Duration) result {
		pr, pw := io.Pipe()
		go func() {
			for range chunks {
				if _, err := pw.Write(bytes.Repeat([]byte("x"), bodyProgress)); err != nil {
					return
				}
				time.Sleep(pause)
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", srv.URL, pr)
		req.ContentLength = int64(chunks) * bodyProgress
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		pr.CloseWithError(errors.New("done"))
		return <-results
	}
	// 64 KiB every half timeout: slow, but progressing. The whole body
	// takes longer than the timeout.
	if got := send(4, timeout/2); got.err != nil || got.n != 4*bodyProgress || got.ctxErr != nil {
		t.Errorf("progressing body: read %d bytes, %v, context %v; want all, no error, context alive", got.n, got.err, got.ctxErr)
	}
	// A pause of twice the timeout: cut off.
	if got := send(2, 2*timeout); got.err == nil {
		t.Errorf("stalled body: read %d bytes without error; want the read to time out", got.n)
	}
}
