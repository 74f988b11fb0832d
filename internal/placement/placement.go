// Package placement is an api node's view of the cluster's workers and its
// choice of a worker for each invocation.
//
// A Registry is fed by the workers' Announce messages (join, heartbeat,
// drain, leave) and by the api node's own decisions (Place reserves, Done
// gives back). Place picks a worker holding an idle warm environment for the
// function version when one exists, reserving that environment so that two
// concurrent decisions never count on the same one; otherwise a worker with
// room, preferring one that recently ran the function (its code is cached)
// as long as that worker is not loaded beyond the mean by more than a bound,
// else the less loaded of two random workers. A worker past its heartbeat
// deadline or draining is never chosen.
//
// Every decision costs O(1) expected plus O(log n) for the room heap, in the
// number n of workers and independent of the number of functions; all of it
// in memory under one mutex. It is stdlib only: the cluster code carries the
// messages.
package placement

import (
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// ErrNoCapacity means no live worker has room for the environment.
var ErrNoCapacity = errors.New("placement: no worker has room")

// ErrUnknownWorker means the registry holds no worker of that id.
var ErrUnknownWorker = errors.New("no worker of that id in the cluster")

// Policy chooses how Place decides. Random and LeastLoaded are the baselines
// the simulation compares against.
type Policy int

const (
	// Warm: an idle warm environment, else a worker with the code cached
	// within the load bound, else the less loaded of two random workers.
	Warm Policy = iota
	// Random: a random worker with room (its idle environment is used if it
	// happens to hold one).
	Random
	// LeastLoaded: the worker with the most free memory.
	LeastLoaded
)

// Config holds a Registry's parameters. Zero values take the defaults.
type Config struct {
	// HeartbeatTimeout: a worker not heard from for this long is out of
	// placement. Default 3 s (workers heartbeat every second).
	HeartbeatTimeout time.Duration
	Policy           Policy
	// CacheSlack bounds the preference for workers with the code cached: such
	// a worker is taken only while its busy memory after the placement is at
	// most (1+CacheSlack) times the mean utilization of its capacity, plus
	// the new environment. Default 0.25.
	CacheSlack float64
	// MaxCached bounds the cached keys kept per worker. Default 64.
	MaxCached int
	// Now is the clock; default time.Now. The simulation passes its own.
	Now func() time.Time
	// Seed seeds the random choices (0: random).
	Seed uint64
}

// Ticket is one decision. Hand it back with Done when the invocation ends.
type Ticket struct {
	Worker   string
	Addr     string
	Key      string
	MemoryMB int
	// Warm: an idle environment of this worker for Key was reserved.
	Warm bool
	// Cached: the worker was chosen because it had run Key recently.
	Cached bool
	w      *worker
}

// Registry is the view of the workers. Safe for concurrent use.
type Registry struct {
	cfg Config

	mu       sync.Mutex
	rng      *rand.Rand
	workers  map[string]*worker
	live     []*worker // usable as far as known: in the indexes below
	room     roomHeap
	warm     map[string]*wset // key → live workers with an idle env for it
	cached   map[string]*wset // key → live workers that ran it recently
	totalCap int64            // memory of live workers
	busy     int64            // busy memory of live workers
}

type worker struct {
	id, addr string
	seq      uint64
	memMB    int
	maxEnvs  int
	busyMB   int
	busyEnvs int
	idle     map[string]int
	cached   map[string]int // key → position in Registry.cached[key]
	warmPos  map[string]int // key → position in Registry.warm[key]
	deadline time.Time
	draining bool
	leaseEnd time.Time
	live     bool
	livePos  int
	heapPos  int
	// given: when this node last gave an idle environment of a key back
	// (Done), for announceLag.
	given map[string]time.Time
}

// announceLag is how long after this node gave an environment back
// (Done) an announce that says the worker has none idle for that key is
// taken to predate it: a worker publishes its state every second, and one
// published while the environment was still running its invocation can
// arrive after the Done. Applied, it took the environment away until the
// next heartbeat, and sequential invocations went to a cold worker. A
// later announce corrects whatever this keeps.
const announceLag = 250 * time.Millisecond

// New returns an empty Registry.
func New(cfg Config) *Registry {
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 3 * time.Second
	}
	if cfg.CacheSlack <= 0 {
		cfg.CacheSlack = 0.25
	}
	if cfg.MaxCached <= 0 {
		cfg.MaxCached = 64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Registry{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		workers: make(map[string]*worker),
		warm:    make(map[string]*wset),
		cached:  make(map[string]*wset),
	}
}

// Apply takes a worker's message. Messages older than the last one seen from
// that worker are ignored.
func (r *Registry) Apply(a Announce) {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.workers[a.Worker]
	if w != nil && a.Seq <= w.seq {
		return
	}
	if a.Leaving {
		if w != nil {
			r.retire(w)
			delete(r.workers, a.Worker)
		}
		return
	}
	if w == nil {
		w = &worker{id: a.Worker, idle: map[string]int{}, cached: map[string]int{}, warmPos: map[string]int{}, livePos: -1, heapPos: -1}
		r.workers[a.Worker] = w
	}
	if w.live {
		r.totalCap -= int64(w.memMB)
		r.busy -= int64(w.busyMB)
	}
	w.addr, w.seq = a.Addr, a.Seq
	w.memMB, w.maxEnvs = a.MemoryMB, a.MaxEnvs
	w.busyMB, w.busyEnvs = a.BusyMB, a.BusyEnvs
	w.deadline = now.Add(r.cfg.HeartbeatTimeout)
	w.draining, w.leaseEnd = a.Draining, a.LeaseEnd
	if w.draining {
		r.retire(w)
		w.idle = copyIdle(a.Idle)
		return
	}
	if !w.live {
		w.live = true
		w.livePos = len(r.live)
		r.live = append(r.live, w)
		r.room.push(w)
		w.idle = map[string]int{}
		clear(w.cached)
	}
	r.totalCap += int64(w.memMB)
	r.busy += int64(w.busyMB)
	r.room.fix(w)

	for k := range w.idle {
		if a.Idle[k] <= 0 && now.Sub(w.given[k]) >= announceLag {
			delete(w.idle, k)
			r.setIdle(w, k, 0)
		}
	}
	for k, at := range w.given {
		if now.Sub(at) >= announceLag {
			delete(w.given, k)
		}
	}
	for k, n := range a.Idle {
		if n > 0 {
			r.setIdle(w, k, n)
		}
	}
	keep := make(map[string]bool, len(a.Cached))
	for i, k := range a.Cached {
		if i == r.cfg.MaxCached {
			break
		}
		keep[k] = true
	}
	for k := range w.cached {
		if !keep[k] {
			r.uncache(w, k)
		}
	}
	for k := range keep {
		r.cache(w, k)
	}
}

func copyIdle(m map[string]int) map[string]int {
	c := make(map[string]int, len(m))
	for k, n := range m {
		if n > 0 {
			c[k] = n
		}
	}
	return c
}

// Sweep takes workers past their heartbeat deadline out of the indexes.
// Place never picks one anyway; Sweep keeps the indexes and the mean load
// accurate. Call it about once per heartbeat period (it scans the live
// workers).
func (r *Registry) Sweep() {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := 0; i < len(r.live); {
		if w := r.live[i]; !now.Before(w.deadline) {
			r.retire(w) // moves the last one to i
			continue
		}
		i++
	}
}

// Place chooses a worker for one invocation of key needing memMB.
func (r *Registry) Place(key string, memMB int) (Ticket, error) {
	return r.PlaceExcept(key, memMB, nil)
}

// PlaceExcept is Place among the workers whose ids are not in except: the
// workers that refused this invocation already (they were fuller than this
// node's view, or draining). except is short (one entry per refusal); the
// exact fallback costs O(len(except) log n) more.
func (r *Registry) PlaceExcept(key string, memMB int, except []string) (Ticket, error) {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.cfg.Policy {
	case Random:
		for range 8 {
			if w := r.sampleLive(now); w != nil && fits(w, memMB) && !excluded(w, except) {
				return r.take(w, key, memMB, false), nil
			}
		}
	case LeastLoaded:
	default:
		if w := r.pickWarm(key, memMB, now, except); w != nil {
			return r.take(w, key, memMB, false), nil
		}
		if w := r.pickCached(key, memMB, now, except); w != nil {
			return r.take(w, key, memMB, true), nil
		}
		if w := r.pickTwo(memMB, now, except); w != nil {
			return r.take(w, key, memMB, false), nil
		}
	}
	// The excluded workers leave the heap while the top is looked at, so
	// that the top is the best of the others; they go back after.
	var held []*worker
	defer func() {
		for _, w := range held {
			if w.live {
				r.room.push(w)
			}
		}
	}()
	for len(r.room.es) > 0 {
		w := r.room.top()
		if !r.usable(w, now) {
			r.retire(w)
			continue
		}
		if excluded(w, except) {
			r.room.remove(w)
			held = append(held, w)
			continue
		}
		if !fits(w, memMB) {
			break
		}
		return r.take(w, key, memMB, false), nil
	}
	return Ticket{}, ErrNoCapacity
}

func excluded(w *worker, except []string) bool {
	for _, id := range except {
		if w.id == id {
			return true
		}
	}
	return false
}

// Done gives back a ticket: the invocation ended. idle says the environment
// stayed warm (it did not crash and the worker kept it).
func (r *Registry) Done(t Ticket, idle bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := t.w
	if w == nil || r.workers[w.id] != w {
		return
	}
	d := min(t.MemoryMB, w.busyMB)
	w.busyMB -= d
	w.busyEnvs = max(w.busyEnvs-1, 0)
	if !w.live {
		return
	}
	r.busy -= int64(d)
	r.room.fix(w)
	if idle {
		r.setIdle(w, t.Key, w.idle[t.Key]+1)
		if w.given == nil {
			w.given = map[string]time.Time{}
		}
		w.given[t.Key] = r.cfg.Now()
	}
}

// Refused gives back a ticket the worker turned down for want of room (its
// state was fuller than this node's view: other api nodes placed there since
// its last heartbeat). The worker counts as full until its next heartbeat, so
// the next decision, the retry included, goes elsewhere.
func (r *Registry) Refused(t Ticket) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := t.w
	if w == nil || r.workers[w.id] != w {
		return
	}
	d := w.memMB - w.busyMB
	w.busyMB = w.memMB
	if w.live {
		r.busy += int64(d)
		r.room.fix(w)
	}
}

