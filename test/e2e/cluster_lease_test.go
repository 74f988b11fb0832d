package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"hearth/internal/sandbox/tmpdisk"
)

// clusterView is GET /_hearth/v1/cluster as an api node answers it.
type clusterView struct {
	Clustered bool `json:"clustered"`
	Nodes     []struct {
		ID    string   `json:"id"`
		Roles []string `json:"roles"`
		Addr  string   `json:"addr"`
		State string   `json:"state"`
	} `json:"nodes"`
	Workers []struct {
		ID          string    `json:"id"`
		Addr        string    `json:"addr"`
		InPlacement bool      `json:"in_placement"`
		Draining    bool      `json:"draining"`
		IdleEnvs    int       `json:"idle_environments"`
		LeaseEnd    time.Time `json:"lease_end"`
	} `json:"workers"`
}

func (s *server) clusterView(t testing.TB) clusterView {
	t.Helper()
	resp, err := s.get(t, "/_hearth/v1/cluster")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v clusterView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// serving reports whether the api node has worker id in placement, with at
// least idle idle environments.
func (s *server) serving(t testing.TB, id string, idle int) bool {
	for _, w := range s.clusterView(t).Workers {
		if w.ID == id {
			return w.InPlacement && !w.Draining && w.IdleEnvs >= idle
		}
	}
	return false
}

// listed reports whether the api node knows worker id at all.
func (s *server) listed(t testing.TB, id string) bool {
	for _, w := range s.clusterView(t).Workers {
		if w.ID == id {
			return true
		}
	}
	return false
}

// invokedOn counts the invocations the api node's log says ran on worker
// id, in log (a part of the api node's log).
func invokedOn(log, id string) int {
	return len(regexp.MustCompile(`msg="invoked on worker" .*worker=`+regexp.QuoteMeta(id)+` `).FindAllStringIndex(log, -1))
}

// logs reports whether s logs a line matching re within 5 s (its log
// reaches the test through a pipe, a moment after it is written).
func logs(s *server, re string) bool {
	r := regexp.MustCompile(re)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if r.MatchString(s.Log()) {
			return true
		}
	}
	return false
}

// waitExit waits for s to exit by itself and checks that it exited 0 and
// left no process of its environments behind.
func waitExit(t *testing.T, s *server, within time.Duration) {
	t.Helper()
	select {
	case <-s.exited:
	case <-time.After(within):
		t.Fatalf("the worker did not exit within %v", within)
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the worker exited with status %d, want 0", code)
	}
	if left := s.envPids(); len(left) > 0 {
		t.Errorf("processes left by the drained worker: %v", left)
	}
}

// killHard kills s with SIGKILL and, at the test's end, detaches what its
// environments had mounted in its data directory (their scratch disks),
// which a server that dies that way leaves for its next start to clean.
func killHard(t *testing.T, s *server) {
	s.Kill()
	t.Cleanup(func() {
		if err := tmpdisk.UnmountUnder(s.DataDir); err != nil {
			t.Errorf("unmount what the killed server left: %v", err)
		}
	})
}

// lockedBuffer is a bytes.Buffer a command writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer // guarded by mu
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// syncLoad invokes a function from n goroutines in a loop, without
// retries, until stop is called; it counts successes and keeps failures.
type syncLoad struct {
	ok   atomic.Int64
	mu   sync.Mutex
	errs []string // guarded by mu
	quit chan struct{}
	wg   sync.WaitGroup
}

func startLoad(t *testing.T, api *server, name string, n int, event any) *syncLoad {
	l := &syncLoad{quit: make(chan struct{})}
	for range n {
		l.wg.Go(func() {
			for {
				select {
				case <-l.quit:
					return
				default:
				}
				r, err := api.tryInvoke(t.Context(), api.NoRetry, name, event)
				switch {
				case err != nil:
					l.fail(err.Error())
				case r.FunctionError != "":
					l.fail(r.FunctionError + " " + string(r.Payload))
				default:
					l.ok.Add(1)
				}
			}
		})
	}
	return l
}

