package worker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"hearth/internal/function"
)

// pool holds the environments of one function version, for one revision
// of its configuration.
type pool struct {
	cfg function.Config // immutable

	mu       sync.Mutex
	idle     []*env        // guarded by mu; most recently used last
	busy     map[*env]bool // guarded by mu
	dying    map[*env]bool // guarded by mu; being destroyed, until remove
	starting int           // guarded by mu; cold starts under way
	parking  int           // guarded by mu; busy envs on their way back to idle
	lagging  int           // guarded by mu; parking envs waiting for their extensions, not to be waited for while others are idle
	waiters  []chan *env   // guarded by mu; callers waiting for a parking env
	retired  bool          // guarded by mu

	// provStarting counts the provisioned starts among starting.
	provStarting int // guarded by mu

	// arrivals (cap 1) wakes parking environments when a caller starts
	// waiting, so one can be handed over before it freezes.
	arrivals chan struct{}
}

func newPool(cfg function.Config) *pool {
	return &pool{cfg: cfg, busy: make(map[*env]bool), dying: make(map[*env]bool), arrivals: make(chan struct{}, 1)}
}

// errRetired reports that the pool was retired while the caller waited.
var errRetired = errors.New("pool retired")

// errRetiredEnv comes with an environment handed over to a caller who had
// given up, which the retired pool cannot take back: the caller destroys
// it.
var errRetiredEnv = errors.New("environment of a retired pool")

// acquire returns a warm environment marked busy, or coldStart true when
// the caller must start one (counted in starting until it calls started or
// startFailed). It fails with errRetired, or ctx's error while waiting for
// an environment that is being parked.
func (p *pool) acquire(ctx context.Context) (e *env, coldStart bool, err error) {
	p.mu.Lock()
	for {
		if p.retired {
			p.mu.Unlock()
			return nil, false, errRetired
		}
		// The environment that just answered, still thawed and parking,
		// is back within microseconds (putBack hands it over on the
		// arrivals signal): it is preferred to an older, frozen idle one,
		// so that sequential traffic after a burst stays on one
		// environment and the rest stay frozen until they age out. Only
		// as many callers wait as there are such environments; one whose
		// extensions are still at work may take until the deadline and is
		// not waited for while others are idle.
		prompt := p.parking - p.lagging
		if n := len(p.idle); n > 0 && prompt <= len(p.waiters) {
			// Provisioned environments serve first; the on-demand
			// ones take the spill-over.
			i := n - 1
			for j := n - 1; j >= 0; j-- {
				if p.idle[j].provisioned {
					i = j
					break
				}
			}
			e := p.idle[i]
			p.idle = slices.Delete(p.idle, i, i+1)
			p.busy[e] = true
			p.mu.Unlock()
			return e, false, nil
		}
		// An environment finishing its freeze is back within
		// microseconds; waiting for it beats a cold start.
		if p.parking <= len(p.waiters) {
			break
		}
		ch := make(chan *env, 1)
		p.waiters = append(p.waiters, ch)
		p.mu.Unlock()
		select {
		case p.arrivals <- struct{}{}:
		default:
		}
		select {
		case e := <-ch:
			if e != nil {
				return e, false, nil // handed over, still busy
			}
		case <-ctx.Done():
			p.mu.Lock()
			if i := slices.Index(p.waiters, ch); i >= 0 {
				p.waiters = slices.Delete(p.waiters, i, i+1)
				p.mu.Unlock()
				return nil, false, ctx.Err()
			}
			p.mu.Unlock()
			if e := <-ch; e != nil { // handed over as we gave up: give it back
				p.park(e)
				if !p.unpark(e, time.Now()) {
					return e, false, errRetiredEnv // the caller destroys it
				}
			}
			return nil, false, ctx.Err()
		}
		p.mu.Lock() // the awaited env died or the pool retired; look again
	}
	p.starting++
	p.mu.Unlock()
	return nil, true, nil
}

// started records a cold-started environment as busy.
func (p *pool) started(e *env) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting--
	if p.retired {
		p.markDyingLocked(e) // listed as destroying until the caller's destroy ends
		return false
	}
	p.busy[e] = true
	return true
}

