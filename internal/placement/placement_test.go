package placement

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func hb(id string, seq uint64) Announce {
	return Announce{V: MessageVersion, Worker: id, Addr: id + ":9000", Seq: seq, MemoryMB: 1024, MaxEnvs: 8}
}

func TestAnnounceRoundTrip(t *testing.T) {
	a := hb("w1", 7)
	a.V = 0
	a.Idle = map[string]int{"acct:f:3": 2}
	a.Cached = []string{"acct:f:3"}
	a.LeaseEnd = time.Unix(1_800_000_000, 0).UTC()
	b, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeAnnounce(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.V != MessageVersion || got.Idle["acct:f:3"] != 2 || !got.LeaseEnd.Equal(a.LeaseEnd) || got.Seq != 7 {
		t.Errorf("round trip = %+v", got)
	}
	if _, err := DecodeAnnounce([]byte(`{"v":2,"worker":"w1"}`)); err == nil {
		t.Errorf("version 2 accepted; want an error")
	}
	if _, err := DecodeAnnounce([]byte(`{"v":1}`)); err == nil {
		t.Errorf("message without worker accepted; want an error")
	}
}

func TestDeadlineAndDraining(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	r := New(Config{HeartbeatTimeout: 3 * time.Second, Now: c.now, Seed: 1})
	r.Apply(hb("a", 1))
	c.add(2 * time.Second)
	if tk, err := r.Place("f", 128); err != nil || tk.Worker != "a" {
		t.Fatalf("Place before the deadline = %+v, %v; want worker a", tk, err)
	}
	c.add(time.Second) // exactly at the deadline
	if tk, err := r.Place("f", 128); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("Place at the deadline = %+v, %v; want ErrNoCapacity", tk, err)
	}
	r.Apply(hb("a", 1)) // stale: ignored
	if _, err := r.Place("f", 128); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("a stale heartbeat revived the worker")
	}
	r.Apply(hb("a", 2)) // a late heartbeat brings it back
	if _, err := r.Place("f", 128); err != nil {
		t.Fatalf("Place after a fresh heartbeat: %v", err)
	}
	d := hb("a", 3)
	d.Draining = true
	d.Idle = map[string]int{"f": 3}
	r.Apply(d)
	if tk, err := r.Place("f", 128); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("Place on a draining worker = %+v, %v; want ErrNoCapacity", tk, err)
	}
	r.Apply(Announce{V: MessageVersion, Worker: "a", Seq: 4, Leaving: true})
	if n := len(r.Workers()); n != 0 {
		t.Errorf("%d workers after leaving; want 0", n)
	}
}

func TestPrefersWarmThenCached(t *testing.T) {
	r := New(Config{Seed: 1})
	for i := range 20 {
		r.Apply(hb(fmt.Sprintf("w%d", i), 1))
	}
	a := hb("w7", 2)
	a.Idle = map[string]int{"hot": 1}
	r.Apply(a)
	tk, err := r.Place("hot", 128)
	if err != nil || tk.Worker != "w7" || !tk.Warm {
		t.Fatalf("Place = %+v, %v; want the warm env on w7", tk, err)
	}
	// The idle env is reserved: the next decision is a cold one, and goes to
	// the worker that has the code (busy, but within the load bound as the
	// mean includes it) or elsewhere; never warm again.
	tk2, err := r.Place("hot", 128)
	if err != nil || tk2.Warm {
		t.Fatalf("second Place = %+v, %v; want a cold placement", tk2, err)
	}
	r.Done(tk, true)
	tk3, err := r.Place("hot", 128)
	if err != nil || tk3.Worker != "w7" || !tk3.Warm {
		t.Fatalf("Place after Done = %+v, %v; want the env on w7 again", tk3, err)
	}
	// Cached: w3 ran "c" and is idle; the others are loaded as much as it.
	c := hb("w3", 2)
	c.Cached = []string{"c"}
	r.Apply(c)
	tk4, err := r.Place("c", 128)
	if err != nil || tk4.Worker != "w3" || !tk4.Cached {
		t.Fatalf("Place = %+v, %v; want w3 for its cached code", tk4, err)
	}
}

