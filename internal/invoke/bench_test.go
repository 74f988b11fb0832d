package invoke

import (
	"context"
	"testing"

	"hearth/internal/function"
	"hearth/internal/worker"
)

// nopRunner answers every invocation at once: what is left is the front
// of the invocation path (resolution, payload checks, concurrency).
type nopRunner struct{}

func (nopRunner) Invoke(context.Context, *worker.Request) (*worker.Result, error) {
	return &worker.Result{}, nil
}

// BenchmarkInvoke is Service.Invoke on a single node with a runner that
// answers at once, for a function with and without reserved concurrency,
// 8 callers in parallel: the cost concurrency accounting adds to each
// invocation.
//
//	go test -run XXX -bench Invoke -benchtime 2s ./internal/invoke/
func BenchmarkInvoke(b *testing.B) {
	ten := 10000
	const a = "111111111111"
	c := &configs{fns: []function.Config{fn(a, "plain", nil), fn(a, "reserved", &ten)}, changed: make(chan struct{})}
	for i := range c.fns {
		c.fns[i].State = function.StateActive
	}
	s := New(Config{Account: a, Concurrency: 100000, AccountConcurrency: 100000}, c, nopRunner{})
	for _, name := range []string{"plain", "reserved"} {
		b.Run(name, func(b *testing.B) {
			b.SetParallelism(8)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := Request{Account: a, FunctionName: name, Payload: []byte(`{"a":1}`), RequestID: "r"}
				for pb.Next() {
					r := req
					if _, err := s.Invoke(context.Background(), &r); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
