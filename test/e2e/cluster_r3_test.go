package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// r3Cluster is three hearth nodes whose embedded NATS servers form one
// cluster on loopback, with the route ports fixed so that a node
// restarted on its data directory is the same NATS server again.
type r3Cluster struct {
	t      *testing.T
	ports  []int
	routes string
	nodes  []*server
}

func newR3Cluster(t *testing.T) *r3Cluster {
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	c := &r3Cluster{t: t, ports: freePorts(t, 3), nodes: make([]*server, 3)}
	var routes []string
	for _, p := range c.ports {
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(p))
	}
	c.routes = strings.Join(routes, ",")
	return c
}

// start starts node i on dataDir ("" for a fresh one) with roles ("" for all).
func (c *r3Cluster) start(i int, dataDir, roles string) *server {
	flags := []string{"--isolation", "process", "--async-concurrency", "2", "--cluster-name", "r3",
		"--cluster-listen", "127.0.0.1:" + strconv.Itoa(c.ports[i]), "--cluster-routes", c.routes}
	if roles != "" {
		flags = append(flags, "--roles", roles)
	}
	s := startServer(c.t, dataDir, flags...)
	c.nodes[i] = s
	if dir := os.Getenv("HEARTH_E2E_LOGS"); dir != "" {
		// The whole log of each node (the harness prints the end of it).
		c.t.Cleanup(func() {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d-%p.log", c.t.Name(), i, s)), []byte(s.Log()), 0o644)
		})
	}
	return s
}

// startAll starts the three nodes together, as a supervisor would.
func (c *r3Cluster) startAll(dirs []string, roles []string) {
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() { c.start(i, dirs[i], roles[i]) })
	}
	wg.Wait()
	if c.t.Failed() {
		c.t.FailNow()
	}
}

var (
	natsClientRE = regexp.MustCompile(`msg="Listening for client connections on (\S+)"`)
	natsNameRE   = regexp.MustCompile(`msg="  Name:     (\S+)"`)
)

// jetStream connects to the node's embedded NATS server (its client port
// is a random loopback one, which it logs).
func (s *server) jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	m := natsClientRE.FindAllStringSubmatch(s.Log(), -1)
	if m == nil {
		t.Fatal("the node logged no NATS client address")
	}
	nc, err := nats.Connect("nats://"+m[len(m)-1][1], nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// natsName is the name of the node's NATS server.
func (s *server) natsName(t *testing.T) string {
	t.Helper()
	m := natsNameRE.FindStringSubmatch(s.Log())
	if m == nil {
		t.Fatal("the node logged no NATS server name")
	}
	return m[1]
}

// streamInfos lists the cluster's streams.
func streamInfos(t *testing.T, js jetstream.JetStream) []*jetstream.StreamInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var out []*jetstream.StreamInfo
	l := js.ListStreams(ctx)
	for info := range l.Info() {
		out = append(out, info)
	}
	if err := l.Err(); err != nil {
		t.Fatalf("list streams: %v", err)
	}
	slices.SortFunc(out, func(a, b *jetstream.StreamInfo) int { return strings.Compare(a.Config.Name, b.Config.Name) })
	// A listing during leader changes may name a stream twice.
	return slices.CompactFunc(out, func(a, b *jetstream.StreamInfo) bool { return a.Config.Name == b.Config.Name })
}

