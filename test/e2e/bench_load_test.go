package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// BenchmarkWarmLoad (issue 13, item 5): warm invocations of the Go function
// (1,769 MB) from c = 1, 8 and 32 clients, interleaved in rounds with the
// cross-process two-hop floor (testdata/hop) driven by the same clients, so
// that both see the same machine. Per concurrency it reports
//
//   - x-floor-p50, x-floor-p99: Hearth's latency percentiles over the floor's;
//   - x-floor-tput: Hearth's invocations per second over the floor's;
//   - server-cpu-µs: the hearth process's CPU (user + system) per invocation;
//   - fn-cpu-µs: the function's processes' CPU per invocation (the runtime
//     client's own share, which the server cannot reduce);
//   - floor-proxy-cpu-µs, floor-echo-cpu-µs: the floor's forwarding and
//     echoing processes' CPU per request, the counterparts of the two
//     above.
//
// The rows named raw/c=<n> run the same with a minimal custom runtime
// (testdata/rawrt: the Runtime API in hand-framed HTTP/1.1 on one
// connection, the event echoed, no output) in place of aws-lambda-go: what
// a warm invocation costs with next to nothing spent in the function, so
// Hearth's own share against the floor's.
//
// CPU is read from /proc (clock ticks), so use enough invocations:
//
//	go test -run XXX -bench WarmLoad -benchtime 2000x ./test/e2e/
func BenchmarkWarmLoad(b *testing.B) {
	for _, iso := range isolations() {
		var flags []string
		if profDir != "" {
			flags = []string{"--debug-addr", debugAddr}
		}
		s := benchServer(b, append(flags, "--isolation", iso)...)
		tr := &http.Transport{MaxIdleConnsPerHost: 64}
		c := &http.Client{Transport: signing{s: s, base: tr}}
		fc := &http.Client{Transport: tr}
		f := goFn()
		f.memory = oneVCPU
		s.create(b, "load", f)
		raw := fn{runtime: "provided.al2023", handler: "bootstrap", memory: oneVCPU, zip: rawRuntimeZip(b)}
		s.create(b, "load-raw", raw)
		echo, echoPid := startHopPid(b, "echo")
		floor, floorPid := startHopPid(b, "proxy", echo)
		for _, row := range []struct {
			name, function string
			conc           int
		}{{"", "load", 1}, {"", "load", 8}, {"", "load", 32}, {"raw/", "load-raw", 1}, {"raw/", "load-raw", 8}, {"raw/", "load-raw", 32}} {
			conc := row.conc
			url := s.URL + "/2015-03-31/functions/" + row.function + "/invocations"
			// Start the environments outside the timing.
			load(conc, conc*4, func() { post(b, c, url, benchPayload) })
			b.Run(fmt.Sprintf("%s/%sc=%d", iso, row.name, conc), func(b *testing.B) {
				var h, fl loadStats
				round := max(100, 25*conc)
				if profDir != "" {
					stop := profile(b, filepath.Join(profDir, fmt.Sprintf("%s-%sc%d.pprof", iso, strings.TrimSuffix(row.name, "/"), conc)))
					defer stop()
				}
				b.ResetTimer()
				for left := b.N; left > 0; left -= round {
					n := min(left, round)
					fns := s.functionPids()
					srv0, fn0, fp0, fe0 := pidCPU(s.cmd.Process.Pid), pidsCPU(fns), pidCPU(floorPid), pidCPU(echoPid)
					lat, wall := load(conc, n, func() { post(b, c, url, benchPayload) })
					h.add(n, lat, wall)
					h.cpu += pidCPU(s.cmd.Process.Pid) - srv0
					h.fnCPU += pidsCPU(fns) - fn0
					lat, wall = load(conc, n, func() { post(b, fc, floor, benchPayload) })
					fl.add(n, lat, wall)
					fl.cpu += pidCPU(floorPid) - fp0
					fl.fnCPU += pidCPU(echoPid) - fe0
				}
				b.StopTimer()
				hp50, hp99 := h.pct(50), h.pct(99)
				fp50, fp99 := fl.pct(50), fl.pct(99)
				b.ReportMetric(float64(hp50.Microseconds()), "p50-µs")
				b.ReportMetric(float64(hp99.Microseconds()), "p99-µs")
				b.ReportMetric(h.tput(), "inv/s")
				b.ReportMetric(float64(hp50)/float64(fp50), "x-floor-p50")
				b.ReportMetric(float64(hp99)/float64(fp99), "x-floor-p99")
				b.ReportMetric(h.tput()/fl.tput(), "x-floor-tput")
				b.ReportMetric(float64(h.cpu.Microseconds())/float64(h.n), "server-cpu-µs")
				b.ReportMetric(float64(h.fnCPU.Microseconds())/float64(h.n), "fn-cpu-µs")
				b.ReportMetric(float64(fl.cpu.Microseconds())/float64(fl.n), "floor-proxy-cpu-µs")
				b.ReportMetric(float64(fl.fnCPU.Microseconds())/float64(fl.n), "floor-echo-cpu-µs")
			})
		}
		s.Stop()
	}
}

