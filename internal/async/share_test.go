package async_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"hearth/internal/async"
	"hearth/internal/broker"
)

// In a cluster one node stores an event and another's pollers settle it.
// With their ledgers shared, the pollers learn of the events other nodes
// stored (without it they never poll them), and the storing node's
// account bytes go back down when another node settles them (without it
// they only grow, and it ends refusing every event).
func TestSharedLedger(t *testing.T) {
	b, err := broker.Start(broker.Config{Dir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cfg := async.Config{RetryBase: 100 * time.Millisecond, Region: "us-east-1", Account: "000000000000"}
	fns := configs{"f": fn(0, "", "")}
	open := func() *async.Queue {
		q, err := async.Open(t.Context(), b.JetStream(), cfg, &scripted{}, fns, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	share := func(q *async.Queue) {
		ctx, cancel := context.WithCancel(context.Background())
		done, err := q.Share(ctx, b.Conn())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); <-done })
	}
	api := open()
	share(api)

	// Stored before the poller node shares: its Share reads the stream.
	for i := range 5 {
		enqueue(t, api, fmt.Sprintf("early-%d", i), time.Now())
	}
	inv := &scripted{}
	poller, err := async.Open(t.Context(), b.JetStream(), cfg, inv, fns, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		enqueue(t, api, fmt.Sprintf("between-%d", i), time.Now())
	}
	share(poller)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); poller.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// Stored while it polls: notices.
	for i := range 20 {
		enqueue(t, api, fmt.Sprintf("late-%d", i), time.Now())
	}
	waitUpTo(t, 20*time.Second, "every event run by the other node's pollers", func() bool { return len(inv.callsSoFar()) >= 30 })
	seen := map[string]int{}
	for _, c := range inv.callsSoFar() {
		seen[c.requestID]++
	}
	if len(seen) != 30 {
		t.Errorf("ran %d distinct events, want 30", len(seen))
	}
	waitUpTo(t, 10*time.Second, "the storing node's account bytes back to 0", func() bool { return api.AccountBytes("") == 0 })
	if got := poller.AccountBytes(""); got != 0 {
		t.Errorf("poller node counts %d bytes, want 0", got)
	}
}
