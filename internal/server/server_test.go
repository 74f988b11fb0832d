package server_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"hearth/internal/server"
)

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// settles waits until the goroutine count is back to at most want and
// reports the stacks of the extra ones if it is not.
func settles(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines = %d, want at most %d; stacks:\n%s", runtime.NumGoroutine(), want, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A bad debug address fails Run before anything starts: no goroutine and
// no listener survive it.
func TestRunWithBadDebugAddrLeavesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	addr := freeAddr(t)
	cfg := server.Config{Addr: addr, DataDir: t.TempDir(), Isolation: "process", DebugAddr: "127.0.0.1:notaport"}
	err := server.Run(t.Context(), cfg, slog.New(slog.DiscardHandler), func(net.Addr) {
		t.Error("Run called ready with a bad debug address")
	})
	if err == nil || !strings.Contains(err.Error(), "debug") {
		t.Fatalf("Run() with DebugAddr %q = %v; want a debug listen error", cfg.DebugAddr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("listen on %s after Run returned = %v; want the address released", addr, err)
	} else {
		ln.Close()
	}
	settles(t, before)
	// The data directory is unlocked: a second Run can have it.
	ctx, cancel := context.WithCancel(t.Context())
	cfg.DebugAddr = ""
	err = server.Run(ctx, cfg, slog.New(slog.DiscardHandler), func(net.Addr) { cancel() })
	if err != nil {
		t.Errorf("second Run() on the same data directory = %v", err)
	}
}

// A busy address fails the same way.
func TestRunWithBusyAddrLeavesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	before := runtime.NumGoroutine()
	cfg := server.Config{Addr: freeAddr(t), DataDir: t.TempDir(), Isolation: "process", DebugAddr: busy.Addr().String()}
	if err := server.Run(t.Context(), cfg, slog.New(slog.DiscardHandler), nil); err == nil {
		t.Fatalf("Run() with a busy debug address = nil, want an error")
	}
	settles(t, before)
}

// A server that ran, debug endpoint included, leaves no goroutine behind
// once Run returns.
func TestRunStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	debugAddr := freeAddr(t)
	cfg := server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Isolation: "process", DebugAddr: debugAddr}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	err := server.Run(ctx, cfg, slog.New(slog.DiscardHandler), func(addr net.Addr) {
		defer cancel()
		for _, u := range []string{"http://" + addr.String() + "/healthz", "http://" + debugAddr + "/debug/pprof/"} {
			resp, err := client.Get(u)
			if err != nil {
				t.Errorf("GET %s = %v", u, err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: status %d, want 200", u, resp.StatusCode)
			}
		}
	})
	if err != nil {
		t.Fatalf("Run() = %v", err)
	}
	settles(t, before)
}

// An account's async cap is refused when negative or above the queue's
// own; zero (a quarter of the queue) and the queue's size are fine.
func TestValidateAsyncAccountMaxBytes(t *testing.T) {
	for _, c := range []struct {
		queue, account int64
		ok             bool
	}{
		{1 << 30, 0, true}, {1 << 30, 1 << 30, true}, {1 << 30, 1 << 20, true},
		{1 << 30, -1, false}, {1 << 20, 1 << 30, false},
	} {
		cfg := server.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Auth: "none", AccountID: "000000000000", Concurrency: 10,
			Isolation: "process", AsyncMaxBytes: c.queue, AsyncAccountMaxBytes: c.account}
		err := cfg.Validate()
		if got := err == nil || !strings.Contains(err.Error(), "async-account-max-bytes"); got != c.ok {
			t.Errorf("Validate() with async-max-bytes %d, async-account-max-bytes %d = %v; want ok %v", c.queue, c.account, err, c.ok)
		}
	}
}

// --auth none serves every function URL to whoever reaches it: like the
// API's, its listener must be loopback unless insisted on.
func TestValidateURLAddrUnderAuthNone(t *testing.T) {
	for _, c := range []struct {
		auth, urlAddr string
		insist        bool
		ok            bool
	}{
		{"none", "", false, true}, {"none", "127.0.0.1:0", false, true}, {"none", "0.0.0.0:9002", false, false},
		{"none", "0.0.0.0:9002", true, true}, {"sigv4", "0.0.0.0:9002", false, true},
	} {
		cfg := server.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", URLAddr: c.urlAddr, Auth: c.auth, AuthNoneOnNetwork: c.insist,
			AccountID: "000000000000", Concurrency: 10, Isolation: "process", AsyncMaxBytes: 1 << 30}
		err := cfg.Validate()
		if got := err == nil || !strings.Contains(err.Error(), "--url-addr"); got != c.ok {
			t.Errorf("Validate() with --auth %s --url-addr %q (insisted %v) = %v; want ok %v", c.auth, c.urlAddr, c.insist, err, c.ok)
		}
	}
}

// --zygote is on, off or left empty (off).
func TestValidateZygote(t *testing.T) {
	for _, c := range []struct {
		zygote string
		ok     bool
	}{{"", true}, {"on", true}, {"off", true}, {"yes", false}, {"ON", false}} {
		cfg := server.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Auth: "none", AccountID: "000000000000", Concurrency: 10,
			Isolation: "process", Zygote: c.zygote}
		err := cfg.Validate()
		if got := err == nil || !strings.Contains(err.Error(), "zygote"); got != c.ok {
			t.Errorf("Validate() with zygote %q = %v; want ok %v", c.zygote, err, c.ok)
		}
	}
}

// --prestart is on, off or left empty (on).
func TestValidatePrestart(t *testing.T) {
	for _, c := range []struct {
		prestart string
		ok       bool
	}{{"", true}, {"on", true}, {"off", true}, {"yes", false}, {"OFF", false}} {
		cfg := server.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Auth: "none", AccountID: "000000000000", Concurrency: 10,
			Isolation: "process", Prestart: c.prestart}
		err := cfg.Validate()
		if got := err == nil || !strings.Contains(err.Error(), "prestart"); got != c.ok {
			t.Errorf("Validate() with prestart %q = %v; want ok %v", c.prestart, err, c.ok)
		}
	}
}
