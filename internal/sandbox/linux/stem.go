//go:build linux && !hearth_noinitbin

package linux

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"hearth/internal/sandbox"
)

// Pre-started runtimes ("stems", see sandbox.Spec.Stem and Config.Prestart).
// A stem is a prepared box whose init has started the runtime's
// interpreter (initstem.go), as the environment's identity, with the
// runtime's directory and host paths mounted and the variables it reads as
// it starts; it waits for its start message. It belongs to one account and
// one key, and serves one Start of a Spec of that key, once.
//
// The driver keeps stems only for keys a Start used within stemIdle, at
// most stemsPerKey ready per key and Config.PrestartMax in all; one
// goroutine, owned by the Driver, starts them one at a time, after the
// Starts that took them, and discards those of keys idle for stemIdle.

// stemKey is what a stem was started with: the Specs it may serve.
type stemKey struct {
	account    string
	kind       string
	argv       []string // expanded
	env        []string // the start environment, with sandbox.StemFDVar
	runtimeDir string
	hostPaths  []string
	id         string // all of the above, for the pool's map
}

// stemKeyOf returns the key of the stems that may start spec (whose
// expanded command is argv), or false when no stem may: the driver keeps
// none, spec asks for none, or the stem would not start as an executed
// bootstrap does. A stem starts before the code is mounted (and without
// layers /opt is the same empty directory before and after): so no
// layers or extensions, no argument and no start variable that refers to
// the task root but for two lists of directories the runtime looks into
// only when it loads something (NODE_PATH, which Node splits at its start
// and searches at each require, and LD_LIBRARY_PATH), and, since the
// dynamic loader searches LD_LIBRARY_PATH as the stem starts and then
// remembers which of its directories lacked a library, no lib directory or
// shared object at the top of the code, as for the process driver's
// zygotes.
func (d *Driver) stemKeyOf(spec *sandbox.Spec, argv []string) (stemKey, bool) {
	if d.stems == nil || (spec.Stem != "python" && spec.Stem != "node") ||
		spec.OptDir != "" || len(spec.Extensions) > 0 || spec.HoldBootstrap {
		return stemKey{}, false
	}
	for _, a := range spec.Cmd {
		if strings.Contains(a, "$LAMBDA_TASK_ROOT") {
			return stemKey{}, false
		}
	}
	for _, kv := range spec.Env {
		name, val, _ := strings.Cut(kv, "=")
		if sandbox.StartVar(name) && name != "LD_LIBRARY_PATH" && name != "NODE_PATH" && strings.Contains(val, "$LAMBDA_TASK_ROOT") {
			return stemKey{}, false
		}
	}
	if !sandbox.NoLibraries(spec.CodeDir) {
		return stemKey{}, false
	}
	k := stemKey{account: spec.Account, kind: spec.Stem, argv: argv, runtimeDir: spec.RuntimeDir,
		hostPaths: spec.HostPaths}
	k.env = append(sandbox.StemStartEnv(bootstrapEnv(spec)), sandbox.StemFDVar+"="+strconv.Itoa(stemFD))
	k.id = strings.Join([]string{k.account, k.kind, strings.Join(k.argv, "\x00"), strings.Join(k.env, "\x00"),
		k.runtimeDir, strings.Join(k.hostPaths, "\x00")}, "\x01")
	return k, true
}

// bootstrapEnv is the complete environment spec's bootstrap starts with.
func bootstrapEnv(spec *sandbox.Spec) []string {
	return sandbox.BootstrapEnv(sandbox.ExpandOpt(sandbox.Expand(spec.Env, sandbox.TaskRoot, sandbox.RuntimeDir), sandbox.OptDir),
		sandbox.TaskRoot, sandbox.RuntimeDir, "/tmp", sandbox.RuntimeAPIAddr)
}

const (
	// stemsPerKey is how many stems of one key the driver keeps ready.
	stemsPerKey = 2
	// defaultPrestartMax is Config.PrestartMax when zero: 8 waiting
	// Python stems hold ≈80 MB, 8 Node ones ≈320 MB.
	defaultPrestartMax = 8
	// stemIdle is how long a key keeps its stems without a Start.
	stemIdle = time.Minute
)

// stems holds the ready stems by key.
type stems struct {
	max  int
	wake chan struct{} // cap 1; see kick

	mu   sync.Mutex
	keys map[string]*stemKeyState // guarded by mu; by stemKey.id
}

type stemKeyState struct {
	key       stemKey
	lastStart time.Time
	ready     []*box // oldest first
	pending   int    // being started
	failures  int    // stems of the key that failed to start in a row
	retryAt   time.Time
}

func newStems(max int) *stems {
	return &stems{max: max, wake: make(chan struct{}, 1), keys: make(map[string]*stemKeyState)}
}

// started records a Start of a Spec of key k.
func (s *stems) started(k stemKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keys[k.id]
	if ks == nil {
		ks = &stemKeyState{key: k}
		s.keys[k.id] = ks
	}
	ks.lastStart = time.Now()
}

// take returns the oldest ready stem of key k, or nil.
func (s *stems) take(k stemKey) *box {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keys[k.id]
	if ks == nil || len(ks.ready) == 0 {
		return nil
	}
	b := ks.ready[0]
	ks.ready = ks.ready[1:]
	return b
}

