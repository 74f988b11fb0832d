package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// NodeSubject is where every node of a cluster, whatever its roles,
// publishes its heartbeat (NodeBeat) each Heartbeat, and its last one,
// leaving, as it stops.
const NodeSubject = "hearth.cluster.nodes"

// nodeBeatVersion is NodeBeat.V.
const nodeBeatVersion = 1

// NodeTimeout is how long an api node waits for a node's next heartbeat
// before it lists the node as lost (as placement does for workers).
const NodeTimeout = 3 * time.Second

// nodeForget is how long a lost node stays listed (as lost).
const nodeForget = 5 * time.Minute

// NodeBeat is a node's heartbeat on NodeSubject.
type NodeBeat struct {
	V       int       `json:"v"`
	ID      string    `json:"id"`
	Roles   []string  `json:"roles"`
	Addr    string    `json:"addr"` // the node's API address
	Started time.Time `json:"started"`
	Leaving bool      `json:"leaving,omitempty"`
}

// NewNodeID returns a new node id: the host name and a random suffix.
// A worker node's id (WorkerNode.ID) is one of these too.
func NewNodeID() string {
	host, _ := os.Hostname()
	var b [6]byte
	rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// RunNodeHeartbeat publishes beat on nc now and every Heartbeat until ctx
// is done, then publishes it leaving.
func RunNodeHeartbeat(ctx context.Context, nc *nats.Conn, beat NodeBeat, log *slog.Logger) {
	beat.V = nodeBeatVersion
	publish := func(leaving bool) {
		beat.Leaving = leaving
		b, err := json.Marshal(beat)
		if err == nil {
			err = nc.Publish(NodeSubject, b)
		}
		if err != nil {
			log.Debug("node heartbeat", "err", err)
		}
	}
	t := time.NewTicker(Heartbeat)
	defer t.Stop()
	for {
		publish(false)
		select {
		case <-ctx.Done():
			publish(true)
			nc.Flush()
			return
		case <-t.C:
		}
	}
}

// Node states in NodeState.State.
const (
	NodeAlive = "alive"
	NodeLost  = "lost"
)

// NodeState is a node as an api node knows it from its heartbeats.
type NodeState struct {
	ID       string
	Roles    []string
	Addr     string
	Started  time.Time
	Deadline time.Time // of the next heartbeat
	State    string    // NodeAlive or NodeLost (past Deadline)
}

// Nodes is the cluster's nodes as their heartbeats tell: alive until a
// heartbeat is NodeTimeout late, then lost; gone once they say they leave.
type Nodes struct {
	now func() time.Time

	mu    sync.Mutex
	nodes map[string]NodeState // guarded by mu; by id, State unset
}

// NewNodes returns an empty node map; now is the clock (nil: time.Now).
func NewNodes(now func() time.Time) *Nodes {
	if now == nil {
		now = time.Now
	}
	return &Nodes{now: now, nodes: map[string]NodeState{}}
}

// Apply takes a heartbeat.
func (n *Nodes) Apply(b NodeBeat) {
	if b.V != nodeBeatVersion || b.ID == "" {
		return
	}
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if b.Leaving {
		delete(n.nodes, b.ID)
		return
	}
	n.nodes[b.ID] = NodeState{ID: b.ID, Roles: slices.Clone(b.Roles), Addr: b.Addr, Started: b.Started, Deadline: now.Add(NodeTimeout)}
}

// List returns the nodes by id, forgetting those lost for long.
func (n *Nodes) List() []NodeState {
	now := n.now()
	n.mu.Lock()
	out := make([]NodeState, 0, len(n.nodes))
	for id, s := range n.nodes {
		if now.After(s.Deadline.Add(nodeForget)) {
			delete(n.nodes, id)
			continue
		}
		s.State = NodeAlive
		if now.After(s.Deadline) {
			s.State = NodeLost
		}
		out = append(out, s)
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(x, y NodeState) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// Run takes the heartbeats on nc until ctx is done.
func (n *Nodes) Run(ctx context.Context, nc *nats.Conn) error {
	sub, err := nc.Subscribe(NodeSubject, func(m *nats.Msg) {
		var b NodeBeat
		if json.Unmarshal(m.Data, &b) == nil {
			n.Apply(b)
		}
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	sub.Unsubscribe()
	return nil
}
