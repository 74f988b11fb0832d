//go:build linux

package linux

import (
	"context"
	"errors"
	"time"
)

// pool keeps prepared boxes ready so that Start pays only for exec and init.
// One goroutine, owned by the Driver, refills it; Close stops it and
// destroys what it holds.
type pool struct {
	ready chan *box     // cap = size; the refill goroutine is its only sender
	wake  chan struct{} // cap 1; see kick
}

func newPool(size int) *pool {
	return &pool{ready: make(chan *box, size), wake: make(chan struct{}, 1)}
}

// take returns a prepared box, or nil when none is ready. The caller kicks
// the pool once its Start is done, so that refilling does not compete with
// it for the CPU.
func (p *pool) take() *box {
	if p == nil {
		return nil
	}
	select {
	case b := <-p.ready:
		return b
	default:
		return nil
	}
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
		for len(p.ready) < cap(p.ready) && ctx.Err() == nil {
			b, err := d.prepare(ctx, true)
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
			p.ready <- b // never blocks: the only sender, and len < cap
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
	var errs []error
	for {
		select {
		case b := <-p.ready:
			errs = append(errs, d.discard(b))
		default:
			return errors.Join(errs...)
		}
	}
}