// waitReplicas waits until every stream (every bucket and object store is
// one) has three replicas with a leader, and returns them.
func waitReplicas(t *testing.T, js jetstream.JetStream, within time.Duration) []*jetstream.StreamInfo {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		infos := streamInfos(t, js)
		var below []string
		for _, in := range infos {
			if in.Config.Replicas != 3 || in.Cluster == nil || in.Cluster.Leader == "" || len(in.Cluster.Replicas) != 2 {
				below = append(below, fmt.Sprintf("%s (R%d)", in.Config.Name, in.Config.Replicas))
			}
		}
		if len(below) == 0 && len(infos) >= 5 {
			return infos
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, streams without 3 replicas: %v (of %d)", within, below, len(infos))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// retry calls f until it succeeds or within passes, and returns how long
// it took.
func retry(t *testing.T, within time.Duration, what string, f func(ctx context.Context) error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: still failing after %v: %v", what, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// receiveRetrying is receive that tries again when the node answers with
// an error (a stream or consumer whose leader was lost is being taken
// over, or, after a restart of every node, not elected yet), until
// timeout.
func receiveRetrying(t *testing.T, s *server, queue string, want int, timeout time.Duration) []queued {
	t.Helper()
	var got []queued
	deadline := time.Now().Add(timeout)
	for len(got) < want && time.Now().Before(deadline) {
		resp, err := s.get(t, "/_hearth/v1/queues/"+queue+"/messages?max=100&wait=1s")
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ Messages []queued }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Logf("receive from %s: %d %v; trying again", queue, resp.StatusCode, err)
			time.Sleep(250 * time.Millisecond)
			continue
		}
		got = append(got, out.Messages...)
	}
	return got
}

func functionNames(ctx context.Context, c *lambda.Client) ([]string, error) {
	var names []string
	p := lambda.NewListFunctionsPaginator(c, &lambda.ListFunctionsInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, f := range out.Functions {
			names = append(names, aws.ToString(f.FunctionName))
		}
	}
	slices.Sort(names)
	return names, nil
}

// Three nodes with embedded clustered NATS: every stream, bucket and
// object store gets three replicas. The node that took the creates and
// the async events (an api node: it polls nothing and runs nothing, so
// what it takes with it is its NATS server, which leads the functions
// bucket and the event stream when it is killed) dies with kill -9:
// every function created is still listed, every event it acknowledged
// runs (at least once: a poller that dies mid-event has it redelivered;
// here none does, and the test counts duplicates), and the other two
// nodes keep taking creates and invocations. The killed node restarts on
// its data directory and rejoins with what was written without it.
func TestClusterR3LoseOneServer(t *testing.T) {
	c := newR3Cluster(t)
	c.startAll([]string{"", "", ""}, []string{"api", "", ""})
	front, other := c.nodes[0], c.nodes[1]
	js := other.jetStream(t)

	const fns = 4
	for i := range fns {
		front.create(t, fmt.Sprintf("r3-%d", i), goFn())
	}
	front.putEventConfig(t, "r3-0", 0, queueARN("r3-done"), queueARN("r3-failed"))
	infos := waitReplicas(t, js, 30*time.Second)
	var names []string
	for _, in := range infos {
		names = append(names, in.Config.Name)
	}
	t.Logf("streams with 3 replicas: %v", names)

	// Move the leaders of the functions bucket and of the event stream
	// to the server about to die, so that losing it costs a failover.
	victim := front.natsName(t)
	for _, in := range infos {
		if in.Cluster.Leader == victim {
			continue
		}
		req, _ := json.Marshal(map[string]any{"placement": map[string]any{"preferred": victim}})
		js.Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN."+in.Config.Name, req, 5*time.Second)
	}
	var led []string
	for _, in := range waitReplicas(t, js, 15*time.Second) {
		if in.Cluster.Leader == victim {
			led = append(led, in.Config.Name)
		}
	}
	t.Logf("streams led by the server about to be killed: %v", led)

	const before, after = 20, 10
	var ids []string
	for range before {
		ids = append(ids, front.event(t, "r3-0", `{"op":"sleep","ms":300}`))
	}
	front.Kill()
	killed := time.Now()

	// The survivors keep serving: a create and an invoke through another
	// node, after a failover of whatever the dead server led.
	took := retry(t, 30*time.Second, "create after the kill", func(ctx context.Context) error {
		_, err := other.NoRetry.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("r3-after"),
			Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Role: aws.String("arn:aws:iam::000000000000:role/e2e"),
			Code: &types.FunctionCode{ZipFile: goFnZip}})
		if err != nil && strings.Contains(err.Error(), "ResourceConflictException") {
			return nil // an earlier attempt got through
		}
		return err
	})
	t.Logf("first create through a surviving node succeeded %v after kill -9", took.Round(time.Millisecond))
	retry(t, 30*time.Second, "invoke after the kill", func(ctx context.Context) error {
		r, err := other.tryInvoke(ctx, other.NoRetry, "r3-1", map[string]any{"op": "echo"})
		if err == nil && r.FunctionError != "" {
			return fmt.Errorf("function error %s: %s", r.FunctionError, r.Payload)
		}
		return err
	})
	t.Logf("first invoke through a surviving node succeeded %v after kill -9", time.Since(killed).Round(time.Millisecond))
	for range after {
		ids = append(ids, other.event(t, "r3-0", `{"op":"sleep","ms":10}`))
	}
	// Every node lists every function; the third node's copy follows the
	// bucket through a watch, which resumes after the failover.
	want := []string{"r3-0", "r3-1", "r3-2", "r3-3", "r3-after"}
	retry(t, 20*time.Second, "the third node lists every function", func(ctx context.Context) error {
		got, err := functionNames(ctx, c.nodes[2].NoRetry)
		if err == nil && !slices.Equal(got, want) {
			err = fmt.Errorf("functions = %v, want %v", got, want)
		}
		return err
	})
	t.Logf("the third node listed every function %v after kill -9", time.Since(killed).Round(time.Millisecond))

	// Every acknowledged event runs.
	recs := records(t, receiveRetrying(t, other, "r3-done", len(ids), 40*time.Second))
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.RequestContext.RequestID]++
	}
	missing, dup := 0, 0
	for _, id := range ids {
		switch n := seen[id]; {
		case n == 0:
			missing++
		case n > 1:
			dup += n - 1
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged events never ran after kill -9 of the server that took them", missing, len(ids))
	}
	t.Logf("%d events acknowledged, %d ran, %d duplicates", len(ids), len(ids)-missing, dup)
	if failed := receiveRetrying(t, other, "r3-failed", 1, time.Second); len(failed) > 0 {
		t.Errorf("%d events failed", len(failed))
	}

	// The killed node restarts on its data directory and rejoins: it
	// serves what was written while it was gone, and its server holds a
	// current replica of every stream again.
	back := c.start(0, front.DataDir, "api")
	got, err := functionNames(t.Context(), back.Client)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("functions through the restarted node = %v, %v; want %v", got, err, want)
	}
	r := back.invoke(t, "r3-after", map[string]any{"op": "echo"})
	if r.FunctionError != "" {
		t.Errorf("invoke through the restarted node: %s %s", r.FunctionError, r.Payload)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		lagging := 0
		for _, in := range streamInfos(t, js) {
			ok := in.Cluster != nil && in.Cluster.Leader == victim
			for _, p := range in.Cluster.Replicas {
				if p.Name == victim && p.Current {
					ok = true
				}
			}
			if !ok {
				lagging++
			}
		}
		if lagging == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s after the restart, %d streams have no current replica on the restarted server", lagging)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Three nodes stop and start again on their data directories: functions,
// versions, aliases and queued async events are intact. The nodes run
// no pollers before the restart, so the events stay queued; after it
// they run.
func TestClusterR3RestartAll(t *testing.T) {
	c := newR3Cluster(t)
	c.startAll([]string{"", "", ""}, []string{"api,worker", "api,worker", "api,worker"})
	a, b := c.nodes[0], c.nodes[1]
	a.create(t, "keep", goFn())
	v1, err := a.Client.PublishVersion(t.Context(), &lambda.PublishVersionInput{FunctionName: aws.String("keep")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Client.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("keep"),
		Environment: &types.Environment{Variables: map[string]string{"STAGE": "two"}}}); err != nil {
		t.Fatal(err)
	}
	w := lambda.NewFunctionUpdatedV2Waiter(b.Client, func(o *lambda.FunctionUpdatedV2WaiterOptions) { o.MinDelay = 20 * time.Millisecond })
	if err := w.Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String("keep")}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	v2, err := b.Client.PublishVersion(t.Context(), &lambda.PublishVersionInput{FunctionName: aws.String("keep")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[2].Client.CreateAlias(t.Context(), &lambda.CreateAliasInput{FunctionName: aws.String("keep"), Name: aws.String("live"),
		FunctionVersion: v1.Version}); err != nil {
		t.Fatal(err)
	}
	b.create(t, "keep-too", goFn())
	a.putEventConfig(t, "keep", 0, queueARN("kept"), queueARN("kept-failed"))
	const events = 5
	var ids []string
	for i := range events {
		ids = append(ids, c.nodes[i%3].event(t, "keep", `{"op":"echo"}`))
	}
	waitReplicas(t, a.jetStream(t), 30*time.Second)

	var dirs []string
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		dirs = append(dirs, n.DataDir)
		wg.Go(n.Stop)
	}
	wg.Wait()
	c.startAll(dirs, []string{"", "", ""})
	a, b = c.nodes[0], c.nodes[1]

	got, err := functionNames(t.Context(), b.Client)
	if err != nil || !slices.Equal(got, []string{"keep", "keep-too"}) {
		t.Errorf("functions after a restart of every node = %v, %v", got, err)
	}
	vs, err := a.Client.ListVersionsByFunction(t.Context(), &lambda.ListVersionsByFunctionInput{FunctionName: aws.String("keep")})
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, v := range vs.Versions {
		versions = append(versions, aws.ToString(v.Version))
	}
	if want := []string{"$LATEST", aws.ToString(v1.Version), aws.ToString(v2.Version)}; !slices.Equal(versions, want) {
		t.Errorf("versions after the restart = %v, want %v", versions, want)
	}
	al, err := c.nodes[2].Client.GetAlias(t.Context(), &lambda.GetAliasInput{FunctionName: aws.String("keep"), Name: aws.String("live")})
	if err != nil || aws.ToString(al.FunctionVersion) != aws.ToString(v1.Version) {
		t.Errorf("alias live after the restart = %v, %v; want version %s", al, err, aws.ToString(v1.Version))
	}
	r, env := a.invokeQ(t, "keep", aws.ToString(v2.Version), map[string]any{"op": "env"})
	if r.FunctionError != "" || envOf(t, env)["STAGE"] != "two" {
		t.Errorf("version %s after the restart: %s %v", aws.ToString(v2.Version), r.FunctionError, envOf(t, env))
	}
	recs := records(t, receiveRetrying(t, b, "kept", events, 30*time.Second))
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.RequestContext.RequestID] = true
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("queued event %s did not run after the restart", id)
		}
	}
}