// rawRuntimeZip builds testdata/rawrt and zips it as a bootstrap.
func rawRuntimeZip(b *testing.B) []byte {
	b.Helper()
	boot := filepath.Join(b.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-o", boot, "./testdata/rawrt")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build the raw runtime: %v\n%s", err, out)
	}
	data, err := os.ReadFile(boot)
	if err != nil {
		b.Fatal(err)
	}
	return zipFiles(map[string]zipFile{"bootstrap": {data: data, mode: 0o755}})
}

// profDir, when HEARTH_BENCH_PROFILE names a directory, makes
// BenchmarkWarmLoad write a CPU profile of the server per concurrency
// there (the server listens for pprof on debugAddr).
var profDir = os.Getenv("HEARTH_BENCH_PROFILE")

// debugAddr is where the profiled server serves pprof:
// HEARTH_BENCH_DEBUG_ADDR, or 127.0.0.1:6061.
var debugAddr = cmp.Or(os.Getenv("HEARTH_BENCH_DEBUG_ADDR"), "127.0.0.1:6061")

// profile starts a CPU profile of the server and returns a function that
// waits for it (4 s) and writes it to path.
func profile(b *testing.B, path string) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get("http://" + debugAddr + "/debug/pprof/profile?seconds=4")
		if err != nil {
			b.Log(err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			b.Log(err)
			return
		}
		defer f.Close()
		io.Copy(f, resp.Body)
		// And the allocations so far, for -sample_index=alloc_space.
		if resp, err := http.Get("http://" + debugAddr + "/debug/pprof/allocs"); err == nil {
			defer resp.Body.Close()
			if f, err := os.Create(path + ".allocs"); err == nil {
				defer f.Close()
				io.Copy(f, resp.Body)
			}
		}
	}()
	return func() { <-done }
}

// goroutines writes a dump of the server's goroutines to path.
func goroutines(b *testing.B, path string) {
	resp, err := http.Get("http://" + debugAddr + "/debug/pprof/goroutine?debug=2")
	if err != nil {
		b.Log(err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		b.Log(err)
		return
	}
	defer f.Close()
	io.Copy(f, resp.Body)
}

// loadStats accumulates rounds of a load run.
type loadStats struct {
	lat        []time.Duration
	n          int
	wall       time.Duration
	cpu, fnCPU time.Duration
}

func (l *loadStats) add(n int, lat []time.Duration, wall time.Duration) {
	l.n += n
	l.lat = append(l.lat, lat...)
	l.wall += wall
}

func (l *loadStats) pct(p int) time.Duration {
	slices.Sort(l.lat)
	return l.lat[len(l.lat)*p/100]
}

func (l *loadStats) tput() float64 { return float64(l.n) / l.wall.Seconds() }

// load runs f n times from conc goroutines and returns each call's latency
// and the wall time of the whole.
func load(conc, n int, f func()) ([]time.Duration, time.Duration) {
	lat := make([]time.Duration, n)
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				next.Lock()
				j := i
				i++
				next.Unlock()
				if j >= n {
					return
				}
				t := time.Now()
				f()
				lat[j] = time.Since(t)
			}
		})
	}
	wg.Wait()
	return lat, time.Since(start)
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// pidCPU returns the user plus system CPU time pid has used, 0 if it is
// gone.
func pidCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields after it are
	// counted from its closing parenthesis.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64) // utime, field 14
	k, _ := strconv.ParseInt(f[12], 10, 64) // stime, field 15
	return time.Duration(u+k) * clockTick
}

