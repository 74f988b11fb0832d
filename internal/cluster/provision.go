package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"hearth/internal/function"
	"hearth/internal/placement"
	"hearth/internal/worker"
)

// Provisioned concurrency across nodes. Every node of a cluster keeps the
// provisioned targets of every function version (the API's
// SyncProvisioned, from the shared store) and the set of live workers
// (from their announcements). A worker node provisions only its share of
// each target: the live workers sorted by id, a version's target split
// evenly among them, the remainder going to the workers after one picked
// by the version's hash. No coordinator: every worker computes the same
// split from the same announcements, and when a worker is lost or drains
// the others see it leave and take its share within a few seconds. Views
// differ briefly while a worker joins or leaves, so a version may have
// slightly more or fewer environments for a heartbeat or two.
//
// Provisioned environments are idle environments of their key in the
// workers' announcements, so placement sends invocations to them first.
// An api node reports a version's ready environments by counting the
// provisioned ones in the cluster's environments listing.

// provStatusTTL is how long an api node reuses a listing for the status
// of provisioned concurrency (ListProvisionedConcurrencyConfigs asks once
// per configuration).
const provStatusTTL = 500 * time.Millisecond

// ProvisionedWorkers is the API's worker on a node of a cluster: the
// local worker, with provisioned concurrency spread over the cluster's
// workers.
type ProvisionedWorkers struct {
	*worker.Worker
	reg *placement.Registry
	log *slog.Logger

	applyMu sync.Mutex // held across apply, so shares reach the worker in order

	mu      sync.Mutex
	self    string          // guarded by mu; this node's worker id, "" if none
	runner  *Runner         // guarded by mu; the api role's, for status; nil on others
	targets []worker.Target // guarded by mu; the last SetProvisioned
	live    []string        // guarded by mu; the live workers the shares were computed from
	snap    []HostedEnv     // guarded by mu; the last listing, for status
	failed  []Listed        // guarded by mu; its workers, with their failures
	snapAt  time.Time       // guarded by mu
	holds   map[string]hold // guarded by mu; by id (Hold)
	nc      *nats.Conn      // guarded by mu; set by Run
}

// NewProvisionedWorkers wraps the local worker wk.
func NewProvisionedWorkers(wk *worker.Worker, log *slog.Logger) *ProvisionedWorkers {
	return &ProvisionedWorkers{Worker: wk, reg: placement.New(placement.Config{}), log: log.With("component", "cluster"), holds: map[string]hold{}}
}

// SetNode tells p this node's worker id ("" when it is not a worker) and
// the api role's runner (nil without the api role).
func (p *ProvisionedWorkers) SetNode(self string, runner *Runner) {
	p.mu.Lock()
	p.self, p.runner = self, runner
	p.mu.Unlock()
	p.apply(true)
}

// SetProvisioned takes the provisioned targets of every version and
// provisions this worker's share of each.
func (p *ProvisionedWorkers) SetProvisioned(targets []worker.Target) {
	p.mu.Lock()
	p.targets = slices.Clone(targets)
	p.mu.Unlock()
	p.apply(true)
}

// apply gives the local worker its share of the targets, if forced or if
// the live workers changed since the last time.
func (p *ProvisionedWorkers) apply(force bool) {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	now := time.Now()
	var live []string
	for _, w := range p.reg.Workers() {
		if w.InPlacement && !w.Draining && now.Before(w.Deadline) {
			live = append(live, w.ID)
		}
	}
	slices.Sort(live)
	p.mu.Lock()
	if !force && slices.Equal(live, p.live) {
		p.mu.Unlock()
		return
	}
	p.live = live
	shares := shareOf(p.wantedLocked(), live, p.self)
	p.mu.Unlock()
	p.Worker.SetProvisioned(shares)
}

// shareOf is self's share of targets among the live workers (sorted).
func shareOf(targets []worker.Target, live []string, self string) []worker.Target {
	i, ok := slices.BinarySearch(live, self)
	if self == "" || !ok {
		return nil
	}
	n := len(live)
	var out []worker.Target
	for _, t := range targets {
		h := fnv.New32a()
		h.Write([]byte(Key(t.Config.Account, t.Config.Name, t.Config.Version)))
		first := int(h.Sum32() % uint32(n))
		share := t.N / n
		if (i-first+n)%n < t.N%n {
			share++
		}
		if share > 0 {
			out = append(out, worker.Target{Config: t.Config, N: share})
		}
	}
	return out
}

// Provisioned reports a version's provisioned environments across the
// cluster (on an api node; the local worker's on others), and why they
// could not be started if a worker says so.
func (p *ProvisionedWorkers) Provisioned(account, name, version string) worker.ProvisionStatus {
	p.mu.Lock()
	runner, snap, listed, fresh := p.runner, p.snap, p.failed, time.Since(p.snapAt) < provStatusTTL
	p.mu.Unlock()
	if runner == nil {
		return p.Worker.Provisioned(account, name, version)
	}
	if !fresh {
		snap, listed = runner.Environments(context.Background())
		p.mu.Lock()
		p.snap, p.failed, p.snapAt = snap, listed, time.Now()
		p.mu.Unlock()
	}
	var st worker.ProvisionStatus
	for _, e := range snap {
		if e.Provisioned && e.Account == account && e.Function == name && e.Version == version && (e.State == "idle" || e.State == "busy") {
			st.Ready++
		}
	}
	for _, l := range listed {
		for _, f := range l.ProvisionFailures {
			if f.Account == account && f.Function == name && f.Version == version {
				st.Failed = f.Reason
			}
		}
	}
	return st
}

// holdSubject carries holds (Hold) from api nodes to every node.
const holdSubject = "hearth.cluster.provision.holds"

