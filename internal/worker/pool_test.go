package worker

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"hearth/internal/function"
)

func testPool() *pool { return newPool(function.Config{Name: "f", Version: function.Latest}) }

func TestPoolColdThenWarm(t *testing.T) {
	p := testPool()
	e, cold, err := p.acquire(t.Context())
	if e != nil || !cold || err != nil {
		t.Fatalf("acquire() on an empty pool = %v, %v, %v; want a cold start", e, cold, err)
	}
	if p.empty() {
		t.Error("empty() = true during a cold start")
	}
	if p.retireIfEmpty() {
		t.Error("retireIfEmpty() = true during a cold start")
	}
	ev := &env{id: "e1"}
	if !p.started(ev) {
		t.Fatal("started() = false on a live pool")
	}
	p.park(ev)
	if !p.unpark(ev, time.Now()) {
		t.Fatal("unpark() = false on a live pool")
	}
	got, cold, err := p.acquire(t.Context())
	if got != ev || cold || err != nil {
		t.Fatalf("acquire() after release = %v, %v, %v; want the warm env", got, cold, err)
	}
}

// A caller arriving while an environment is being parked waits for it
// rather than cold-starting, and gets it by hand-off without it going idle.
func TestPoolWaitsForParkingEnv(t *testing.T) {
	p := testPool()
	ev := &env{id: "e1"}
	p.acquire(t.Context())
	p.started(ev)
	p.park(ev)
	got := make(chan *env, 1)
	go func() {
		e, cold, err := p.acquire(context.Background())
		if cold || err != nil {
			t.Errorf("acquire() while an env parks = cold %v, err %v; want to wait", cold, err)
		}
		got <- e
	}()
	select {
	case <-p.arrivals:
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting caller did not signal arrivals")
	}
	if !p.handOff(ev) {
		t.Fatal("handOff() = false with a caller waiting")
	}
	if e := <-got; e != ev {
		t.Fatalf("waiter got %v; want the parked env", e)
	}
	if len(p.idle) != 0 {
		t.Errorf("handed-off env went idle")
	}
}

// Only as many callers wait as there are parking environments; the rest
// cold-start.
func TestPoolExtraCallersColdStart(t *testing.T) {
	p := testPool()
	ev := &env{id: "e1"}
	p.acquire(t.Context())
	p.started(ev)
	p.park(ev)
	waiting := make(chan struct{})
	go func() {
		close(waiting)
		p.acquire(context.Background())
	}()
	<-waiting
	<-p.arrivals // the first caller waits
	_, cold, err := p.acquire(t.Context())
	if !cold || err != nil {
		t.Fatalf("second caller: cold %v, err %v; want a cold start", cold, err)
	}
	p.handOff(ev)
}

func TestPoolWaiterGivesUp(t *testing.T) {
	p := testPool()
	ev := &env{id: "e1"}
	p.acquire(t.Context())
	p.started(ev)
	p.park(ev)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := p.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire() = %v; want the context's error", err)
	}
	if p.handOff(ev) {
		t.Fatal("handOff() to a caller that gave up")
	}
	if !p.unpark(ev, time.Now()) || len(p.idle) != 1 {
		t.Fatal("the env did not go idle after the waiter left")
	}
}

func TestPoolRetire(t *testing.T) {
	p := testPool()
	idle, busy := &env{id: "idle"}, &env{id: "busy"}
	for _, e := range []*env{idle, busy} {
		p.acquire(t.Context())
		p.started(e)
	}
	p.park(idle)
	p.unpark(idle, time.Now())
	// Take the idle one so the next caller waits on the parking one.
	p.acquire(t.Context())
	p.park(busy)
	waiter := make(chan error, 1)
	go func() {
		_, _, err := p.acquire(context.Background())
		waiter <- err
	}()
	<-p.arrivals
	got := p.retire()
	if len(got) != 0 {
		t.Errorf("retire() returned %d idle envs; want 0 (the idle one was taken)", len(got))
	}
	if err := <-waiter; !errors.Is(err, errRetired) {
		t.Errorf("waiting caller after retire: %v; want errRetired", err)
	}
	if p.unpark(busy, time.Now()) {
		t.Error("unpark() into a retired pool = true; the caller must destroy the env")
	}
	if _, _, err := p.acquire(t.Context()); !errors.Is(err, errRetired) {
		t.Errorf("acquire() on a retired pool = %v; want errRetired", err)
	}
}

