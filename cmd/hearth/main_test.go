package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestResolveEndpoint(t *testing.T) {
	tests := []struct {
		name string
		flag string
		env  map[string]string
		want string
	}{
		{name: "default", want: "http://127.0.0.1:9001"},
		{name: "aws", env: map[string]string{"AWS_ENDPOINT_URL": "http://aws:1"}, want: "http://aws:1"},
		{name: "aws lambda over aws", env: map[string]string{"AWS_ENDPOINT_URL": "http://aws:1", "AWS_ENDPOINT_URL_LAMBDA": "http://lambda:2"}, want: "http://lambda:2"},
		{name: "hearth over aws", env: map[string]string{"AWS_ENDPOINT_URL": "http://aws:1", "AWS_ENDPOINT_URL_LAMBDA": "http://lambda:2", "HEARTH_ENDPOINT_URL": "http://hearth:3"}, want: "http://hearth:3"},
		{name: "flag over all", flag: "http://flag:4", env: map[string]string{"AWS_ENDPOINT_URL": "http://aws:1", "HEARTH_ENDPOINT_URL": "http://hearth:3"}, want: "http://flag:4"},
		{name: "empty variable is unset", env: map[string]string{"HEARTH_ENDPOINT_URL": "", "AWS_ENDPOINT_URL": "http://aws:1"}, want: "http://aws:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolveEndpoint(tt.flag, lookupIn(tt.env)); got != tt.want {
				t.Errorf("resolveEndpoint(%q, %v) = %q, want %q", tt.flag, tt.env, got, tt.want)
			}
		})
	}
}

// hearth logs reaches the server named by AWS_ENDPOINT_URL.
func TestLogsHonoursAWSEndpointURL(t *testing.T) {
	got := make(chan string, 1)
	ln := serveOnce(t, func(path string) { got <- path })
	t.Setenv("HEARTH_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", "")
	t.Setenv("AWS_ENDPOINT_URL", ln)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"logs", "f", "--tail", "3"}, &stdout, &stderr); err != nil {
		t.Fatalf("hearth logs f = %v (%s)", err, stderr.String())
	}
	if p := <-got; p != "/_hearth/v1/functions/f/logs?tail=3" {
		t.Errorf("request = %q, want /_hearth/v1/functions/f/logs?tail=3", p)
	}
	if stdout.String() != "a line\n" {
		t.Errorf("stdout = %q, want %q", stdout.String(), "a line\n")
	}
}

func TestApplyEnv(t *testing.T) {
	newFlags := func() (*flag.FlagSet, *time.Duration, *int, *string) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		d := fs.Duration("idle-timeout", time.Minute, "")
		n := fs.Int("concurrency", 10, "")
		s := fs.String("data-dir", "/d", "")
		return fs, d, n, s
	}
	t.Run("applies", func(t *testing.T) {
		fs, d, n, s := newFlags()
		fs.Parse([]string{"--data-dir", "/cli"})
		env := map[string]string{"HEARTH_IDLE_TIMEOUT": "5s", "HEARTH_CONCURRENCY": "7", "HEARTH_DATA_DIR": "/env"}
		if err := applyEnv(fs, lookupIn(env)); err != nil {
			t.Fatalf("applyEnv() = %v", err)
		}
		if *d != 5*time.Second || *n != 7 || *s != "/cli" {
			t.Errorf("after applyEnv: idle-timeout %v, concurrency %d, data-dir %q; want 5s, 7, /cli (the command line wins)", *d, *n, *s)
		}
	})
	t.Run("rejects malformed", func(t *testing.T) {
		fs, _, _, _ := newFlags()
		fs.Parse(nil)
		env := map[string]string{"HEARTH_IDLE_TIMEOUT": "ten minutes", "HEARTH_CONCURRENCY": "lots"}
		err := applyEnv(fs, lookupIn(env))
		if err == nil {
			t.Fatal("applyEnv() = nil, want an error")
		}
		for _, want := range []string{"HEARTH_IDLE_TIMEOUT", "ten minutes", "HEARTH_CONCURRENCY", "lots"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("applyEnv() = %q; want it to name %q", err, want)
			}
		}
	})
}

// A malformed HEARTH_* value stops `hearth server` with a message naming
// the variable, instead of being silently replaced by the default.
func TestServerRejectsMalformedEnv(t *testing.T) {
	for _, key := range []string{"HEARTH_IDLE_TIMEOUT", "HEARTH_SHUTDOWN_TIMEOUT", "HEARTH_CONCURRENCY", "HEARTH_ASYNC_CONCURRENCY"} {
		t.Run(key, func(t *testing.T) {
			t.Setenv(key, "10 parsecs")
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			var stderr bytes.Buffer
			err := run(ctx, []string{"server", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--isolation", "process"}, io.Discard, &stderr)
			if err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("hearth server with %s=%q = %v; want an error naming %s", key, "10 parsecs", err, key)
			}
		})
	}
}

// serveOnce starts an HTTP server on loopback that reports each request's
// path and query to seen and answers "a line\n". It returns its URL.
func serveOnce(t *testing.T, seen func(pathQuery string)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen(r.URL.RequestURI())
		io.WriteString(w, "a line\n")
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