func (l *syncLoad) fail(s string) {
	l.mu.Lock()
	l.errs = append(l.errs, s)
	l.mu.Unlock()
}

func (l *syncLoad) stop() (ok int64, errs []string) {
	close(l.quit)
	l.wg.Wait()
	return l.ok.Load(), l.errs
}

// A worker with a short lease, under steady synchronous load through an
// api node: when the lease ends it drains (announces it, refuses new
// invocations, which the api node places on the other worker, finishes
// those in flight), tears its environments down and exits 0, and no
// client sees an error.
func TestClusterLeaseExpiry(t *testing.T) {
	url := startNATS(t)
	common := []string{"--nats-url", url, "--isolation", "process"}
	api := startServer(t, "", append([]string{"--roles", "api,poller"}, common...)...)
	stay := startServer(t, "", append([]string{"--roles", "worker"}, common...)...)
	api.create(t, "leased", goFn())
	leased := startServer(t, "", append([]string{"--roles", "worker", "--worker-lease", "8s"}, common...)...)
	leasedID, stayID := leased.workerID(t), stay.workerID(t)
	eventually(t, 5*time.Second, "the api node places on both workers", func() bool {
		return api.serving(t, leasedID, 0) && api.serving(t, stayID, 0)
	})
	// hearth cluster's endpoint shows the leases: 8 s against 14 h.
	ends := map[string]time.Time{}
	for _, w := range api.clusterView(t).Workers {
		ends[w.ID] = w.LeaseEnd
	}
	if until := time.Until(ends[leasedID]); until <= 0 || until > 8*time.Second {
		t.Errorf("the leased worker's lease ends in %v, want within 8 s", until)
	}
	if until := time.Until(ends[stayID]); until < 13*time.Hour {
		t.Errorf("the other worker's lease ends in %v, want the default 14 h", until)
	}

	load := startLoad(t, api, "leased", 4, map[string]any{"op": "sleep", "ms": 400})
	waitExit(t, leased, 40*time.Second)
	exitedAt := len(api.Log())
	// The load goes on against the remaining worker.
	eventually(t, 10*time.Second, "invocations after the leased worker left", func() bool {
		return invokedOn(api.Log()[exitedAt:], stayID) >= 8
	})
	ok, errs := load.stop()
	if len(errs) > 0 {
		t.Errorf("%d of %d invocations failed while the worker's lease ended; the first: %s", len(errs), int(ok)+len(errs), errs[0])
	}
	onLeased, onStay := invokedOn(api.Log(), leasedID), invokedOn(api.Log(), stayID)
	t.Logf("%d invocations, no error: %d on the leased worker, %d on the other", ok, onLeased, onStay)
	if onLeased == 0 {
		t.Errorf("the leased worker ran no invocation before its lease ended; the test shows nothing")
	}
	log := leased.Log()
	for _, want := range []string{`msg="worker drains: refusing new invocations, finishing those in flight" .* why="its lease ended"`,
		`msg="worker drained: no invocation in flight"`, `msg="worker drained; shutting down \(exit 0\)"`} {
		if !regexp.MustCompile(want).MatchString(log) {
			t.Errorf("the leased worker's log lacks %s", want)
		}
	}
	eventually(t, 5*time.Second, "the api node forgets the worker that left", func() bool { return !api.listed(t, leasedID) })
}

