package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"hearth/internal/function"
	"hearth/internal/logs"
)

// Provisioned concurrency: environments of a published version started and
// initialised ahead of traffic. They live in the version's pool like any
// other environment, marked provisioned: acquire hands them out first, the
// reaper leaves them alone, and a provisioner per version keeps as many of
// them as asked for, replacing any that die.

// Target is the provisioned concurrency one version should have.
type Target struct {
	Config function.Config // the version's configuration
	N      int
}

// ProvisionStatus is what a version's provisioned concurrency has reached.
type ProvisionStatus struct {
	// Ready counts the initialised provisioned environments.
	Ready int
	// Failed is why provisioning stopped (the function's init failed),
	// or "".
	Failed string
}

// provisionInitTimeout bounds a provisioned environment's init, which
// Lambda does not hold to the on-demand 10 s.
const provisionInitTimeout = 2 * time.Minute

// provisionEvery is how often a provisioner looks again unprompted (an
// environment that died, a pool that was retired).
const provisionEvery = 100 * time.Millisecond

// provisioner keeps one version's provisioned environments.
type provisioner struct {
	key  poolKey
	kick chan struct{} // cap 1

	// All guarded by Worker.provMu.
	cfg     function.Config
	target  int    // from SetProvisioned
	holds   int    // from Hold
	failed  string // why the last start failed; cleared by a new target
	stopped bool   // the goroutine has ended; a new one is needed
}

func (pr *provisioner) want() int { return pr.target + pr.holds }

// SetProvisioned sets the provisioned concurrency of every version at
// once: those in targets get theirs, every other version none.
// Environments beyond a version's target are retired only once the
// function's other versions have reached theirs, so that moving
// provisioned concurrency from one version to another never leaves the
// function with less than it had.
func (w *Worker) SetProvisioned(targets []Target) {
	w.provMu.Lock()
	defer w.provMu.Unlock()
	seen := make(map[poolKey]bool, len(targets))
	for _, t := range targets {
		key := poolKey{t.Config.Account, t.Config.Name, t.Config.Version}
		seen[key] = true
		pr := w.provisionerLocked(key, t.Config)
		if pr.target != t.N {
			pr.failed = ""
		}
		pr.cfg, pr.target = t.Config, t.N
		w.startProvisionerLocked(pr)
	}
	for key, pr := range w.provs {
		if !seen[key] && pr.target != 0 {
			pr.target, pr.failed = 0, ""
			w.startProvisionerLocked(pr)
		}
	}
}

// Hold adds n provisioned environments to cfg's version until release is
// called, and waits until they are all initialised, ctx ends or
// provisioning fails. The API holds a version while it moves an alias's
// provisioned concurrency to it.
func (w *Worker) Hold(ctx context.Context, cfg function.Config, n int) (release func(), err error) {
	key := poolKey{cfg.Account, cfg.Name, cfg.Version}
	w.provMu.Lock()
	pr := w.provisionerLocked(key, cfg)
	pr.holds += n
	pr.failed = ""
	if pr.target == 0 {
		pr.cfg = cfg
	}
	w.startProvisionerLocked(pr)
	w.provMu.Unlock()
	release = func() {
		w.provMu.Lock()
		pr.holds -= n
		w.startProvisionerLocked(pr)
		w.provMu.Unlock()
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		st := w.Provisioned(cfg.Account, cfg.Name, cfg.Version)
		w.provMu.Lock()
		want := pr.want()
		w.provMu.Unlock()
		switch {
		case st.Ready >= want:
			return release, nil
		case st.Failed != "":
			return release, errors.New(st.Failed)
		}
		select {
		case <-ctx.Done():
			return release, ctx.Err()
		case <-w.quit:
			return release, ErrClosed
		case <-t.C:
		}
	}
}

// Provisioned reports the provisioned environments of a version.
func (w *Worker) Provisioned(account, name, version string) ProvisionStatus {
	key := poolKey{account, name, version}
	w.provMu.Lock()
	pr := w.provs[key]
	var st ProvisionStatus
	if pr != nil {
		st.Failed = pr.failed
	}
	w.provMu.Unlock()
	w.mu.Lock()
	p := w.pools[key]
	w.mu.Unlock()
	if p != nil {
		st.Ready, _ = p.provisioned()
	}
	return st
}

func (w *Worker) provisionerLocked(key poolKey, cfg function.Config) *provisioner {
	pr := w.provs[key]
	if pr == nil {
		pr = &provisioner{key: key, cfg: cfg, kick: make(chan struct{}, 1), stopped: true}
		w.provs[key] = pr
	}
	return pr
}

// startProvisionerLocked wakes pr's goroutine, starting it if it ended.
func (w *Worker) startProvisionerLocked(pr *provisioner) {
	if w.provClosed {
		return
	}
	if pr.stopped {
		pr.stopped = false
		w.provWG.Go(func() { w.provision(pr) })
	}
	select {
	case pr.kick <- struct{}{}:
	default:
	}
}

