//go:build linux && !hearth_noinitbin

package linux

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// pool keeps prepared boxes ready so that Start pays only for exec and init.
// One goroutine, owned by the Driver, refills it with up to refillWorkers
// preparations at once (goroutines it owns and waits for); Close stops it
// and destroys what it holds.
//
// A box belongs to an account from the start: its cgroup lies in the
// account's subtree, and moving the init to another costs an RCU grace
// period per hierarchy (7–20 ms on cgroup v1), as much as preparing a box.
// So the pool holds boxes for the accounts of the latest Starts, one per
// Start among the last size: a server whose functions are all of one
// account keeps every box for it, and a Start for an account that has
// none ready prepares one on the spot while the pool turns a box of an
// account fewer recent Starts had into one for it.
//
// The size adapts to demand between min and max: every Start that finds
// no box ready grows it by one, so that after a burst of cold starts the
// next burst finds max boxes ready; after idleShrink without a Start it
// halves, down to min, and the boxes beyond it are destroyed. While Starts
// prepare boxes on the spot the refill waits, so that it does not slow a
// burst down by competing with it for the CPU.
type pool struct {
	min, max int
	wake     chan struct{} // cap 1; see kick

	mu       sync.Mutex
	size     int            // guarded by mu; between min and max
	ready    []*box         // guarded by mu; oldest first; only the refill adds
	pending  map[string]int // guarded by mu; boxes being prepared per account
	recent   []string       // guarded by mu; the accounts of the last max Starts, oldest first
	onSpot   int            // guarded by mu; Starts preparing a box themselves
	lastMiss time.Time      // guarded by mu
	lastUse  time.Time      // guarded by mu; the last Start
}

// newPool returns a pool of min boxes, growing to max on demand, for
// account until Starts say otherwise.
func newPool(lo, hi int, account string) *pool {
	p := &pool{min: lo, max: max(lo, hi), size: lo, wake: make(chan struct{}, 1),
		pending: make(map[string]int), lastUse: time.Now()}
	p.recent = make([]string, p.max)
	for i := range p.recent {
		p.recent[i] = account
	}
	return p
}

// started records a Start for account, which the refill follows.
func (p *pool) started(account string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recent = append(p.recent[1:], account)
	p.lastUse = time.Now()
}

// take returns a prepared box of account, the oldest, or nil when none is
// ready. The caller kicks the pool once its Start is done, so that
// refilling does not compete with it for the CPU. After a nil, the caller
// prepares a box itself and calls prepared when done.
func (p *pool) take(account string) *box {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, b := range p.ready {
		if b.account == account {
			p.ready = slices.Delete(p.ready, i, i+1)
			return b
		}
	}
	p.size = min(p.size+1, p.max)
	p.lastMiss = time.Now()
	p.onSpot++
	return nil
}

// prepared records that a Start that found no box has prepared its own
// (or failed to).
func (p *pool) prepared() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onSpot--
}

// len reports how many boxes are ready.
func (p *pool) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ready)
}

// next says what the refill should do: prepare a box for account (ok),
// after destroying surplus if it is not nil, a box the pool gave up to make
// room. The pool wants as many boxes of an account as it had Starts among
// the last size, and prepares first for the account of the latest Start
// that lacks one. Boxes being prepared count as had; the caller calls put
// or abandon for each ok.
func (p *pool) next() (account string, surplus *box, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	recent := p.recent[len(p.recent)-p.size:]
	want := make(map[string]int)
	for _, a := range recent {
		want[a]++
	}
	have := make(map[string]int)
	inFlight := 0
	for a, n := range p.pending {
		have[a] += n
		inFlight += n
	}
	for _, b := range p.ready {
		have[b.account]++
	}
	for _, a := range slices.Backward(recent) {
		if have[a] < want[a] {
			account, ok = a, true
			break
		}
	}
	if !ok {
		return "", nil, false
	}
	if len(p.ready)+inFlight < p.size {
		p.pending[account]++
		return account, nil, true
	}
	// Full: as many boxes as Starts wanted in all, so some account has
	// more than its share. Give up its oldest.
	for i, b := range p.ready {
		if have[b.account] > want[b.account] {
			p.ready = slices.Delete(p.ready, i, i+1)
			p.pending[account]++
			return account, b, true
		}
	}
	// The surplus is still being prepared: wait for it.
	return "", nil, false
}