// holdTTL is how long a node keeps a hold its holder stopped renewing
// (the holder renews it every Heartbeat): a lost release, or a holder
// that died, costs at most this.
const holdTTL = 5 * time.Second

// holdLinger is how long a hold stays after its release (see Hold).
const holdLinger = 5 * time.Second

// holdMsg is a hold, or its release, on holdSubject.
type holdMsg struct {
	ID      string          `json:"id"`
	Config  function.Config `json:"config"`
	N       int             `json:"n"`
	Release bool            `json:"release,omitempty"`
}

// hold is a hold a node knows of.
type hold struct {
	cfg  function.Config
	n    int
	seen time.Time
}

// Hold adds n provisioned environments of cfg's version, spread over the
// workers like a target, until release is called, and waits until n are
// ready across the cluster, ctx ends or a worker reports their init
// failed. The API holds a version while it moves an alias's provisioned
// concurrency to it. Holds travel on core NATS and are renewed every
// Heartbeat until released; nodes drop those not renewed for holdTTL.
func (p *ProvisionedWorkers) Hold(ctx context.Context, cfg function.Config, n int) (release func(), err error) {
	p.mu.Lock()
	runner, nc := p.runner, p.nc
	p.mu.Unlock()
	if runner == nil || nc == nil {
		return func() {}, nil // not an api node: it does not move aliases
	}
	var b [8]byte
	rand.Read(b[:])
	msg := holdMsg{ID: hex.EncodeToString(b[:]), Config: cfg, N: n}
	publish := func(m holdMsg) {
		if data, err := json.Marshal(m); err == nil {
			nc.Publish(holdSubject, data)
		}
	}
	stop := make(chan struct{})
	go func() { // renews the hold until released, then releases it
		t := time.NewTicker(Heartbeat)
		defer t.Stop()
		for {
			publish(msg)
			select {
			case <-stop:
				m := msg
				m.Release = true
				publish(m)
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	release = func() {
		// The alias has moved in the store; the workers learn it through
		// their store's watch, maybe after this. Released at once, a worker
		// that still sees the alias on the old version would drop the new
		// version's environments and the alias's next invocation would be a
		// cold start: the hold lingers for holdLinger.
		once.Do(func() { time.AfterFunc(holdLinger, func() { close(stop) }) })
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		p.mu.Lock()
		p.snapAt = time.Time{} // a fresh listing
		p.mu.Unlock()
		st := p.Provisioned(cfg.Account, cfg.Name, cfg.Version)
		switch {
		case st.Ready >= n:
			// Placement learns that they are idle from the workers'
			// next announcements: wait until it has (a heartbeat, more on
			// a loaded machine), so that the alias's next invocation finds
			// them; at most a few heartbeats.
			key := Key(cfg.Account, cfg.Name, cfg.Version)
			for wait := time.Now().Add(5 * Heartbeat); runner.reg.Idle(key) < n && time.Now().Before(wait); {
				select {
				case <-time.After(50 * time.Millisecond):
				case <-ctx.Done():
					return release, nil
				}
			}
			return release, nil
		case st.Failed != "":
			return release, errors.New(st.Failed)
		}
		select {
		case <-ctx.Done():
			return release, ctx.Err()
		case <-t.C:
		}
	}
}

// takeHold applies a hold message.
func (p *ProvisionedWorkers) takeHold(m holdMsg) {
	p.mu.Lock()
	_, known := p.holds[m.ID]
	if m.Release {
		delete(p.holds, m.ID)
	} else {
		p.holds[m.ID] = hold{cfg: m.Config, n: m.N, seen: time.Now()}
	}
	changed := known == m.Release // a new hold, or a release of a known one
	p.mu.Unlock()
	if changed {
		p.apply(true)
	}
}

// expireHolds drops holds not renewed for holdTTL and reports whether it
// dropped any.
func (p *ProvisionedWorkers) expireHolds() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.holds)
	for id, h := range p.holds {
		if time.Since(h.seen) > holdTTL {
			delete(p.holds, id)
		}
	}
	return len(p.holds) != n
}

// wantedLocked is the targets with the holds added. mu must be held.
func (p *ProvisionedWorkers) wantedLocked() []worker.Target {
	if len(p.holds) == 0 {
		return p.targets
	}
	out := slices.Clone(p.targets)
	for _, h := range p.holds {
		i := slices.IndexFunc(out, func(t worker.Target) bool {
			return t.Config.Account == h.cfg.Account && t.Config.Name == h.cfg.Name && t.Config.Version == h.cfg.Version
		})
		if i < 0 {
			out = append(out, worker.Target{Config: h.cfg})
			i = len(out) - 1
		}
		out[i].N += h.n
	}
	return out
}

// Run follows the workers' announcements and the holds on nc, and
// re-spreads the targets whenever the live workers or the holds change,
// until ctx is done.
func (p *ProvisionedWorkers) Run(ctx context.Context, nc *nats.Conn) error {
	sub, err := nc.Subscribe(Subject, func(m *nats.Msg) {
		if a, err := placement.DecodeAnnounce(m.Data); err == nil {
			p.reg.Apply(a)
		}
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	hsub, err := nc.Subscribe(holdSubject, func(m *nats.Msg) {
		var h holdMsg
		if err := json.Unmarshal(m.Data, &h); err != nil || h.ID == "" || h.N < 0 {
			return
		}
		p.takeHold(h)
	})
	if err != nil {
		return err
	}
	defer hsub.Unsubscribe()
	p.mu.Lock()
	p.nc = nc
	p.mu.Unlock()
	t := time.NewTicker(Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.reg.Sweep()
			p.apply(p.expireHolds())
		}
	}
}
