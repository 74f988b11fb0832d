package api

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"hearth/internal/cluster"
	"hearth/internal/placement"
)

// SetCluster gives the API the cluster's workers as this api node knows
// them, for GET /_hearth/v1/cluster; without it the node is not in a
// cluster.
func (a *API) SetCluster(workers func() []placement.WorkerState) { a.clusterWorkers = workers }

// SetClusterNodes gives the API the cluster's nodes, whatever their
// roles, as their heartbeats tell this api node, for the nodes of GET
// /_hearth/v1/cluster.
func (a *API) SetClusterNodes(nodes func() []cluster.NodeState) { a.clusterNodes = nodes }

// clusterNode is one node in GET /_hearth/v1/cluster.
type clusterNode struct {
	ID       string    `json:"id"`
	Roles    []string  `json:"roles"`
	Addr     string    `json:"addr"`
	Started  time.Time `json:"started"`
	State    string    `json:"state"` // alive, lost
	Deadline time.Time `json:"heartbeat_deadline"`
}

// clusterWorker is one worker in GET /_hearth/v1/cluster.
type clusterWorker struct {
	ID              string    `json:"id"`
	Addr            string    `json:"addr"`
	InPlacement     bool      `json:"in_placement"`
	Draining        bool      `json:"draining"`
	MemoryMB        int       `json:"memory_mb"`
	BusyMB          int       `json:"busy_mb"`
	MaxEnvironments int       `json:"max_environments"`
	BusyEnvs        int       `json:"busy_environments"`
	IdleEnvs        int       `json:"idle_environments"`
	Deadline        time.Time `json:"heartbeat_deadline"`
	LeaseEnd        time.Time `json:"lease_end,omitzero"`
}

// cluster lists the cluster's nodes and the workers this api node places
// invocations on.
func (a *API) cluster(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Clustered bool            `json:"clustered"`
		Nodes     []clusterNode   `json:"nodes"`
		Workers   []clusterWorker `json:"workers"`
	}{Nodes: []clusterNode{}, Workers: []clusterWorker{}}
	if a.clusterNodes != nil {
		for _, n := range a.clusterNodes() {
			out.Nodes = append(out.Nodes, clusterNode{ID: n.ID, Roles: n.Roles, Addr: n.Addr, Started: n.Started.UTC(), State: n.State, Deadline: n.Deadline.UTC()})
		}
	}
	if a.clusterWorkers != nil {
		out.Clustered = true
		for _, ws := range a.clusterWorkers() {
			out.Workers = append(out.Workers, clusterWorker{ID: ws.ID, Addr: ws.Addr, InPlacement: ws.InPlacement, Draining: ws.Draining,
				MemoryMB: ws.MemoryMB, BusyMB: ws.BusyMB, MaxEnvironments: ws.MaxEnvs, BusyEnvs: ws.BusyEnvs, IdleEnvs: ws.IdleEnvs,
				Deadline: ws.Deadline.UTC(), LeaseEnd: ws.LeaseEnd.UTC()})
		}
		slices.SortFunc(out.Workers, func(x, y clusterWorker) int { return strings.Compare(x.ID, y.ID) })
	}
	a.reply(w, r, http.StatusOK, out)
}