// Draining gives back a ticket the worker turned down because it is
// draining (its lease ended, or an operator drained it) before its
// announcement of that reached this node. The worker is out of placement at
// once, as if that announcement had arrived; a later message of the worker
// says again what it is.
func (r *Registry) Draining(t Ticket) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := t.w
	if w == nil || r.workers[w.id] != w {
		return
	}
	w.draining = true
	r.retire(w)
}

// WorkerState is a copy of what the registry holds about one worker.
type WorkerState struct {
	ID, Addr     string
	MemoryMB     int
	BusyMB       int
	BusyEnvs     int
	MaxEnvs      int
	IdleEnvs     int
	Draining     bool
	LeaseEnd     time.Time
	Deadline     time.Time
	InPlacement  bool
	CachedLength int
}

// Workers lists the workers known, for `hearth cluster` and tests.
func (r *Registry) Workers() []WorkerState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]WorkerState, 0, len(r.workers))
	for _, w := range r.workers {
		n := 0
		for _, c := range w.idle {
			n += c
		}
		out = append(out, WorkerState{
			ID: w.id, Addr: w.addr, MemoryMB: w.memMB, BusyMB: w.busyMB, BusyEnvs: w.busyEnvs,
			MaxEnvs: w.maxEnvs, IdleEnvs: n, Draining: w.draining, LeaseEnd: w.leaseEnd,
			Deadline: w.deadline, InPlacement: w.live, CachedLength: len(w.cached),
		})
	}
	return out
}