// Two api nodes of one cluster: a key created through one works on the
// other within a second, and a key deleted through one stops working on
// the other within a second (each node keeps the keys in memory and
// follows the bucket through a watch). Keys of the default account: the
// process driver serves one account; accounts across nodes are
// TestKeysWatch's (internal/auth).
func TestClusterKeysAcrossNodes(t *testing.T) {
	url := startNATS(t)
	a := startServer(t, "", "--nats-url", url, "--isolation", "process")
	b := startServer(t, "", "--nats-url", url, "--isolation", "process")
	const account = "000000000000"
	identity := func(s *server, key map[string]string) error {
		c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(key["AWS_ACCESS_KEY_ID"], key["AWS_SECRET_ACCESS_KEY"], "")})
		id, err := c.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
		if err == nil && !strings.HasSuffix(aws.ToString(id.Arn), ":user/ci") {
			err = fmt.Errorf("caller %s", aws.ToString(id.Arn))
		}
		return err
	}
	newKey := func(s *server) map[string]string {
		out, err := s.cli(t.Context(), "keys", "create", "--account", account, "--name", "ci").CombinedOutput()
		if err != nil {
			t.Fatalf("keys create: %v\n%s", err, out)
		}
		return exportsOf(t, string(out))
	}
	first := newKey(a)
	took := retry(t, time.Second, "a key created through one node, on the other", func(context.Context) error { return identity(b, first) })
	t.Logf("a key created through one node worked on the other after %v", took)
	second := newKey(b)
	retry(t, time.Second, "a key created through the second node, on the first", func(context.Context) error { return identity(a, second) })

	if out, err := a.cli(t.Context(), "keys", "delete", "--account", account, second["AWS_ACCESS_KEY_ID"]).CombinedOutput(); err != nil {
		t.Fatalf("keys delete: %v %s", err, out)
	}
	took = retry(t, time.Second, "the deleted key refused on the other node", func(context.Context) error {
		if err := identity(b, second); errCode(err) != "InvalidClientTokenId" {
			return fmt.Errorf("GetCallerIdentity = %v, want InvalidClientTokenId", err)
		}
		return nil
	})
	t.Logf("a key deleted through one node was refused by the other after %v", took)
	if err := identity(b, first); err != nil {
		t.Errorf("the key not deleted, on the other node: %v", err)
	}
}