// put adds a box prepared for next's account; next has made room for it.
func (p *pool) put(b *box) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done(b.account)
	p.ready = append(p.ready, b)
}

// abandon records that preparing a box for account failed.
func (p *pool) abandon(account string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done(account)
}

func (p *pool) done(account string) {
	if p.pending[account]--; p.pending[account] <= 0 {
		delete(p.pending, account)
	}
}

// busy reports whether Starts are preparing boxes themselves: the refill
// waits for them.
func (p *pool) busy() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.onSpot > 0
}

// shrink halves the size when no Start came for idleShrink and no Start
// missed for as long, and returns the boxes beyond it, the oldest first,
// for the caller to destroy.
func (p *pool) shrink(now time.Time) []*box {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.size == p.min || now.Sub(p.lastUse) < idleShrink || now.Sub(p.lastMiss) < idleShrink {
		return nil
	}
	p.size = max(p.min, p.size/2)
	p.lastMiss = now // the next halving waits as long again
	var out []*box
	for len(p.ready) > p.size {
		out = append(out, p.ready[0])
		p.ready = p.ready[1:]
	}
	return out
}

// kick wakes the refill loop without blocking; kicks that pile up merge.
func (p *pool) kick() {
	if p == nil {
		return
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// idleShrink is how long the pool keeps a size it grew to without a Start.
const idleShrink = time.Minute

// refillWorkers bounds the boxes the refill prepares at once: one per core
// (the kernel work of preparing one is mostly waiting, for RCU grace
// periods and locks, so one per core keeps the cores busy without a herd).
var refillWorkers = max(1, runtime.NumCPU())

// runPool refills the pool until ctx is done, and waits for the
// preparations it started. Failures are logged and retried with back-off.
func (d *Driver) runPool(ctx context.Context, p *pool) {
	if d.tmp != nil {
		// The first Start of the default size need not run mkfs.ext4.
		if err := d.tmp.Warm(defaultTmpMB); err != nil {
			d.log.Warn("prepare /tmp image template", "err", err)
		}
	}
	var workers sync.WaitGroup
	defer workers.Wait()
	slots := make(chan struct{}, refillWorkers)
	var failures atomic.Int32 // preparations that failed in a row
	shrinkTick := time.NewTicker(idleShrink / 4)
	defer shrinkTick.Stop()
	for {
		for ctx.Err() == nil && !p.busy() {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			account, surplus, ok := p.next()
			if !ok {
				<-slots
				break
			}
			workers.Go(func() {
				defer func() { <-slots; p.kick() }()
				if surplus != nil {
					if err := d.discard(surplus); err != nil {
						d.log.Warn("discard sandbox", "err", err)
					}
				}
				b, err := d.prepare(ctx, true, account)
				if err != nil {
					p.abandon(account)
					if ctx.Err() != nil {
						return
					}
					d.log.Warn("prepare sandbox", "err", err)
					n := failures.Add(1)
					select {
					case <-ctx.Done():
					case <-time.After(min(100*time.Millisecond<<min(n-1, 7), 10*time.Second)):
					}
					return
				}
				failures.Store(0)
				d.log.Debug("sandbox prepared", "dur", b.prepared)
				p.put(b)
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case now := <-shrinkTick.C:
			for _, b := range p.shrink(now) {
				if err := d.discard(b); err != nil {
					d.log.Warn("discard sandbox", "err", err)
				}
			}
			continue
		}
		// A Start just took a sandbox: let its bootstrap begin before
		// competing with it for the CPU.
		select {
		case <-ctx.Done():
			return
		case <-time.After(refillDelay):
		}
	}
}

// refillDelay separates a Start from the refill it triggers.
const refillDelay = 10 * time.Millisecond

// drain destroys every box left in the pool. The refill loop has stopped.
func (d *Driver) drain(p *pool) error {
	p.mu.Lock()
	boxes := p.ready
	p.ready = nil
	p.mu.Unlock()
	var errs []error
	for _, b := range boxes {
		errs = append(errs, d.discard(b))
	}
	return errors.Join(errs...)
}