// Idle is the number of idle environments of key on the workers in
// placement, as the registry knows them.
func (r *Registry) Idle(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	now, n := time.Now(), 0
	if s := r.warm[key]; s != nil {
		for _, w := range s.ws {
			if r.usable(w, now) {
				n += w.idle[key]
			}
		}
	}
	return n
}

func (r *Registry) usable(w *worker, now time.Time) bool {
	return w.live && !w.draining && now.Before(w.deadline)
}

func fits(w *worker, memMB int) bool {
	return w.busyMB+memMB <= w.memMB && w.busyEnvs < w.maxEnvs
}

func util(w *worker, memMB int) float64 {
	return float64(w.busyMB+memMB) / float64(w.memMB)
}

// pickWarm returns a live worker with an idle environment for key. It must
// have room as well: where the environment truly exists it does (busy and
// idle memory together fit), and where the worker has evicted it since its
// last heartbeat the invocation is a cold start that needs room.
// Of two such workers it takes the less loaded.
func (r *Registry) pickWarm(key string, memMB int, now time.Time, except []string) *worker {
	var best *worker
	for tries, got := 0, 0; tries < 4 && got < 2; tries++ {
		s := r.warm[key]
		if s == nil || len(s.ws) == 0 {
			break
		}
		w := s.ws[r.rng.IntN(len(s.ws))]
		if !r.usable(w, now) {
			r.retire(w)
			continue
		}
		if !fits(w, memMB) || excluded(w, except) {
			continue
		}
		got++
		if best == nil || util(w, memMB) < util(best, memMB) {
			best = w
		}
		if len(s.ws) == 1 {
			break
		}
	}
	return best
}

