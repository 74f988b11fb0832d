package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// xnodeCluster is an api node without the worker role (with a function
// URL listener) and two worker nodes on a NATS server of their own.
type xnodeCluster struct {
	api     *server
	workers map[string]*server // by worker id
	flags   []string           // of every node
}

func startXnodeCluster(t *testing.T) *xnodeCluster {
	t.Helper()
	url := startNATS(t)
	common := []string{"--nats-url", url, "--isolation", "process"}
	w1 := startServer(t, "", append([]string{"--roles", "worker"}, common...)...)
	w2 := startServer(t, "", append([]string{"--roles", "worker"}, common...)...)
	api := startURLServer(t, append([]string{"--roles", "api,poller"}, common...)...)
	c := &xnodeCluster{api: api, workers: map[string]*server{w1.workerID(t): w1, w2.workerID(t): w2}, flags: common}
	c.waitKnown(t)
	return c
}

// waitKnown waits until the api node has heard of every worker.
func (c *xnodeCluster) waitKnown(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := c.api.get(t, "/_hearth/v1/cluster")
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Workers []struct{ ID string }
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		known := 0
		for _, w := range out.Workers {
			if c.workers[w.ID] != nil {
				known++
			}
		}
		if known == len(c.workers) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the api node knows %d of the %d workers after 10 s", known, len(c.workers))
		}
	}
}

// kill kills worker id with SIGKILL and returns a function that starts it
// again on its data directory (which cleans up what the killed process
// left) as a new worker.
func (c *xnodeCluster) kill(t *testing.T, id string) (restart func()) {
	t.Helper()
	w := c.workers[id]
	w.Kill()
	delete(c.workers, id)
	return func() {
		w := startServer(t, w.DataDir, append([]string{"--roles", "worker"}, c.flags...)...)
		// It says it joins the cluster once it has started.
		for deadline := time.Now().Add(5 * time.Second); workerIDRE.FindStringSubmatch(w.Log()) == nil && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		c.workers[w.workerID(t)] = w
	}
}

// hosting returns the worker holding an environment of name in state
// ("" for any), waiting up to 10 s for one.
func (c *xnodeCluster) hosting(t *testing.T, name, state string) (string, *server) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for id, w := range c.workers {
			if w.count(t, name, state) > 0 {
				return id, w
			}
		}
	}
	t.Fatalf("no worker has a %q environment of %s", state, name)
	return "", nil
}

// settle waits up to 10 s until no environment of name is busy, as the
// api node lists the cluster's.
func (c *xnodeCluster) settle(t *testing.T, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		busy := 0
		for _, e := range c.api.clusterListing(t).Environments {
			if e.Function == name && e.State == "busy" {
				busy++
			}
		}
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d environments of %s still busy after 10 s", busy, name)
		}
	}
}

