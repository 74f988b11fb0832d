package grants_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"hearth/internal/broker"
	"hearth/internal/grants"
)

// Short periods, so that renewals, give-backs and expiries happen within
// a test.
const (
	renew = 100 * time.Millisecond
	ttl   = 500 * time.Millisecond
	idle  = 300 * time.Millisecond
)

func startBroker(t testing.TB) jetstream.JetStream {
	t.Helper()
	b, err := broker.Start(broker.Config{Dir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.JetStream()
}

// holder opens a Holder named node; with run, its Run goes until the test
// ends (or stop is called), giving its grants back.
func holder(t testing.TB, js jetstream.JetStream, node string, run bool) (h *grants.Holder, stop func()) {
	t.Helper()
	h, err := grants.Open(t.Context(), js, grants.Config{Node: node, Renew: renew, TTL: ttl, Idle: idle}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !run {
		return h, func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return h, stop
}

// entryOf reads node's entry in the record of key.
func entryOf(t testing.TB, js jetstream.JetStream, key, node string) (e struct {
	Slots     int   `json:"slots"`
	Expires   int64 `json:"expires"`
	BusyUntil int64 `json:"busy_until"`
}, ok bool) {
	t.Helper()
	kv, err := js.KeyValue(t.Context(), grants.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	got, err := kv.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	var rec struct {
		Grants map[string]json.RawMessage `json:"grants"`
	}
	if err := json.Unmarshal(got.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	raw, ok := rec.Grants[node]
	if ok {
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
	}
	return e, ok
}

// TestNeverLate races four holders, each with four callers that take a
// slot, hold it 0-3 ms and give it back, for two seconds: the slots in use
// across all holders (an atomic counter) never exceed the limit. It also
// reports how early throttling was: the share of refusals that came while
// fewer than limit invocations were in flight, and the mean use.
func TestNeverLate(t *testing.T) {
	js := startBroker(t)
	const limit, holders, callers = 6, 4, 4
	const key = "111111111111.u"
	var inFlight, most, admitted, refused, early atomic.Int64
	var perHolder [holders]atomic.Int64
	ctx := t.Context()
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for i := range holders {
		h, _ := holder(t, js, "node-"+string(rune('a'+i)), true)
		for range callers {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					release, ok := h.Acquire(ctx, key, limit, time.Now().Add(time.Second))
					if !ok {
						refused.Add(1)
						if inFlight.Load() < limit {
							early.Add(1)
						}
						time.Sleep(time.Millisecond)
						continue
					}
					n := inFlight.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					admitted.Add(1)
					perHolder[i].Add(1)
					time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
					inFlight.Add(-1)
					release()
				}
			})
		}
	}
	// Sample the use every millisecond.
	var samples, used int64
	for time.Now().Before(deadline) {
		samples++
		used += inFlight.Load()
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	if got := most.Load(); got > limit {
		t.Errorf("at most %d invocations in flight across the holders; want <= %d", got, limit)
	}
	if admitted.Load() == 0 {
		t.Fatal("nothing admitted")
	}
	if got := most.Load(); got < limit-1 {
		t.Errorf("at most %d in flight; want the limit (%d) nearly reached", got, limit)
	}
	var per []int64
	for i := range perHolder {
		per = append(per, perHolder[i].Load())
	}
	t.Logf("limit %d: %d admitted %v, %d refused (%d = %.1f%% while fewer than %d were in flight), at most %d in flight, mean use %.2f (%.0f%%)",
		limit, admitted.Load(), per, refused.Load(), early.Load(), 100*float64(early.Load())/float64(max(1, refused.Load())), limit,
		most.Load(), float64(used)/float64(samples), 100*float64(used)/float64(samples)/limit)
}

// TestDeadHolder: the slots of a holder that stops renewing (it died)
// come back only once its grant has expired and its invocations' deadline
// (busy_until) has passed, and soon after that.
func TestDeadHolder(t *testing.T) {
	js := startBroker(t)
	const key = "111111111111.r.fn"
	dead, _ := holder(t, js, "dead", false) // no Run: it never renews
	live, _ := holder(t, js, "live", true)
	ctx := t.Context()
	until := time.Now().Add(1500 * time.Millisecond)
	for i := range 2 {
		if _, ok := dead.Acquire(ctx, key, 2, until); !ok {
			t.Fatalf("acquire %d of 2 refused", i+1)
		}
	}
	e, ok := entryOf(t, js, key, "dead")
	if !ok || e.Slots != 2 {
		t.Fatalf("the dead holder's entry = %+v, %v; want 2 slots", e, ok)
	}
	if e.BusyUntil < until.UnixMilli() || e.BusyUntil < e.Expires {
		t.Errorf("busy_until %d is before the invocations' deadline %d or the expiry %d", e.BusyUntil, until.UnixMilli(), e.Expires)
	}
	back := time.UnixMilli(max(e.Expires, e.BusyUntil))
	for {
		release, ok := live.Acquire(ctx, key, 2, time.Now().Add(100*time.Millisecond))
		now := time.Now()
		if ok {
			release()
			if now.Before(back) {
				t.Fatalf("a slot was granted %v before the dead holder's grant ended", back.Sub(now))
			}
			if late := now.Sub(back); late > 200*time.Millisecond {
				t.Errorf("the slots came back %v after the dead holder's grant ended; want within 200 ms", late)
			}
			t.Logf("the dead holder's slots came back %v after its busy_until (%v after its expiry)", now.Sub(back).Round(time.Millisecond), now.Sub(time.UnixMilli(e.Expires)).Round(time.Millisecond))
			return
		}
		if now.After(back.Add(2 * time.Second)) {
			t.Fatal("the dead holder's slots never came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGiveBack: slots a holder no longer uses go back to a holder refused
// for want of them at the next renewal (how early throttling can be, in
// time); a holder that stops gives back at once what has nothing in
// flight, and what it has keeps its slots counted.
func TestGiveBack(t *testing.T) {
	js := startBroker(t)
	const key = "111111111111.u"
	a, stopA := holder(t, js, "a", true)
	b, _ := holder(t, js, "b", true)
	ctx := t.Context()
	var held []func()
	for range 4 {
		release, ok := a.Acquire(ctx, key, 4, time.Now().Add(time.Second))
		if !ok {
			t.Fatal("a: acquire within the limit refused")
		}
		held = append(held, release)
	}
	if _, ok := b.Acquire(ctx, key, 4, time.Now().Add(time.Second)); ok {
		t.Fatal("b admitted a fifth invocation with a limit of 4")
	}
	for _, r := range held {
		r()
	}
	freed := time.Now()
	// Early: a holds 4 idle slots until it gives them back.
	for {
		release, ok := b.Acquire(ctx, key, 4, time.Now().Add(time.Second))
		if ok {
			release()
			break
		}
		if time.Since(freed) > 2*renew+100*time.Millisecond {
			t.Fatalf("b still refused %v after a released its slots; want within two renewals (%v)", time.Since(freed), 2*renew)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("b was throttled early for %v (Idle %v, renewal %v)", time.Since(freed).Round(time.Millisecond), idle, renew)

	// a takes one again and keeps it in flight, then another, and stops:
	// the idle one comes back at once, the busy one only after busy_until.
	r1, ok := a.Acquire(ctx, key, 4, time.Now().Add(300*time.Millisecond))
	if !ok {
		t.Fatal("a: acquire refused")
	}
	defer r1()
	stopA()
	if _, ok := a.Acquire(ctx, key, 4, time.Now().Add(time.Second)); ok {
		t.Error("a stopped holder admitted an invocation")
	}
	e, ok := entryOf(t, js, key, "a")
	if !ok || e.Slots != 1 || e.BusyUntil < time.Now().UnixMilli() {
		t.Errorf("after a stopped with 1 in flight, its entry = %+v, %v; want 1 slot until busy_until", e, ok)
	}
	time.Sleep(60 * time.Millisecond) // b's last refusal is no longer cached
	var got []func()
	for {
		release, ok := b.Acquire(ctx, key, 4, time.Now().Add(time.Second))
		if !ok {
			break
		}
		got = append(got, release)
	}
	if len(got) != 3 {
		t.Errorf("b took %d slots beside a's busy one; want 3", len(got))
	}
	for _, r := range got {
		r()
	}
}

// TestLimitLowered: a lowered limit holds for the next admission on every
// holder (each writes its grant under it first), even when a holder's
// grant, written under the old limit, still has room.
func TestLimitLowered(t *testing.T) {
	js := startBroker(t)
	const key = "111111111111.r.fn"
	a, _ := holder(t, js, "a", true)
	b, _ := holder(t, js, "b", true)
	ctx := t.Context()
	until := func() time.Time { return time.Now().Add(time.Second) }
	var aHeld []func()
	for range 3 {
		r, ok := a.Acquire(ctx, key, 4, until())
		if !ok {
			t.Fatal("a: acquire refused")
		}
		aHeld = append(aHeld, r)
	}
	rb, ok := b.Acquire(ctx, key, 4, until())
	if !ok {
		t.Fatal("b: acquire refused")
	}
	defer rb()
	for _, r := range aHeld {
		r()
	}
	// Limit 2 (PutFunctionConcurrency), b's one still in flight: a, with
	// 3 idle slots granted under 4, admits one, not two.
	r, ok := a.Acquire(ctx, key, 2, until())
	if !ok {
		t.Fatal("a: acquire within the lowered limit refused")
	}
	defer r()
	if _, ok := a.Acquire(ctx, key, 2, until()); ok {
		t.Error("a admitted a third invocation across the holders after the limit went down to 2")
	}
	if _, ok := b.Acquire(ctx, key, 2, until()); ok {
		t.Error("b admitted a third invocation across the holders after the limit went down to 2")
	}
	// Raised again: room at once.
	if r, ok := b.Acquire(ctx, key, 10, until()); !ok {
		t.Error("b refused after the limit went up to 10")
	} else {
		r()
	}
}

// BenchmarkAcquire is the hot path: a slot taken and given back against a
// grant already held, 8 callers in parallel.
func BenchmarkAcquire(b *testing.B) {
	js := startBroker(b)
	h, _ := holder(b, js, "bench", true)
	const key = "111111111111.u"
	b.SetParallelism(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			release, ok := h.Acquire(context.Background(), key, 1000, time.Now().Add(time.Second))
			if !ok {
				b.Fatal("refused")
			}
			release()
		}
	})
}

// BenchmarkGrow is the slow path: a holder's first slot of a limit, which
// reads the record and writes the holder's entry (a KV get and a
// compare-and-set), one caller.
func BenchmarkGrow(b *testing.B) {
	js := startBroker(b)
	h, _ := holder(b, js, "bench", false)
	b.ReportAllocs()
	for i := range b.N {
		release, ok := h.Acquire(context.Background(), fmt.Sprintf("111111111111.r.fn%d", i), 10, time.Now().Add(time.Second))
		if !ok {
			b.Fatal("refused")
		}
		release()
	}
}

// TestBucketGone: with the bucket out of reach, a holder admits against
// the grant it holds until the grant expires, refuses beyond it at once,
// and refuses everything after the expiry.
func TestBucketGone(t *testing.T) {
	b, err := broker.Start(broker.Config{Dir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h, _ := holder(t, b.JetStream(), "a", false)
	ctx := t.Context()
	const key = "111111111111.u"
	until := func() time.Time { return time.Now().Add(100 * time.Millisecond) }
	r, ok := h.Acquire(ctx, key, 4, until()) // a grant of 1 (a quarter of 4)
	if !ok {
		t.Fatal("acquire refused")
	}
	r()
	b.Close()
	if r, ok := h.Acquire(ctx, key, 4, until()); !ok {
		t.Error("refused within the grant held, before it expires")
	} else {
		defer r()
	}
	for i := range 3 {
		began := time.Now()
		if _, ok := h.Acquire(ctx, key, 4, until()); ok {
			t.Errorf("acquire %d beyond the grant admitted with the bucket gone", i)
		}
		if took := time.Since(began); took > time.Second {
			t.Errorf("refusal %d took %v; want it at once", i, took)
		}
	}
	time.Sleep(ttl)
	if _, ok := h.Acquire(ctx, key, 4, until()); ok {
		t.Error("admitted against an expired grant with the bucket gone")
	}
}
