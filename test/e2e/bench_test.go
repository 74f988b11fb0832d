package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// The benchmarks measure Hearth against floors taken in the same run on the
// same machine, because the machines are shared and noisy:
//
//   - BenchmarkFloor/1hop: a bare loopback HTTP round trip to an echo handler;
//   - BenchmarkFloor/2hops: the same through one forwarding server, the
//     shape of a warm invoke (client → hearth → runtime);
//   - BenchmarkFloor/*-xproc: the same with the echo and forwarding servers
//     in processes of their own, as hearth and the runtime are. Waking
//     another process costs more than waking a goroutine, so these are the
//     honest floors for a warm invoke.
//
// Invocations go over plain net/http to the Invoke API, so the SDK's own
// cost is not counted; BenchmarkWarmInvokeSDK shows it separately.

var benchPayload = []byte(`{"op":"echo"}`)

func echoServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
}

func post(b *testing.B, c *http.Client, url string, body []byte) []byte {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("POST %s: %d %s", url, resp.StatusCode, out)
	}
	return out
}

func BenchmarkFloor(b *testing.B) {
	echo := echoServer()
	defer echo.Close()
	hop := &http.Client{}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		resp, err := hop.Post(echo.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	c := &http.Client{}
	b.Run("1hop", func(b *testing.B) {
		latency(b, func() { post(b, c, echo.URL, benchPayload) })
	})
	b.Run("2hops", func(b *testing.B) {
		latency(b, func() { post(b, c, proxy.URL, benchPayload) })
	})
	b.Run("2hops-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				post(b, c, proxy.URL, benchPayload)
			}
		})
	})
	xecho := startHop(b, "echo")
	xproxy := startHop(b, "proxy", xecho)
	b.Run("1hop-xproc", func(b *testing.B) {
		latency(b, func() { post(b, c, xecho, benchPayload) })
	})
	b.Run("2hops-xproc", func(b *testing.B) {
		latency(b, func() { post(b, c, xproxy, benchPayload) })
	})
	b.Run("2hops-xproc-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				post(b, c, xproxy, benchPayload)
			}
		})
	})
}

// startHop runs testdata/hop in its own process and returns its URL.
func startHop(b *testing.B, args ...string) string {
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
	return strings.TrimSpace(line)
}

// latency runs f b.N times and reports the median and 99th percentile.
func latency(b *testing.B, f func()) {
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		f()
		d = append(d, time.Since(t))
	}
	b.StopTimer()
	slices.Sort(d)
	if len(d) > 0 {
		b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
	}
}

// oneVCPU is the memory size that buys one vCPU on Lambda.
const oneVCPU = 1769

var benchRuntimes = []runtimeCase{runtimeCases[0], runtimeCases[1], runtimeCases[2]}

// benchServer starts a non-debug server for the benchmark's lifetime, with
// the process driver unless flags say otherwise, so that benchmarks that
// are not about isolation compare across machines and users.
func benchServer(b *testing.B, flags ...string) *server {
	return startServer(b, "", append([]string{"--log-level", "info", "--isolation", "process"}, flags...)...)
}

// isolations are the drivers to measure: process always, linux when the
// host allows it (root).
func isolations() []string {
	if os.Geteuid() == 0 {
		return []string{"process", "linux"}
	}
	return []string{"process"}
}

func BenchmarkWarmInvoke(b *testing.B) {
	for _, iso := range isolations() {
		s := benchServer(b, "--isolation", iso)
		c := s.httpClient()
		for _, br := range benchRuntimes {
			f := br.fn(b)
			if !hostRuntimes(b)[f.runtime].Available {
				continue
			}
			// A whole vCPU, so that the linux driver's CPU quota leaves
			// Hearth's own cost to be measured; at 128 MB a function gets
			// 7% of a CPU, which the -128MB variant shows.
			f.memory = oneVCPU
			name := "warm-" + br.name
			s.create(b, name, f)
			url := s.URL + "/2015-03-31/functions/" + name + "/invocations"
			post(b, c, url, benchPayload) // the cold start stays outside the timing
			b.Run(iso+"/"+br.name, func(b *testing.B) {
				latency(b, func() { post(b, c, url, benchPayload) })
			})
			b.Run(iso+"/"+br.name+"-parallel", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						post(b, c, url, benchPayload)
					}
				})
			})
			if iso != "linux" {
				continue
			}
			f.memory = 128
			s.create(b, name+"-128", f)
			url = s.URL + "/2015-03-31/functions/" + name + "-128/invocations"
			post(b, c, url, benchPayload)
			b.Run(iso+"/"+br.name+"-128MB", func(b *testing.B) {
				latency(b, func() { post(b, c, url, benchPayload) })
			})
		}
		s.Stop()
	}
}