// Streamed invocations through an api node that has no worker role run
// on the workers and reach the client as the function writes them:
// InvokeWithResponseStream and RESPONSE_STREAM function URLs, errors
// midway, a slow client that holds the stream back without the nodes
// buffering it, a client that goes away, and a worker killed mid-stream,
// which ends the client's stream with an error at once.
func TestClusterStreaming(t *testing.T) {
	c := startXnodeCluster(t)
	api := c.api
	api.create(t, "streamer", nodeStreamFn(t, "index.handler", 30))

	t.Run("chunks arrive as written", func(t *testing.T) {
		const n = 4
		r, err := invokeStream(t, api.Client, "streamer", map[string]any{"mode": "chunks", "n": n, "delay": 300})
		if err != nil {
			t.Fatal(err)
		}
		if r.Complete.ErrorCode != nil {
			t.Fatalf("InvokeComplete.ErrorCode = %q (%q)", aws.ToString(r.Complete.ErrorCode), aws.ToString(r.Complete.ErrorDetails))
		}
		lines := strings.Split(strings.TrimSuffix(string(r.payload()), "\n"), "\n")
		if len(lines) != n {
			t.Fatalf("payload = %q; want %d lines", r.payload(), n)
		}
		var lastWritten int64
		for i, l := range lines {
			var got int
			if err := parseChunk(l, &got, &lastWritten); err != nil || got != i {
				t.Fatalf("line %d = %q", i, l)
			}
		}
		if first := r.FirstAt.UnixMilli(); first >= lastWritten {
			t.Errorf("first chunk received at %d ms, after the function wrote its last chunk at %d ms: the response was buffered", first, lastWritten)
		}
		if len(r.Chunks) < n {
			t.Errorf("got %d PayloadChunk events; want at least %d (one per write)", len(r.Chunks), n)
		}
		if r.Version != "$LATEST" || r.ContentType != "text/plain" {
			t.Errorf("ExecutedVersion %q, ResponseStreamContentType %q; want $LATEST, text/plain", r.Version, r.ContentType)
		}
		log, _ := decodeBase64(aws.ToString(r.Complete.LogResult))
		if !strings.Contains(string(log), "REPORT RequestId:") {
			t.Errorf("LogResult = %q; want the log tail with REPORT", log)
		}
		c.hosting(t, "streamer", "")
		if n := api.count(t, "streamer", ""); n != 0 {
			t.Errorf("the api node has %d environments of the function, want 0 (it has no worker role)", n)
		}
	})

	t.Run("mid-stream error", func(t *testing.T) {
		r, err := invokeStream(t, api.Client, "streamer", map[string]any{"mode": "error"})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(r.payload()); got != "partial\n" {
			t.Errorf("payload = %q; want %q", got, "partial\n")
		}
		if code, details := aws.ToString(r.Complete.ErrorCode), aws.ToString(r.Complete.ErrorDetails); code != "Error" || details != "boom midway" {
			t.Errorf("InvokeComplete = %q %q; want Error, boom midway", code, details)
		}
	})

	t.Run("function URL", func(t *testing.T) {
		api.allowPublic(t, "streamer", "")
		out, err := api.Client.CreateFunctionUrlConfig(t.Context(), &lambda.CreateFunctionUrlConfigInput{
			FunctionName: aws.String("streamer"), AuthType: types.FunctionUrlAuthTypeNone, InvokeMode: types.InvokeModeResponseStream})
		if err != nil {
			t.Fatal(err)
		}
		m := functionURLRE.FindStringSubmatch(aws.ToString(out.FunctionUrl))
		if m == nil {
			t.Fatalf("FunctionUrl = %q", aws.ToString(out.FunctionUrl))
		}
		api.mu.Lock()
		addr := api.urlAddr
		api.mu.Unlock()
		q := url.Values{"mode": {"chunks"}, "n": {"3"}, "delay": {"300"}}.Encode()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+addr+"/_hearth/url/"+m[1]+"/?"+q, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf("status %d, headers %v; want 200 text/plain", res.StatusCode, res.Header)
		}
		br := bufio.NewReader(res.Body)
		var firstAt time.Time
		var lastWritten int64
		for i := range 3 {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			if i == 0 {
				firstAt = time.Now()
			}
			var got int
			if err := parseChunk(strings.TrimSuffix(line, "\n"), &got, &lastWritten); err != nil || got != i {
				t.Fatalf("line %d = %q", i, line)
			}
		}
		if rest, _ := io.ReadAll(br); len(rest) != 0 {
			t.Errorf("after the chunks: %q", rest)
		}
		if first := firstAt.UnixMilli(); first >= lastWritten {
			t.Errorf("first chunk read at %d ms, after the function wrote its last at %d ms: the response was buffered", first, lastWritten)
		}
	})

	t.Run("slow client, then gone", func(t *testing.T) {
		// A 96 MiB stream whose client reads one chunk and then nothing
		// for 2 s: neither node may hold the rest (the runtime waits on
		// TCP's flow control). Then the client goes away; the
		// environment is free again for the next invocation.
		_, w := c.hosting(t, "streamer", "")
		apiPeak, wPeak := peakRSS(t, api.cmd.Process.Pid), peakRSS(t, w.cmd.Process.Pid)
		ctx, cancel := context.WithCancel(t.Context())
		payload, _ := json.Marshal(map[string]any{"mode": "big", "bytes": 96 << 20})
		out, err := api.Client.InvokeWithResponseStream(ctx, &lambda.InvokeWithResponseStreamInput{FunctionName: aws.String("streamer"), Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		st := out.GetStream()
		ev := <-st.Events()
		if _, ok := ev.(*types.InvokeWithResponseStreamResponseEventMemberPayloadChunk); !ok {
			t.Fatalf("first event %T, want a PayloadChunk", ev)
		}
		time.Sleep(2 * time.Second)
		for name, g := range map[string]int64{"api": peakRSS(t, api.cmd.Process.Pid) - apiPeak, "worker": peakRSS(t, w.cmd.Process.Pid) - wPeak} {
			t.Logf("%s node's peak RSS grew by %d MiB while its client stalled", name, g>>20)
			if g > 48<<20 {
				t.Errorf("the %s node's peak RSS grew by %d MiB while the client read nothing of a 96 MiB stream; want it bounded", name, g>>20)
			}
		}
		cancel()
		st.Close()
		start := time.Now()
		// The function ran on, its rest drained: its environment is free.
		c.settle(t, "streamer")
		t.Logf("the environment was free again %v after the client went away", time.Since(start).Round(time.Millisecond))
		r, err := invokeStream(t, api.Client, "streamer", map[string]any{"mode": "chunks", "n": 1})
		if err != nil || r.Complete.ErrorCode != nil {
			t.Fatalf("invocation after the client went away: %v %+v", err, r)
		}
	})

	t.Run("worker killed mid-stream", func(t *testing.T) {
		c.settle(t, "streamer") // the one busy environment will be this invocation's
		payload, _ := json.Marshal(map[string]any{"mode": "hang"})
		out, err := api.Client.InvokeWithResponseStream(t.Context(), &lambda.InvokeWithResponseStreamInput{FunctionName: aws.String("streamer"), Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		st := out.GetStream()
		defer st.Close()
		ev := <-st.Events()
		if v, ok := ev.(*types.InvokeWithResponseStreamResponseEventMemberPayloadChunk); !ok || string(v.Value.Payload) != "before the timeout\n" {
			t.Fatalf("first event %#v, want the chunk before the hang", ev)
		}
		id, _ := c.hosting(t, "streamer", "busy")
		restart := c.kill(t, id)
		defer restart()
		killed := time.Now()
		var complete *types.InvokeWithResponseStreamCompleteEvent
		timeout := time.After(10 * time.Second)
	read:
		for {
			select {
			case ev, ok := <-st.Events():
				if !ok {
					break read
				}
				if v, ok := ev.(*types.InvokeWithResponseStreamResponseEventMemberInvokeComplete); ok {
					complete = &v.Value
				}
			case <-timeout:
				t.Fatal("the stream still hangs 10 s after its worker was killed")
			}
		}
		took := time.Since(killed)
		if complete == nil || aws.ToString(complete.ErrorCode) != "ServiceException" {
			t.Fatalf("stream ended with %+v (err %v); want InvokeComplete with ErrorCode ServiceException", complete, st.Err())
		}
		t.Logf("stream ended %v after kill -9 of its worker: %s", took.Round(time.Millisecond), aws.ToString(complete.ErrorDetails))
		if took > 2*time.Second {
			t.Errorf("the stream ended %v after the kill, want at once", took)
		}
		// The next streamed invocation runs on the live worker.
		r, err := invokeStream(t, api.NoRetry, "streamer", map[string]any{"mode": "chunks", "n": 1})
		if err != nil || r.Complete.ErrorCode != nil {
			t.Fatalf("invocation after the kill: %v %+v", err, r)
		}
	})
}

// clusterListing is GET /_hearth/v1/environments on an api node.
type clusterListing struct {
	Environments []struct {
		Function string `json:"function"`
		ID       string `json:"env"`
		Stream   string `json:"log_stream"`
		State    string `json:"state"`
		Worker   string `json:"worker"`
	} `json:"environments"`
	Workers []struct {
		ID           string `json:"id"`
		Environments int    `json:"environments"`
		Error        string `json:"error"`
	} `json:"workers"`
}

func (s *server) clusterListing(t *testing.T) clusterListing {
	t.Helper()
	resp, err := s.get(t, "/_hearth/v1/environments")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out clusterListing
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// An api node without the worker role lists the environments of every
// worker, each with the worker that hosts it, and marks a worker that
// does not answer; its CloudWatch Logs API (FilterLogEvents through
// aws-sdk-go-v2) and `hearth logs` find what a function printed on a
// worker.
func TestClusterListingAndLogs(t *testing.T) {
	c := startXnodeCluster(t)
	api := c.api
	api.create(t, "talker", goFn())
	// Two invocations at once: two environments, on one worker or both.
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := api.tryInvoke(t.Context(), api.Client, "talker", map[string]any{"op": "print", "text": fmt.Sprintf("needle-%d", i), "n": 1})
			if err != nil || r.FunctionError != "" {
				t.Errorf("invoke: %v %v", r, err)
			}
		}()
		time.Sleep(100 * time.Millisecond) // the first is busy when the second is placed
	}
	wg.Wait()

	// The listing is the union of the workers' own, each environment
	// with its worker's id.
	want := map[string]string{} // env id → worker id
	for id, w := range c.workers {
		for _, e := range w.environments(t) {
			if e["function"] == "talker" {
				want[e["env"].(string)] = id
			}
		}
	}
	l := api.clusterListing(t)
	got := map[string]string{}
	streams := map[string]string{} // log stream → worker id
	for _, e := range l.Environments {
		if e.Function == "talker" {
			got[e.ID] = e.Worker
			streams[e.Stream] = e.Worker
		}
	}
	if len(want) < 1 || !reflect.DeepEqual(got, want) {
		t.Errorf("the api node lists environments (env → worker) %v; the workers list %v", got, want)
	}
	if len(l.Workers) != 2 {
		t.Errorf("the listing names %d workers, want 2: %+v", len(l.Workers), l.Workers)
	}
	for _, w := range l.Workers {
		if c.workers[w.ID] == nil || w.Error != "" {
			t.Errorf("worker %+v in the listing; want one of the two, answering", w)
		}
	}

	// The lines the function printed on the workers reach the api node's
	// logs: FilterLogEvents finds each in the stream of the environment
	// that printed it.
	cw := logsClient(api, api.creds)
	found := map[string]string{} // message → stream
	printed := time.Now()
	for deadline := time.Now().Add(5 * time.Second); len(found) < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("FilterLogEvents through the api node found %v of the 2 lines printed on the workers within 5 s", found)
		}
		out, err := cw.FilterLogEvents(t.Context(), &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/talker"), FilterPattern: aws.String("needle")})
		if err != nil {
			var nf *cwtypes.ResourceNotFoundException
			if errors.As(err, &nf) {
				continue // no line arrived yet
			}
			t.Fatal(err)
		}
		for _, e := range out.Events {
			found[strings.TrimSpace(aws.ToString(e.Message))] = aws.ToString(e.LogStreamName)
		}
	}
	t.Logf("FilterLogEvents on the api node found both lines %v after the invocations returned (polling every 100 ms)", time.Since(printed).Round(time.Millisecond))
	for msg, stream := range found {
		if streams[stream] == "" {
			t.Errorf("%q is in log stream %q, which no worker's environment has (%v)", msg, stream, streams)
		}
	}
	out, err := api.cli(t.Context(), "logs", "talker").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "needle-0 0") || !strings.Contains(string(out), "needle-1 0") {
		t.Errorf("hearth logs talker through the api node: %v\n%s", err, out)
	}

	// A worker killed: the listing comes back at once, marking it.
	var dead string
	for id := range c.workers {
		dead = id
		break
	}
	restart := c.kill(t, dead)
	start := time.Now()
	l = api.clusterListing(t)
	took := time.Since(start)
	marked := false
	for _, w := range l.Workers {
		if w.ID == dead {
			marked = w.Error != ""
			t.Logf("the killed worker in the listing after %v: %+v", took.Round(time.Millisecond), w)
		}
	}
	if !marked {
		t.Errorf("the listing does not mark the killed worker %s: %+v", dead, l.Workers)
	}
	if took > 3*time.Second {
		t.Errorf("the listing took %v with a worker killed", took)
	}
	for _, e := range l.Environments {
		if e.Worker == dead {
			t.Errorf("the listing still has environment %s of the killed worker", e.ID)
		}
	}
	restart()
}

