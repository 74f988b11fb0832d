//go:build linux && !hearth_noinitbin

package linux

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// The kernel keeps some limits per uid, whatever the namespaces: inotify
// instances and watches, pending signals, locked memory, io_uring and
// message queue bytes. Environments sharing a uid would share them (one
// could exhaust another's), and so would environments of two drivers on the
// same host. So each environment runs as a uid of its own, drawn from a
// block of uids its driver holds alone.
const (
	// defaultUIDBase is where the uid ranges start when Config.UIDBase
	// is zero: 0x70000000, the start of a range systemd documents as
	// unused (1879048192…2147352575, between its container ranges and
	// its foreign range); user databases and subuid ranges stay far
	// below it.
	defaultUIDBase = 0x70000000
	// uidBlockSize is how many uids one driver holds: the most
	// environments, pooled ones included, it can have at once.
	uidBlockSize = 1 << 16
	// uidBlocks is how many blocks follow Config.UIDBase: how many
	// drivers can share a host.
	uidBlocks = 256
)

// uidClaims holds one lock file per block of uids that a driver has chosen.
const uidClaims = "/run/hearth/uids"

// uidPool hands out the uids of the block its driver claimed. A uid goes
// back only once every process that ran as it is gone, and the search for
// a free uid goes round the block from the last one handed out, so a uid
// returned comes back only after the rest of the block: the kernel has long
// finished freeing what its last holder left counted against it (some
// objects, inotify groups among them, are freed after their process).
//
// A uid also stays with its account: the search takes a uid never handed
// out, or last held by an environment of the same account, before one
// another account's environment held. Nothing an environment leaves can
// reach the next holder of its uid anyway (its processes are gone, it can
// write only to its own /tmp, which goes with it, and the kernel keyrings,
// kept per uid beyond any process, are out of its reach by seccomp), but a
// uid crosses accounts only when the block holds no other free one.
type uidPool struct {
	first int
	claim *os.File // flock held for the driver's lifetime (and its reaper's)

	mu       sync.Mutex
	used     []bool           // guarded by mu; indexed by uid - first
	holder   []int32          // guarded by mu; account (index+1 into accounts) of the last holder, 0 for none
	accounts map[string]int32 // guarded by mu; indexes for holder
	next     int              // guarded by mu; where the search for a free uid starts
}

func newUIDPool(first int, claim *os.File, size int) *uidPool {
	return &uidPool{first: first, claim: claim, used: make([]bool, size),
		holder: make([]int32, size), accounts: make(map[string]int32)}
}

// claimUIDs claims the first block of uidBlockSize uids from base whose
// lock file no other driver holds, and holds it until the pool is closed
// (the kernel releases it if the process dies).
func claimUIDs(base int) (*uidPool, error) {
	if err := os.MkdirAll(uidClaims, 0o700); err != nil {
		return nil, fmt.Errorf("create uid claims: %w", err)
	}
	for i := range uidBlocks {
		first := base + i*uidBlockSize
		f, err := os.OpenFile(fmt.Sprintf("%s/%d.lock", uidClaims, first), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open uid claim: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		return newUIDPool(first, f, uidBlockSize), nil
	}
	return nil, fmt.Errorf("every block of %d uids from %d is claimed by another driver", uidBlockSize, base)
}

// get returns a uid no environment of the driver runs as for an
// environment of account: the first free one from where the last search
// ended that no other account held, or else the first free one.
func (p *uidPool) get(account string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	acct, ok := p.accounts[account]
	if !ok {
		acct = int32(len(p.accounts) + 1)
		p.accounts[account] = acct
	}
	fallback := -1
	for i := range len(p.used) {
		off := (p.next + i) % len(p.used)
		if p.used[off] {
			continue
		}
		if h := p.holder[off]; h != 0 && h != acct {
			if fallback < 0 {
				fallback = off
			}
			continue
		}
		return p.take(off, acct), nil
	}
	if fallback >= 0 {
		return p.take(fallback, acct), nil
	}
	return 0, errors.New("all uids of the driver's block are in use")
}

func (p *uidPool) take(off int, acct int32) int {
	p.used[off] = true
	p.holder[off] = acct
	p.next = off + 1
	return p.first + off
}

// put returns uid, whose processes are all gone.
func (p *uidPool) put(uid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used[uid-p.first] = false
}

// inUse reports how many uids are handed out, for tests.
func (p *uidPool) inUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, u := range p.used {
		if u {
			n++
		}
	}
	return n
}

// close gives the block up; no process may run as its uids any more.
func (p *uidPool) close() error {
	return p.claim.Close()
}