func BenchmarkWarmInvokeSDK(b *testing.B) {
	s := benchServer(b)
	s.create(b, "warm-sdk", goFn())
	in := &lambda.InvokeInput{FunctionName: aws.String("warm-sdk"), Payload: benchPayload}
	if _, err := s.Client.Invoke(b.Context(), in); err != nil {
		b.Fatal(err)
	}
	b.Run("go", func(b *testing.B) {
		latency(b, func() {
			if _, err := s.Client.Invoke(b.Context(), in); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// settle waits, outside the timing, until the retired environment is gone
// and the linux driver has had time to refill its pool of prepared
// sandboxes (~25-50 ms each here), so that a cold start is measured as it
// happens on a server that is not tearing down and preparing meanwhile.
func (s *server) settle(t testing.TB, function string) {
	deadline := time.Now().Add(10 * time.Second)
	for slices.ContainsFunc(s.environments(t), func(e map[string]any) bool { return e["function"] == function }) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still has environments 10s after a configuration change: %v", function, s.environments(t))
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond)
}

var initRE = regexp.MustCompile(`Init Duration: ([0-9.]+) ms`)

// BenchmarkColdStart times invocations that each start a new environment:
// every iteration changes the function's configuration (outside the
// timing), which retires its warm environment.
func BenchmarkColdStart(b *testing.B) {
	for _, iso := range isolations() {
		s := benchServer(b, "--isolation", iso)
		for _, br := range benchRuntimes {
			f := br.fn(b)
			if !hostRuntimes(b)[f.runtime].Available {
				continue
			}
			name := "cold-" + br.name
			s.create(b, name, f)
			b.Run(iso+"/"+br.name, func(b *testing.B) {
				var inits, rest []float64
				var d []time.Duration
				i := 0
				for b.Loop() {
					b.StopTimer()
					i++
					_, err := s.Client.UpdateFunctionConfiguration(b.Context(), &lambda.UpdateFunctionConfigurationInput{
						FunctionName: aws.String(name),
						Environment:  &types.Environment{Variables: map[string]string{"ITER": strconv.Itoa(i)}},
					})
					if err != nil {
						b.Fatal(err)
					}
					s.settle(b, name)
					b.StartTimer()
					start := time.Now()
					r, err := s.tryInvoke(b.Context(), s.NoRetry, name, benchPayload)
					took := time.Since(start)
					d = append(d, took)
					if err != nil || r.FunctionError != "" {
						b.Fatalf("cold invoke: %v %+v", err, r)
					}
					m := initRE.FindStringSubmatch(r.Log)
					if m == nil {
						b.Fatalf("iteration %d was not a cold start:\n%s", i, r.Log)
					}
					v, _ := strconv.ParseFloat(m[1], 64)
					inits = append(inits, v)
					rest = append(rest, float64(took.Microseconds())/1000-v)
				}
				slices.Sort(d)
				slices.Sort(inits)
				slices.Sort(rest)
				b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(inits[len(inits)/2], "init-p50-ms")
				b.ReportMetric(rest[len(rest)/2], "rest-p50-ms")
			})
		}
		s.Stop()
	}
}

// BenchmarkColdStartZygote compares the cold start of the Python and Node
// hello functions on a server with --zygote off and one with --zygote on
// with a bare start of the same interpreter (`python -c pass`,
// `node -e 0`, from a Go exec.Cmd with a minimal environment), the three
// interleaved iteration by iteration in the same run: ratio-off and
// ratio-on are cold invoke p50 ÷ bare start p50.
func BenchmarkColdStartZygote(b *testing.B) {
	for _, iso := range isolations() {
		// Without stems, which BenchmarkColdStartPrestart measures.
		off := benchServer(b, "--isolation", iso, "--zygote", "off", "--prestart", "off")
		on := benchServer(b, "--isolation", iso, "--zygote", "on", "--prestart", "off")
		benchColdOffOn(b, iso, "zcold-", off, on, 0)
		off.Stop()
		on.Stop()
	}
}

// BenchmarkColdStartPrestart is BenchmarkColdStartZygote for pre-started
// runtimes (stems), under each driver: the cold start of the Python and
// Node hello functions on a server with --prestart off and one with
// --prestart on (both --zygote off), against a bare start of the same
// interpreter. Each cold invoke waits (settle) until the retired
// environment is gone, and each on the server with stems is followed by
// a pause in which the driver starts the next stem, as a server between
// cold starts has the time to.
func BenchmarkColdStartPrestart(b *testing.B) {
	for _, iso := range isolations() {
		off := benchServer(b, "--isolation", iso, "--zygote", "off", "--prestart", "off")
		on := benchServer(b, "--isolation", iso, "--zygote", "off", "--prestart", "on")
		benchColdOffOn(b, iso, "pcold-", off, on, 500*time.Millisecond)
		off.Stop()
		on.Stop()
	}
}

// benchColdOffOn runs, for the Python and Node hello functions (named
// prefix+runtime), cold invocations on off and on interleaved with a bare
// start of the interpreter, each after a configuration change retired the
// previous environment, and reports their p50s and ratio-off and ratio-on
// (cold invoke p50 ÷ bare start p50). The first cold starts on on are not
// measured (they start its zygote or stems); pause follows each measured
// one, so that what on starts next competes with no measurement.
func benchColdOffOn(b *testing.B, iso, prefix string, off, on *server, pause time.Duration) {
	for _, br := range benchRuntimes[1:] {
		f := br.fn(b)
		st := hostRuntimes(b)[f.runtime]
		if !st.Available {
			continue
		}
		bare := []string{st.Interpreter, "-c", "pass"}
		if br.name == "node" {
			bare = []string{st.Interpreter, "-e", "0"}
		}
		name := prefix + br.name
		off.create(b, name, f)
		on.create(b, name, f)
		i := 0
		cold := func(s *server) time.Duration {
			i++
			_, err := s.Client.UpdateFunctionConfiguration(b.Context(), &lambda.UpdateFunctionConfigurationInput{
				FunctionName: aws.String(name),
				Environment:  &types.Environment{Variables: map[string]string{"ITER": strconv.Itoa(i)}},
			})
			if err != nil {
				b.Fatal(err)
			}
			s.settle(b, name)
			start := time.Now()
			r, err := s.tryInvoke(b.Context(), s.NoRetry, name, benchPayload)
			took := time.Since(start)
			if err != nil || r.FunctionError != "" {
				b.Fatalf("cold invoke: %v %+v", err, r)
			}
			if !initRE.MatchString(r.Log) {
				b.Fatalf("iteration %d was not a cold start:\n%s", i, r.Log)
			}
			return took
		}
		for range 3 {
			cold(on)
		}
		b.Run(iso+"/"+br.name, func(b *testing.B) {
			var doff, don, dbare []time.Duration
			for b.Loop() {
				doff = append(doff, cold(off))
				don = append(don, cold(on))
				time.Sleep(pause)
				start := time.Now()
				cmd := exec.Command(bare[0], bare[1:]...)
				cmd.Env = []string{"PATH=/usr/bin:/bin"}
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %v %s", bare, err, out)
				}
				dbare = append(dbare, time.Since(start))
			}
			p50 := func(d []time.Duration) float64 {
				slices.Sort(d)
				return float64(d[len(d)/2].Microseconds()) / 1000
			}
			pOff, pOn, pBare := p50(doff), p50(don), p50(dbare)
			b.ReportMetric(pOff, "off-p50-ms")
			b.ReportMetric(pOn, "on-p50-ms")
			b.ReportMetric(pBare, "bare-p50-ms")
			b.ReportMetric(pOff/pBare, "ratio-off")
			b.ReportMetric(pOn/pBare, "ratio-on")
		})
	}
}

// BenchmarkAsyncEnqueue measures accepting Event invocations (each answered
// 202 only once stored), sequentially and from 8 goroutines, with the
// default sync policy and with --sync always (fsync per event).
func BenchmarkAsyncEnqueue(b *testing.B) {
	for _, policy := range []string{"interval", "always"} {
		// One poller at a time, so that running the events competes as
		// little as possible with accepting them.
		s := benchServer(b, "--sync", policy, "--async-concurrency", "1")
		s.create(b, "enq", goFn())
		url := s.URL + "/2015-03-31/functions/enq/invocations"
		c := s.httpClient()
		send := func(b *testing.B) {
			req, _ := http.NewRequest("POST", url, bytes.NewReader(benchPayload))
			req.Header.Set("X-Amz-Invocation-Type", "Event")
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 202 {
				b.Fatalf("Event invoke: %d", resp.StatusCode)
			}
		}
		b.Run("sync-"+policy, func(b *testing.B) { latency(b, func() { send(b) }) })
		b.Run("sync-"+policy+"-parallel", func(b *testing.B) {
			b.SetParallelism(4) // 8 goroutines on 2 CPUs
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					send(b)
				}
			})
		})
		s.Stop()
	}
}