// provisionedByWorker counts the initialised provisioned environments of
// name per worker, as the api node lists the cluster's.
func (c *xnodeCluster) provisionedByWorker(t *testing.T, name string) map[string]int {
	t.Helper()
	out := map[string]int{}
	resp, err := c.api.get(t, "/_hearth/v1/environments")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l struct {
		Environments []struct {
			Function    string `json:"function"`
			State       string `json:"state"`
			Worker      string `json:"worker"`
			Provisioned bool   `json:"provisioned"`
		} `json:"environments"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	for _, e := range l.Environments {
		if e.Function == name && e.Provisioned && (e.State == "idle" || e.State == "busy") {
			out[e.Worker]++
		}
	}
	return out
}

// Provisioned concurrency set through an api node without the worker
// role is spread over the workers (none on the api node), reported READY,
// serves invocations warm, is reported FAILED when the init fails on a
// worker, moves with an alias without a cold start, and is re-created on
// the other worker when one is killed.
func TestClusterProvisioned(t *testing.T) {
	needRuntime(t, "python3.12")
	c := startXnodeCluster(t)
	api := c.api
	ctx := t.Context()
	const name = "pcx"
	api.create(t, name, provisionedFn())
	v1, err := api.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Client.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{
		FunctionName: aws.String(name), Qualifier: v1.Version, ProvisionedConcurrentExecutions: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	got := api.waitProvisionedReady(t, name, "1")
	if n := aws.ToInt32(got.AllocatedProvisionedConcurrentExecutions); n != 2 {
		t.Errorf("allocated %d, want 2", n)
	}
	spread := c.provisionedByWorker(t, name)
	want := map[string]int{}
	for id := range c.workers {
		want[id] = 1
	}
	if !reflect.DeepEqual(spread, want) {
		t.Errorf("provisioned environments per worker %v; want one on each worker %v", spread, want)
	}
	if n := api.count(t, name, ""); n != 0 {
		t.Errorf("the api node has %d environments of the function, want 0", n)
	}
	r := api.invoke(t, name+":1", map[string]any{})
	if m := r.decode(t); m["init"] != "provisioned-concurrency" || strings.Contains(r.Log, "Init Duration") {
		t.Errorf("invoke of :1 = %v, log %q; want a provisioned environment, no Init Duration", m, r.Log)
	}

	// A function whose init fails on the worker: FAILED, with the reason.
	api.create(t, "pcfail", fn{runtime: "python3.12", handler: "app.handler", zip: zipFiles(map[string]zipFile{"app.py": {data: []byte("raise Exception('boom')\n")}})})
	if _, err := api.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("pcfail")}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Client.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{
		FunctionName: aws.String("pcfail"), Qualifier: aws.String("1"), ProvisionedConcurrentExecutions: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "pcfail:1 FAILED", func() bool {
		out, err := api.Client.GetProvisionedConcurrencyConfig(ctx, &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String("pcfail"), Qualifier: aws.String("1")})
		if err != nil {
			t.Fatal(err)
		}
		if out.Status == types.ProvisionedConcurrencyStatusEnumFailed && aws.ToString(out.StatusReason) != "FUNCTION_ERROR_INIT_FAILURE" {
			t.Errorf("StatusReason = %q; want FUNCTION_ERROR_INIT_FAILURE", aws.ToString(out.StatusReason))
		}
		return out.Status == types.ProvisionedConcurrencyStatusEnumFailed
	})
	if _, err := api.Client.DeleteProvisionedConcurrencyConfig(ctx, &lambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String("pcfail"), Qualifier: aws.String("1")}); err != nil {
		t.Fatal(err)
	}

	// Moving an alias moves its provisioned environment, started on a
	// worker before the switch: the first invocation through it after is
	// warm.
	const mover = "pcmove"
	api.create(t, mover, provisionedFn())
	if _, err := api.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(mover)}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(mover), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Client.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{
		FunctionName: aws.String(mover), Qualifier: aws.String("live"), ProvisionedConcurrentExecutions: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	api.waitProvisionedReady(t, mover, "live")
	if _, err := api.Client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(mover), Description: aws.String("v2")}); err != nil {
		t.Fatal(err)
	}
	waitUpdated(t, api.Client, mover)
	v2, err := api.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(mover)})
	if err != nil {
		t.Fatal(err)
	}
	moving := time.Now()
	if _, err := api.Client.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String(mover), Name: aws.String("live"), FunctionVersion: v2.Version}); err != nil {
		t.Fatalf("UpdateAlias = %v", err)
	}
	t.Logf("UpdateAlias with provisioned concurrency took %v", time.Since(moving).Round(time.Millisecond))
	r = api.invoke(t, mover+":live", map[string]any{})
	if m := r.decode(t); m["init"] != "provisioned-concurrency" || m["version"] != aws.ToString(v2.Version) || strings.Contains(r.Log, "Init Duration") {
		t.Errorf("first invoke through the moved alias = %v, log %q; want version 2, provisioned, no Init Duration", m, r.Log)
	}

	// A worker killed: its share comes back on the other.
	var dead, live string
	for id := range c.workers {
		if dead == "" {
			dead = id
		} else {
			live = id
		}
	}
	restart := c.kill(t, dead)
	killed := time.Now()
	eventually(t, 30*time.Second, "both provisioned environments on the live worker", func() bool {
		return c.provisionedByWorker(t, name)[live] == 2
	})
	t.Logf("the killed worker's provisioned environment was ready again on the other %v after the kill", time.Since(killed).Round(time.Millisecond))
	api.waitProvisionedReady(t, name, "1")
	r = api.invoke(t, name+":1", map[string]any{})
	if m := r.decode(t); m["init"] != "provisioned-concurrency" {
		t.Errorf("invoke of :1 after the kill = %v; want a provisioned environment", m)
	}
	restart()
}