func TestPoolTakeIdleSince(t *testing.T) {
	p := testPool()
	old, fresh := &env{id: "old"}, &env{id: "fresh"}
	for _, e := range []*env{old, fresh} {
		p.acquire(t.Context())
		p.started(e)
	}
	p.park(old)
	p.park(fresh)
	now := time.Now()
	p.unpark(old, now.Add(-time.Hour))
	p.unpark(fresh, now)
	got := p.takeIdleSince(now.Add(-time.Minute))
	if len(got) != 1 || got[0] != old {
		t.Fatalf("takeIdleSince() = %v; want only the old env", got)
	}
	if e, _, _ := p.acquire(t.Context()); e != fresh {
		t.Errorf("the fresh env was not kept")
	}
}

// Many callers and parkers at once: every acquire ends with an env or a
// cold start, and nothing is lost or handed out twice.
func TestPoolStress(t *testing.T) {
	p := testPool()
	var mu sync.Mutex
	inUse := map[*env]bool{}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 200 {
				e, cold, err := p.acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if cold {
					e = &env{id: "n"}
					p.started(e)
				}
				mu.Lock()
				if inUse[e] {
					t.Errorf("env handed out twice (caller %d, round %d)", i, j)
				}
				inUse[e] = true
				mu.Unlock()
				p.park(e)
				mu.Lock()
				delete(inUse, e)
				mu.Unlock()
				if !p.handOff(e) {
					p.unpark(e, time.Now())
				}
			}
		})
	}
	wg.Wait()
	if p.parking != 0 || len(p.waiters) != 0 || len(p.busy) != 0 {
		t.Errorf("after the storm: parking %d, waiters %d, busy %d; want all 0", p.parking, len(p.waiters), len(p.busy))
	}
}

// An environment being destroyed stays listed, as "destroying", and keeps
// its pool alive until its teardown has finished.
func TestPoolListsDyingEnvsUntilRemoved(t *testing.T) {
	p := testPool()
	ev := &env{id: "e1"}
	p.acquire(t.Context())
	p.started(ev)
	p.park(ev)
	p.unpark(ev, time.Now().Add(-time.Hour))
	old := p.takeIdleSince(time.Now())
	if len(old) != 1 || old[0] != ev {
		t.Fatalf("takeIdleSince() = %v; want the idle env", old)
	}
	p.dies(ev)
	if got := p.info(); len(got) != 1 || got[0].ID != "e1" || got[0].State != "destroying" {
		t.Errorf("info() while destroying = %+v; want e1 destroying", got)
	}
	if p.empty() {
		t.Error("empty() = true while an env is being destroyed")
	}
	p.remove(ev, false)
	if got := p.info(); len(got) != 0 || !p.empty() {
		t.Errorf("after remove: info() = %+v, empty() = %v; want nothing left", got, p.empty())
	}
}

// A caller prefers the environment that is parking (the one that just
// answered, still thawed) to older frozen idle ones, unless it is waiting
// for its extensions.
func TestPoolPrefersParkingEnv(t *testing.T) {
	p := testPool()
	old, recent := &env{id: "old"}, &env{id: "recent"}
	for _, e := range []*env{old, recent} {
		p.acquire(t.Context())
		p.started(e)
	}
	p.park(old)
	p.unpark(old, time.Now())
	p.park(recent)
	got := make(chan *env, 1)
	go func() {
		e, cold, err := p.acquire(context.Background())
		if cold || err != nil {
			t.Errorf("acquire() = cold %v, err %v; want to wait for the parking env", cold, err)
		}
		got <- e
	}()
	select {
	case <-p.arrivals:
	case <-time.After(5 * time.Second):
		t.Fatal("acquire took an idle env instead of waiting for the parking one")
	}
	if !p.handOff(recent) {
		t.Fatal("handOff() = false with a caller waiting")
	}
	if e := <-got; e != recent {
		t.Fatalf("acquire() = %v; want the parking env %v", e.id, recent.id)
	}
	if len(p.idle) != 1 || p.idle[0] != old {
		t.Errorf("idle = %v; want the old env left frozen", p.idle)
	}

	// Parking, but waiting for its extensions: the idle env is taken.
	p.park(recent)
	p.lag()
	e, cold, err := p.acquire(t.Context())
	if e != old || cold || err != nil {
		t.Fatalf("acquire() beside a lagging env = %v, %v, %v; want the idle env", e, cold, err)
	}
}

