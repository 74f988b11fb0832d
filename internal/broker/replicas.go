package broker

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// replicated is a JetStream context that creates (or updates) every
// stream, bucket and object store with n replicas unless the caller asked
// for a number itself, so that the packages that own them need not know
// the cluster's size. An update of an existing one to more replicas makes
// the servers copy it.
type replicated struct {
	jetstream.JetStream
	n int
}

func (r replicated) CreateOrUpdateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = r.n
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	return r.JetStream.CreateOrUpdateStream(ctx, cfg)
}

func (r replicated) CreateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = r.n
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	return r.JetStream.CreateStream(ctx, cfg)
}

func (r replicated) CreateOrUpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = r.n
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	return r.JetStream.CreateOrUpdateKeyValue(ctx, cfg)
}

func (r replicated) CreateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = r.n
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	return r.JetStream.CreateKeyValue(ctx, cfg)
}

func (r replicated) CreateOrUpdateObjectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = r.n
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	return r.JetStream.CreateOrUpdateObjectStore(ctx, cfg)
}

func (r replicated) CreateObjectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = r.n
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	return r.JetStream.CreateObjectStore(ctx, cfg)
}

// bound gives ctx a long deadline when it has none: placing a replicated
// stream in a cluster that has just formed can take longer than
// JetStream's default 5 s.
func (r replicated) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, time.Minute)
}

// withReplicas wraps js when n > 1.
func withReplicas(js jetstream.JetStream, n int) jetstream.JetStream {
	if n <= 1 {
		return js
	}
	return replicated{JetStream: js, n: n}
}
