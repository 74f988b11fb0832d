package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// p50 runs f n times and returns the median duration.
func p50(n int, f func()) time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		t := time.Now()
		f()
		d[i] = time.Since(t)
	}
	slices.Sort(d)
	return d[n/2]
}

// BenchmarkWarmAfterBurst (issue 13, item 1): a burst of 32 concurrent
// invocations starts up to 32 environments (burst-envs) of the Go function; then b.N
// sequential invocations. It reports their p50 as a ratio to the
// cross-process two-hop floor measured in the same run (interleaved in
// rounds of 100), and how many environments the sequential invocations
// ran on (1 when the pool prefers the one that just answered).
//
//	go test -run XXX -bench WarmAfterBurst -benchtime 1000x ./test/e2e/
func BenchmarkWarmAfterBurst(b *testing.B) {
	for _, iso := range isolations() {
		// The burst runs once, outside b.Run, which calls its function
		// more than once.
		s := benchServer(b, "--isolation", iso)
		plain := &http.Transport{MaxIdleConnsPerHost: 64}
		c := &http.Client{Transport: signing{s: s, base: plain}}
		floorClient := &http.Client{Transport: plain}
		f := goFn()
		f.memory = oneVCPU
		s.create(b, "burst", f)
		url := s.URL + "/2015-03-31/functions/burst/invocations"
		// A start may fail when the machine's loop devices run short
		// (other tests share them): the burst counts what it got.
		var wg sync.WaitGroup
		var mu sync.Mutex
		burst := map[string]bool{}
		for range 32 {
			wg.Go(func() {
				resp, err := c.Post(url, "application/json", strings.NewReader(`{"op":"sleep","ms":500}`))
				if err != nil {
					return
				}
				defer resp.Body.Close()
				var r struct {
					EnvID string `json:"env_id"`
				}
				if resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&r) == nil {
					mu.Lock()
					burst[r.EnvID] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(burst) < 8 {
			b.Fatalf("the burst started %d environments; want at least 8", len(burst))
		}
		time.Sleep(100 * time.Millisecond) // all parked and frozen
		floor := startHop(b, "proxy", startHop(b, "echo"))
		b.Run(iso, func(b *testing.B) {
			envs := map[string]bool{}
			var hearth, base []time.Duration
			invoke := func() {
				var r struct {
					EnvID string `json:"env_id"`
				}
				json.Unmarshal(post(b, c, url, []byte(`{"op":"echo"}`)), &r)
				envs[r.EnvID] = true
			}
			b.ResetTimer()
			for left := b.N; left > 0; left -= 100 {
				n := min(left, 100)
				hearth = append(hearth, p50(n, invoke))
				base = append(base, p50(n, func() { post(b, floorClient, floor, benchPayload) }))
			}
			b.StopTimer()
			slices.Sort(hearth)
			slices.Sort(base)
			h, fl := hearth[len(hearth)/2], base[len(base)/2]
			b.ReportMetric(float64(h.Microseconds()), "p50-µs")
			b.ReportMetric(float64(fl.Microseconds()), "floor-p50-µs")
			b.ReportMetric(float64(h)/float64(fl), "x-floor")
			b.ReportMetric(float64(len(envs)), "envs")
			b.ReportMetric(float64(len(burst)), "burst-envs")
		})
		s.Stop()
	}
}

// BenchmarkInvokePayload (issue 13, item 3): sequential warm invocations
// of the Go function with a 1 MB JSON payload, as a ratio to the
// cross-process two-hop floor carrying the same payload in the same run.
//
//	go test -run XXX -bench InvokePayload -benchtime 200x ./test/e2e/
func BenchmarkInvokePayload(b *testing.B) {
	s := benchServer(b)
	defer s.Stop()
	c, plain := s.httpClient(), &http.Client{}
	f := goFn()
	f.memory = oneVCPU
	s.create(b, "payload", f)
	url := s.URL + "/2015-03-31/functions/payload/invocations"
	payload := []byte(`{"op":"echo","text":"` + strings.Repeat("abcdefgh", 1<<17) + `"}`)
	post(b, c, url, payload)
	floor := startHop(b, "proxy", startHop(b, "echo"))
	var hearth, base []time.Duration
	b.ResetTimer()
	for left := b.N; left > 0; left -= 20 {
		n := min(left, 20)
		hearth = append(hearth, p50(n, func() { post(b, c, url, payload) }))
		base = append(base, p50(n, func() { post(b, plain, floor, payload) }))
	}
	b.StopTimer()
	slices.Sort(hearth)
	slices.Sort(base)
	h, fl := hearth[len(hearth)/2], base[len(base)/2]
	b.ReportMetric(float64(h.Microseconds()), "p50-µs")
	b.ReportMetric(float64(fl.Microseconds()), "floor-p50-µs")
	b.ReportMetric(float64(h)/float64(fl), "x-floor")
}