// pidWithChildrenCPU is pidCPU plus the CPU time of pid's children it has
// reaped (and of theirs): for the server, its sandbox inits and what they
// ran, once the environments are gone.
func pidWithChildrenCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return 0
	}
	var sum int64
	for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
		v, _ := strconv.ParseInt(f[i], 10, 64)
		sum += v
	}
	return time.Duration(sum) * clockTick
}

// pidsCPU sums pidCPU over envPids-style "pid:cmdline" entries.
func pidsCPU(pids []string) time.Duration {
	var sum time.Duration
	for _, p := range pids {
		pid, err := strconv.Atoi(p[:strings.IndexByte(p, ':')])
		if err == nil {
			sum += pidCPU(pid)
		}
	}
	return sum
}

// startHopPid is startHop that also returns the process's pid, so that its
// CPU can be read.
func startHopPid(b *testing.B, args ...string) (string, int) {
	bin := filepath.Join(b.TempDir(), "hop")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/hop").CombinedOutput(); err != nil {
		b.Fatalf("build hop: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, args...)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(line), cmd.Process.Pid
}

// BenchmarkAsyncLoad (issue 13, async enqueue): Event invocations
// (answered 202 once JetStream has stored the event) from c = 8 clients,
// interleaved in rounds with the cross-process one-hop floor (an echo
// server: one HTTP round trip, which an enqueue is plus the store) driven
// by the same clients. It reports events/s, its ratio to the floor's
// requests/s, p50/p99, and the server's CPU per event; and, as a second
// floor, DryRun invocations of the same function through the same server
// and client (signature, checks, the function's resolution: everything
// of an enqueue but the store), their requests/s, the events' ratio to
// them and the server's CPU per DryRun. The server runs the
// events meanwhile with --async-concurrency 1, so that running them
// competes little with accepting them.
//
//	go test -run XXX -bench AsyncLoad -benchtime 20000x ./test/e2e/
func BenchmarkAsyncLoad(b *testing.B) {
	for _, policy := range []string{"interval", "always"} {
		flags := []string{"--sync", policy, "--async-concurrency", "1"}
		if profDir != "" {
			flags = append(flags, "--debug-addr", debugAddr)
		}
		s := benchServer(b, flags...)
		s.create(b, "enq", goFn())
		url := s.URL + "/2015-03-31/functions/enq/invocations"
		tr := &http.Transport{MaxIdleConnsPerHost: 64}
		c := &http.Client{Transport: signing{s: s, base: tr}}
		fc := &http.Client{Transport: tr}
		echo, _ := startHopPid(b, "echo")
		call := func(typ string, status int) {
			req, _ := http.NewRequest("POST", url, bytes.NewReader(benchPayload))
			req.Header.Set("X-Amz-Invocation-Type", typ)
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != status {
				b.Fatalf("%s invoke: %d", typ, resp.StatusCode)
			}
		}
		send := func() { call("Event", 202) }
		// The same server, client, signature, checks and resolution
		// of the function, answered without storing anything.
		dry := func() { call("DryRun", 204) }
		const conc = 8
		load(conc, 100, send)
		b.Run(fmt.Sprintf("sync-%s/c=%d", policy, conc), func(b *testing.B) {
			if profDir != "" {
				stop := profile(b, filepath.Join(profDir, "async-"+policy+".pprof"))
				defer stop()
			}
			var h, fl, dr loadStats
			b.ResetTimer()
			for left := b.N; left > 0; left -= 1000 {
				n := min(left, 1000)
				srv0 := pidCPU(s.cmd.Process.Pid)
				lat, wall := load(conc, n, send)
				h.add(n, lat, wall)
				h.cpu += pidCPU(s.cmd.Process.Pid) - srv0
				lat, wall = load(conc, n, func() { post(b, fc, echo, benchPayload) })
				fl.add(n, lat, wall)
				srv0 = pidCPU(s.cmd.Process.Pid)
				lat, wall = load(conc, n, dry)
				dr.add(n, lat, wall)
				dr.cpu += pidCPU(s.cmd.Process.Pid) - srv0
			}
			b.StopTimer()
			b.ReportMetric(h.tput(), "events/s")
			b.ReportMetric(fl.tput(), "floor-req/s")
			b.ReportMetric(h.tput()/fl.tput(), "x-floor-tput")
			b.ReportMetric(dr.tput(), "dryrun-req/s")
			b.ReportMetric(h.tput()/dr.tput(), "x-dryrun-tput")
			b.ReportMetric(float64(dr.cpu.Microseconds())/float64(dr.n), "dryrun-server-cpu-µs")
			b.ReportMetric(float64(h.pct(50).Microseconds()), "p50-µs")
			b.ReportMetric(float64(h.pct(99).Microseconds()), "p99-µs")
			b.ReportMetric(float64(h.cpu.Microseconds())/float64(h.n), "server-cpu-µs")
		})
		s.Stop()
	}
}

// BenchmarkBurst (issue 13, item 4): 50 concurrent invocations of the Go
// function (128 MB) that has no environment, each sleeping 300 ms so that
// none can reuse another's environment: every one is a cold start. It
// reports new environments per second: the environments the burst got
// over the time from its first request to the last handler's start (the
// function reports when its handler started). Each iteration first
// changes the function's configuration, which retires its environments.
//
//	go test -run XXX -bench Burst -benchtime 5x ./test/e2e/
func BenchmarkBurst(b *testing.B) {
	const n = 50
	for _, iso := range isolations() {
		flags := []string{"--isolation", iso}
		if profDir != "" {
			flags = append(flags, "--debug-addr", debugAddr)
		}
		s := benchServer(b, flags...)
		s.create(b, "burst", goFn())
		url := s.URL + "/2015-03-31/functions/burst/invocations"
		c := &http.Client{Transport: signing{s: s, base: &http.Transport{MaxIdleConnsPerHost: n}}}
		b.Run(iso, func(b *testing.B) {
			var rates, cpuPerEnv []float64
			var lastCPU time.Duration
			lastEnvs := 0
			i := 0
			for b.Loop() {
				b.StopTimer()
				i++
				_, err := s.Client.UpdateFunctionConfiguration(b.Context(), &lambda.UpdateFunctionConfigurationInput{
					FunctionName: aws.String("burst"),
					Environment:  &types.Environment{Variables: map[string]string{"ITER": strconv.Itoa(i)}},
				})
				if err != nil {
					b.Fatal(err)
				}
				s.settle(b, "burst")
				// The server's CPU, its reaped inits' and their
				// bootstraps' included, from one burst's start to the
				// next's: the last burst's environments made, run and
				// torn down, and the pool refilled.
				cpu := pidWithChildrenCPU(s.cmd.Process.Pid)
				if lastEnvs > 0 {
					cpuPerEnv = append(cpuPerEnv, float64((cpu-lastCPU).Microseconds())/1e3/float64(lastEnvs))
				}
				lastCPU = cpu
				b.StartTimer()
				var mu sync.Mutex
				envs := map[string]bool{}
				var last int64
				var wg sync.WaitGroup
				var stop func()
				if profDir != "" && i == 2 {
					stop = profile(b, filepath.Join(profDir, "burst-"+iso+".pprof"))
					time.AfterFunc(150*time.Millisecond, func() {
						goroutines(b, filepath.Join(profDir, "burst-"+iso+".goroutines"))
					})
				}
				start := time.Now()
				for range n {
					wg.Go(func() {
						resp, err := c.Post(url, "application/json", strings.NewReader(`{"op":"sleep","ms":300}`))
						if err != nil {
							return
						}
						defer resp.Body.Close()
						var r struct {
							EnvID   string `json:"env_id"`
							StartNs int64  `json:"start_ns"`
						}
						if resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&r) == nil {
							mu.Lock()
							envs[r.EnvID] = true
							last = max(last, r.StartNs)
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				if stop != nil {
					stop()
				}
				if len(envs) < n/2 {
					b.Fatalf("the burst got %d environments; want at least %d", len(envs), n/2)
				}
				rates = append(rates, float64(len(envs))/time.Duration(last-start.UnixNano()).Seconds())
				lastEnvs = len(envs)
			}
			if len(cpuPerEnv) > 0 {
				slices.Sort(cpuPerEnv)
				b.ReportMetric(cpuPerEnv[len(cpuPerEnv)/2], "cpu-ms/env")
			}
			slices.Sort(rates)
			b.ReportMetric(rates[len(rates)/2], "envs/s")
			b.ReportMetric(rates[0], "min-envs/s")
			b.ReportMetric(rates[len(rates)-1], "max-envs/s")
		})
		s.Stop()
	}
}
