package async_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"hearth/internal/async"
	"hearth/internal/broker"
	"hearth/internal/invoke"
	"hearth/internal/worker"
)

const acctA, acctB = "111111111111", "222222222222"

// gated holds each account's invocations until the test lets them go, and
// records the order they started in and the most each account had running.
type gated struct {
	mu       sync.Mutex
	gates    map[string]chan struct{} // by account; none: runs at once
	started  []string                 // accounts, in the order their invocations started
	running  map[string]int
	peak     map[string]int
	finished map[string]int
}

func newGated(accounts ...string) *gated {
	g := &gated{gates: map[string]chan struct{}{}, running: map[string]int{}, peak: map[string]int{}, finished: map[string]int{}}
	for _, a := range accounts {
		g.gates[a] = make(chan struct{})
	}
	return g
}

func (g *gated) Invoke(ctx context.Context, req *invoke.Request) (*worker.Result, error) {
	g.mu.Lock()
	g.started = append(g.started, req.Account)
	g.running[req.Account]++
	g.peak[req.Account] = max(g.peak[req.Account], g.running[req.Account])
	gate := g.gates[req.Account]
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	g.mu.Lock()
	g.running[req.Account]--
	g.finished[req.Account]++
	g.mu.Unlock()
	return &worker.Result{Payload: []byte(`"ok"`), ExecutedVersion: "$LATEST"}, nil
}

func (g *gated) state() (started []string, running, peak map[string]int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		c := map[string]int{}
		for k, v := range m {
			c[k] = v
		}
		return c
	}
	return append([]string(nil), g.started...), cp(g.running), cp(g.peak)
}

// releaseAll lets every held and future invocation run.
func (g *gated) releaseAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for a, c := range g.gates {
		close(c)
		delete(g.gates, a)
	}
}

func enqueueAs(ctx context.Context, q *async.Queue, account, id string, payload []byte) error {
	return q.Enqueue(ctx, &invoke.Event{RequestID: id, Account: account, Function: "f", Payload: payload, Enqueued: time.Now()})
}

