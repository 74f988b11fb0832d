package worker

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"hearth/internal/function"
	"hearth/internal/logs"
	"hearth/internal/runtimes"
	"hearth/internal/sandbox"
)

// Config configures a Worker. Zero fields take the defaults in their
// comments.
type Config struct {
	// CodeDir caches unpacked packages, one directory per CodeSha256.
	// Required.
	CodeDir string
	// IdleTimeout is how long an idle environment stays warm. Zero means
	// 10 minutes.
	IdleTimeout time.Duration
	// InitTimeout bounds the init phase of an on-demand environment. Zero
	// means 10 s, as on Lambda.
	InitTimeout time.Duration
	// DrainTimeout bounds how long Run waits for invocations in flight
	// when it stops before destroying their environments. Zero means 30 s.
	DrainTimeout time.Duration
	// Region and Account fill AWS_REGION and the log group names.
	Region  string
	Account string
	// Credentials, when set, issues the credentials of each new
	// environment of a function of account with execution role role: the
	// variables that carry them, whether they are Hearth's (so that the
	// environment is pointed at Endpoint) rather than an AWS account's,
	// and a func that revokes them once the environment is gone (nil if
	// there is nothing to revoke).
	Credentials func(account, role, session string) (env []string, hearth bool, revoke func())
	// Endpoint, when set, is the URL environments reach Hearth's API on:
	// the AWS_ENDPOINT_URL_LAMBDA, _STS and _LOGS of functions
	// that do not set their own.
	Endpoint string
}

func (c Config) withDefaults() Config {
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.InitTimeout == 0 {
		c.InitTimeout = 10 * time.Second
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	return c
}

// CodeSource fetches deployment packages by CodeSha256, as streams (a
// package may be 50 MB). *store.Store satisfies it.
type CodeSource interface {
	OpenCode(ctx context.Context, sha string) (io.ReadCloser, int64, error)
}

// Errors Invoke returns when it could not run the function at all.
var (
	ErrClosed = errors.New("worker is shutting down")
)

// Worker runs invocations on one host.
type Worker struct {
	cfg   Config
	drv   sandbox.Driver
	rts   *runtimes.Host
	logs  *logs.Store
	code  *codeCache
	log   *slog.Logger
	quit  chan struct{} // closed when Run starts stopping
	kicks chan struct{} // cap 1; wakes the reaper

	mu sync.Mutex
	// pools holds the current pool of each version; retired holds pools
	// replaced or retired while environments of theirs remain, so those
	// stay listed (as destroying, or busy until their invocation ends)
	// and shutdown finds them. A pool leaves both once it is empty.
	pools   map[poolKey]*pool // guarded by mu
	retired map[*pool]bool    // guarded by mu
	closed  bool              // guarded by mu
	envs    sync.WaitGroup    // every environment's goroutines and teardown

	provState // provisioned concurrency (provision.go)
}

type poolKey struct{ account, name, version string }

// New returns a Worker that runs functions on drv. It starts no
// goroutines; call Run.
func New(cfg Config, drv sandbox.Driver, code CodeSource, rts *runtimes.Host, ls *logs.Store, log *slog.Logger) *Worker {
	cfg = cfg.withDefaults()
	log = log.With("component", "worker")
	return &Worker{
		cfg:     cfg,
		drv:     drv,
		rts:     rts,
		logs:    ls,
		code:    newCodeCache(cfg.CodeDir, code, log),
		log:     log,
		quit:    make(chan struct{}),
		kicks:   make(chan struct{}, 1),
		pools:   make(map[poolKey]*pool),
		retired: make(map[*pool]bool),
		provState: provState{
			provs: make(map[poolKey]*provisioner),
		},
	}
}

// Prepare makes a version ready to start quickly: it checks that this host
// can run its runtime and architecture, readies the runtime (the Python
// client's code cache for its version) and unpacks its code into the cache.
// It is what turns a Pending function Active.
func (w *Worker) Prepare(ctx context.Context, cfg *function.Config) error {
	rt, ok := runtimes.Lookup(cfg.Runtime)
	if !ok {
		return fmt.Errorf("%w: %s", runtimes.ErrUnavailable, cfg.Runtime)
	}
	launch, err := w.rts.Launch(rt)
	if err != nil {
		return err
	}
	if err := runtimes.CheckArchitecture(cfg.Arch); err != nil {
		return err
	}
	dir, err := w.code.dir(ctx, cfg.CodeSha256)
	if err != nil {
		return err
	}
	opt, err := w.code.optDir(ctx, cfg.Layers)
	if err != nil {
		return err
	}
	// Work the driver can do ahead of the first cold start (the linux
	// driver's read-only copies of the code, the runtime client and the
	// layers); if it fails, Start does it.
	if p, ok := w.drv.(sandbox.CodePreparer); ok {
		err := p.PrepareCode(ctx, dir, launch.RuntimeDir)
		if err == nil && opt != "" {
			// Kept like a package: by path, and its content never changes.
			err = p.PrepareCode(ctx, opt, "")
		}
		if err != nil {
			w.log.Warn("prepare code for the sandbox", "function", cfg.Name, "err", err)
		}
	}
	return nil
}

// Run reaps idle environments until ctx is done. Then it refuses new
// invocations, lets those in flight finish (up to DrainTimeout), destroys
// every environment and returns once all of them are gone.
func (w *Worker) Run(ctx context.Context) error {
	tick := time.NewTicker(w.reapEvery())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			w.shutdown()
			return nil
		case <-tick.C:
			w.reap(time.Now())
		case <-w.kicks:
			w.reap(time.Now())
		}
	}
}