// BenchmarkAsyncLatency measures enqueue → handler start: each event
// carries its send time, the Go function reports when its handler started,
// and the success record comes back through a Hearth queue.
func BenchmarkAsyncLatency(b *testing.B) {
	s := benchServer(b)
	s.create(b, "lat", goFn())
	s.putEventConfig(b, "lat", 0, queueARN("lat"), "")
	s.invoke(b, "lat", map[string]any{"op": "echo"}) // warm
	url := s.URL + "/2015-03-31/functions/lat/invocations"
	c := s.httpClient()
	var d []time.Duration
	for b.Loop() {
		payload := fmt.Sprintf(`{"op":"echo","sent_ns":%d}`, time.Now().UnixNano())
		req, _ := http.NewRequest("POST", url, strings.NewReader(payload))
		req.Header.Set("X-Amz-Invocation-Type", "Event")
		resp, err := c.Do(req)
		if err != nil || resp.StatusCode != 202 {
			b.Fatalf("Event invoke: %v %v", err, resp)
		}
		resp.Body.Close()
		recs := records(b, s.receive(b, "lat", 1, 30*time.Second))
		if len(recs) != 1 {
			b.Fatal("no record")
		}
		var r struct {
			StartNs int64 `json:"start_ns"`
			SentNs  int64 `json:"sent_ns"`
		}
		if err := json.Unmarshal(recs[0].ResponsePayload, &r); err != nil || r.StartNs == 0 || r.SentNs == 0 {
			b.Fatalf("record payload %s: %v; want start_ns and sent_ns", recs[0].ResponsePayload, err)
		}
		d = append(d, time.Duration(r.StartNs-r.SentNs))
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "enqueue-to-start-p50-ms")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, "enqueue-to-start-p99-ms")
}