// An environment on its way to being frozen is still the one a caller
// waits for, rather than an older idle one: the caller signals arrivals,
// on which putBack gives the freeze up (TestFreezeGivenUpForCaller) and
// hands the environment over, so sequential traffic stays on the
// environment it used (TestSequentialAfterBurstUsesOneEnv) and nobody
// waits out a freeze, which under load takes as long as the runtime's
// threads wait for a CPU.
func TestPoolWaitsForFreezingEnv(t *testing.T) {
	p := testPool()
	frozen, freezing := &env{id: "frozen"}, &env{id: "freezing"}
	for _, e := range []*env{frozen, freezing} {
		p.acquire(t.Context())
		p.started(e)
	}
	for _, e := range []*env{frozen, freezing} {
		p.park(e)
		p.unpark(e, time.Now())
	}
	if !p.repark(freezing) {
		t.Fatal("repark() = false for an idle env")
	}
	got := make(chan *env, 1)
	go func() {
		e, cold, err := p.acquire(context.Background())
		if cold || err != nil {
			t.Errorf("acquire() = cold %v, err %v; want to wait for the freezing env", cold, err)
		}
		got <- e
	}()
	select {
	case <-p.arrivals:
	case <-time.After(5 * time.Second):
		t.Fatal("the caller did not signal its arrival to the freezing env")
	}
	if !p.handOff(freezing) { // what putBack does once the freeze is given up
		t.Fatal("handOff() = false with a caller waiting")
	}
	if e := <-got; e != freezing {
		t.Fatalf("waiter got %v; want the env whose freeze was given up", e.id)
	}
}

// slowFreezer is a driver whose freezes never finish on their own (as a
// freeze on a loaded machine waits for every runtime thread to get a
// CPU): Freeze returns only when its context ends.
type slowFreezer struct {
	mu     sync.Mutex
	thawed int
	fail   error // returned by Freeze at once, if set
}

func (f *slowFreezer) Freeze(ctx context.Context) error {
	if f.fail != nil {
		return f.fail
	}
	<-ctx.Done()
	return context.Cause(ctx)
}

func (f *slowFreezer) Thaw(context.Context) error {
	f.mu.Lock()
	f.thawed++
	f.mu.Unlock()
	return nil
}

// A freeze under way is given up when a caller wants the environment:
// the caller takes it thawed instead of waiting for the freeze to end
// (and then for a thaw); a freeze that fails on its own still makes the
// environment unusable.
func TestFreezeGivenUpForCaller(t *testing.T) {
	fz := &slowFreezer{}
	e := &env{id: "freezing", fz: fz, log: slog.New(slog.DiscardHandler)}
	wanted := make(chan struct{}, 1)
	done := make(chan bool, 1)
	go func() { done <- e.freezeUnless(wanted) }()
	select {
	case <-done:
		t.Fatal("freezeUnless returned before the freeze ended or a caller came")
	case <-time.After(50 * time.Millisecond):
	}
	wanted <- struct{}{}
	select {
	case ok := <-done:
		if !ok || e.frozen {
			t.Errorf("freezeUnless() = %v, frozen %v; want a usable, thawed env", ok, e.frozen)
		}
	case <-time.After(4 * time.Second): // the freeze's own limit is 5 s
		t.Fatal("freezeUnless did not give up the freeze for the caller")
	}
	if fz.thawed != 1 {
		t.Errorf("Thaw called %d times after the freeze was given up; want 1", fz.thawed)
	}

	failing := &env{id: "broken", fz: &slowFreezer{fail: errors.New("cgroup gone")}, log: slog.New(slog.DiscardHandler)}
	if failing.freezeUnless(wanted) {
		t.Error("freezeUnless() = true for a freeze that failed; want false")
	}
}

// An environment the retired pool lets go of stays listed, as destroying,
// until its destroy ends (remove): a listing in between saw none, and a
// caller waiting for the environments to be gone went on before the
// extensions had shut down (TestShutdownOutputKept failed so).
func TestRetiredPoolListsEnvsUntilRemoved(t *testing.T) {
	p := testPool()
	idle, parking := &env{id: "idle"}, &env{id: "parking"}
	for _, e := range []*env{idle, parking} {
		p.acquire(t.Context())
		p.started(e)
	}
	p.park(idle)
	p.unpark(idle, time.Now())
	p.park(parking)
	if got := p.retire(); len(got) != 1 || got[0] != idle {
		t.Fatalf("retire() = %v; want the idle env", got)
	}
	if p.unpark(parking, time.Now()) {
		t.Fatal("unpark() on a retired pool = true; want false, for the caller to destroy it")
	}
	states := map[string]string{}
	for _, i := range p.info() {
		states[i.ID] = i.State
	}
	if want := map[string]string{"idle": "destroying", "parking": "destroying"}; !maps.Equal(states, want) {
		t.Errorf("info() = %v; want %v", states, want)
	}
	p.remove(idle, false)
	p.remove(parking, false)
	if n := len(p.info()); n != 0 || !p.retireIfEmpty() {
		t.Errorf("after remove: %d listed, empty %v; want none", n, p.retireIfEmpty())
	}
}
