package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsServerBin builds testdata/natsserver once: a standalone NATS server
// with JetStream, a process of its own as an operator's cluster would be.
var natsServerBin = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(filepath.Dir(hearthBin), "natsserver")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/natsserver").CombinedOutput(); err != nil {
		return "", errors.New("build natsserver: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
})

// startNATS starts a NATS JetStream server and returns its client URL;
// t.Cleanup stops it after everything started later.
func startNATS(t testing.TB) string {
	t.Helper()
	return startNATSOn(t, "127.0.0.1")
}

// startNATSOn is startNATS listening on host.
func startNATSOn(t testing.TB, host string) string {
	t.Helper()
	url, _ := runNATS(t, "-dir", t.TempDir(), "-host", host)
	return url
}

// runNATS starts testdata/natsserver with args and returns its client URL
// and process; t.Cleanup stops it after everything started later.
func runNATS(t testing.TB, args ...string) (string, *os.Process) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	bin, err := natsServerBin()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		t.Fatalf("natsserver: %q, %v", line, err)
	}
	return url, cmd.Process
}

// startNATSCluster starts n NATS servers on loopback that form one
// JetStream cluster, separate processes as an operator's cluster would
// be, and waits until JetStream has a meta leader. It returns the
// servers' client URLs, comma-separated as --nats-url takes them, and
// their processes (in the URLs' order); t.Cleanup stops them after
// everything started later.
func startNATSCluster(t *testing.T, n int) (string, []*os.Process) {
	t.Helper()
	ports := freePorts(t, n)
	var routes []string
	for _, p := range ports {
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(p))
	}
	var urls []string
	var procs []*os.Process
	for i, p := range ports {
		url, proc := runNATS(t, "-dir", t.TempDir(), "-name", fmt.Sprintf("e2e-nats-%d", i), "-cluster-name", "e2e",
			"-cluster-port", strconv.Itoa(p), "-routes", strings.Join(routes, ","))
		urls = append(urls, url)
		procs = append(procs, proc)
	}
	joined := strings.Join(urls, ",")
	nc, err := nats.Connect(joined)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// JetStream answers once the servers have elected a meta leader.
	retry(t, 60*time.Second, "JetStream of the NATS cluster", func(ctx context.Context) error {
		_, err := js.AccountInfo(ctx)
		return err
	})
	return joined, procs
}

var workerTLSRE = regexp.MustCompile(`msg="worker joins the cluster" .*?addr=(\S+) scheme=https`)

var workerIDRE = regexp.MustCompile(`msg="worker joins the cluster" .*?worker_id=(\S+)`)

// workerID is the id a worker node announces itself with. The worker
// logs it as it starts announcing, which may follow "hearth ready".
func (s *server) workerID(t *testing.T) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := workerIDRE.FindStringSubmatch(s.Log()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no worker id in the worker's log")
		}
	}
}

var (
	nodeAddrRE = regexp.MustCompile(`msg="cluster node" .*?worker_addr=(\S+)`)
	joinsRE    = regexp.MustCompile(`msg="worker joins the cluster" .*?worker_id=(\S+) addr=(\S+)`)
)

// ownWorkerID is the worker id of the node's own worker, "" if it has
// none (yet): an api node logs every worker that joins, its own among
// them, known by its address.
func (s *server) ownWorkerID() string {
	log := s.Log()
	m := nodeAddrRE.FindStringSubmatch(log)
	if m == nil {
		return ""
	}
	for _, j := range joinsRE.FindAllStringSubmatch(log, -1) {
		if j[2] == m[1] {
			return j[1]
		}
	}
	return ""
}

// count counts the server's own environments of function name, by state
// ("" for any). An api node lists the whole cluster's, those of workers
// with their "worker": they are its own only when that is its own worker
// id (a node with the api and worker roles).
func (s *server) count(t *testing.T, name, state string) int {
	own := s.ownWorkerID()
	n := 0
	for _, e := range s.environments(t) {
		if w, _ := e["worker"].(string); w != "" && w != own {
			continue
		}
		if e["function"] == name && (state == "" || e["state"] == state) {
			n++
		}
	}
	return n
}

