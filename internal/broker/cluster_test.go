package broker_test

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"hearth/internal/broker"
)

// Three embedded servers joined in one NATS cluster with Replicas 3:
// a bucket, a stream and an object store created through one of them
// without a replica count are kept on all three, and what one broker
// writes another reads.
func TestClusterReplicas(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	var ports []string
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, ln.Addr().String())
		ln.Close()
	}
	routes := "nats-route://" + strings.Join(ports, ",nats-route://")
	bs := make([]*broker.Broker, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			bs[i], errs[i] = broker.Start(broker.Config{Dir: t.TempDir(), ServerName: fmt.Sprintf("s%d", i), ClusterName: "t",
				ClusterListen: ports[i], ClusterRoutes: routes, Replicas: 3}, log)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Start(%d) = %v", i, err)
		}
		defer bs[i].Close()
	}
	ctx := t.Context()
	js := bs[0].JetStream()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "kv"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "obj"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"KV_kv", "S", "OBJ_obj"} {
		s, err := bs[2].JetStream().Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Config.Replicas; got != 3 {
			t.Errorf("%s: %d replicas, want 3", name, got)
		}
	}
	kv2, err := bs[1].JetStream().KeyValue(ctx, "kv")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv2.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Errorf("Get through another broker = %v, %v", e, err)
	}
}
