package server

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"hearth/internal/api"
	"hearth/internal/cluster"
	"hearth/internal/logs"
	"hearth/internal/worker"
)

// startXnode wires, on a node of a cluster, what api nodes see of the
// workers beyond invocations, and the logs every node serves: changes
// made through one node's CloudWatch Logs API are applied by the others
// (cluster.ReplicateLogChanges); a worker node ships its function logs to
// the api nodes (cluster.LogShipper as the logs store's tee); an api node
// writes those into its own logs store (cluster.ReceiveLogs) and lists
// every worker's environments (cluster.Runner.Environments); prov spreads
// provisioned concurrency over the workers. Its
// goroutines run in g until ctx is done. wn is the node's worker role,
// nil if it has none; remote the api role's runner, nil outside a
// cluster. Call it before the node serves anything.
func startXnode(ctx context.Context, g *errgroup.Group, cfg Config, nc *nats.Conn, remote *cluster.Runner, a *api.API,
	wn *cluster.WorkerNode, wk *worker.Worker, ls *logs.Store, prov *cluster.ProvisionedWorkers, log *slog.Logger) {
	if !cfg.clustered() {
		return
	}
	// Every node serves the CloudWatch Logs API: what a client changes
	// through one, the others apply.
	if changes, err := cluster.ReplicateLogChanges(ctx, nc, ls, log); err != nil {
		log.Warn("log changes are not replicated to the other nodes", "err", err)
	} else {
		g.Go(func() error { <-changes; return nil })
	}
	self := ""
	if wn != nil {
		self = wn.ID()
		sh := cluster.NewLogShipper(nc, self, log)
		ls.SetTee(sh.Tee)
		g.Go(func() error { sh.Run(ctx); return nil })
	}
	var apiRunner *cluster.Runner // the api role's
	if remote != nil && cfg.hasRole(RoleAPI) {
		apiRunner = remote
	}
	if prov != nil {
		prov.SetNode(self, apiRunner)
		g.Go(func() error { return prov.Run(ctx, nc) })
	}
	if apiRunner != nil {
		remote.SetLocal(self, wk)
		a.SetClusterEnvironments(remote.Environments)
		g.Go(func() error { return cluster.ReceiveLogs(ctx, nc, self, ls, log) })
	}
}

// provisionedWorkers is the worker the API uses: on a node of a cluster,
// the local one with provisioned concurrency spread over the cluster's
// workers (cluster.ProvisionedWorkers, also returned); the local one
// alone otherwise.
func provisionedWorkers(cfg Config, wk *worker.Worker, log *slog.Logger) (api.Workers, *cluster.ProvisionedWorkers) {
	if !cfg.clustered() {
		return wk, nil
	}
	p := cluster.NewProvisionedWorkers(wk, log)
	return p, p
}