// provision keeps pr's version at its target until the target is 0 and
// its provisioned environments are gone, or the worker stops.
func (w *Worker) provision(pr *provisioner) {
	t := time.NewTicker(provisionEvery)
	defer t.Stop()
	for {
		if w.reconcile(pr) {
			return
		}
		select {
		case <-w.quit:
			w.provMu.Lock()
			pr.stopped = true
			w.provMu.Unlock()
			return
		case <-pr.kick:
		case <-t.C:
		}
	}
}

// reconcile starts or retires provisioned environments of pr's version
// towards its target. It reports true when pr has nothing left to do and
// its goroutine ended (the caller returns).
func (w *Worker) reconcile(pr *provisioner) (done bool) {
	w.provMu.Lock()
	cfg, want, failed := pr.cfg, pr.want(), pr.failed
	w.provMu.Unlock()
	p, err := w.pool(&cfg)
	if err != nil {
		return false // closed: the quit case ends the goroutine
	}
	ready, starting := p.provisioned()
	switch have := ready + starting; {
	case have < want && failed == "":
		for range want - have {
			if !p.startProvisioned() {
				break // retired: the next round takes the new pool
			}
			w.envs.Go(func() { w.startOne(pr, p, cfg) })
		}
	case ready > want && starting == 0 && w.othersReady(pr):
		for _, e := range p.unprovision(ready - want) {
			w.destroy(e, "provisioned concurrency lowered")
		}
		w.dropIfEmpty(p)
	case want == 0 && have == 0:
		w.provMu.Lock()
		defer w.provMu.Unlock()
		if pr.want() != 0 {
			return false // raised meanwhile
		}
		pr.stopped = true
		delete(w.provs, pr.key)
		return true
	}
	return false
}

// othersReady reports whether every other version of pr's function has
// all the provisioned environments it wants (or gave up trying).
func (w *Worker) othersReady(pr *provisioner) bool {
	w.provMu.Lock()
	var others []*provisioner
	wants := map[*provisioner]int{}
	for key, o := range w.provs {
		if o != pr && key.account == pr.key.account && key.name == pr.key.name && o.failed == "" {
			others = append(others, o)
			wants[o] = o.want()
		}
	}
	w.provMu.Unlock()
	for _, o := range others {
		if w.Provisioned(o.key.account, o.key.name, o.key.version).Ready < wants[o] {
			return false
		}
	}
	return true
}

// startOne starts one provisioned environment in p (counted by
// p.startProvisioned) and leaves it idle, initialised and frozen. An init
// that fails leaves what Lambda's does in the log stream, and no more: its
// INIT_START, what it wrote and its INIT_REPORT (no invocation ran).
func (w *Worker) startOne(pr *provisioner, p *pool, cfg function.Config) {
	// No invocation runs in it yet: the request is only the init's.
	req := &Request{Function: cfg, RequestID: newID("provision-")}
	in := initAttempt{Init: logs.Init{Type: initProvisioned, Phase: phaseInit}, stream: logStreamName(time.Now(), cfg.Version)}
	e, fail, err := w.startEnvironment(p, req, max(provisionInitTimeout, cfg.TimeoutDuration()), in)
	if err != nil || fail != nil {
		p.provisionFailed()
		var typ string
		if fail != nil {
			typ = fail.errorType
			w.discardInit(fail)
		}
		w.dropIfEmpty(p)
		if errors.Is(err, ErrClosed) {
			return
		}
		reason := "FUNCTION_ERROR_INIT_FAILURE"
		if err != nil {
			reason = "Provisioned concurrency could not start an environment: " + err.Error()
		}
		w.log.Warn("provisioned environment failed to start", "function", cfg.Name, "version", cfg.Version, "err", err, "error_type", typ)
		w.provMu.Lock()
		pr.failed = reason
		w.provMu.Unlock()
		return
	}
	// Init is done ahead of traffic: no invocation reports it, and its
	// log (INIT_START and what the init wrote) is the log stream's alone,
	// not the first invocation's tail, as on Lambda.
	e.initDuration = 0
	e.capture.Tail()
	if !e.freeze() {
		p.provisionFailed()
		w.destroy(e, "freeze failed")
		return
	}
	if !p.addProvisioned(e, time.Now()) {
		w.destroy(e, "retired")
		w.dropIfEmpty(p)
		return
	}
	e.log.Debug("provisioned env ready")
	select {
	case pr.kick <- struct{}{}:
	default:
	}
}

// provState is the worker's part for provisioned concurrency.
type provState struct {
	provMu sync.Mutex
	provs  map[poolKey]*provisioner // guarded by provMu
	provWG sync.WaitGroup           // provisioner goroutines
	// provClosed is set at shutdown: no provisioner starts after it.
	provClosed bool // guarded by provMu
}
