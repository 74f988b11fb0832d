package cluster

import (
	"context"
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
}

// NewProvisionedWorkers wraps the local worker wk.
func NewProvisionedWorkers(wk *worker.Worker, log *slog.Logger) *ProvisionedWorkers {
	return &ProvisionedWorkers{Worker: wk, reg: placement.New(placement.Config{}), log: log.With("component", "cluster")}
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
	shares := shareOf(p.targets, live, p.self)
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

// Hold does not hold environments on the workers: moving an alias's
// provisioned concurrency in a cluster does not wait for the new
// version's environments (its first invocations may start cold).
func (p *ProvisionedWorkers) Hold(ctx context.Context, cfg function.Config, n int) (func(), error) {
	return func() {}, nil
}

// Run follows the workers' announcements on nc, and re-spreads the
// targets whenever the live workers change, until ctx is done.
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
	t := time.NewTicker(Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.reg.Sweep()
			p.apply(false)
		}
	}
}
