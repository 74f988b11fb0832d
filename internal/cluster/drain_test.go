package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"hearth/internal/broker"
	"hearth/internal/function"
	"hearth/internal/placement"
	"hearth/internal/worker"
)

// invokeRequest is a framed invocation of a function of memMB, as an api
// node sends it.
func invokeRequest(t *testing.T, memMB int) *http.Request {
	t.Helper()
	var body bytes.Buffer
	if err := writeFrame(&body, invokeMeta{Function: function.Config{Account: "a", Name: "f", Version: "$LATEST", MemorySize: memMB, Timeout: 3}, RequestID: "r"}, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, invokePath, &body)
	r.Header.Set("Authorization", "Bearer secret")
	return r
}

// A worker admits invocations only within its memory and environment
// slots, and gives the room back as they end.
func TestWorkerAdmitsWithinItsRoom(t *testing.T) {
	n := NewWorkerNode(WorkerConfig{Token: "secret", MemoryMB: 256, MaxEnvs: 3}, nil, nil, slog.New(slog.DiscardHandler))
	at := time.Now().Add(time.Minute)
	for i, tt := range []struct {
		mem  int
		want string
	}{{128, ""}, {256, refusedFull}, {128, ""}, {1, refusedFull}} {
		if got := n.admit(tt.mem, at); got != tt.want {
			t.Errorf("admit %d (%d MB) = %q, want %q", i, tt.mem, got, tt.want)
		}
	}
	n.finish(128)
	if got := n.admit(64, at); got != "" {
		t.Errorf("admit after one ended = %q, want room", got)
	}
	if got := n.admit(32, at); got != "" { // 3 environments, 224 MB
		t.Errorf("admit a third = %q, want room", got)
	}
	if got := n.admit(1, at); got != refusedFull {
		t.Errorf("a fourth invocation with 3 environment slots = %q, want %q", got, refusedFull)
	}
	// The refusal reaches the api node as a 503 with the reason, before
	// anything runs (the node has no local worker to run it on).
	w := httptest.NewRecorder()
	n.Handler().ServeHTTP(w, invokeRequest(t, 128))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get(refusedHeader) != refusedFull {
		t.Errorf("invocation on a full worker: %d %s=%q, want 503 %s", w.Code, refusedHeader, w.Header().Get(refusedHeader), refusedFull)
	}
}

// At the end of its lease a worker announces that it drains, refuses new
// invocations, and is drained once the one in flight ends; it announces
// that it leaves when stopped.
func TestWorkerLeaseDrains(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	b, err := broker.Start(broker.Config{Dir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	msgs := make(chan placement.Announce, 64)
	sub, err := b.Conn().Subscribe(Subject, func(m *nats.Msg) {
		if a, err := placement.DecodeAnnounce(m.Data); err == nil {
			msgs <- a
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	wk := worker.New(worker.Config{CodeDir: t.TempDir()}, nil, nil, nil, nil, log)
	n := NewWorkerNode(WorkerConfig{Token: "secret", MemoryMB: 1024, MaxEnvs: 8, Lease: 300 * time.Millisecond}, wk, b.Conn(), log)
	if got := n.admit(128, time.Now().Add(time.Minute)); got != "" { // one invocation in flight
		t.Fatalf("admit = %q", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()

	next := func() placement.Announce {
		t.Helper()
		select {
		case a := <-msgs:
			return a
		case <-time.After(5 * time.Second):
			t.Fatal("no announcement within 5 s")
			return placement.Announce{}
		}
	}
	a := next()
	if a.Draining || !a.LeaseEnd.Equal(n.LeaseEnd()) || a.LeaseEnd.IsZero() || a.BusyEnvs != 1 {
		t.Errorf("first announcement = %+v; want serving, busy 1, lease end %v", a, n.LeaseEnd())
	}
	for !a.Draining {
		a = next()
	}
	if time.Now().Before(n.LeaseEnd()) {
		t.Errorf("draining announced before the lease's end")
	}
	w := httptest.NewRecorder()
	n.Handler().ServeHTTP(w, invokeRequest(t, 128))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get(refusedHeader) != refusedDraining {
		t.Errorf("invocation on a draining worker: %d %s=%q, want 503 %s", w.Code, refusedHeader, w.Header().Get(refusedHeader), refusedDraining)
	}
	select {
	case <-n.Drained():
		t.Fatal("drained with an invocation in flight")
	case <-time.After(100 * time.Millisecond):
	}
	n.finish(128)
	select {
	case <-n.Drained():
	case <-time.After(time.Second):
		t.Fatal("not drained within 1 s of the last invocation's end")
	}
	// hearth drain on a worker that drains already says so.
	w = httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, drainPath, nil)
	r.Header.Set("Authorization", "Bearer secret")
	n.Handler().ServeHTTP(w, r)
	var ans drainAnswer
	json.Unmarshal(w.Body.Bytes(), &ans)
	if w.Code != http.StatusAccepted || !ans.Already || ans.Worker != n.ID() || ans.InFlight != 0 {
		t.Errorf("drain request = %d %+v, want 202, already draining, none in flight", w.Code, ans)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for !a.Leaving {
		a = next()
	}
}
