package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"os"
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
}

// WorkerNode is the worker role of a node: it runs invocations api nodes
// send to its Handler with the local worker, and announces its state.
type WorkerNode struct {
	cfg WorkerConfig
	wk  *worker.Worker
	nc  *nats.Conn
	id  string
	log *slog.Logger

	mu     sync.Mutex
	seq    uint64   // guarded by mu; of the last Announce sent
	recent []string // guarded by mu; keys run, most recent first
}

// NewWorkerNode returns the worker role around wk, announcing on nc.
func NewWorkerNode(cfg WorkerConfig, wk *worker.Worker, nc *nats.Conn, log *slog.Logger) *WorkerNode {
	host, _ := os.Hostname()
	var b [6]byte
	rand.Read(b[:])
	id := host + "-" + hex.EncodeToString(b[:])
	return &WorkerNode{cfg: cfg, wk: wk, nc: nc, id: id, log: log.With("component", "cluster", "worker_id", id)}
}

// ID is the worker's id in announcements (a new one per process).
func (n *WorkerNode) ID() string { return n.id }

// Handler serves invocations from api nodes.
func (n *WorkerNode) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+invokePath, n.serveInvoke)
	mux.HandleFunc("POST "+streamPath, n.serveStream)            // remote_stream.go
	mux.HandleFunc("GET "+environmentsPath, n.serveEnvironments) // listing.go
	return mux
}

func (n *WorkerNode) serveInvoke(w http.ResponseWriter, r *http.Request) {
	if !authorized(r, n.cfg.Token) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	var m invokeMeta
	payload, err := readFrame(r.Body, &m, maxFrame)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n.ran(Key(m.Function.Account, m.Function.Name, m.Function.Version))
	res, err := n.wk.Invoke(r.Context(), &worker.Request{
		Function:        m.Function,
		RequestID:       m.RequestID,
		Payload:         payload,
		InvokedARN:      m.InvokedARN,
		ClientContext:   m.ClientContext,
		CognitoIdentity: m.CognitoIdentity,
		TraceID:         m.TraceID,
	})
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
	a := placement.Announce{Worker: n.id, Addr: n.cfg.Addr, MemoryMB: n.cfg.MemoryMB, MaxEnvs: n.cfg.MaxEnvs, Leaving: leaving}
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
// then announces that it leaves.
func (n *WorkerNode) Run(ctx context.Context) error {
	n.log.Info("worker joins the cluster", "addr", n.cfg.Addr, "memory_mb", n.cfg.MemoryMB, "max_envs", n.cfg.MaxEnvs)
	t := time.NewTicker(Heartbeat)
	defer t.Stop()
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
		}
	}
}
