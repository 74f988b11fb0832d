package broker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"hearth/internal/broker"
)

// cluster returns n route addresses on loopback and the routes option
// naming them all.
func clusterAddrs(t *testing.T, n int) ([]string, string) {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		ln.Close()
	}
	return addrs, "nats-route://" + strings.Join(addrs, ",nats-route://")
}

// startClustered starts the brokers of idx at the same moment.
func startClustered(t *testing.T, addrs []string, routes string, dirs []string, idx ...int) []*broker.Broker {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	bs := make([]*broker.Broker, len(idx))
	errs := make([]error, len(idx))
	var wg sync.WaitGroup
	for j, i := range idx {
		wg.Go(func() {
			bs[j], errs[j] = broker.Start(broker.Config{Dir: dirs[i], ServerName: fmt.Sprintf("s%d", i), ClusterName: "t",
				ClusterListen: addrs[i], ClusterRoutes: routes, Replicas: 3}, log)
		})
	}
	wg.Wait()
	for j, err := range errs {
		if err != nil {
			t.Fatalf("Start(%d) = %v", idx[j], err)
		}
		t.Cleanup(bs[j].Close)
	}
	return bs
}

func replicasOf(t *testing.T, js jetstream.JetStream, stream string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("Stream(%s) = %v", stream, err)
	}
	return s.CachedInfo().Config.Replicas
}

// Three brokers of a fresh cluster open the same bucket, stream and
// object store at the same moment, as three hearth nodes started
// together do. nats.go's CreateOrUpdate* (update first, then create)
// made every one of them wait forever: an update that reaches a new
// replicated stream before its first leader is never answered and takes
// the create's answer with it. Through the wrapper all three succeed at
// once, with three replicas.
func TestReplicatedRace(t *testing.T) {
	addrs, routes := clusterAddrs(t, 3)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	bs := startClustered(t, addrs, routes, dirs, 0, 1, 2)
	var wg sync.WaitGroup
	start := time.Now()
	took := make([]time.Duration, 3)
	for i, b := range bs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			js := b.JetStream()
			if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "kv", History: 1}); err != nil {
				t.Errorf("broker %d: CreateOrUpdateKeyValue = %v", i, err)
			}
			if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
				t.Errorf("broker %d: CreateOrUpdateStream = %v", i, err)
			}
			if _, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "obj"}); err != nil {
				t.Errorf("broker %d: CreateOrUpdateObjectStore = %v", i, err)
			}
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	t.Logf("three brokers opened a bucket, a stream and an object store at once in %v", took)
	for _, name := range []string{"KV_kv", "S", "OBJ_obj"} {
		if got := replicasOf(t, bs[1].JetStream(), name); got != 3 {
			t.Errorf("%s has %d replicas, want 3", name, got)
		}
	}
	// Whatever a broker wrote, another reads at once: gets are the
	// leader's, not those of a replica that may lag.
	kvs := make([]jetstream.KeyValue, 3)
	for i, b := range bs {
		var err error
		if kvs[i], err = b.JetStream().KeyValue(t.Context(), "kv"); err != nil {
			t.Fatal(err)
		}
	}
	stale := 0
	for i := range 300 {
		k := fmt.Sprintf("k%d", i)
		if _, err := kvs[i%3].Put(t.Context(), k, []byte("v")); err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			if _, err := kvs[j].Get(t.Context(), k); err != nil {
				t.Logf("broker %d: Get(%s) just after broker %d put it: %v", j, k, i%3, err)
				stale++
			}
		}
	}
	objs := make([]jetstream.ObjectStore, 3)
	for i, b := range bs {
		var err error
		if objs[i], err = b.JetStream().ObjectStore(t.Context(), "obj"); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 256<<10)
	for i := range 30 {
		name := fmt.Sprintf("o%d", i)
		if _, err := objs[i%3].PutBytes(t.Context(), name, big); err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			res, err := objs[j].Get(t.Context(), name)
			if err == nil {
				var b []byte
				b, err = io.ReadAll(res)
				res.Close()
				if err == nil && len(b) != len(big) {
					err = fmt.Errorf("read %d bytes, want %d", len(b), len(big))
				}
			}
			if err != nil {
				t.Logf("broker %d: Get(%s) just after broker %d put it: %v", j, name, i%3, err)
				stale++
			}
		}
	}
	if stale > 0 {
		t.Errorf("%d of 990 reads right after a write did not find it", stale)
	}
	// A second open of an existing bucket with another configuration
	// updates it and keeps its replicas.
	kv, err := bs[2].JetStream().CreateOrUpdateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "kv", History: 5})
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.History() != 5 || replicasOf(t, bs[0].JetStream(), "KV_kv") != 3 {
		t.Errorf("after an update: history %d, %d replicas; want 5 and 3", st.History(), replicasOf(t, bs[0].JetStream(), "KV_kv"))
	}
}

// A cluster of two servers takes a bucket with one replica (three
// cannot be placed) instead of failing; once a third server joins, the
// meta leader's node scales it to three, and its data is on all of them.
func TestReplicasScaleUpWhenTheClusterGrows(t *testing.T) {
	addrs, routes := clusterAddrs(t, 3)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	routes2 := "nats-route://" + addrs[0] + ",nats-route://" + addrs[1]
	bs := startClustered(t, addrs, routes2, dirs, 0, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	opened := time.Now()
	kv, err := bs[0].JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "grow"})
	if err != nil {
		t.Fatalf("CreateOrUpdateKeyValue on two of three servers = %v", err)
	}
	t.Logf("opened on two servers in %v", time.Since(opened).Round(time.Millisecond))
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if got := replicasOf(t, bs[1].JetStream(), "KV_grow"); got != 1 {
		t.Fatalf("on two servers the bucket has %d replicas, want 1", got)
	}
	third := startClustered(t, addrs, routes, dirs, 2)[0]
	start := time.Now()
	for replicasOf(t, third.JetStream(), "KV_grow") != 3 {
		if time.Since(start) > 30*time.Second {
			t.Fatal("the bucket still has fewer than 3 replicas 30 s after the third server joined")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("scaled to 3 replicas %v after the third server started", time.Since(start).Round(time.Millisecond))
	kv3, err := third.JetStream().KeyValue(ctx, "grow")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv3.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Errorf("Get through the third server = %v, %v", e, err)
	}
}