// An account with thousands of events waiting, all its invocations slow,
// does not delay another account's event: the next free poller takes it.
// And while both have events waiting, neither holds more than half the
// pollers.
func TestFairDeliveryAcrossAccounts(t *testing.T) {
	inv := newGated(acctA, acctB)
	q := setupConfig(t, async.Config{Concurrency: 4, Batch: 4, Account: "000000000000", Recover: true}, inv, configs{"f": fn(0, "", "")})
	t.Cleanup(inv.releaseAll)

	const many = 3000
	for i := range many {
		if err := enqueueAs(t.Context(), q, acctA, fmt.Sprintf("a-%d", i), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "account A holds every poller", func() bool {
		_, running, _ := inv.state()
		return running[acctA] == 4
	})
	// A alone may use every poller.
	for i := range 3 {
		if err := enqueueAs(t.Context(), q, acctB, fmt.Sprintf("b-%d", i), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	// One of A's invocations ends: its poller goes to B, not to A's next.
	inv.mu.Lock()
	gateA := inv.gates[acctA]
	inv.mu.Unlock()
	gateA <- struct{}{}
	waitFor(t, "B's first event starts", func() bool {
		started, _, _ := inv.state()
		return strings.Contains(strings.Join(started, ","), acctB)
	})
	started, _, _ := inv.state()
	if got, want := strings.Join(started, ","), strings.Repeat(acctA+",", 4)+acctB; got != want {
		t.Errorf("invocations started in order %s; want A's four, then B's", got)
	}
	// A second of A's ends: B (below its half) gets that poller too; a
	// third: A (now below its half) gets it, as B holds its two.
	gateA <- struct{}{}
	waitFor(t, "B holds two pollers", func() bool { _, running, _ := inv.state(); return running[acctB] == 2 })
	gateA <- struct{}{}
	waitFor(t, "A holds two pollers", func() bool { _, running, _ := inv.state(); return running[acctA] == 2 })
	time.Sleep(200 * time.Millisecond) // the pollers had every chance to overstep
	_, running, peak := inv.state()
	if running[acctA] != 2 || running[acctB] != 2 || peak[acctB] != 2 {
		t.Errorf("running A %d, B %d (B's peak %d); want each at its half of 4", running[acctA], running[acctB], peak[acctB])
	}

	inv.releaseAll()
	// Thousands of events: under -race on a loaded machine this takes
	// longer than the 5 s the steps above get.
	waitUpTo(t, time.Minute, "every event ran", func() bool {
		inv.mu.Lock()
		defer inv.mu.Unlock()
		return inv.finished[acctA] == many && inv.finished[acctB] == 3
	})
	waitFor(t, "the accounts' bytes are back to nothing", func() bool {
		return q.AccountBytes(acctA) == 0 && q.AccountBytes(acctB) == 0
	})
}

var kilobyte = []byte(`{"pad":"` + strings.Repeat("x", 1000) + `"}`)

// fill enqueues 1 KB events for account until the queue refuses one, and
// returns how many it took and the refusal.
func fill(t *testing.T, q *async.Queue, account, prefix string) (int, error) {
	t.Helper()
	for i := range 1000 {
		err := enqueueAs(t.Context(), q, account, fmt.Sprintf("%s-%d", prefix, i), kilobyte)
		if errors.Is(err, invoke.ErrQueueFull) {
			return i, err
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("account %s enqueued 1000 events of 1 KB without reaching its limit", account)
	return 0, nil
}

// openOn opens a queue on the broker in dir, with pollers when run; stop
// closes both.
func openOn(t *testing.T, dir string, cfg async.Config, inv async.Invoker, run bool) (q *async.Queue, js jetstream.JetStream, stop func()) {
	t.Helper()
	b, err := broker.Start(broker.Config{Dir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	q, err = async.Open(t.Context(), b.JetStream(), cfg, inv, configs{"f": fn(0, "", "")}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if run {
		go func() { defer close(done); q.Run(ctx) }()
	} else {
		close(done)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done; b.Close() }) }
	t.Cleanup(stop)
	return q, b.JetStream(), stop
}

// An account at its cap gets ErrQueueFull while another still enqueues,
// and the caps hold across restarts: they are read back from the stream,
// whichever way the queue opens.
func TestAccountCapSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := async.Config{MaxBytes: 1 << 20, AccountMaxBytes: 16 << 10, Concurrency: 2, Account: "000000000000", Recover: true}
	q, _, stop := openOn(t, dir, cfg, &scripted{}, false)
	took, err := fill(t, q, acctA, "a")
	if took < 10 || took > 16 {
		t.Errorf("account A took %d events of 1 KB under a 16 KiB cap", took)
	}
	if !strings.Contains(err.Error(), acctA) {
		t.Errorf("refusal %q does not name the account", err)
	}
	if err := enqueueAs(t.Context(), q, acctB, "b-0", []byte(`{}`)); err != nil {
		t.Errorf("account B's enqueue with A at its cap: %v", err)
	}
	bytesA, bytesB := q.AccountBytes(acctA), q.AccountBytes(acctB)
	stop()

	for _, recover := range []bool{false, true} {
		cfg.Recover = recover
		q, _, stop = openOn(t, dir, cfg, &scripted{}, false)
		if a, b := q.AccountBytes(acctA), q.AccountBytes(acctB); a != bytesA || b != bytesB {
			t.Errorf("after a restart (Recover %v): A %d, B %d bytes; want %d, %d", recover, a, b, bytesA, bytesB)
		}
		if err := enqueueAs(t.Context(), q, acctA, fmt.Sprintf("a-again-%v", recover), kilobyte); !errors.Is(err, invoke.ErrQueueFull) {
			t.Errorf("after a restart (Recover %v) account A enqueued past its cap: %v", recover, err)
		}
		stop()
	}

	// Once the pollers run A's events, A may enqueue again.
	inv := &scripted{}
	q, _, _ = openOn(t, dir, cfg, inv, true)
	waitFor(t, "the queued events run", func() bool { return len(inv.callsSoFar()) == took+1 })
	waitFor(t, "A's bytes are back to nothing", func() bool { return q.AccountBytes(acctA) == 0 })
	if err := enqueueAs(t.Context(), q, acctA, "a-after", []byte(`{}`)); err != nil {
		t.Errorf("account A's enqueue after its events ran: %v", err)
	}
}

// Retries are new messages and the failed ones are removed: an account's
// bytes come back to nothing once its events are settled.
func TestAccountBytesAfterRetries(t *testing.T) {
	inv := &scripted{outcomes: []func() (*worker.Result, error){failure, throttled, failure, failure}}
	q := setupConfig(t, async.Config{RetryBase: 50 * time.Millisecond, AccountMaxBytes: 4 << 10, Recover: true}, inv, configs{"f": fn(2, "", "")})
	for i := range 2 {
		if err := enqueueAs(t.Context(), q, acctA, fmt.Sprintf("r-%d", i), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both events settle", func() bool {
		st, _ := q.Stats(t.Context())
		return st.Depth == 0 && st.InFlight == 0 && st.Succeeded+st.Failed == 2
	})
	if st, _ := q.Stats(t.Context()); st.Retried < 2 {
		t.Errorf("Stats() = %+v; want retries scheduled", st)
	}
	if got := q.AccountBytes(acctA); got != 0 {
		t.Errorf("AccountBytes(A) = %d after its events settled; want 0", got)
	}
}

// Events stored before accounts had subjects (hearth.async.events.NAME,
// served by the one consumer hearth-pollers) are still delivered, as the
// default account's.
func TestEventsFromBeforeAccountSubjects(t *testing.T) {
	dir := t.TempDir()
	cfg := async.Config{Account: "000000000000", Recover: true}
	_, js, stop := openOn(t, dir, cfg, &scripted{}, false)
	// The old layout: the stream's one consumer and an event on the old
	// subject, with no account header.
	s, err := js.Stream(t.Context(), "HEARTH_ASYNC")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateOrUpdateConsumer(t.Context(), jetstream.ConsumerConfig{
		Durable: "hearth-pollers", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "hearth.async.events.>",
	}); err != nil {
		t.Fatal(err)
	}
	h := nats.Header{}
	h.Set("Hearth-Request-Id", "old-1")
	h.Set("Hearth-Function", "f")
	h.Set("Hearth-Enqueued", fmt.Sprint(time.Now().UnixMilli()))
	h.Set("Hearth-Attempt", "0")
	if _, err := js.PublishMsg(t.Context(), &nats.Msg{Subject: "hearth.async.events.f", Header: h, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	stop()

	inv := &scripted{}
	q, _, _ := openOn(t, dir, cfg, inv, true)
	waitFor(t, "the old event runs", func() bool {
		c := inv.callsSoFar()
		return len(c) == 1 && c[0].requestID == "old-1"
	})
	waitFor(t, "the default account's bytes are back to nothing", func() bool { return q.AccountBytes("") == 0 })
}
