package placement

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The simulation: one api node's Registry in front of simulated workers, in
// virtual time, single goroutine. Workers heartbeat every second with their
// true state; invocations arrive as a Poisson process over functions chosen
// by a Zipf law; each function has a memory size and a duration; idle
// environments are reaped after IdleTimeout and evicted least recently used
// first when a cold start needs room; workers drain at their lease end and a
// new one joins when a drained one leaves; some workers vanish without
// notice and are replaced a few seconds later.

type simConfig struct {
	Workers     int
	Functions   int
	Seconds     int     // simulated time
	Util        float64 // target busy memory / capacity
	WorkerMB    int
	MaxEnvs     int
	IdleTimeout time.Duration
	Heartbeat   time.Duration
	Timeout     time.Duration
	DrainFrac   float64 // fraction of workers whose lease ends during the run
	FailFrac    float64 // fraction of workers that vanish during the run
	Zipf        float64
	Policy      Policy
	Seed        uint64
	slack       float64 // CacheSlack; -1: no preference for cached code
}

func (c simConfig) String() string {
	return fmt.Sprintf("workers=%d functions=%d", c.Workers, c.Functions)
}

type simResult struct {
	Invocations    int
	Warm           int // truly warm at the worker
	Cold           int
	ColdCached     int // cold starts on a worker that had the code cached
	NoCapacity     int // Place found no worker
	Refused        int // worker had no room (view wrong)
	LostToDead     int // placed on a worker that had died, before its deadline
	DeadPastDeadln int // violation: placed on a dead worker past its deadline
	DrainingPlaced int // violation: placed on a worker after it announced draining
	GonePlaced     int // violation: placed on a worker that left
	OverCapacity   int // violation: a worker would exceed its memory or env slots
	Drains, Fails  int
	PlaceNanos     int64
	ImbalanceSum   float64
	ImbalanceTicks int
	ImbalanceMax   float64
}

func (r simResult) WarmRatio() float64 { return float64(r.Warm) / float64(max(r.Warm+r.Cold, 1)) }
func (r simResult) NsPerPlace() float64 {
	return float64(r.PlaceNanos) / float64(max(r.Invocations, 1))
}
func (r simResult) Imbalance() float64 { return r.ImbalanceSum / float64(max(r.ImbalanceTicks, 1)) }

type simFn struct {
	key   string
	memMB int
	dur   time.Duration
}

type simWorker struct {
	id             string
	memMB, maxEnvs int
	busyMB, busy   int
	idle           map[string][]time.Duration // key → last-use times of idle envs
	idleMB, idleN  int
	idleMem        map[string]int
	recent         []string
	seq            uint64
	lastHB         time.Duration
	leaseEnd       time.Duration
	draining, dead bool
	gone           bool
}

type simEvent struct {
	at   time.Duration
	kind int // evDone, evHeartbeat, evLease, evFail, evJoin, evTick
	w    *simWorker
	t    Ticket
	fn   *simFn
}

const (
	evDone = iota
	evHeartbeat
	evLease
	evFail
	evJoin
	evTick
)

type evHeap []*simEvent