// TestConcurrentPlace: many goroutines deciding at once never take one idle
// environment twice nor more memory than a worker has.
func TestConcurrentPlace(t *testing.T) {
	r := New(Config{Seed: 1})
	const workers = 8
	for i := range workers {
		a := hb(fmt.Sprintf("w%d", i), 1)
		a.Idle = map[string]int{"k": 2}
		r.Apply(a)
	}
	var mu sync.Mutex
	var tickets []Ticket
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for range 10 {
				tk, err := r.Place("k", 128)
				if err != nil {
					continue
				}
				mu.Lock()
				tickets = append(tickets, tk)
				mu.Unlock()
			}
			a := hb(fmt.Sprintf("w%d", g%workers), 0) // stale, ignored
			r.Apply(a)
			r.Sweep()
		})
	}
	wg.Wait()
	warm, mem := 0, map[string]int{}
	for _, tk := range tickets {
		if tk.Warm {
			warm++
		}
		mem[tk.Worker] += tk.MemoryMB
	}
	if warm != 2*workers {
		t.Errorf("warm tickets %d; want %d (each idle env once)", warm, 2*workers)
	}
	// 1024 MB and 8 slots per worker: 8 environments of 128 MB each.
	if len(tickets) != 8*workers {
		t.Errorf("tickets %d; want %d", len(tickets), 8*workers)
	}
	for w, m := range mem {
		if m > 1024 {
			t.Errorf("%s: %d MB placed; capacity 1024", w, m)
		}
	}
	for _, tk := range tickets {
		r.Done(tk, false)
	}
	for _, ws := range r.Workers() {
		if ws.BusyMB != 0 || ws.BusyEnvs != 0 {
			t.Errorf("%s busy %d MB, %d envs after every Done; want 0", ws.ID, ws.BusyMB, ws.BusyEnvs)
		}
	}
}

// BenchmarkPlace: one decision and its Done against a steady registry, by
// cluster size; functions 10 per worker, 3 idle environments and 3 cached
// keys per worker.
func BenchmarkPlace(b *testing.B) {
	for _, n := range []int{256, 1024, 4096, 16384} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			// A fixed clock: setting up 16k workers takes longer than the
			// heartbeat timeout.
			at := time.Unix(1_800_000_000, 0)
			r := New(Config{Seed: 1, Now: func() time.Time { return at }})
			fns := 10 * n
			for i := range n {
				a := Announce{V: MessageVersion, Worker: fmt.Sprintf("w%d", i), Seq: 1, MemoryMB: 8192, MaxEnvs: 32, Idle: map[string]int{}}
				for j := range 3 {
					a.Idle[fmt.Sprintf("f%d", (i*3+j)%(fns/3))] = 1
					a.Cached = append(a.Cached, fmt.Sprintf("f%d", (i*7+j)%fns))
				}
				r.Apply(a)
			}
			keys := make([]string, fns)
			for i := range keys {
				keys[i] = fmt.Sprintf("f%d", i)
			}
			b.ResetTimer()
			for i := range b.N {
				tk, err := r.Place(keys[(i*7919)%fns], 256)
				if err != nil {
					b.Fatal(err)
				}
				r.Done(tk, tk.Warm) // warm environments stay warm, cold ones go
			}
		})
	}
}

func TestRefusedGoesElsewhere(t *testing.T) {
	r := New(Config{Seed: 1})
	r.Apply(hb("a", 1))
	r.Apply(hb("b", 1))
	tk, err := r.Place("f", 128)
	if err != nil {
		t.Fatal(err)
	}
	r.Refused(tk)
	for range 7 { // b has 8 slots of 128 MB
		tk2, err := r.Place("f", 128)
		if err != nil || tk2.Worker == tk.Worker {
			t.Fatalf("Place after %s refused = %+v, %v; want the other worker", tk.Worker, tk2, err)
		}
	}
	a := hb(tk.Worker, 2) // its next heartbeat: room again
	r.Apply(a)
	// The other has one slot left; 8 more fit only if tk.Worker is back.
	back := 0
	for range 8 {
		tk3, err := r.Place("f", 128)
		if err != nil {
			t.Fatalf("Place after a fresh heartbeat: %v", err)
		}
		if tk3.Worker == tk.Worker {
			back++
		}
	}
	if back < 7 {
		t.Errorf("%d of 8 placements on %s after its fresh heartbeat; want at least 7", back, tk.Worker)
	}
}

// TestPlaceExcept: a worker that refused an invocation is not chosen again
// for it, whichever step would have chosen it (warm, cached, two choices,
// or the top of the room heap), while the others are; with every worker
// excluded there is no capacity.
func TestPlaceExcept(t *testing.T) {
	for _, policy := range []Policy{Warm, Random, LeastLoaded} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			r := New(Config{Seed: 1, Policy: policy})
			a := hb("a", 1)
			a.MemoryMB = 8192 // the most room: the heap's top
			a.Idle = map[string]int{"f": 1}
			a.Cached = []string{"f"}
			r.Apply(a)
			r.Apply(hb("b", 1))
			r.Apply(hb("c", 1))
			if tk, err := r.Place("f", 128); err != nil || policy != Random && tk.Worker != "a" {
				t.Fatalf("Place = %+v, %v; want a (warm, most room)", tk, err)
			} else {
				r.Done(tk, tk.Worker == "a")
			}
			seen := map[string]int{}
			for range 12 {
				tk, err := r.PlaceExcept("f", 128, []string{"a"})
				if err != nil {
					t.Fatalf("PlaceExcept(a) = %v", err)
				}
				seen[tk.Worker]++
				r.Done(tk, false)
			}
			if seen["a"] != 0 || seen["b"]+seen["c"] != 12 {
				t.Errorf("placements except a = %v; want none on a", seen)
			}
			if tk, err := r.PlaceExcept("f", 128, []string{"a", "b", "c"}); !errors.Is(err, ErrNoCapacity) {
				t.Errorf("PlaceExcept(all) = %+v, %v; want ErrNoCapacity", tk, err)
			}
			// The excluded workers are back in the heap afterwards.
			if tk, err := r.Place("g", 4096); err != nil || tk.Worker != "a" {
				t.Errorf("Place(4096 MB) after the exclusions = %+v, %v; want a, the only one with room", tk, err)
			}
		})
	}
}

