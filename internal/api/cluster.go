package api

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"hearth/internal/placement"
)

// SetCluster gives the API the cluster's workers as this api node knows
// them, for GET /_hearth/v1/cluster; without it the node is not in a
// cluster.
func (a *API) SetCluster(workers func() []placement.WorkerState) { a.clusterWorkers = workers }

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

// cluster lists the workers this api node places invocations on.
func (a *API) cluster(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Clustered bool            `json:"clustered"`
		Workers   []clusterWorker `json:"workers"`
	}{Workers: []clusterWorker{}}
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