// An api node and two worker nodes on a NATS JetStream server of their
// own: invocations run on the workers (never on the api node), the warm
// worker is preferred, an async event runs on a worker, a worker killed mid-invocation fails that call at
// once with a ServiceException and the next goes to the other worker, and
// a restarted worker takes invocations again.
func TestClusterAPIAndWorkers(t *testing.T) {
	url := startNATS(t)
	common := []string{"--nats-url", url, "--isolation", "process"}
	w1 := startServer(t, "", append([]string{"--roles", "worker"}, common...)...)
	w2 := startServer(t, "", append([]string{"--roles", "worker"}, common...)...)
	api := startServer(t, "", append([]string{"--roles", "api,poller"}, common...)...)
	workers := map[string]*server{w1.workerID(t): w1, w2.workerID(t): w2}
	// The api node knows a worker from its first heartbeat (each second).
	for id := range workers {
		eventually(t, 5*time.Second, "the api node places on worker "+id, func() bool { return api.serving(t, id, 0) })
	}

	// Every node beats, whatever its roles: the api node lists all three,
	// the workers by their worker ids.
	nodes := func() map[string]string { // "roles state" by node id
		got := map[string]string{}
		for _, n := range api.clusterView(t).Nodes {
			got[n.ID] = strings.Join(n.Roles, ",") + " " + n.State
		}
		return got
	}
	apiID := ""
	eventually(t, 5*time.Second, "the api node lists the three nodes", func() bool {
		got := nodes()
		for id, v := range got {
			if v == "api,poller alive" {
				apiID = id
			}
		}
		want := map[string]string{apiID: "api,poller alive"}
		for id := range workers {
			want[id] = "worker alive"
		}
		return cmp.Equal(got, want)
	})

	api.create(t, "clustered", goFn())
	first := api.invoke(t, "clustered", map[string]any{"op": "echo"})
	if first.FunctionError != "" {
		t.Fatalf("first invoke: %s %s", first.FunctionError, first.Payload)
	}
	env := first.decode(t)["env_id"]
	if n := api.count(t, "clustered", ""); n != 0 {
		t.Errorf("api node has %d environments of the function, want 0 (it has no worker role)", n)
	}
	var hot, other *server
	for _, w := range workers {
		switch n := w.count(t, "clustered", ""); n {
		case 1:
			hot = w
		case 0:
			other = w
		default:
			t.Fatalf("a worker has %d environments after one invocation", n)
		}
	}
	if hot == nil || other == nil {
		t.Fatalf("the invocation ran on no worker, or on both")
	}
	// Warm placement: every later invocation reuses the one environment.
	for i := range 5 {
		r := api.invoke(t, "clustered", map[string]any{"op": "echo"})
		if got := r.decode(t)["env_id"]; got != env {
			t.Errorf("invoke %d ran in environment %v, want the warm %v", i+2, got, env)
		}
	}
	if got := other.count(t, "clustered", ""); got != 0 {
		t.Errorf("the cold worker has %d environments, want 0", got)
	}

	// The workers took those invocations over TLS: their listener answers
	// plain HTTP with Go's refusal, and a client that does not trust the
	// cluster CA (this one trusts the system's) cannot verify it.
	m := workerTLSRE.FindStringSubmatch(hot.Log())
	if m == nil {
		t.Fatalf("the worker does not log that it serves https:\n%s", hot.Log())
	}
	if resp, err := http.Get("http://" + m[1] + "/_hearth/cluster/v1/environments"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTPS") {
			t.Errorf("plain HTTP to the worker at %s: %s %q; want 400, an HTTP request to an HTTPS server", m[1], resp.Status, body)
		}
	}
	var verr *tls.CertificateVerificationError
	if _, err := http.Get("https://" + m[1] + "/_hearth/cluster/v1/environments"); !errors.As(err, &verr) {
		t.Errorf("https to the worker without the cluster CA: %v; want a certificate verification error", err)
	}

	// hearth cluster lists both workers in placement, the hot one with
	// its idle environment.
	out, err := api.cli(t.Context(), "cluster").CombinedOutput()
	if err != nil {
		t.Fatalf("hearth cluster: %v\n%s", err, out)
	}
	// The NODES table comes first, the api node in it.
	if nodesAt, workersAt := strings.Index(string(out), "NODE "), strings.Index(string(out), "WORKER "); nodesAt < 0 || workersAt < nodesAt ||
		!regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(apiID)+` +api,poller +\S+ +alive `).Match(out) {
		t.Errorf("hearth cluster has no NODES table before WORKERS with the api node %s alive:\n%s", apiID, out)
	}
	for id, w := range workers {
		line := ""
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, id+" ") {
				line = l
			}
		}
		if !strings.Contains(line, "serving") || (w == hot && !strings.Contains(line, "/1/")) {
			t.Errorf("hearth cluster has no serving line for worker %s (want 1 idle environment on the hot one):\n%s", id, out)
		}
	}

	// An async event, taken by the api node's poller, runs on a worker.
	api.create(t, "clustered-async", goFn())
	if _, err := api.Client.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("clustered-async"),
		InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"op":"echo"}`)}); err != nil {
		t.Fatalf("Event invoke = %v", err)
	}
	for deadline := time.Now().Add(15 * time.Second); hot.count(t, "clustered-async", "")+other.count(t, "clustered-async", "") == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the async event ran on no worker within 15 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := api.count(t, "clustered-async", ""); n != 0 {
		t.Errorf("the api node has %d environments of the async function, want 0", n)
	}

	// kill -9 of the worker mid-invocation.
	errc := make(chan error, 1)
	go func() {
		_, err := api.tryInvoke(t.Context(), api.NoRetry, "clustered", map[string]any{"op": "sleep", "ms": 20000})
		errc <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for hot.count(t, "clustered", "busy") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sleeping invocation never ran on the warm worker")
		}
		time.Sleep(20 * time.Millisecond)
	}
	hot.Kill()
	killed := time.Now()
	select {
	case err := <-errc:
		took := time.Since(killed)
		var ae smithy.APIError
		var re *awshttp.ResponseError
		if !errors.As(err, &ae) || !errors.As(err, &re) || ae.ErrorCode() != "ServiceException" || re.HTTPStatusCode() != http.StatusInternalServerError {
			t.Fatalf("invoke on a killed worker = %v, want a 500 ServiceException", err)
		}
		if took > 2*time.Second {
			t.Errorf("the failure took %v after the kill, want it at once", took)
		}
		t.Logf("invocation failed %v after kill -9 of its worker: %v", took.Round(time.Millisecond), err)
	case <-time.After(10 * time.Second):
		t.Fatal("invoke on a killed worker still hangs 10 s after the kill")
	}
	// The killed worker's heartbeats stop: its node is lost within the
	// 3 s deadline.
	hotID := ""
	for id, w := range workers {
		if w == hot {
			hotID = id
		}
	}
	eventually(t, 5*time.Second, "the killed node "+hotID+" is lost", func() bool { return nodes()[hotID] == "worker lost" })
	t.Logf("node %s lost %v after kill -9", hotID, time.Since(killed).Round(100*time.Millisecond))
	// The next invocation goes to the live worker.
	r, err := api.tryInvoke(t.Context(), api.NoRetry, "clustered", map[string]any{"op": "echo"})
	if err != nil || r.FunctionError != "" {
		t.Fatalf("invoke after the kill = %v, %v", r, err)
	}
	if got := other.count(t, "clustered", ""); got != 1 {
		t.Errorf("the live worker has %d environments after the kill, want 1", got)
	}

	// The killed worker restarts; with the other one gone, it serves.
	restarted := startServer(t, hot.DataDir, append([]string{"--roles", "worker"}, common...)...)
	other.Stop()
	r, err = api.tryInvoke(t.Context(), api.NoRetry, "clustered", map[string]any{"op": "echo"})
	if err != nil || r.FunctionError != "" {
		t.Fatalf("invoke on the restarted worker = %v, %v", r, err)
	}
	if got := restarted.count(t, "clustered", ""); got != 1 {
		t.Errorf("the restarted worker has %d environments, want 1", got)
	}
}

// BenchmarkClusterWarm: a warm invocation (the Go function's echo, 1 KB
// event) through an api node and a worker node, two processes on a NATS
// server of their own, against the single-process server, interleaved
// in rounds of 50 in the same run; reports both p50s and their ratio.
// A second api node and worker on another NATS server talk plain HTTP
// (--cluster-tls=off): tls/plain is what TLS between the nodes costs.
//
//	go test -run XXX -bench ClusterWarm -benchtime 1000x ./test/e2e/
func BenchmarkClusterWarm(b *testing.B) {
	url := startNATS(b)
	single := benchServer(b)
	benchServer(b, "--roles", "worker", "--nats-url", url)
	api := benchServer(b, "--roles", "api,poller", "--nats-url", url)
	plainURL := startNATS(b)
	benchServer(b, "--roles", "worker", "--nats-url", plainURL, "--cluster-tls", "off")
	plain := benchServer(b, "--roles", "api,poller", "--nats-url", plainURL)
	event := []byte(`{"op":"echo","text":"` + strings.Repeat("x", 1000) + `"}`)
	type target struct {
		c   *http.Client
		url string
		d   []time.Duration
	}
	var ts []*target
	for _, s := range []*server{single, api, plain} {
		s.create(b, "warm", goFn())
		tr := &http.Transport{MaxIdleConnsPerHost: 4}
		t := &target{c: &http.Client{Transport: signing{s: s, base: tr}}, url: s.URL + "/2015-03-31/functions/warm/invocations"}
		post(b, t.c, t.url, event) // cold start
		ts = append(ts, t)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += 50 {
		for _, t := range ts {
			for range min(50, b.N-i) {
				start := time.Now()
				post(b, t.c, t.url, event)
				t.d = append(t.d, time.Since(start))
			}
		}
	}
	b.StopTimer()
	med := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	one, two, three := med(ts[0].d), med(ts[1].d), med(ts[2].d)
	b.ReportMetric(float64(one.Microseconds()), "single-p50-us")
	b.ReportMetric(float64(two.Microseconds()), "cluster-p50-us")
	b.ReportMetric(float64(three.Microseconds()), "plain-p50-us")
	b.ReportMetric(float64(two)/float64(one), "cluster/single")
	b.ReportMetric(float64(two)/float64(three), "tls/plain")
}

// freePorts returns n loopback ports free at the time of the call.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// Three nodes whose embedded NATS servers form one cluster (started
// together, as a supervisor would): an api node and two workers. The
// function created through the api node runs on a worker.
func TestClusterEmbeddedNATS(t *testing.T) {
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(p))
	}
	roles := []string{"api,poller", "worker", "worker"}
	nodes := make([]*server, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			nodes[i] = startServer(t, "", "--isolation", "process", "--roles", roles[i], "--cluster-name", "e2e",
				"--cluster-listen", "127.0.0.1:"+strconv.Itoa(ports[i]), "--cluster-routes", strings.Join(routes, ","))
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	api := nodes[0]
	api.create(t, "embedded", goFn())
	r := api.invoke(t, "embedded", map[string]any{"op": "echo"})
	if r.FunctionError != "" {
		t.Fatalf("invoke: %s %s", r.FunctionError, r.Payload)
	}
	if n := api.count(t, "embedded", ""); n != 0 {
		t.Errorf("the api node has %d environments, want 0", n)
	}
	if n := nodes[1].count(t, "embedded", "") + nodes[2].count(t, "embedded", ""); n != 1 {
		t.Errorf("the workers have %d environments, want 1", n)
	}
}

// BenchmarkClusterWorkers measures throughput through one api node with
// one worker, then with two, at 8 concurrent callers, in the same run.
// "sleep" is a function that waits 50 ms, on workers that each hold 4
// environments of it (--worker-memory 512, 128 MB functions): what a
// second worker adds when the first is full. "echo" answers at once:
// what a second worker process adds when the two cores are the limit.
func BenchmarkClusterWorkers(b *testing.B) {
	for _, bc := range []struct {
		name  string
		event string
	}{
		{"sleep", `{"op":"sleep","ms":50}`},
		{"echo", `{"op":"echo","text":"x"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			url := startNATS(b)
			api := benchServer(b, "--roles", "api,poller", "--nats-url", url)
			worker := func() { benchServer(b, "--roles", "worker", "--nats-url", url, "--worker-memory", "512") }
			inPlacement := func(n int) {
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
					got := 0
					for _, w := range api.clusterView(b).Workers {
						if w.InPlacement {
							got++
						}
					}
					if got == n {
						return
					}
					if time.Now().After(deadline) {
						b.Fatalf("the api node has %d workers in placement, want %d", got, n)
					}
				}
			}
			worker()
			inPlacement(1)
			f := goFn()
			f.memory = 128
			api.create(b, "spread", f)
			tr := &http.Transport{MaxIdleConnsPerHost: 16}
			c := &http.Client{Transport: signing{s: api, base: tr}}
			target := api.URL + "/2015-03-31/functions/spread/invocations"
			event := []byte(bc.event)
			const callers = 8
			run := func() float64 {
				var next atomic.Int64
				var failed atomic.Value
				start := time.Now()
				var wg sync.WaitGroup
				for range callers {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							resp, err := c.Post(target, "application/json", bytes.NewReader(event))
							if err != nil {
								failed.Store(err.Error())
								return
							}
							out, _ := io.ReadAll(resp.Body)
							resp.Body.Close()
							if resp.StatusCode != 200 {
								failed.Store(fmt.Sprintf("%d %s", resp.StatusCode, out))
								return
							}
						}
					})
				}
				wg.Wait()
				if f := failed.Load(); f != nil {
					b.Fatalf("invoke through the api node: %v", f)
				}
				return float64(b.N) / time.Since(start).Seconds()
			}
			run() // cold starts on the first worker
			b.ResetTimer()
			one := run()
			b.StopTimer()
			worker()
			inPlacement(2)
			run() // cold starts on the second worker
			b.StartTimer()
			two := run()
			b.StopTimer()
			b.ReportMetric(one, "1-worker-inv/s")
			b.ReportMetric(two, "2-workers-inv/s")
			b.ReportMetric(two/one, "2/1")
		})
	}
}

