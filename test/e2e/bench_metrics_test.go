package e2e

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// serverCPU is the CPU time the server's process has used (user and
// system), from /proc: its environments are other processes.
func serverCPU(b *testing.B, s *server) time.Duration {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * (time.Second / 100) // USER_HZ
}

// BenchmarkWarmInvokeMetrics (issue 14) measures what the metrics cost a
// warm invocation: two servers, one with --metrics=false, take the same
// sequential warm invocations in alternating rounds of 100 (each goes first
// every other round). It reports
// each one's p50 latency and server CPU per invocation, and the ratios
// (with metrics / without).
//
//	go test -run XXX -bench WarmInvokeMetrics -benchtime 3000x ./test/e2e/
func BenchmarkWarmInvokeMetrics(b *testing.B) {
	type side struct {
		s   *server
		c   *http.Client
		url string
		lat []time.Duration
		cpu time.Duration
	}
	var sides [2]*side
	for i, flags := range [][]string{{"--metrics=true"}, {"--metrics=false"}} {
		s := benchServer(b, flags...)
		s.create(b, "warm-metrics", goFn())
		sd := &side{s: s, c: &http.Client{Transport: signing{s: s, base: &http.Transport{}}},
			url: s.URL + "/2015-03-31/functions/warm-metrics/invocations"}
		post(b, sd.c, sd.url, benchPayload) // the cold start stays outside
		sides[i] = sd
	}
	b.ResetTimer()
	for round, done := 0, 0; done < b.N; round++ {
		n := min(100, b.N-done)
		order := []*side{sides[0], sides[1]}
		if round%2 == 1 { // neither side always goes first
			order[0], order[1] = order[1], order[0]
		}
		for _, sd := range order {
			cpu0 := serverCPU(b, sd.s)
			for range n {
				t := time.Now()
				post(b, sd.c, sd.url, benchPayload)
				sd.lat = append(sd.lat, time.Since(t))
			}
			sd.cpu += serverCPU(b, sd.s) - cpu0
		}
		done += n
	}
	b.StopTimer()
	with, without := sides[0], sides[1]
	p50 := func(d []time.Duration) float64 { return float64(median(d).Microseconds()) }
	b.ReportMetric(p50(with.lat), "p50-with-µs")
	b.ReportMetric(p50(without.lat), "p50-without-µs")
	b.ReportMetric(p50(with.lat)/p50(without.lat), "p50-ratio")
	perInvoke := func(sd *side) float64 { return float64(sd.cpu.Microseconds()) / float64(b.N) }
	b.ReportMetric(perInvoke(with), "cpu-with-µs/op")
	b.ReportMetric(perInvoke(without), "cpu-without-µs/op")
	if perInvoke(without) > 0 {
		b.ReportMetric(perInvoke(with)/perInvoke(without), "cpu-ratio")
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