// TestDrainingTicket: a worker that answers that it is draining is out of
// placement at once, before its announcement arrives, and only that one.
func TestDrainingTicket(t *testing.T) {
	r := New(Config{Seed: 1})
	a := hb("a", 1)
	a.Idle = map[string]int{"f": 1}
	r.Apply(a)
	r.Apply(hb("b", 1))
	tk, err := r.Place("f", 128)
	if err != nil || tk.Worker != "a" {
		t.Fatalf("Place = %+v, %v; want the warm a", tk, err)
	}
	r.Draining(tk)
	r.Done(tk, false)
	for range 10 {
		tk2, err := r.Place("f", 128)
		if err != nil || tk2.Worker != "b" {
			t.Fatalf("Place after a said it drains = %+v, %v; want b", tk2, err)
		}
		r.Done(tk2, false)
	}
	var draining []string
	for _, w := range r.Workers() {
		if w.Draining {
			draining = append(draining, w.ID)
		}
	}
	if len(draining) != 1 || draining[0] != "a" {
		t.Errorf("draining workers = %v; want [a]", draining)
	}
}

// Idle counts a key's idle environments on the workers in placement only:
// reserved ones and those of a draining worker do not count.
func TestIdle(t *testing.T) {
	r := New(Config{Seed: 1})
	a, b := hb("a", 1), hb("b", 1)
	a.Idle = map[string]int{"k": 2, "other": 1}
	b.Idle = map[string]int{"k": 1}
	r.Apply(a)
	r.Apply(b)
	if got := r.Idle("k"); got != 3 {
		t.Errorf("Idle(k) = %d, want 3", got)
	}
	tk, err := r.Place("k", 128)
	if err != nil || !tk.Warm {
		t.Fatalf("Place = %+v, %v; want warm", tk, err)
	}
	if got := r.Idle("k"); got != 2 {
		t.Errorf("Idle(k) after a reservation = %d, want 2", got)
	}
	d := hb("b", 2)
	d.Idle = map[string]int{"k": 1}
	d.Draining = true
	r.Apply(d)
	if got, want := r.Idle("k"), map[string]int{"a": 1, "b": 2}[tk.Worker]; got != want {
		t.Errorf("Idle(k) with b draining = %d, want %d", got, want)
	}
	if got := r.Idle("none"); got != 0 {
		t.Errorf("Idle(none) = %d, want 0", got)
	}
}

// TestAnnounceBeforeDone: an announce the worker published while the
// environment still ran its invocation (none idle), arriving just after
// this node gave the environment back, does not take it away; sequential
// invocations stay on the warm worker. One arriving later than
// announceLag after the Done does.
func TestAnnounceBeforeDone(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	r := New(Config{Seed: 1, Now: c.now})
	r.Apply(hb("cold", 1))
	a := hb("hot", 1)
	a.Idle = map[string]int{"f": 1}
	r.Apply(a)
	tk, err := r.Place("f", 128)
	if err != nil || tk.Worker != "hot" || !tk.Warm {
		t.Fatalf("Place = %+v, %v; want the warm env on hot", tk, err)
	}
	during := hb("hot", 2) // published while the invocation ran
	during.BusyMB, during.BusyEnvs = 128, 1
	r.Done(tk, true)
	c.add(announceLag / 5)
	r.Apply(during)
	tk, err = r.Place("f", 128)
	if err != nil || tk.Worker != "hot" || !tk.Warm {
		t.Fatalf("Place after a stale announce = %+v, %v; want the warm env on hot still", tk, err)
	}
	r.Done(tk, true)
	c.add(announceLag)
	r.Apply(hb("hot", 3)) // the env is gone since (evicted, say)
	if tk, err := r.Place("f", 128); err != nil || tk.Warm {
		t.Fatalf("Place after a later announce without it = %+v, %v; want a cold placement", tk, err)
	}
}