// hearth drain WORKER, while the worker runs an invocation: that
// invocation finishes successfully, new ones run on the other worker, and
// the drained worker exits 0 without leaving a process behind.
func TestClusterDrain(t *testing.T) {
	url := startNATS(t)
	common := []string{"--nats-url", url, "--isolation", "process"}
	api := startServer(t, "", append([]string{"--roles", "api,poller"}, common...)...)
	hot := startServer(t, "", append([]string{"--roles", "worker"}, common...)...)
	f := goFn()
	f.timeout = 30
	api.create(t, "drained", f)
	api.invoke(t, "drained", map[string]any{"op": "echo"}) // warm on hot, the only worker
	other := startServer(t, "", append([]string{"--roles", "worker"}, common...)...)
	hotID, otherID := hot.workerID(t), other.workerID(t)
	eventually(t, 5*time.Second, "the api node places on both workers", func() bool {
		return api.serving(t, hotID, 1) && api.serving(t, otherID, 0)
	})

	// Unknown workers are refused with a 404.
	if out, err := api.cli(t.Context(), "drain", "no-such-worker").CombinedOutput(); err == nil || !strings.Contains(string(out), "404") {
		t.Errorf("hearth drain no-such-worker = %v\n%s\nwant a 404", err, out)
	}

	type outcome struct {
		r   *invoked
		err error
	}
	inflight := make(chan outcome, 1)
	go func() {
		r, err := api.tryInvoke(t.Context(), api.NoRetry, "drained", map[string]any{"op": "sleep", "ms": 3000})
		inflight <- outcome{r, err}
	}()
	eventually(t, 10*time.Second, "the sleeping invocation runs on the warm worker", func() bool { return hot.hasEnv(t, "drained", "busy") })
	drain := api.cli(t.Context(), "drain", hotID, "--wait")
	var out lockedBuffer
	drain.Stdout, drain.Stderr = &out, &out
	if err := drain.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "hearth drain says the worker drains", func() bool { return strings.Contains(out.String(), "drains") })
	if !strings.Contains(out.String(), "1 in flight") {
		t.Errorf("hearth drain %s says %q, want 1 in flight", hotID, out.String())
	}
	drainedAt := time.Now()
	// New invocations go to the other worker, without an error.
	for i := range 3 {
		r, err := api.tryInvoke(t.Context(), api.NoRetry, "drained", map[string]any{"op": "echo"})
		if err != nil || r.FunctionError != "" {
			t.Fatalf("invoke %d during the drain = %+v, %v", i, r, err)
		}
	}
	// (The api node's log reaches the test through a pipe, a moment later.)
	eventually(t, 5*time.Second, "the api node logs 3 invocations on the other worker", func() bool { return invokedOn(api.Log(), otherID) >= 3 })
	if n := invokedOn(api.Log(), otherID); n != 3 {
		t.Errorf("%d invocations ran on the other worker during the drain, want all 3", n)
	}
	select {
	case o := <-inflight:
		if o.err != nil || o.r.FunctionError != "" {
			t.Errorf("the invocation in flight at the drain = %+v, %v; want a success", o.r, o.err)
		}
		t.Logf("the invocation in flight finished %v after the drain began", time.Since(drainedAt).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatal("the invocation in flight at the drain did not finish")
	}
	waitExit(t, hot, 20*time.Second)
	t.Logf("the drained worker exited %v after the drain began", time.Since(drainedAt).Round(time.Millisecond))
	eventually(t, 5*time.Second, "the api node forgets the drained worker", func() bool { return !api.listed(t, hotID) })
	if err := drain.Wait(); err != nil || !strings.Contains(out.String(), "has left the cluster") {
		t.Errorf("hearth drain --wait = %v\n%s", err, out.String())
	}
	r, err := api.tryInvoke(t.Context(), api.NoRetry, "drained", map[string]any{"op": "echo"})
	if err != nil || r.FunctionError != "" {
		t.Fatalf("invoke after the drained worker left = %+v, %v", r, err)
	}
	// The drained worker ran the first invocation and the one in flight,
	// nothing sent after the drain began.
	eventually(t, 5*time.Second, "the api node logs the invocation after the drain", func() bool { return invokedOn(api.Log(), otherID) >= 4 })
	if n := invokedOn(api.Log(), hotID); n != 2 {
		t.Errorf("%d invocations ran on the drained worker, want 2", n)
	}
}

