package server

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os"

	"hearth/internal/broker"
	"hearth/internal/grants"
	"hearth/internal/invoke"
)

// startGrants makes a clustered node's concurrency limits (the accounts',
// reserved and provisioned concurrency) hold across the cluster: inv
// counts them with slot grants in the bucket hearth-concurrency. The
// holder renews them until ctx ends, then gives them back; the returned
// channel is closed then. A single node keeps counting on its own.
func startGrants(ctx, runCtx context.Context, b *broker.Broker, inv *invoke.Service, log *slog.Logger) (<-chan struct{}, error) {
	host, _ := os.Hostname()
	// A name of its own per process: a restarted node must not take over
	// the entries, and so the invocations, of the one that died.
	h, err := grants.Open(ctx, b.JetStream(), grants.Config{Node: host + "-" + rand.Text()[:8]}, log)
	if err != nil {
		return nil, err
	}
	inv.SetLimiter(h)
	done := make(chan struct{})
	go func() { defer close(done); h.Run(runCtx) }()
	log.Info("concurrency limits held across the cluster", "grants_node", h.Node())
	return done, nil
}