// TestClusterAPINodeRunsNoDriver: a node without the worker role starts no
// sandbox driver. Under --isolation linux (as root) it would otherwise
// prepare a pool of sandboxes, cgroups, firewall rules and a reaper for
// environments placement never gives it. Invocations through it still run,
// on the worker.
func TestClusterAPINodeRunsNoDriver(t *testing.T) {
	url := startNATS(t)
	iso := "process"
	if os.Geteuid() == 0 {
		iso = "linux"
	}
	startServer(t, "", "--nats-url", url, "--isolation", "process", "--roles", "worker")
	api := startServer(t, "", "--nats-url", url, "--isolation", iso, "--roles", "api,poller")
	api.create(t, "nodriver", goFn())
	eventually(t, 10*time.Second, "an invocation through the api node runs on the worker", func() bool {
		r, err := api.tryInvoke(t.Context(), api.Client, "nodriver", map[string]any{"op": "echo"})
		return err == nil && r.FunctionError == ""
	})
	if !strings.Contains(api.Log(), `msg="sandbox driver" driver=none`) {
		t.Errorf("the api node's log does not say it runs no sandbox driver:\n%s", api.Log())
	}
	for _, d := range []string{"linux", "envs"} {
		if _, err := os.Stat(filepath.Join(api.DataDir, d)); err == nil {
			t.Errorf("the api node made %s in its data directory: a sandbox driver ran", d)
		}
	}
}
