package server

import (
	"fmt"

	"hearth/internal/cluster"
)

// workerConfig is the worker role's configuration: its address, capacity
// and lease. When the lease ends (or `hearth drain` asks) the worker
// drains: it announces it (api nodes stop placing on it at once), refuses
// new invocations with an answer that makes api nodes place them
// elsewhere, and waits for those in flight, at most until the latest of
// their deadlines (their function's timeout plus an init phase: they
// cannot run longer). Then Run shuts the node down as on SIGTERM (its
// pollers settle the events they hold within ShutdownTimeout, the
// environments are torn down, the worker announces that it leaves) and
// returns nil: a supervisor restarts it with a fresh lease.
func workerConfig(cfg Config, addr, token string) cluster.WorkerConfig {
	return cluster.WorkerConfig{
		Addr:     addr,
		MemoryMB: workerMemoryMB(cfg),
		MaxEnvs:  cfg.Concurrency,
		Token:    token,
		// The listener is TLS unless --cluster-tls=off (clustertls.go).
		PlainHTTP: cfg.clusterTLSOff(),
		Lease:     cfg.WorkerLease,
	}
}

// validateLease checks the lease and async flags.
func (c Config) validateLease() []error {
	var errs []error
	if c.WorkerLease < 0 {
		errs = append(errs, fmt.Errorf("worker-lease: must not be negative, got %v", c.WorkerLease))
	}
	if c.AsyncAckWait < 0 {
		errs = append(errs, fmt.Errorf("async-ack-wait: must not be negative, got %v", c.AsyncAckWait))
	}
	return errs
}
