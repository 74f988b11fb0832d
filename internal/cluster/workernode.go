package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"hearth/internal/placement"
	"hearth/internal/worker"
)

// maxFrame bounds an invocation's or a response's payload between nodes:
// the 6 MB of Lambda with room to spare.
const maxFrame = 16 << 20

// Heartbeat is how often a worker announces itself.
const Heartbeat = time.Second

// maxRecent bounds the keys a worker reports as cached.
const maxRecent = 64

// WorkerConfig configures a WorkerNode.
type WorkerConfig struct {
	// Addr is where api nodes reach the worker's Handler (host:port).
	Addr string
	// MemoryMB and MaxEnvs are the worker's capacity.
	MemoryMB int
	MaxEnvs  int
	// Token is the secret api nodes must present (SharedToken);
	// requests without it are refused.
	Token string
	// PlainHTTP says the worker's listener is not TLS (announced so).
	PlainHTTP bool
	// Lease, when positive, is how long the worker serves: at its end it
	// drains (Drain) by itself. Zero means no lease.
	Lease time.Duration
	// InitTimeout is the worker's bound on an environment's init phase,
	// which an invocation may take on top of its function's timeout (a
	// cold start retries init once). Zero means 10 s.
	InitTimeout time.Duration
}

// WorkerNode is the worker role of a node: it runs invocations api nodes
// send to its Handler with the local worker, and announces its state.
type WorkerNode struct {
	cfg WorkerConfig
	wk  *worker.Worker
	nc  *nats.Conn
	id  string
	log *slog.Logger

	leaseEnd time.Time     // zero without a lease
	drainReq chan struct{} // closed by Drain
	drained  chan struct{} // closed by Run once a drain has finished
	settled  chan struct{} // cap 1; an invocation ended while draining

	mu     sync.Mutex
	seq    uint64   // guarded by mu; of the last Announce sent
	recent []string // guarded by mu; keys run, most recent first
	// draining is set by Drain: invocations are refused from then on.
	draining bool // guarded by mu
	// busyMB and busyEnvs count the invocations admitted and not yet
	// answered: the worker's own view of its room, which is what it
	// refuses by (api nodes see it only a heartbeat later).
	busyMB   int // guarded by mu
	busyEnvs int // guarded by mu
	// latest is the latest deadline of an admitted invocation: a drain
	// waits for the invocations in flight at most until then.
	latest time.Time // guarded by mu
}

// NewWorkerNode returns the worker role around wk, announcing on nc.
func NewWorkerNode(cfg WorkerConfig, wk *worker.Worker, nc *nats.Conn, log *slog.Logger) *WorkerNode {
	id := NewNodeID()
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = 10 * time.Second
	}
	n := &WorkerNode{cfg: cfg, wk: wk, nc: nc, id: id, log: log.With("component", "cluster", "worker_id", id),
		drainReq: make(chan struct{}), drained: make(chan struct{}), settled: make(chan struct{}, 1)}
	if cfg.Lease > 0 {
		n.leaseEnd = time.Now().Add(cfg.Lease)
	}
	return n
}

// refusedHeader carries a worker's refusal of an invocation, with a 503:
// refusedFull (no room: the api node's view was stale) or refusedDraining.
// Nothing of the invocation ran, so the api node places it elsewhere.
const (
	refusedHeader   = "Hearth-Refused"
	refusedFull     = "full"
	refusedDraining = "draining"
)

// drainSlack is added to the latest deadline of the invocations in flight
// for a drain to wait: time to write the answers back.
const drainSlack = 5 * time.Second

// ID is the worker's id in announcements (a new one per process).
func (n *WorkerNode) ID() string { return n.id }

// Handler serves invocations from api nodes.
func (n *WorkerNode) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+invokePath, n.serveInvoke)
	mux.HandleFunc("POST "+streamPath, n.serveStream)            // remote_stream.go
	mux.HandleFunc("GET "+environmentsPath, n.serveEnvironments) // listing.go
	mux.HandleFunc("POST "+drainPath, n.serveDrain)
	return mux
}

// Drained is closed once the worker has drained: it was asked to (Drain,
// or its lease ended), and the invocations it had admitted have ended (or
// outlived their deadlines). The node then stops.
func (n *WorkerNode) Drained() <-chan struct{} { return n.drained }

// LeaseEnd is when the worker starts draining by itself; zero without a
// lease.
func (n *WorkerNode) LeaseEnd() time.Time { return n.leaseEnd }

