package broker_test

import (
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"hearth/internal/broker"
)

// State written through one broker is there after a restart on the same
// directory.
func TestStatePersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	b, err := broker.Start(broker.Config{Dir: dir}, log)
	if err != nil {
		t.Fatalf("Start() = %v", err)
	}
	kv, err := b.JetStream().CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "t", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	b.Close()

	b, err = broker.Start(broker.Config{Dir: dir}, log)
	if err != nil {
		t.Fatalf("second Start() = %v", err)
	}
	defer b.Close()
	kv, err = b.JetStream().KeyValue(t.Context(), "t")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(t.Context(), "k")
	if err != nil || string(e.Value()) != "v" {
		t.Fatalf("Get(k) after restart = %v, %v; want v", e, err)
	}
}
