package server

import (
	"context"
	"errors"
	"log/slog"

	"hearth/internal/sandbox"
)

// errNoWorkerRole is what a node without the worker role answers if
// anything asks it to start an environment: placement never should.
var errNoWorkerRole = errors.New("this node has no worker role: it runs no execution environments")

// noDriver is the sandbox driver of a cluster node without the worker role
// (an api or poller node): it prepares nothing and starts nothing, so such
// a node holds no pool of prepared sandboxes, cgroups, firewall rules,
// loop devices or reaper for environments it never runs.
type noDriver struct{}

func (noDriver) Name() string { return "none" }

func (noDriver) Start(context.Context, *sandbox.Spec) (sandbox.Env, error) {
	return nil, errNoWorkerRole
}

func (noDriver) Close() error { return nil }

// nodeDriver is the sandbox driver for this node: none when it is a
// cluster node that runs no environments, else the one --isolation picks.
func nodeDriver(cfg Config, log *slog.Logger) (sandbox.Driver, error) {
	if cfg.clustered() && !cfg.hasRole(RoleWorker) {
		return noDriver{}, nil
	}
	return newDriver(cfg, log)
}