func (w *Worker) reapEvery() time.Duration {
	return min(max(w.cfg.IdleTimeout/4, 20*time.Millisecond), 10*time.Second)
}

// reap destroys environments idle since before now-IdleTimeout.
func (w *Worker) reap(now time.Time) {
	for _, p := range w.allPools() {
		for _, e := range p.takeIdleSince(now.Add(-w.cfg.IdleTimeout)) {
			e.log.Debug("env idle too long")
			w.destroy(e, "idle")
		}
		w.dropIfEmpty(p)
	}
}

func (w *Worker) shutdown() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	close(w.quit)
	w.provMu.Lock()
	w.provClosed = true // no provisioner starts from now on
	w.provMu.Unlock()
	// Provisioners end at quit; their starts end with the environments.
	w.provWG.Wait()

	pools := w.allPools() // no pool is made once closed
	for _, p := range pools {
		for _, e := range p.retire() {
			w.destroy(e, "shutdown")
		}
		w.dropIfEmpty(p)
	}
	// Busy environments are destroyed when their invocation ends; give
	// them DrainTimeout, then destroy them too.
	drained := make(chan struct{})
	go func() { w.envs.Wait(); close(drained) }()
	select {
	case <-drained:
		return
	case <-time.After(w.cfg.DrainTimeout):
	}
	for _, p := range pools {
		for _, e := range p.all() {
			w.destroy(e, "shutdown")
		}
	}
	<-drained
}

// Retire drains the pools of account's function name: of one version, or
// of every version when version is empty. Idle environments are destroyed
// now, busy ones when their invocation ends. The API calls for it when a
// function's $LATEST is updated (that version only), when a version is
// deleted, and when the function is.
func (w *Worker) Retire(account, name, version string) {
	w.mu.Lock()
	var retired []*pool
	for k, p := range w.pools {
		if k.account == account && k.name == name && (version == "" || k.version == version) {
			retired = append(retired, p)
			delete(w.pools, k)
			w.retired[p] = true
		}
	}
	w.mu.Unlock()
	for _, p := range retired {
		for _, e := range p.retire() {
			w.destroy(e, "retired")
		}
		w.dropIfEmpty(p)
	}
}

// pool returns the pool for cfg's version, replacing one built for an
// older revision of it.
func (w *Worker) pool(cfg *function.Config) (*pool, error) {
	key := poolKey{cfg.Account, cfg.Name, cfg.Version}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, ErrClosed
	}
	p := w.pools[key]
	var stale *pool
	if p != nil && p.cfg.RevisionID != cfg.RevisionID {
		if !cfg.LastModified.Before(p.cfg.LastModified) {
			stale, p = p, nil
		}
		// else: a caller holding an older configuration; serve it from
		// the current pool rather than bring the old code back.
	}
	if p == nil {
		p = newPool(*cfg)
		w.pools[key] = p
	}
	if stale != nil {
		w.retired[stale] = true
	}
	w.mu.Unlock()
	if stale != nil {
		for _, e := range stale.retire() {
			w.destroy(e, "updated")
		}
		w.dropIfEmpty(stale)
	}
	return p, nil
}

// dropIfEmpty forgets p once it has no environment and no cold start
// under way. A current pool is retired as it is dropped, so that a caller
// still holding it gets errRetired from acquire and asks for a new one
// rather than start an environment in a pool nobody lists or reaps.
func (w *Worker) dropIfEmpty(p *pool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !p.retireIfEmpty() {
		return
	}
	key := poolKey{p.cfg.Account, p.cfg.Name, p.cfg.Version}
	if w.pools[key] == p {
		delete(w.pools, key)
	}
	delete(w.retired, p)
}

// allPools returns the current pools and the retired ones that still
// have environments.
func (w *Worker) allPools() []*pool {
	w.mu.Lock()
	defer w.mu.Unlock()
	pools := make([]*pool, 0, len(w.pools)+len(w.retired))
	for _, p := range w.pools {
		pools = append(pools, p)
	}
	for p := range w.retired {
		pools = append(pools, p)
	}
	return pools
}

// newID returns prefix and 16 random hex digits. Ids must be unique, not
// secret, so the runtime's generator does.
func newID(prefix string) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return prefix + hex.EncodeToString(b[:])
}

// EnvInfo describes a live environment.
type EnvInfo struct {
	Account  string    `json:"account,omitempty"`
	Function string    `json:"function"`
	Version  string    `json:"version"`
	ID       string    `json:"env"`
	Stream   string    `json:"log_stream"`
	State    string    `json:"state"` // "idle", "busy" or "destroying"
	IdleFrom time.Time `json:"idle_since,omitzero"`
	Created  time.Time `json:"created,omitzero"`
	MemoryMB int       `json:"memory_mb,omitempty"`

	// Provisioned marks an environment of provisioned concurrency.
	Provisioned bool `json:"provisioned,omitempty"`
}

// Environments lists the live environments, for operators and tests. Those
// of retired pools are listed until their teardown ends.
func (w *Worker) Environments() []EnvInfo {
	var out []EnvInfo
	for _, p := range w.allPools() {
		out = append(out, p.info()...)
	}
	return out
}
