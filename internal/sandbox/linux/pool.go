//go:build linux

package linux

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// pool keeps prepared boxes ready so that Start pays only for exec and init.
// One goroutine, owned by the Driver, refills it; Close stops it and
// destroys what it holds.
//
// A box belongs to an account from the start: its cgroup lies in the
// account's subtree, and moving the init to another costs an RCU grace
// period per hierarchy (7–20 ms on cgroup v1), as much as preparing a box.
// So the pool holds boxes for the accounts of the latest Starts, one per
// Start among the last size: a server whose functions are all of one
// account keeps every box for it, and a Start for an account that has
// none ready prepares one on the spot while the pool turns a box of an
// account fewer recent Starts had into one for it.
type pool struct {
	size int
	wake chan struct{} // cap 1; see kick

	mu     sync.Mutex
	ready  []*box   // guarded by mu; oldest first; only the refill goroutine adds
	recent []string // guarded by mu; the accounts of the last size Starts, oldest first
}

// newPool returns a pool of size boxes, for account until Starts say
// otherwise.
func newPool(size int, account string) *pool {
	p := &pool{size: size, wake: make(chan struct{}, 1), recent: make([]string, size)}
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
}

// take returns a prepared box of account, the oldest, or nil when none is
// ready. The caller kicks the pool once its Start is done, so that
// refilling does not compete with it for the CPU.
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
	return nil
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
// that lacks one.
func (p *pool) next() (account string, surplus *box, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	want := make(map[string]int)
	for _, a := range p.recent {
		want[a]++
	}
	have := make(map[string]int)
	for _, b := range p.ready {
		have[b.account]++
	}
	for _, a := range slices.Backward(p.recent) {
		if have[a] < want[a] {
			account, ok = a, true
			break
		}
	}
	if !ok || len(p.ready) < p.size {
		return account, nil, ok
	}
	// Full: as many boxes as Starts wanted in all, so some account has
	// more than its share. Give up its oldest.
	for i, b := range p.ready {
		if have[b.account] > want[b.account] {
			p.ready = slices.Delete(p.ready, i, i+1)
			return account, b, true
		}
	}
	return "", nil, false // unreachable: the counts add up to size
}

// put adds a prepared box; next has made room for it.
func (p *pool) put(b *box) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready = append(p.ready, b)
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

// runPool refills the pool until ctx is done. Failures are logged and retried
// with back-off.
func (d *Driver) runPool(ctx context.Context, p *pool) {
	if d.tmp != nil {
		// The first Start of the default size need not run mkfs.ext4.
		if err := d.tmp.Warm(defaultTmpMB); err != nil {
			d.log.Warn("prepare /tmp image template", "err", err)
		}
	}
	backoff := 100 * time.Millisecond
	for {
		for ctx.Err() == nil {
			account, surplus, ok := p.next()
			if !ok {
				break
			}
			if surplus != nil {
				if err := d.discard(surplus); err != nil {
					d.log.Warn("discard sandbox", "err", err)
				}
			}
			b, err := d.prepare(ctx, true, account)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				d.log.Warn("prepare sandbox", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 10*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			d.log.Debug("sandbox prepared", "dur", b.prepared)
			p.put(b)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
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
