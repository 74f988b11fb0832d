package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// An api node and two workers on a NATS cluster of three servers of its
// own (as an operator would run one): functions run on the workers, the
// buckets keep three replicas, and the nodes keep serving when one of
// the NATS servers is killed.
func TestClusterOnExternalNATSCluster(t *testing.T) {
	start := time.Now()
	urls, procs := startNATSCluster(t, 3)
	t.Logf("the NATS cluster's JetStream answered after %v", time.Since(start).Round(time.Millisecond))
	common := []string{"--nats-url", urls, "--isolation", "process"}
	w1 := startServer(t, "", append([]string{"--roles", "worker"}, common...)...)
	w2 := startServer(t, "", append([]string{"--roles", "worker"}, common...)...)
	api := startServer(t, "", append([]string{"--roles", "api,poller"}, common...)...)
	workers := []*server{w1, w2}
	for _, w := range workers {
		id := w.workerID(t)
		eventually(t, 10*time.Second, "the api node places on worker "+id, func() bool { return api.serving(t, id, 0) })
	}

	api.create(t, "nc-fn", goFn())
	if r := api.invoke(t, "nc-fn", map[string]any{"op": "echo"}); r.FunctionError != "" {
		t.Fatalf("invoke: %s %s", r.FunctionError, r.Payload)
	}
	if n := api.count(t, "nc-fn", ""); n != 0 {
		t.Errorf("api node has %d environments of the function, want 0 (it has no worker role)", n)
	}
	if n := w1.count(t, "nc-fn", "") + w2.count(t, "nc-fn", ""); n != 1 {
		t.Errorf("the workers have %d environments after one invocation, want 1", n)
	}

	api.putEventConfig(t, "nc-fn", 0, queueARN("nc-ok"), "")
	ids := map[string]bool{}
	for i := range 10 {
		ids[api.event(t, "nc-fn", fmt.Sprintf(`{"op":"echo","text":"%d"}`, i))] = true
	}
	recs := records(t, api.receive(t, "nc-ok", 10, 30*time.Second))
	if len(recs) != 10 {
		t.Fatalf("%d success records, want 10", len(recs))
	}
	for _, r := range recs {
		if r.RequestContext.Condition != "Success" || !ids[r.RequestContext.RequestID] {
			t.Errorf("record %s: condition %q; want Success for one of the events sent", r.RequestContext.RequestID, r.RequestContext.Condition)
		}
	}

	// The functions bucket has three replicas (--replicas is 3 in a
	// cluster), as JetStream itself reports it.
	nc, err := nats.Connect(urls)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	took := retry(t, 20*time.Second, "three replicas of the functions bucket", func(ctx context.Context) error {
		s, err := js.Stream(ctx, "KV_hearth-functions")
		if err != nil {
			return err
		}
		in := s.CachedInfo()
		if in.Config.Replicas != 3 || in.Cluster == nil || in.Cluster.Leader == "" || len(in.Cluster.Replicas) != 2 {
			return fmt.Errorf("stream config R%d, cluster %+v; want R3 with a leader and two replicas", in.Config.Replicas, in.Cluster)
		}
		return nil
	})
	t.Logf("the functions bucket had three replicas after waiting %v for them", took.Round(time.Millisecond))

	// One NATS server dies; the nodes connected to it reconnect to another
	// and the cluster elects new leaders for what it led.
	if err := procs[0].Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	took = retry(t, 30*time.Second, "create after the kill", func(ctx context.Context) error {
		_, err := api.NoRetry.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("nc-after"),
			Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Role: aws.String("arn:aws:iam::000000000000:role/e2e"),
			Code: &types.FunctionCode{ZipFile: goFnZip}})
		if err != nil && strings.Contains(err.Error(), "ResourceConflictException") {
			return nil // an earlier attempt got through
		}
		return err
	})
	t.Logf("first create after kill -9 of a NATS server succeeded after %v", took.Round(time.Millisecond))
	retry(t, 30*time.Second, "invoke of the new function after the kill", func(ctx context.Context) error {
		r, err := api.tryInvoke(ctx, api.NoRetry, "nc-after", map[string]any{"op": "echo"})
		if err == nil && r.FunctionError != "" {
			return fmt.Errorf("function error %s: %s", r.FunctionError, r.Payload)
		}
		return err
	})
	t.Logf("first invoke of the new function succeeded %v after kill -9", time.Since(killed).Round(time.Millisecond))
	if n := w1.count(t, "nc-after", "") + w2.count(t, "nc-after", ""); n != 1 {
		t.Errorf("the workers have %d environments of the new function, want 1", n)
	}
	want := []string{"nc-after", "nc-fn"}
	retry(t, 10*time.Second, "list every function after the kill", func(ctx context.Context) error {
		got, err := functionNames(ctx, api.NoRetry)
		if err == nil && !slices.Equal(got, want) {
			err = fmt.Errorf("functions = %v, want %v", got, want)
		}
		return err
	})
}
