package api

import (
	"context"
	"net/http"

	"hearth/internal/cluster"
)

// SetClusterEnvironments has GET /_hearth/v1/environments list the
// environments of the whole cluster with f (cluster.Runner.Environments)
// on an api node: each with the worker that hosts it, and which workers
// did not answer. Call it before serving.
func (a *API) SetClusterEnvironments(f func(ctx context.Context) ([]cluster.HostedEnv, []cluster.Listed)) {
	a.clusterEnvs = f
}

// clusterEnvironments is GET /_hearth/v1/environments on an api node.
func (a *API) clusterEnvironments(w http.ResponseWriter, r *http.Request) {
	envs, listed := a.clusterEnvs(r.Context())
	if envs == nil {
		envs = []cluster.HostedEnv{}
	}
	a.reply(w, r, http.StatusOK, struct {
		Environments []cluster.HostedEnv `json:"environments"`
		Workers      []cluster.Listed    `json:"workers"`
	}{envs, listed})
}