// pickCached returns the less loaded of two workers that ran key recently,
// among those with room and within the load bound.
func (r *Registry) pickCached(key string, memMB int, now time.Time, except []string) *worker {
	var best *worker
	for range 2 {
		s := r.cached[key]
		if s == nil || len(s.ws) == 0 {
			break
		}
		w := s.ws[r.rng.IntN(len(s.ws))]
		if !r.usable(w, now) {
			r.retire(w)
			continue
		}
		if !fits(w, memMB) || !r.withinBound(w, memMB) || excluded(w, except) {
			continue
		}
		if best == nil || util(w, memMB) < util(best, memMB) {
			best = w
		}
	}
	return best
}

// withinBound: after the placement, w's busy memory is at most (1+slack)
// times the mean utilization of its capacity, plus the new environment.
func (r *Registry) withinBound(w *worker, memMB int) bool {
	if r.totalCap == 0 {
		return false
	}
	mean := float64(r.busy) / float64(r.totalCap)
	return float64(w.busyMB) <= (1+r.cfg.CacheSlack)*mean*float64(w.memMB)
}

// pickTwo returns the less loaded of two random live workers with room.
func (r *Registry) pickTwo(memMB int, now time.Time, except []string) *worker {
	var best *worker
	for tries, got := 0, 0; tries < 6 && got < 2; tries++ {
		w := r.sampleLive(now)
		if w == nil {
			return best
		}
		if !fits(w, memMB) || excluded(w, except) {
			continue
		}
		got++
		if best == nil || util(w, memMB) < util(best, memMB) {
			best = w
		}
	}
	return best
}

// sampleLive returns a random usable live worker, retiring unusable ones it
// meets (each worker is retired once, so this is O(1) amortized).
func (r *Registry) sampleLive(now time.Time) *worker {
	for len(r.live) > 0 {
		w := r.live[r.rng.IntN(len(r.live))]
		if r.usable(w, now) {
			return w
		}
		r.retire(w)
	}
	return nil
}

// take reserves memMB on w, and an idle environment for key if w has one.
func (r *Registry) take(w *worker, key string, memMB int, cached bool) Ticket {
	t := Ticket{Worker: w.id, Addr: w.addr, Key: key, MemoryMB: memMB, Cached: cached, w: w}
	if n := w.idle[key]; n > 0 {
		t.Warm = true
		r.setIdle(w, key, n-1)
	}
	w.busyMB += memMB
	w.busyEnvs++
	r.busy += int64(memMB)
	r.room.fix(w)
	r.cache(w, key)
	return t
}

// setIdle records n idle environments of key on w, keeping the warm index.
func (r *Registry) setIdle(w *worker, key string, n int) {
	if n <= 0 {
		delete(w.idle, key)
		if pos, ok := w.warmPos[key]; ok {
			r.warm[key].remove(pos, key, func(x *worker) map[string]int { return x.warmPos })
			delete(w.warmPos, key)
			if len(r.warm[key].ws) == 0 {
				delete(r.warm, key)
			}
		}
		return
	}
	w.idle[key] = n
	if _, ok := w.warmPos[key]; ok || !w.live {
		return
	}
	s := r.warm[key]
	if s == nil {
		s = &wset{}
		r.warm[key] = s
	}
	w.warmPos[key] = len(s.ws)
	s.ws = append(s.ws, w)
}