// next returns the key a stem should be started for, the one used most
// recently among those with fewer than stemsPerKey, while there are fewer
// than max in all; the caller calls put or abandon.
func (s *stems) next(now time.Time) (stemKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	var best *stemKeyState
	for _, ks := range s.keys {
		total += len(ks.ready) + ks.pending
		if now.Sub(ks.lastStart) >= stemIdle || len(ks.ready)+ks.pending >= stemsPerKey || now.Before(ks.retryAt) {
			continue
		}
		if best == nil || ks.lastStart.After(best.lastStart) {
			best = ks
		}
	}
	if best == nil || total >= s.max {
		return stemKey{}, false
	}
	best.pending++
	return best.key, true
}

// put adds a stem started for next's key k.
func (s *stems) put(k stemKey, b *box) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keys[k.id]
	ks.pending--
	ks.failures = 0
	ks.ready = append(ks.ready, b)
}

// abandon records that starting a stem for k failed: the key waits
// longer, the more stems of it failed in a row.
func (s *stems) abandon(k stemKey, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keys[k.id]
	ks.pending--
	ks.failures++
	ks.retryAt = now.Add(min(time.Second<<min(ks.failures-1, 6), stemIdle))
}

// expire removes the keys idle for stemIdle and returns their stems for
// the caller to discard.
func (s *stems) expire(now time.Time) []*box {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*box
	for id, ks := range s.keys {
		if now.Sub(ks.lastStart) < stemIdle {
			continue
		}
		out = append(out, ks.ready...)
		ks.ready = nil
		if ks.pending == 0 {
			delete(s.keys, id)
		}
	}
	return out
}

// drain removes and returns every ready stem.
func (s *stems) drain() []*box {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*box
	for _, ks := range s.keys {
		out = append(out, ks.ready...)
		ks.ready = nil
	}
	return out
}

func (s *stems) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ks := range s.keys {
		n += len(ks.ready)
	}
	return n
}

// kick wakes the refill without blocking.
func (s *stems) kick() {
	if s == nil {
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Prestarted reports how many stems are ready, for metrics and tests.
func (d *Driver) Prestarted() int {
	if d.stems == nil {
		return 0
	}
	return d.stems.len()
}

// takeStem takes a ready stem of key k, discarding any whose init died
// while it waited (it exits when its stem does).
func (d *Driver) takeStem(k stemKey) *box {
	for b := d.stems.take(k); b != nil; b = d.stems.take(k) {
		if b.alive() {
			return b
		}
		d.log.Debug("pre-started runtime died while it waited; discarding it", "cgroup", b.name)
		if err := d.discard(b); err != nil {
			d.log.Warn("discard sandbox", "err", err)
		}
	}
	return nil
}

// runStems starts stems until ctx is done, one at a time, and discards
// those of idle keys.
func (d *Driver) runStems(ctx context.Context, s *stems) {
	tick := time.NewTicker(stemIdle / 4)
	defer tick.Stop()
	for {
		for ctx.Err() == nil && !(d.pool != nil && d.pool.busy()) {
			k, ok := s.next(time.Now())
			if !ok {
				break
			}
			b, err := d.makeStem(ctx, k)
			if err != nil {
				s.abandon(k, time.Now())
				if ctx.Err() == nil {
					d.log.Warn("pre-start runtime", "runtime", k.kind, "err", err)
				}
				continue
			}
			s.put(k, b)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case now := <-tick.C:
			for _, b := range s.expire(now) {
				if err := d.discard(b); err != nil {
					d.log.Warn("discard sandbox", "err", err)
				}
			}
			continue
		}
		// A Start just took a stem: let it run before competing with it
		// for the CPU.
		select {
		case <-ctx.Done():
			return
		case <-time.After(refillDelay):
		}
	}
}

// makeStem prepares a box for k's account and starts a stem of k in it, as
// an identity of that account.
func (d *Driver) makeStem(ctx context.Context, k stemKey) (_ *box, err error) {
	began := time.Now()
	b, err := d.prepare(ctx, true, k.account)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.discard(b))
		}
	}()
	if b.uid, err = d.uids.get(k.account); err != nil {
		return nil, err
	}
	files, mounts, uses, err := d.openTrees(&sandbox.Spec{RuntimeDir: k.runtimeDir, HostPaths: k.hostPaths}, treesRuntime)
	defer closeAll(files)
	b.code = uses
	if err != nil {
		return nil, err
	}
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	sctx, cancel := withDefaultTimeout(ctx, prepareTimeout)
	defer cancel()
	if err := b.send(sctx, message{Kind: msgStem, Stem: &stemMsg{
		Argv: k.argv, Env: k.env, UID: b.uid, GID: b.uid, Trees: mounts,
	}}, fds...); err != nil {
		return nil, err
	}
	m, rfiles, err := b.recv(sctx)
	if err != nil {
		return nil, err
	}
	if m.Kind != msgStemmed || len(rfiles) != 1 {
		closeAll(rfiles)
		return nil, fmt.Errorf("sandbox init: expected %s with the stem's output, got %q with %d descriptors", msgStemmed, m.Kind, len(rfiles))
	}
	b.stemOut = rfiles[0]
	b.stem = k.id
	d.log.Debug("runtime pre-started", "runtime", k.kind, "dur", time.Since(began))
	return b, nil
}
