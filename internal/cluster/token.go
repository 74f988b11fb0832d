package cluster

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"
)

// tokenBucket holds the cluster's shared secrets; tokenKey the one api
// nodes present to workers.
const (
	tokenBucket = "hearth_cluster"
	tokenKey    = "worker-token"
)

// SharedToken returns the secret api nodes present to workers
// (Authorization: Bearer), made by the first node that asks and kept in
// the cluster's JetStream: every node that can reach the cluster's NATS
// gets it, and nothing that only reaches a worker's port does.
func SharedToken(ctx context.Context, js jetstream.JetStream) (string, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: tokenBucket, History: 1})
	if err != nil {
		return "", fmt.Errorf("cluster secrets bucket: %w", err)
	}
	var b [32]byte
	rand.Read(b[:])
	if _, err := kv.Create(ctx, tokenKey, []byte(hex.EncodeToString(b[:]))); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return "", fmt.Errorf("store the worker token: %w", err)
	}
	e, err := kv.Get(ctx, tokenKey)
	if err != nil {
		return "", fmt.Errorf("read the worker token: %w", err)
	}
	return string(e.Value()), nil
}

// authorized reports whether r carries token.
func authorized(r *http.Request, token string) bool {
	got := r.Header.Get("Authorization")
	want := "Bearer " + token
	return token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