// A worker with no room refuses an invocation that an api node's stale
// view sent it, and the api node places it on another worker: two api
// nodes both see the one idle environment on a worker with room for one
// (128 MB) and send it an invocation at once; the second is refused and
// runs on the other worker, and both callers succeed.
func TestClusterFullWorkerRefuses(t *testing.T) {
	url := startNATS(t)
	common := []string{"--nats-url", url, "--isolation", "process"}
	api1 := startServer(t, "", append([]string{"--roles", "api"}, common...)...)
	api2 := startServer(t, "", append([]string{"--roles", "api"}, common...)...)
	small := startServer(t, "", append([]string{"--roles", "worker", "--worker-memory", "128"}, common...)...)
	f := goFn()
	f.memory = 128
	api1.create(t, "full", f)
	api1.invoke(t, "full", map[string]any{"op": "echo"}) // warm on small, the only worker
	big := startServer(t, "", append([]string{"--roles", "worker"}, common...)...)
	smallID, bigID := small.workerID(t), big.workerID(t)
	for _, a := range []*server{api1, api2} {
		eventually(t, 5*time.Second, "both api nodes see the idle environment and the new worker", func() bool {
			return a.serving(t, smallID, 1) && a.serving(t, bigID, 0)
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, a := range []*server{api1, api2} {
		wg.Go(func() {
			r, err := a.tryInvoke(t.Context(), a.NoRetry, "full", map[string]any{"op": "sleep", "ms": 1500})
			if err == nil && r.FunctionError != "" {
				err = fmt.Errorf("function error %s %s", r.FunctionError, r.Payload)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("invoke through api node %d = %v", i+1, err)
		}
	}
	if !logs(small, `msg="invocation refused; the api node places it elsewhere" .*why=full`) {
		t.Errorf("the full worker refused nothing")
	}
	if n := small.count(t, "full", ""); n != 1 {
		t.Errorf("the 128 MB worker has %d environments, want 1", n)
	}
	if n := big.count(t, "full", ""); n != 1 {
		t.Errorf("the other worker has %d environments, want 1 (the refused invocation)", n)
	}
}

// An invocation sent to a worker that is gone (killed with kill -9, still
// in the api node's view until its heartbeats are missed) never reached
// it: the api node places it on another worker and the caller succeeds.
func TestClusterUnreachableWorker(t *testing.T) {
	url := startNATS(t)
	common := []string{"--nats-url", url, "--isolation", "process"}
	api := startServer(t, "", append([]string{"--roles", "api,poller"}, common...)...)
	gone := startServer(t, "", append([]string{"--roles", "worker"}, common...)...)
	api.create(t, "redial", goFn())
	api.invoke(t, "redial", map[string]any{"op": "echo"}) // warm on gone, the only worker
	live := startServer(t, "", append([]string{"--roles", "worker"}, common...)...)
	goneID, liveID := gone.workerID(t), live.workerID(t)
	eventually(t, 5*time.Second, "the api node places on both workers", func() bool {
		return api.serving(t, goneID, 1) && api.serving(t, liveID, 0)
	})
	killHard(t, gone)
	r, err := api.tryInvoke(t.Context(), api.NoRetry, "redial", map[string]any{"op": "echo"})
	if err != nil || r.FunctionError != "" {
		t.Fatalf("invoke right after kill -9 of the warm worker = %+v, %v; want a success elsewhere", r, err)
	}
	if !logs(api, `msg="worker unreachable; placing the invocation elsewhere"`) {
		t.Errorf("the api node did not place the invocation again (the dead worker was out of its view already?)")
	}
	if n := live.count(t, "redial", ""); n != 1 {
		t.Errorf("the live worker has %d environments, want 1", n)
	}
}

// kill -9 of a node with the poller and worker roles while it holds async
// events (running on its own worker): the events it never settled come
// back after AckWait (shortened to 3 s with --async-ack-wait) to the
// other poller node, which settles them. Nothing is lost, and each event
// has one success record: the killed node died before settling any.
//
// The second node starts after the events were enqueued: a poller learns
// of events from its own enqueues and from the stream when it starts (the
// async ledger is per node), so one started earlier would not know of
// these (docs/architecture.md, "Cluster").
func TestClusterPollerKilled(t *testing.T) {
	url := startNATS(t)
	common := []string{"--nats-url", url, "--isolation", "process", "--async-ack-wait", "3s"}
	first := startServer(t, "", append([]string{"--roles", "api,poller,worker"}, common...)...)
	f := goFn()
	f.timeout = 30
	first.create(t, "held", f)
	first.putEventConfig(t, "held", 0, queueARN("held-ok"), queueARN("held-failed"))
	const events = 5
	ids := map[string]bool{}
	for range events {
		ids[first.event(t, "held", `{"op":"sleep","ms":4000}`)] = true
	}
	// The only poller takes every event and runs it on its own worker.
	eventually(t, 10*time.Second, "the first node holds every event", func() bool {
		return first.count(t, "held", "busy") == events
	})
	second := startServer(t, "", append([]string{"--roles", "poller,worker"}, common...)...)
	killHard(t, first)
	killed := time.Now()
	recs := records(t, second.receive(t, "held-ok", events, 40*time.Second))
	t.Logf("%d success records %v after kill -9 of the poller node holding the events", len(recs), time.Since(killed).Round(time.Millisecond))
	got := map[string]int{}
	for _, r := range recs {
		got[r.RequestContext.RequestID]++
	}
	for id := range ids {
		if got[id] != 1 {
			t.Errorf("event %s has %d success records, want 1", id, got[id])
		}
	}
	if len(recs) != events {
		t.Errorf("%d success records for %d events", len(recs), events)
	}
	// Nothing more comes: no duplicate, no failure record.
	if more := second.receive(t, "held-ok", 1, 2*time.Second); len(more) > 0 {
		t.Errorf("%d more success records after all were settled", len(more))
	}
	if failed := second.receive(t, "held-failed", 1, time.Second); len(failed) > 0 {
		t.Errorf("%d failure records, want none", len(failed))
	}
	if n := second.count(t, "held", ""); n == 0 {
		t.Errorf("the second node ran none of the redelivered events")
	}
}

// Events enqueued through an api node are taken by a poller on another
// node that was running already, and the api node's per-account byte
// count (its 429 cap) goes down as that node settles them: the nodes
// share their async ledgers. Without it the poller never learns of the
// events, and the api node refuses every event once it has taken its cap
// in total.
func TestClusterPollerOnOtherNode(t *testing.T) {
	url := startNATS(t)
	common := []string{"--nats-url", url, "--isolation", "process"}
	poller := startServer(t, "", append([]string{"--roles", "poller,worker"}, common...)...)
	api := startServer(t, "", append([]string{"--roles", "api", "--async-account-max-bytes", "40000"}, common...)...)
	api.create(t, "elsewhere", goFn())
	api.putEventConfig(t, "elsewhere", 0, queueARN("elsewhere-ok"), "")
	pad := `{"pad":"` + strings.Repeat("x", 8000) + `"}`
	const rounds, perRound = 6, 3 // 18 events of 8 KB: 144 KB through a 40 KB cap
	for round := range rounds {
		for range perRound {
			api.event(t, "elsewhere", pad)
		}
		if got := poller.receive(t, "elsewhere-ok", perRound, 30*time.Second); len(got) != perRound {
			t.Fatalf("round %d: %d success records, want %d", round, len(got), perRound)
		}
	}
	// Let the api node hear of the last settlements, then it takes more.
	eventually(t, 5*time.Second, "the api node to accept an event again", func() bool {
		out, err := api.Client.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("elsewhere"),
			InvocationType: types.InvocationTypeEvent, Payload: []byte(pad)})
		return err == nil && out.StatusCode == 202
	})
	if n := api.count(t, "elsewhere", ""); n != 0 {
		t.Errorf("the api-only node runs %d environments, want 0", n)
	}
}