// startFailed records a cold start that produced no environment.
func (p *pool) startFailed() {
	p.mu.Lock()
	p.starting--
	p.mu.Unlock()
}

// park marks a busy environment as on its way back to idle.
func (p *pool) park(e *env) {
	p.mu.Lock()
	p.parking++
	p.mu.Unlock()
}

// lag and unlag bracket a parked environment's wait for its extensions,
// during which acquire does not prefer it to an idle one.
func (p *pool) lag() {
	p.mu.Lock()
	p.lagging++
	p.mu.Unlock()
}

func (p *pool) unlag() {
	p.mu.Lock()
	p.lagging--
	p.mu.Unlock()
}

// unpark returns a parked environment to idle, or hands it to a waiter.
// It reports false when the pool is retired and the caller must destroy
// the environment.
func (p *pool) unpark(e *env, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.parking--
	if p.retired {
		// Listed as destroying until the caller's destroy ends (an
		// environment that vanished from the listing meanwhile looked
		// gone before its extensions had shut down).
		delete(p.busy, e)
		p.markDyingLocked(e)
		p.wakeWaitersLocked()
		return false
	}
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		ch <- e // cap 1; stays busy
		return true
	}
	delete(p.busy, e)
	e.lastUsed = now
	p.idle = append(p.idle, e)
	return true
}

// repark takes e back from idle to be frozen, as when it was parked, and
// reports false if it is no longer idle (a caller took it, or it is
// gone). While it freezes it is as prompt as any parking environment: the
// cgroup freezer returns only once every thread of e has stopped, which on
// a loaded machine can take as long as the threads wait for a CPU (tens of
// milliseconds), but a caller who waits for it signals arrivals, on which
// the freeze is given up (env.freezeUnless) and e handed over thawed. So a
// caller neither waits out a freeze nor leaves the environment it just
// used for an older, frozen one.
func (p *pool) repark(e *env) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.Index(p.idle, e)
	if i < 0 {
		return false
	}
	p.idle = slices.Delete(p.idle, i, i+1)
	p.busy[e] = true
	p.parking++
	return true
}

// handOff gives a parked environment to a waiting caller, if there is
// one, without it going idle.
func (p *pool) handOff(e *env) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retired || len(p.waiters) == 0 {
		return false
	}
	p.parking--
	ch := p.waiters[0]
	p.waiters = p.waiters[1:]
	ch <- e // cap 1; stays busy
	return true
}

// remove forgets an environment that died or is being destroyed. A parked
// one no longer counts as coming back.
func (p *pool) remove(e *env, parked bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.busy, e)
	delete(p.dying, e)
	if i := slices.Index(p.idle, e); i >= 0 {
		p.idle = slices.Delete(p.idle, i, i+1)
	}
	if parked {
		p.parking--
		p.wakeWaitersLocked()
	}
}

// wakeWaitersLocked releases waiters beyond the parking environments left,
// so they go and cold-start instead.
func (p *pool) wakeWaitersLocked() {
	for len(p.waiters) > max(p.parking, 0) {
		ch := p.waiters[len(p.waiters)-1]
		p.waiters = p.waiters[:len(p.waiters)-1]
		ch <- nil
	}
}

// takeIdleSince removes and returns idle environments last used before t.
func (p *pool) takeIdleSince(t time.Time) []*env {
	p.mu.Lock()
	defer p.mu.Unlock()
	var old []*env
	kept := p.idle[:0]
	for _, e := range p.idle {
		if e.lastUsed.Before(t) && !e.provisioned {
			old = append(old, e)
		} else {
			kept = append(kept, e)
		}
	}
	clear(p.idle[len(kept):])
	p.idle = kept
	return old
}

// retire stops the pool from handing out environments and returns the idle
// ones for destruction; busy ones are destroyed when released.
func (p *pool) retire() []*env {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retired = true
	idle := p.idle
	p.idle = nil
	for _, e := range idle {
		p.markDyingLocked(e) // the caller destroys them
	}
	for _, ch := range p.waiters {
		ch <- nil
	}
	p.waiters = nil
	return idle
}