func (r *Registry) cache(w *worker, key string) {
	if _, ok := w.cached[key]; ok || !w.live || len(w.cached) >= r.cfg.MaxCached {
		return
	}
	s := r.cached[key]
	if s == nil {
		s = &wset{}
		r.cached[key] = s
	}
	w.cached[key] = len(s.ws)
	s.ws = append(s.ws, w)
}

func (r *Registry) uncache(w *worker, key string) {
	pos, ok := w.cached[key]
	if !ok {
		return
	}
	r.cached[key].remove(pos, key, func(x *worker) map[string]int { return x.cached })
	delete(w.cached, key)
	if len(r.cached[key].ws) == 0 {
		delete(r.cached, key)
	}
}

// retire takes w out of every index; it stays known (Done still applies)
// until a newer message puts it back or it leaves.
func (r *Registry) retire(w *worker) {
	if !w.live {
		return
	}
	for k := range w.warmPos {
		r.warm[k].remove(w.warmPos[k], k, func(x *worker) map[string]int { return x.warmPos })
		if len(r.warm[k].ws) == 0 {
			delete(r.warm, k)
		}
	}
	clear(w.warmPos)
	for k := range w.cached {
		r.uncache(w, k)
	}
	last := r.live[len(r.live)-1]
	r.live[w.livePos] = last
	last.livePos = w.livePos
	r.live = r.live[:len(r.live)-1]
	w.livePos = -1
	r.room.remove(w)
	r.totalCap -= int64(w.memMB)
	r.busy -= int64(w.busyMB)
	w.live = false
}

// wset is a set of workers with O(1) add, remove and random choice; each
// worker keeps its position per key in a map that pos returns.
type wset struct{ ws []*worker }

func (s *wset) remove(i int, key string, pos func(*worker) map[string]int) {
	last := s.ws[len(s.ws)-1]
	s.ws[i] = last
	pos(last)[key] = i
	s.ws = s.ws[:len(s.ws)-1]
}

// roomHeap is a max-heap of live workers by free room (free memory, or none
// when the worker has no environment slot left). Each entry holds its key, so
// sifting compares within the heap's own array and touches a worker only to
// record its new position: at thousands of workers the workers no longer fit
// in the CPU's caches, and a comparison that followed the pointer cost a
// cache miss per level.
type roomHeap struct{ es []roomEntry }

type roomEntry struct {
	free int
	w    *worker
}

func free(w *worker) int {
	if w.busyEnvs >= w.maxEnvs {
		return -1
	}
	return w.memMB - w.busyMB
}

func (h *roomHeap) top() *worker { return h.es[0].w }

func (h *roomHeap) push(w *worker) {
	w.heapPos = len(h.es)
	h.es = append(h.es, roomEntry{free(w), w})
	h.up(w.heapPos)
}

func (h *roomHeap) remove(w *worker) {
	i := w.heapPos
	if i < 0 {
		return
	}
	n := len(h.es) - 1
	if i != n {
		h.swap(i, n)
	}
	h.es = h.es[:n]
	w.heapPos = -1
	if i != n {
		h.fixAt(i)
	}
}

// fix restores the order after w's free room changed.
func (h *roomHeap) fix(w *worker) {
	if i := w.heapPos; i >= 0 {
		h.es[i].free = free(w)
		h.fixAt(i)
	}
}

func (h *roomHeap) fixAt(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *roomHeap) swap(i, j int) {
	h.es[i], h.es[j] = h.es[j], h.es[i]
	h.es[i].w.heapPos = i
	h.es[j].w.heapPos = j
}

func (h *roomHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h.es[p].free >= h.es[i].free {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *roomHeap) down(i int) bool {
	start := i
	n := len(h.es)
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h.es[c+1].free > h.es[c].free {
			c++
		}
		if h.es[c].free <= h.es[i].free {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}