// Drain makes the worker refuse new invocations (api nodes place them
// elsewhere), announce that it drains, and close Drained once the
// invocations in flight have ended. It returns how many are in flight,
// and false if the worker was draining already.
func (n *WorkerNode) Drain(why string) (inFlight int, first bool) {
	n.mu.Lock()
	first = !n.draining
	n.draining = true
	inFlight = n.busyEnvs
	n.mu.Unlock()
	if first {
		n.log.Info("worker drains: refusing new invocations, finishing those in flight", "why", why, "in_flight", inFlight)
		close(n.drainReq)
	}
	return inFlight, first
}

// drainAnswer is the worker's answer to a drain request.
type drainAnswer struct {
	Worker   string `json:"worker"`
	InFlight int    `json:"inFlight"`
	Already  bool   `json:"already,omitempty"`
}

func (n *WorkerNode) serveDrain(w http.ResponseWriter, r *http.Request) {
	if !authorized(r, n.cfg.Token) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	inFlight, first := n.Drain("requested through an api node (hearth drain)")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(drainAnswer{Worker: n.id, InFlight: inFlight, Already: !first})
}

// admit takes room for an invocation of memMB that may run until
// deadline, or says why the worker refuses it.
func (n *WorkerNode) admit(memMB int, deadline time.Time) (refused string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.draining:
		return refusedDraining
	case n.busyMB+memMB > n.cfg.MemoryMB || n.busyEnvs >= n.cfg.MaxEnvs:
		return refusedFull
	}
	n.busyMB += memMB
	n.busyEnvs++
	if deadline.After(n.latest) {
		n.latest = deadline
	}
	return ""
}

// finish gives back what admit took.
func (n *WorkerNode) finish(memMB int) {
	n.mu.Lock()
	n.busyMB -= memMB
	n.busyEnvs--
	draining := n.draining
	n.mu.Unlock()
	if draining {
		select {
		case n.settled <- struct{}{}:
		default:
		}
	}
}

// refuse answers that nothing of the invocation ran and why.
func (n *WorkerNode) refuse(w http.ResponseWriter, m *invokeMeta, why string) {
	n.log.Info("invocation refused; the api node places it elsewhere", "request_id", m.RequestID, "why", why, "memory_mb", m.Function.MemorySize)
	w.Header().Set(refusedHeader, why)
	http.Error(w, "refused: "+why, http.StatusServiceUnavailable)
}

func (n *WorkerNode) serveInvoke(w http.ResponseWriter, r *http.Request) {
	m, payload, ok := n.accept(w, r)
	if !ok {
		return
	}
	defer n.finish(m.Function.MemorySize) // after the answer is written and the environment released
	res, err := n.wk.Invoke(r.Context(), m.request(payload, nil))
	if errors.Is(err, worker.ErrClosed) {
		n.refuse(w, &m, refusedDraining) // the worker stops: nothing ran
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if err != nil {
		n.log.Warn("invocation failed", "request_id", m.RequestID, "err", err)
		writeFrame(w, resultMeta{Err: err.Error(), Closed: errors.Is(err, worker.ErrClosed), Worker: n.id}, nil)
		return
	}
	// The environment is frozen and reused only once the api node has
	// the answer.
	defer res.Release()
	if err := writeFrame(w, resultMeta{
		FunctionError:   res.FunctionError,
		ErrorType:       res.ErrorType,
		ExecutedVersion: res.ExecutedVersion,
		Log:             res.Log,
		Duration:        res.Duration,
		InitDuration:    res.InitDuration,
		ColdStart:       res.ColdStart,
		Worker:          n.id,
	}, res.Payload); err != nil {
		n.log.Debug("response to api node lost", "request_id", m.RequestID, "err", err)
	}
}

// accept reads an invocation sent to the worker and admits it; when it
// returns !ok it has answered (forbidden, malformed, or refused: no room,
// draining). The caller calls finish once it has answered.
func (n *WorkerNode) accept(w http.ResponseWriter, r *http.Request) (m invokeMeta, payload []byte, ok bool) {
	if !authorized(r, n.cfg.Token) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return m, nil, false
	}
	payload, err := readFrame(r.Body, &m, maxFrame)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return m, nil, false
	}
	if why := n.admit(m.Function.MemorySize, time.Now().Add(n.cfg.InitTimeout+m.Function.TimeoutDuration()+drainSlack)); why != "" {
		n.refuse(w, &m, why)
		return m, nil, false
	}
	n.ran(Key(m.Function.Account, m.Function.Name, m.Function.Version))
	return m, payload, true
}