// all returns every environment the pool knows, busy or idle.
func (p *pool) all() []*env {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.idle)
	for e := range p.busy {
		out = append(out, e)
	}
	return out
}

// markDyingLocked lists e as destroying from the moment the pool lets go
// of it until the destroy its caller starts has ended (remove), unless
// that destroy already ended (a destroy runs once; remove would not come
// again).
func (p *pool) markDyingLocked(e *env) {
	select {
	case <-e.destroyed: // nil for an env that never started: not ready
		return
	default:
	}
	p.dying[e] = true
}

// dies records that e is being destroyed: it stays listed, as
// "destroying", until remove.
func (p *pool) dies(e *env) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dying[e] = true
}

func (p *pool) empty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.emptyLocked()
}

func (p *pool) emptyLocked() bool {
	return len(p.idle) == 0 && len(p.busy) == 0 && len(p.dying) == 0 && p.starting == 0
}

// retireIfEmpty retires p if it holds nothing, reporting whether it did
// (or p was retired and empty already).
func (p *pool) retireIfEmpty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.emptyLocked() {
		return false
	}
	p.retired = true
	return true
}

// removeIdle removes e if it is idle, reporting whether it was.
func (p *pool) removeIdle(e *env) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.idle, e); i >= 0 {
		p.idle = slices.Delete(p.idle, i, i+1)
		return true
	}
	return false
}

func (p *pool) info() []EnvInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]EnvInfo, 0, len(p.idle)+len(p.busy)+len(p.dying))
	add := func(e *env, state string, idleFrom time.Time) {
		out = append(out, EnvInfo{Account: p.cfg.Account, Function: p.cfg.Name, Version: p.cfg.Version, ID: e.id, Stream: e.stream, State: state,
			IdleFrom: idleFrom, Created: e.created, MemoryMB: p.cfg.MemorySize, Provisioned: e.provisioned})
	}
	for _, e := range p.idle {
		if !p.dying[e] {
			add(e, "idle", e.lastUsed)
		}
	}
	for e := range p.busy {
		if !p.dying[e] {
			add(e, "busy", time.Time{})
		}
	}
	for e := range p.dying {
		add(e, "destroying", time.Time{})
	}
	return out
}

// provisioned counts the live provisioned environments of p (idle or
// busy, not being destroyed) and those still starting.
func (p *pool) provisioned() (ready, starting int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.idle {
		if e.provisioned && !p.dying[e] {
			ready++
		}
	}
	for e := range p.busy {
		if e.provisioned && !p.dying[e] {
			ready++
		}
	}
	return ready, p.provStarting
}

// startProvisioned counts a provisioned environment being started; it
// fails when p is retired.
func (p *pool) startProvisioned() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retired {
		return false
	}
	p.starting++
	p.provStarting++
	return true
}

// provisionFailed records a provisioned start that produced no
// environment.
func (p *pool) provisionFailed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting--
	p.provStarting--
}

// addProvisioned records a started, initialised and frozen provisioned
// environment as idle. It reports false when p was retired meanwhile and
// the caller must destroy e.
func (p *pool) addProvisioned(e *env, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting--
	p.provStarting--
	if p.retired {
		return false
	}
	e.provisioned = true
	e.lastUsed = now
	p.idle = append(p.idle, e)
	return true
}

// unprovision turns up to n provisioned environments back into on-demand
// ones, idle ones first, and returns the idle ones it took out of the
// pool for the caller to destroy. Busy ones stay, as on-demand
// environments the reaper retires once idle.
func (p *pool) unprovision(n int) []*env {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*env
	kept := p.idle[:0]
	for _, e := range p.idle {
		if n > 0 && e.provisioned && !p.dying[e] {
			e.provisioned = false
			out = append(out, e)
			n--
		} else {
			kept = append(kept, e)
		}
	}
	clear(p.idle[len(kept):])
	p.idle = kept
	for e := range p.busy {
		if n > 0 && e.provisioned && !p.dying[e] {
			e.provisioned = false
			n--
		}
	}
	return out
}