func (h evHeap) Len() int           { return len(h) }
func (h evHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h evHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *evHeap) Push(x any)        { *h = append(*h, x.(*simEvent)) }
func (h *evHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type sim struct {
	cfg     simConfig
	now     time.Duration
	base    time.Time
	reg     *Registry
	fns     []simFn
	workers map[string]*simWorker
	events  evHeap
	churn   *rand.Rand
	next    int
	res     simResult
}

func newFunctions(n int, rng *rand.Rand) []simFn {
	mems := []int{128, 128, 256, 256, 512, 1024, 2048}
	fns := make([]simFn, n)
	for i := range fns {
		// Durations log-normal around 200 ms, 10 ms to 10 s.
		d := math.Exp(math.Log(0.2) + 1.2*rng.NormFloat64())
		d = min(max(d, 0.01), 10)
		fns[i] = simFn{key: fmt.Sprintf("fn%05d:1", i), memMB: mems[rng.IntN(len(mems))], dur: time.Duration(d * float64(time.Second))}
	}
	return fns
}

func runSim(cfg simConfig) simResult {
	wl := rand.New(rand.NewPCG(cfg.Seed, 1))
	s := &sim{cfg: cfg, base: time.Unix(1_800_000_000, 0), workers: map[string]*simWorker{}, churn: rand.New(rand.NewPCG(cfg.Seed, 2))}
	s.fns = newFunctions(cfg.Functions, wl)
	s.reg = New(Config{HeartbeatTimeout: cfg.Timeout, Policy: cfg.Policy, CacheSlack: cfg.slack, Seed: cfg.Seed + 3, Now: func() time.Time { return s.base.Add(s.now) }})
	if cfg.slack < 0 {
		s.reg.cfg.CacheSlack = -1
	}
	zipf := rand.NewZipf(wl, cfg.Zipf, 1, uint64(cfg.Functions-1))
	// The mean memory-seconds per invocation sets the arrival rate.
	var ms float64
	const samples = 20000
	for range samples {
		f := s.fns[zipf.Uint64()]
		ms += float64(f.memMB) * f.dur.Seconds()
	}
	ms /= samples
	rate := cfg.Util * float64(cfg.Workers*cfg.WorkerMB) / ms
	end := time.Duration(cfg.Seconds) * time.Second
	for range cfg.Workers {
		s.join(end)
	}
	heap.Push(&s.events, &simEvent{at: time.Second, kind: evTick})
	nextArrival := time.Duration(wl.ExpFloat64() / rate * float64(time.Second))
	for s.now < end {
		if len(s.events) > 0 && s.events[0].at <= nextArrival {
			ev := heap.Pop(&s.events).(*simEvent)
			s.now = ev.at
			s.handle(ev, end)
			continue
		}
		s.now = nextArrival
		s.invoke(&s.fns[zipf.Uint64()])
		nextArrival += time.Duration(wl.ExpFloat64() / rate * float64(time.Second))
	}
	return s.res
}

// join starts a worker now; its lease ends within the run with probability
// DrainFrac, and it fails within the run with probability FailFrac.
func (s *sim) join(end time.Duration) {
	s.next++
	w := &simWorker{id: fmt.Sprintf("w%05d", s.next), memMB: s.cfg.WorkerMB, maxEnvs: s.cfg.MaxEnvs, idle: map[string][]time.Duration{}, idleMem: map[string]int{}}
	s.workers[w.id] = w
	left := end - s.now
	w.leaseEnd = s.now + 100*end
	if s.churn.Float64() < s.cfg.DrainFrac {
		w.leaseEnd = s.now + time.Duration(s.churn.Float64()*float64(left))
		heap.Push(&s.events, &simEvent{at: w.leaseEnd, kind: evLease, w: w})
	}
	if s.churn.Float64() < s.cfg.FailFrac {
		heap.Push(&s.events, &simEvent{at: s.now + time.Duration(s.churn.Float64()*float64(left)), kind: evFail, w: w})
	}
	s.announce(w)
	// Stagger heartbeats over the period.
	heap.Push(&s.events, &simEvent{at: s.now + time.Duration(s.churn.Float64()*float64(s.cfg.Heartbeat)), kind: evHeartbeat, w: w})
}

func (s *sim) announce(w *simWorker) {
	w.seq++
	w.lastHB = s.now
	idle := make(map[string]int, len(w.idle))
	for k, e := range w.idle {
		idle[k] = len(e)
	}
	s.reg.Apply(Announce{
		V: MessageVersion, Worker: w.id, Addr: w.id + ":9000", Seq: w.seq,
		MemoryMB: w.memMB, MaxEnvs: w.maxEnvs, BusyMB: w.busyMB, BusyEnvs: w.busy,
		Idle: idle, Cached: w.recent, Draining: w.draining, LeaseEnd: s.base.Add(w.leaseEnd), Leaving: w.gone,
	})
}

func (s *sim) handle(ev *simEvent, end time.Duration) {
	w := ev.w
	switch ev.kind {
	case evTick:
		var sum, mx float64
		n := 0
		for _, w := range s.workers {
			if w.dead || w.gone || w.draining {
				continue
			}
			u := float64(w.busyMB)
			sum += u
			mx = max(mx, u)
			n++
		}
		if sum > 0 {
			r := mx / (sum / float64(n))
			s.res.ImbalanceSum += r
			s.res.ImbalanceTicks++
			s.res.ImbalanceMax = max(s.res.ImbalanceMax, r)
		}
		s.reg.Sweep()
		heap.Push(&s.events, &simEvent{at: s.now + time.Second, kind: evTick})
	case evHeartbeat:
		if w.dead || w.gone {
			return
		}
		for k, e := range w.idle {
			kept := e[:0]
			for _, t := range e {
				if s.now-t < s.cfg.IdleTimeout {
					kept = append(kept, t)
				} else {
					w.idleN--
					w.idleMB -= w.idleMem[k]
				}
			}
			if len(kept) == 0 {
				delete(w.idle, k)
			} else {
				w.idle[k] = kept
			}
		}
		s.announce(w)
		heap.Push(&s.events, &simEvent{at: s.now + s.cfg.Heartbeat, kind: evHeartbeat, w: w})
	case evLease:
		if w.dead || w.gone {
			return
		}
		s.res.Drains++
		w.draining = true
		clear(w.idle)
		w.idleN, w.idleMB = 0, 0
		s.announce(w)
		s.maybeLeave(w, end)
	case evFail:
		if w.dead || w.gone {
			return
		}
		s.res.Fails++
		w.dead = true
		heap.Push(&s.events, &simEvent{at: s.now + 5*time.Second, kind: evJoin})
	case evJoin:
		s.join(end)
	case evDone:
		if w.dead || w.gone {
			return
		}
		w.busyMB -= ev.fn.memMB
		w.busy--
		if w.draining {
			s.reg.Done(ev.t, false)
			s.maybeLeave(w, end)
			return
		}
		w.idle[ev.fn.key] = append(w.idle[ev.fn.key], s.now)
		w.idleMem[ev.fn.key] = ev.fn.memMB
		w.idleN++
		w.idleMB += ev.fn.memMB
		s.reg.Done(ev.t, true)
	}
}

func (s *sim) maybeLeave(w *simWorker, end time.Duration) {
	if w.busy > 0 {
		return
	}
	w.gone = true
	s.announce(w)
	s.join(end)
}

func (s *sim) invoke(f *simFn) {
	start := time.Now()
	t, err := s.reg.Place(f.key, f.memMB)
	s.res.PlaceNanos += time.Since(start).Nanoseconds()
	s.res.Invocations++
	if err != nil {
		s.res.NoCapacity++
		return
	}
	w := s.workers[t.Worker]
	switch {
	case w.gone:
		s.res.GonePlaced++
		return
	case w.dead:
		if s.now >= w.lastHB+s.cfg.Timeout {
			s.res.DeadPastDeadln++
		}
		s.res.LostToDead++
		return
	case w.draining:
		s.res.DrainingPlaced++
		s.reg.Done(t, false)
		return
	}
	if w.busyMB+f.memMB > w.memMB || w.busy+1 > w.maxEnvs {
		s.res.OverCapacity++
		s.res.Refused++
		s.reg.Done(t, false)
		return
	}
	if e := w.idle[f.key]; len(e) > 0 {
		s.res.Warm++
		w.idle[f.key] = e[:len(e)-1]
		if len(e) == 1 {
			delete(w.idle, f.key)
		}
		w.idleN--
		w.idleMB -= f.memMB
	} else {
		s.res.Cold++
		for _, k := range w.recent {
			if k == f.key {
				s.res.ColdCached++
				break
			}
		}
		for w.busyMB+w.idleMB+f.memMB > w.memMB || w.busy+w.idleN+1 > w.maxEnvs {
			s.evictOldest(w)
		}
	}
	w.busyMB += f.memMB
	w.busy++
	w.recent = touch(w.recent, f.key, 64)
	heap.Push(&s.events, &simEvent{at: s.now + f.dur, kind: evDone, w: w, t: t, fn: f})
}

func (s *sim) evictOldest(w *simWorker) {
	var ok string
	var ot time.Duration = math.MaxInt64
	for k, e := range w.idle {
		if e[0] < ot {
			ok, ot = k, e[0]
		}
	}
	e := w.idle[ok]
	w.idle[ok] = e[1:]
	if len(e) == 1 {
		delete(w.idle, ok)
	}
	w.idleN--
	w.idleMB -= w.idleMem[ok]
}

// touch moves key to the front of the recent list, keeping at most n.
func touch(recent []string, key string, n int) []string {
	for i, k := range recent {
		if k == key {
			copy(recent[1:i+1], recent[:i])
			recent[0] = key
			return recent
		}
	}
	if len(recent) < n {
		recent = append(recent, "")
	}
	copy(recent[1:], recent[:len(recent)-1])
	recent[0] = key
	return recent
}

func baseSim(workers, functions, seconds int) simConfig {
	return simConfig{
		Workers: workers, Functions: functions, Seconds: seconds,
		Util: 0.5, WorkerMB: 8192, MaxEnvs: 32,
		IdleTimeout: 20 * time.Second, Heartbeat: time.Second, Timeout: 3 * time.Second,
		DrainFrac: 0.2, FailFrac: 0.05, Zipf: 1.1, Seed: 42,
	}
}

func TestSimulation(t *testing.T) {
	cfg := baseSim(1000, 10000, 12)
	if testing.Short() || raceEnabled {
		cfg = baseSim(256, 10000, 10)
	}
	results := map[Policy]simResult{}
	for _, p := range []struct {
		name string
		p    Policy
	}{{"warm", Warm}, {"random", Random}, {"least-loaded", LeastLoaded}} {
		c := cfg
		c.Policy = p.p
		r := runSim(c)
		results[p.p] = r
		t.Logf("%s %s: invocations %d, warm %.3f, cold with code cached %.3f, no-capacity %d, lost-to-dead %d, drains %d, fails %d, %.0f ns/place, imbalance mean %.2f max %.2f",
			cfg, p.name, r.Invocations, r.WarmRatio(), float64(r.ColdCached)/float64(max(r.Cold, 1)), r.NoCapacity, r.LostToDead, r.Drains, r.Fails, r.NsPerPlace(), r.Imbalance(), r.ImbalanceMax)
		if r.DeadPastDeadln != 0 || r.DrainingPlaced != 0 || r.GonePlaced != 0 {
			t.Errorf("%s: placed on dead past deadline %d, on draining %d, on gone %d; want 0", p.name, r.DeadPastDeadln, r.DrainingPlaced, r.GonePlaced)
		}
		if r.OverCapacity != 0 {
			t.Errorf("%s: %d placements beyond a worker's capacity; want 0", p.name, r.OverCapacity)
		}
		if r.Drains == 0 || r.Fails == 0 || r.Warm+r.Cold < r.Invocations/2 {
			t.Errorf("%s: drains %d, fails %d, served %d of %d: the run did not exercise churn and load", p.name, r.Drains, r.Fails, r.Warm+r.Cold, r.Invocations)
		}
	}
	warm, random := results[Warm].WarmRatio(), results[Random].WarmRatio()
	if warm < random+warmMargin {
		t.Errorf("warm-hit ratio %.3f, random %.3f; want at least %.2f more", warm, random, warmMargin)
	}
	if warm <= results[LeastLoaded].WarmRatio() {
		t.Errorf("warm-hit ratio %.3f, least-loaded %.3f; want more", warm, results[LeastLoaded].WarmRatio())
	}
}

// warmMargin is about half the difference measured (see docs/BENCHMARKS.md).
const warmMargin = 0.30

func BenchmarkSimulation(b *testing.B) {
	for _, sz := range [][2]int{{256, 10000}, {1000, 10000}, {4096, 50000}} {
		for _, p := range []struct {
			name string
			p    Policy
		}{{"warm", Warm}, {"random", Random}, {"least-loaded", LeastLoaded}} {
			b.Run(fmt.Sprintf("workers=%d/functions=%d/%s", sz[0], sz[1], p.name), func(b *testing.B) {
				cfg := baseSim(sz[0], sz[1], 20)
				cfg.Policy = p.p
				var r simResult
				for range b.N {
					r = runSim(cfg)
				}
				b.ReportMetric(r.WarmRatio(), "warm-ratio")
				b.ReportMetric(r.NsPerPlace(), "ns/place")
				b.ReportMetric(float64(r.ColdCached)/float64(max(r.Cold, 1)), "cold-cached-ratio")
				b.ReportMetric(r.Imbalance(), "imbalance")
				b.ReportMetric(float64(r.NoCapacity)/float64(r.Invocations), "no-capacity-ratio")
				b.ReportMetric(float64(r.Invocations), "invocations")
			})
		}
	}
}

// BenchmarkCacheSlack: how strongly to prefer workers with the code cached.
// -1 turns the preference off (only idle workers are within the bound).
func BenchmarkCacheSlack(b *testing.B) {
	for _, sl := range []float64{-1, 0.05, 0.25, 1, 1000} {
		b.Run(fmt.Sprintf("slack=%g", sl), func(b *testing.B) {
			cfg := baseSim(1000, 10000, 12)
			cfg.slack = sl
			var r simResult
			for range b.N {
				r = runSim(cfg)
			}
			b.ReportMetric(r.WarmRatio(), "warm-ratio")
			b.ReportMetric(float64(r.ColdCached)/float64(max(r.Cold, 1)), "cold-cached-ratio")
			b.ReportMetric(r.Imbalance(), "imbalance")
			b.ReportMetric(r.ImbalanceMax, "imbalance-max")
		})
	}
}