// BenchmarkWarmInvokeAlias compares warm invocations through an alias
// (resolved to its version on every call) and of a version by number with
// invocations of $LATEST, the same Go function, and, as a control, of
// another function's $LATEST. The four are interleaved call by call, in a
// random order each round, so that the machine's noise falls on all alike.
// ratio-alias is alias ÷ $LATEST at the median; ratio-control shows how far
// two equal paths differ in the same run; alias÷version is what resolving
// the alias adds, the version and the alias running in the same
// environment.
func BenchmarkWarmInvokeAlias(b *testing.B) {
	s := benchServer(b)
	s.create(b, "warm-alias", goFn())
	s.create(b, "warm-control", goFn())
	v, err := s.Client.PublishVersion(b.Context(), &lambda.PublishVersionInput{FunctionName: aws.String("warm-alias")})
	if err != nil {
		b.Fatal(err)
	}
	s.waitVersion(b, "warm-alias", aws.ToString(v.Version))
	if _, err := s.Client.CreateAlias(b.Context(), &lambda.CreateAliasInput{FunctionName: aws.String("warm-alias"), Name: aws.String("live"), FunctionVersion: v.Version}); err != nil {
		b.Fatal(err)
	}
	c := s.httpClient()
	base := s.URL + "/2015-03-31/functions/"
	urls := []string{base + "warm-alias/invocations", base + "warm-alias:live/invocations",
		base + "warm-alias:" + aws.ToString(v.Version) + "/invocations", base + "warm-control/invocations"}
	for _, u := range urls {
		post(b, c, u, benchPayload) // cold starts outside the timing
	}
	d := make([][]time.Duration, len(urls))
	for b.Loop() {
		// A fresh order each round: which call follows which matters (an
		// environment idle for over a millisecond is frozen, and thawed by
		// its next call), so no target may always follow the same one.
		for _, j := range rand.Perm(len(urls)) {
			t := time.Now()
			post(b, c, urls[j], benchPayload)
			d[j] = append(d[j], time.Since(t))
		}
	}
	p50 := make([]time.Duration, len(urls))
	for j := range d {
		slices.Sort(d[j])
		p50[j] = d[j][len(d[j])/2]
	}
	b.ReportMetric(float64(p50[0].Microseconds()), "latest-p50-µs")
	b.ReportMetric(float64(p50[1].Microseconds()), "alias-p50-µs")
	b.ReportMetric(float64(p50[1])/float64(p50[0]), "ratio-alias")
	b.ReportMetric(float64(p50[2])/float64(p50[0]), "ratio-version")
	b.ReportMetric(float64(p50[3])/float64(p50[0]), "ratio-control")
	b.ReportMetric(float64(p50[1])/float64(p50[2]), "alias÷version")
}

