package grants_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"hearth/internal/function"
	"hearth/internal/grants"
	"hearth/internal/invoke"
	"hearth/internal/store"
	"hearth/internal/worker"
)

const acct = "111111111111"

// gate is a Runner whose invocations run until the test lets them end.
type gate struct {
	mu      sync.Mutex
	waiting []chan struct{} // guarded by mu
}

func (g *gate) Invoke(ctx context.Context, _ *worker.Request) (*worker.Result, error) {
	c := make(chan struct{})
	g.mu.Lock()
	g.waiting = append(g.waiting, c)
	g.mu.Unlock()
	select {
	case <-c:
	case <-ctx.Done():
	}
	return &worker.Result{}, nil
}

// open opens a store of its own on js (as each node does) and keeps it
// fresh until the test ends.
func openStore(t testing.TB, js jetstream.JetStream) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), js, acct, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); st.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return st
}

func createFn(t testing.TB, st *store.Store, name string, reserved *int) {
	t.Helper()
	err := st.Create(t.Context(), function.Config{Account: acct, Name: name, Runtime: "python3.12", Handler: "app.h",
		Role: "arn:aws:iam::111111111111:role/r", State: function.StateActive, ReservedConcurrency: reserved}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor waits until every store has function name with reserved
// concurrency want.
func waitFor(t testing.TB, name string, want *int, sts ...*store.Store) {
	t.Helper()
	for _, st := range sts {
		for deadline := time.Now().Add(5 * time.Second); ; {
			c, err := st.Function(acct, name)
			if err == nil && (want == nil) == (c.ReservedConcurrency == nil) && (want == nil || *want == *c.ReservedConcurrency) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("function %s not seen with reserved %v", name, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// watching waits until b's watch sees a's writes: its Run starts the
// watch after Open returned.
func watching(t testing.TB, a, b *store.Store) {
	t.Helper()
	for i := 0; ; i++ {
		desc := fmt.Sprint("watched ", i)
		if _, err := a.Update(t.Context(), acct, "plain", func(c *function.Config) error { c.Description = desc; return nil }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if c, err := b.Function(acct, "plain"); err == nil && strings.HasPrefix(c.Description, "watched") {
			return
		}
		if i == 1000 {
			t.Fatal("the second store never saw an update")
		}
	}
}

// TestServicesAcrossNodes: two api nodes' invoke.Services, each with its
// own store and Holder on one JetStream: a reserved concurrency of 2 and
// the account's shared pool (5 minus the 2 reserved) hold across both,
// with Lambda's two throttling errors; a lowered reservation holds on
// both once the other node's idle slot is back; provisioned concurrency
// is the function's own and the rest shares the pool.
func TestServicesAcrossNodes(t *testing.T) {
	js := startBroker(t)
	two := 2
	stA := openStore(t, js)
	createFn(t, stA, "capped", &two)
	createFn(t, stA, "plain", nil)
	stB := openStore(t, js) // loads both
	watching(t, stA, stB)
	waitFor(t, "capped", &two, stB)
	run := &gate{}
	nodes := []*invoke.Service{
		invoke.New(invoke.Config{Account: acct, Concurrency: 100, AccountConcurrency: 5}, stA, run),
		invoke.New(invoke.Config{Account: acct, Concurrency: 100, AccountConcurrency: 5}, stB, run),
	}
	for i, s := range nodes {
		h, _ := holder(t, js, []string{"a", "b"}[i], true)
		s.SetLimiter(h)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	started := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; {
			run.mu.Lock()
			got := len(run.waiting)
			run.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d invocations running, want %d", got, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	start := func(s *invoke.Service, name string) {
		wg.Go(func() {
			_, err := s.Invoke(t.Context(), &invoke.Request{FunctionName: name})
			errs <- err
		})
	}
	try := func(s *invoke.Service, name string) error {
		done := make(chan error, 1)
		go func() {
			_, err := s.Invoke(t.Context(), &invoke.Request{FunctionName: name})
			done <- err
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(time.Second):
			t.Fatalf("invoke of %s was admitted (it runs)", name)
			return nil
		}
	}
	// admit invokes through s until the invocation runs, refused
	// meanwhile only with want: another node may hold idle slots until
	// its next renewal (early throttling). It returns how long that took.
	admit := func(s *invoke.Service, req invoke.Request, want error) time.Duration {
		t.Helper()
		began := time.Now()
		run.mu.Lock()
		before := len(run.waiting)
		run.mu.Unlock()
		for {
			done := make(chan error, 1)
			go func() {
				_, err := s.Invoke(t.Context(), &req)
				done <- err
			}()
			running := false
			for deadline := time.Now().Add(time.Second); !running && len(done) == 0 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				run.mu.Lock()
				running = len(run.waiting) == before+1
				run.mu.Unlock()
			}
			if running {
				wg.Go(func() { errs <- <-done })
				return time.Since(began)
			}
			if err := <-done; !errors.Is(err, want) {
				t.Fatalf("invoke of %s = %v; want it run, or %v meanwhile", req.FunctionName, err, want)
			}
			if time.Since(began) > idle+2*renew+time.Second {
				t.Fatalf("invoke of %s still throttled %v later: other nodes' idle slots never came back", req.FunctionName, time.Since(began))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	endAll := func() {
		run.mu.Lock()
		for _, c := range run.waiting {
			close(c)
		}
		run.waiting = nil
		run.mu.Unlock()
		wg.Wait()
		for len(errs) > 0 {
			if err := <-errs; err != nil {
				t.Errorf("admitted invocation = %v", err)
			}
		}
	}

	start(nodes[0], "capped")
	start(nodes[1], "capped")
	started(2)
	for i, s := range nodes {
		if err := try(s, "capped"); !errors.Is(err, invoke.ErrReservedThrottled) {
			t.Errorf("node %d: third invocation of a function with 2 reserved = %v; want ErrReservedThrottled", i, err)
		}
	}
	// The shared pool: 5 - 2 reserved = 3 across the nodes.
	start(nodes[0], "plain")
	started(3)
	start(nodes[1], "plain")
	started(4)
	start(nodes[0], "plain")
	started(5)
	for i, s := range nodes {
		if err := try(s, "plain"); !errors.Is(err, invoke.ErrThrottled) || errors.Is(err, invoke.ErrReservedThrottled) {
			t.Errorf("node %d: fourth invocation in a pool of 3 = %v; want ErrThrottled", i, err)
		}
	}
	endAll()

	// Lowered to 1 (PutFunctionConcurrency through node a): once each
	// node's store has it, one in flight on a throttles b.
	one := 1
	if _, err := stA.Update(t.Context(), acct, "capped", func(c *function.Config) error { c.ReservedConcurrency = &one; return nil }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "capped", &one, stA, stB)
	// b holds an idle slot of the old 2 until it gives it back (Idle):
	// until then a is throttled early.
	took := admit(nodes[0], invoke.Request{FunctionName: "capped"}, invoke.ErrReservedThrottled)
	t.Logf("node a admitted %v after the reservation went down to 1", took.Round(time.Millisecond))
	if err := try(nodes[1], "capped"); !errors.Is(err, invoke.ErrReservedThrottled) {
		t.Errorf("node b: second invocation with 1 reserved = %v; want ErrReservedThrottled", err)
	}
	endAll()

	// Provisioned concurrency 1 on a version of "prov": its first one in
	// flight is its own, the others share the pool, now 5 - 1 reserved -
	// 1 provisioned = 3, across the nodes.
	createFn(t, stA, "prov", nil)
	_, _, err := stA.Publish(t.Context(), acct, "prov", func(latest function.Config, _ []function.Config) (*function.Config, *function.Config, error) {
		v := latest
		v.Provisioned = &function.Provisioned{Requested: 1}
		return &v, nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); stB.ProvisionedTotals()[acct+"/prov"] != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node b's store never saw the provisioned concurrency")
		}
	}
	for i := range 4 {
		if took := admit(nodes[i%2], invoke.Request{FunctionName: "prov", Qualifier: "1"}, invoke.ErrThrottled); took > 10*time.Millisecond {
			t.Logf("prov:1 invocation %d admitted after %v of early throttling", i+1, took.Round(time.Millisecond))
		}
	}
	for i, s := range nodes {
		done := make(chan error, 1)
		go func() {
			_, err := s.Invoke(t.Context(), &invoke.Request{FunctionName: "prov", Qualifier: "1"})
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, invoke.ErrThrottled) || errors.Is(err, invoke.ErrReservedThrottled) {
				t.Errorf("node %d: fifth invocation of prov:1 (1 provisioned + a pool of 3) = %v; want ErrThrottled", i, err)
			}
		case <-time.After(time.Second):
			t.Fatalf("node %d: a fifth invocation of prov:1 was admitted", i)
		}
	}
	endAll()
}

// BenchmarkInvokeClustered compares invoke.Service.Invoke (a runner that
// answers at once) on a single node with the same in a cluster, where a
// grants.Holder counts the concurrency: rounds of 500 invocations on
// each, interleaved, one caller; reports both costs and their ratio.
//
//	go test -run XXX -bench InvokeClustered -benchtime 200000x ./internal/grants/
func BenchmarkInvokeClustered(b *testing.B) {
	js := startBroker(b)
	st := openStore(b, js)
	ten := 10000
	createFn(b, st, "plain", nil)
	createFn(b, st, "capped", &ten)
	waitFor(b, "capped", &ten, st)
	h, _ := holder(b, js, "bench", true)
	single := invoke.New(invoke.Config{Account: acct, Concurrency: 100000, AccountConcurrency: 100000}, st, answer{})
	clustered := invoke.New(invoke.Config{Account: acct, Concurrency: 100000, AccountConcurrency: 100000}, st, answer{})
	clustered.SetLimiter(h)
	for _, name := range []string{"plain", "capped"} {
		b.Run(name, func(b *testing.B) {
			var d [2][]time.Duration
			for i := 0; i < b.N; i += 500 {
				n := min(500, b.N-i)
				for j, s := range []*invoke.Service{single, clustered} {
					began := time.Now()
					for range n {
						if _, err := s.Invoke(context.Background(), &invoke.Request{FunctionName: name, RequestID: "r", Payload: []byte(`{"a":1}`)}); err != nil {
							b.Fatal(err)
						}
					}
					d[j] = append(d[j], time.Since(began)/time.Duration(n))
				}
			}
			med := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
			one, two := med(d[0]), med(d[1])
			b.ReportMetric(float64(one.Nanoseconds()), "single-ns/invoke")
			b.ReportMetric(float64(two.Nanoseconds()), "clustered-ns/invoke")
			b.ReportMetric(float64(two)/float64(one), "clustered/single")
		})
	}
}

type answer struct{}

func (answer) Invoke(context.Context, *worker.Request) (*worker.Result, error) {
	return &worker.Result{}, nil
}

var _ invoke.Limiter = (*grants.Holder)(nil)