// ran records that key ran here (its code is cached).
func (n *WorkerNode) ran(key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if i := slices.Index(n.recent, key); i >= 0 {
		n.recent = slices.Delete(n.recent, i, i+1)
	}
	n.recent = slices.Insert(n.recent, 0, key)
	if len(n.recent) > maxRecent {
		n.recent = n.recent[:maxRecent]
	}
}

// announce builds the worker's current state.
func (n *WorkerNode) announce(leaving bool) placement.Announce {
	a := placement.Announce{Worker: n.id, Addr: n.cfg.Addr, MemoryMB: n.cfg.MemoryMB, MaxEnvs: n.cfg.MaxEnvs, Leaving: leaving, LeaseEnd: n.leaseEnd, PlainHTTP: n.cfg.PlainHTTP}
	for _, e := range n.wk.Environments() {
		switch e.State {
		case "busy":
			a.BusyMB += e.MemoryMB
			a.BusyEnvs++
		case "idle":
			if a.Idle == nil {
				a.Idle = map[string]int{}
			}
			a.Idle[Key(e.Account, e.Function, e.Version)]++
		}
	}
	n.mu.Lock()
	n.seq++
	a.Seq = n.seq
	a.Cached = slices.Clone(n.recent)
	a.Draining = n.draining
	// Admitted invocations count from the moment they are admitted, before
	// their environment is busy (a cold start); local ones (streamed,
	// provisioned on a node that is an api node too) only by environment.
	a.BusyMB, a.BusyEnvs = max(a.BusyMB, n.busyMB), max(a.BusyEnvs, n.busyEnvs)
	n.mu.Unlock()
	return a
}

func (n *WorkerNode) publish(leaving bool) error {
	b, err := n.announce(leaving).Encode()
	if err != nil {
		return err
	}
	return n.nc.Publish(Subject, b)
}

// Run announces the worker now and every Heartbeat until ctx is done,
// then announces that it leaves. It starts a drain when the lease ends,
// and closes Drained when a drain has finished.
func (n *WorkerNode) Run(ctx context.Context) error {
	scheme := "https"
	if n.cfg.PlainHTTP {
		scheme = "http"
	}
	n.log.Info("worker joins the cluster", "addr", n.cfg.Addr, "scheme", scheme, "memory_mb", n.cfg.MemoryMB, "max_envs", n.cfg.MaxEnvs, "lease_end", n.leaseEnd)
	t := time.NewTicker(Heartbeat)
	defer t.Stop()
	var lease <-chan time.Time
	if !n.leaseEnd.IsZero() {
		lt := time.NewTimer(time.Until(n.leaseEnd))
		defer lt.Stop()
		lease = lt.C
	}
	drainReq := n.drainReq
	var bound <-chan time.Time // the drain's limit, once draining
	for {
		if err := n.publish(false); err != nil {
			n.log.Warn("announce", "err", err)
		}
		select {
		case <-ctx.Done():
			if err := n.publish(true); err != nil {
				n.log.Warn("announce leaving", "err", err)
			}
			n.nc.Flush()
			return nil
		case <-t.C:
		case <-lease:
			lease = nil
			n.Drain("its lease ended")
		case <-drainReq:
			drainReq = nil
			n.mu.Lock()
			until := time.Until(n.latest)
			n.mu.Unlock()
			bt := time.NewTimer(max(until, 0))
			defer bt.Stop()
			bound = bt.C
			n.checkDrained(false)
		case <-n.settled:
			n.checkDrained(false)
		case <-bound:
			bound = nil
			n.checkDrained(true)
		}
	}
}

// checkDrained closes drained once a drain has no invocation left in
// flight, or (late) has waited past the latest deadline of those.
func (n *WorkerNode) checkDrained(late bool) {
	select {
	case <-n.drained:
		return
	default:
	}
	n.mu.Lock()
	left := n.busyEnvs
	n.mu.Unlock()
	switch {
	case left == 0:
		n.log.Info("worker drained: no invocation in flight")
	case late:
		n.log.Warn("worker drain: invocations still in flight past their deadlines; stopping anyway", "in_flight", left)
	default:
		return
	}
	close(n.drained)
}