// BenchmarkAuthOverhead measures what SigV4 verification adds to a warm
// invoke: the same Go function on a server with --auth none and on one
// with --auth sigv4 (the default), invoked alternately in the same loop so
// that both see the same machine. The sigv4 client signs each request
// (as every SDK does); ratio-p50 is sigv4's p50 over none's.
func BenchmarkAuthOverhead(b *testing.B) {
	none := benchServer(b, "--auth", "none")
	signed := benchServer(b)
	f := goFn()
	f.memory = oneVCPU
	none.create(b, "warm", f)
	signed.create(b, "warm", f)
	plain, signing := &http.Client{}, signed.httpClient()
	urlNone, urlSigned := none.URL+"/2015-03-31/functions/warm/invocations", signed.URL+"/2015-03-31/functions/warm/invocations"
	post(b, plain, urlNone, benchPayload)
	post(b, signing, urlSigned, benchPayload)
	var dn, ds []time.Duration
	one := func(c *http.Client, url string, d *[]time.Duration) {
		t := time.Now()
		post(b, c, url, benchPayload)
		*d = append(*d, time.Since(t))
	}
	i := 0
	for b.Loop() {
		// Each goes first every other time.
		if i++; i%2 == 0 {
			one(plain, urlNone, &dn)
			one(signing, urlSigned, &ds)
		} else {
			one(signing, urlSigned, &ds)
			one(plain, urlNone, &dn)
		}
	}
	slices.Sort(dn)
	slices.Sort(ds)
	p50n, p50s := dn[len(dn)/2], ds[len(ds)/2]
	b.ReportMetric(float64(p50n.Microseconds()), "none-p50-µs")
	b.ReportMetric(float64(p50s.Microseconds()), "sigv4-p50-µs")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), "sigv4-p99-µs")
	b.ReportMetric(float64(p50s)/float64(p50n), "ratio-p50")
}
