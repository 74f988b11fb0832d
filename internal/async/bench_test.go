package async_test

import (
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hearth/internal/async"
	"hearth/internal/broker"
	"hearth/internal/invoke"
)

// BenchmarkEnqueue measures Enqueue alone (no HTTP, no pollers): from one
// goroutine and from 8 at once, under both sync policies, on the embedded
// broker. The payload is the e2e benchmarks' small JSON event.
//
//	go test -run XXX -bench Enqueue -benchmem ./internal/async/
func BenchmarkEnqueue(b *testing.B) {
	payload := []byte(`{"op":"echo","data":"0123456789abcdef0123456789abcdef"}`)
	for _, always := range []bool{false, true} {
		for _, conc := range []int{1, 8} {
			name := fmt.Sprintf("sync-interval/c=%d", conc)
			if always {
				name = fmt.Sprintf("sync-always/c=%d", conc)
			}
			b.Run(name, func(b *testing.B) {
				br, err := broker.Start(broker.Config{Dir: b.TempDir(), SyncAlways: always}, slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				defer br.Close()
				q, err := async.Open(b.Context(), br.JetStream(), async.Config{Account: "000000000000", MaxBytes: 8 << 30, AccountMaxBytes: 8 << 30},
					&scripted{}, configs{"f": fn(0, "", "")}, slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				var next atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				cpu0, start := processCPU(), time.Now()
				var wg sync.WaitGroup
				for range conc {
					wg.Go(func() {
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							id := "req-" + strconv.FormatInt(i, 10)
							if err := q.Enqueue(b.Context(), &invoke.Event{RequestID: id, Function: "f", Payload: payload, Enqueued: time.Now()}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
				b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
			})
		}
	}
}

// processCPU is the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
