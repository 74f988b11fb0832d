//go:build linux

package linux_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/linux"
)

// BenchmarkStart measures a cold start with the pool warm: Start (the
// sandbox comes prepared) until the bootstrap has written its first byte.
func BenchmarkStart(b *testing.B) {
	benchmarkStart(b, linux.Config{PoolSize: 2})
}

// BenchmarkStartNoPool measures a cold start that prepares the sandbox too:
// cgroup, namespaces, root, veth and listener.
func BenchmarkStartNoPool(b *testing.B) {
	benchmarkStart(b, linux.Config{PoolSize: -1})
}

// BenchmarkStartNoPoolTmpfs is BenchmarkStartNoPool with the tmpfs /tmp of
// before (TmpfsTmp): what preparing the disk-backed /tmp adds to it.
func BenchmarkStartNoPoolTmpfs(b *testing.B) {
	benchmarkStart(b, linux.Config{PoolSize: -1, TmpfsTmp: true})
}

// BenchmarkStartNewCode is BenchmarkStart with a package of 7.5 MB in 300
// files that no environment has used yet: the driver copies it into a
// filesystem of its own (mkfs.ext4 -d, a loop device, a mount) first.
func BenchmarkStartNewCode(b *testing.B) {
	benchmarkStartCode(b, linux.Config{PoolSize: 2}, true)
}

func benchmarkStart(b *testing.B, cfg linux.Config) { benchmarkStartCode(b, cfg, false) }

func benchmarkStartCode(b *testing.B, cfg linux.Config, newCode bool) {
	d := newDriver(b, cfg)
	code := b.TempDir()
	if newCode {
		data := make([]byte, 25<<10)
		for i := range 300 {
			for j := range data {
				data[j] = byte(i*7 + j*13)
			}
			if err := os.WriteFile(filepath.Join(code, "f"+strconv.Itoa(i)), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	var prepare, start, output []time.Duration
	b.StopTimer()
	for range b.N {
		for cfg.PoolSize > 0 && d.Prepared() < cfg.PoolSize {
			time.Sleep(time.Millisecond) // measure a warm pool, not its refill
		}
		// Let the kernel finish dismantling the previous environment's
		// namespaces, which it does in the background.
		time.Sleep(20 * time.Millisecond)
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		codeDir := code
		if newCode {
			codeDir = filepath.Join(b.TempDir(), "code")
			if out, err := exec.Command("cp", "-a", code, codeDir).CombinedOutput(); err != nil {
				b.Fatalf("cp: %v: %s", err, out)
			}
		}
		spec := &sandbox.Spec{
			ID: "bench", Cmd: []string{"/bin/sh", "-c", "echo x; exec sleep 100"},
			CodeDir: codeDir, Output: w, MemoryMB: 1769, TmpMB: 512, // the default
		}
		b.StartTimer()
		env, err := d.Start(context.Background(), spec)
		started := time.Now()
		w.Close()
		if err != nil {
			b.Fatal(err)
		}
		var buf [1]byte
		if _, err := r.Read(buf[:]); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		output = append(output, time.Since(started))
		t := env.(interface{ Timings() linux.Timings }).Timings()
		prepare = append(prepare, t.Prepare)
		start = append(start, t.Start)
		if err := env.Destroy(context.Background()); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
	// Medians: on a small shared host the means follow its noise.
	b.ReportMetric(median(prepare), "prepare-p50-µs")
	b.ReportMetric(median(start), "exec-p50-µs")
	b.ReportMetric(median(output), "first-output-p50-µs")
}

func median(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Nanoseconds()) / 1e3
}

// BenchmarkFreezeThaw measures one Freeze and one Thaw of an environment,
// with and without the permanently frozen cgroup that keeps the cgroup v1
// freezer's static key enabled. Another frozen cgroup anywhere on the host
// (another driver) also keeps the key on and blurs the difference.
func BenchmarkFreezeThaw(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  linux.Config
	}{
		{"keep-frozen", linux.Config{PoolSize: -1}},
		{"no-key", linux.Config{PoolSize: -1, NoFreezerKey: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := newDriver(b, bc.cfg)
			w, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			env, err := d.Start(context.Background(), &sandbox.Spec{
				ID: "bench", Cmd: []string{"/bin/sleep", "1000"}, CodeDir: b.TempDir(), Output: w,
			})
			if err != nil {
				b.Fatal(err)
			}
			defer env.Destroy(context.Background())
			fz := env.(sandbox.Freezer)
			ctx := context.Background()
			var freeze, thaw time.Duration
			for b.Loop() {
				t0 := time.Now()
				if err := fz.Freeze(ctx); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := fz.Thaw(ctx); err != nil {
					b.Fatal(err)
				}
				freeze += t1.Sub(t0)
				thaw += time.Since(t1)
			}
			b.ReportMetric(float64(freeze.Nanoseconds())/float64(b.N)/1e3, "freeze-µs/op")
			b.ReportMetric(float64(thaw.Nanoseconds())/float64(b.N)/1e3, "thaw-µs/op")
		})
	}
}

// syscallProbe times system calls from Python, from the allow list's hot
// group (getpid), its start (umask) and its middle (getppid); each line is
// "<name> <ns per call>".
const syscallProbe = `import os, time
def per(f, n=200000):
    t = time.perf_counter_ns()
    for _ in range(n):
        f()
    return (time.perf_counter_ns() - t) / n
base = per(lambda: None)
for name, f in (("getpid", os.getpid), ("umask", lambda: os.umask(0o22)), ("getppid", os.getppid)):
    print(name, per(f) - base)
`

// BenchmarkSyscallCost compares system calls inside an environment (under
// its seccomp allow list, namespaces and cgroups, with a whole CPU) with
// the same program on the host, in the same run: the ratio is what the
// sandbox adds to a function's every system call.
func BenchmarkSyscallCost(b *testing.B) {
	py, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("python3 is not installed")
	}
	out, err := exec.Command(py, "-c", "import sys; print(sys.executable); print(sys.base_prefix)").Output()
	if err != nil {
		b.Fatal(err)
	}
	exe, prefix, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	d := newDriver(b, linux.Config{PoolSize: 1})
	code := b.TempDir()
	if err := os.WriteFile(filepath.Join(code, "probe.py"), []byte(syscallProbe), 0o644); err != nil {
		b.Fatal(err)
	}
	host, sandboxed := map[string][]float64{}, map[string][]float64{}
	record := func(into map[string][]float64, text string) {
		for l := range strings.Lines(text) {
			name, v, ok := strings.Cut(strings.TrimSpace(l), " ")
			if f, err := strconv.ParseFloat(v, 64); ok && err == nil {
				into[name] = append(into[name], f)
			}
		}
	}
	for range b.N {
		out, err := exec.Command(exe, filepath.Join(code, "probe.py")).Output()
		if err != nil {
			b.Fatal(err)
		}
		record(host, string(out))
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		env, err := d.Start(context.Background(), &sandbox.Spec{
			ID: "syscalls", Cmd: []string{exe, "$LAMBDA_TASK_ROOT/probe.py"}, CodeDir: code,
			HostPaths: []string{prefix}, Output: w, MemoryMB: 1769, TmpMB: 64,
		})
		w.Close()
		if err != nil {
			b.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if err := env.Destroy(context.Background()); err != nil {
			b.Fatal(err)
		}
		record(sandboxed, string(got))
	}
	for _, name := range []string{"getpid", "umask", "getppid"} {
		if len(host[name]) == 0 || len(sandboxed[name]) == 0 {
			b.Fatalf("no %s timing (host %v, sandbox %v)", name, host, sandboxed)
		}
		h, s := medianOf(host[name]), medianOf(sandboxed[name])
		b.ReportMetric(h, name+"-host-ns")
		b.ReportMetric(s, name+"-sandbox-ns")
		b.ReportMetric(s/h, name+"-ratio")
	}
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkStartTmp measures what a disk-backed /tmp (an ext4 image on a
// loop device) adds to a pooled cold start, against the tmpfs /tmp it
// replaced: at the default 512 MB, which the pooled sandbox has prepared,
// and at 1,024 MB, which Start makes on the spot. Starts alternate between
// the cases so that all see the same noise.
func BenchmarkStartTmp(b *testing.B) {
	disk := newDriver(b, linux.Config{PoolSize: 1})
	cases := []struct {
		name  string
		d     *linux.Driver
		tmpMB int
	}{
		{"disk", disk, 512},
		{"disk-1024MB", disk, 1024},
		{"tmpfs", newDriver(b, linux.Config{PoolSize: 1, TmpfsTmp: true}), 512},
	}
	code := b.TempDir()
	exec := make([][]time.Duration, len(cases))
	output := make([][]time.Duration, len(cases))
	b.StopTimer()
	for range b.N {
		for i, c := range cases {
			for c.d.Prepared() < 1 {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			r, w, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			spec := &sandbox.Spec{
				ID: "bench", Cmd: []string{"/bin/sh", "-c", "echo x; exec sleep 100"},
				CodeDir: code, Output: w, MemoryMB: 1769, TmpMB: c.tmpMB,
			}
			b.StartTimer()
			env, err := c.d.Start(context.Background(), spec)
			started := time.Now()
			w.Close()
			if err != nil {
				b.Fatal(err)
			}
			var buf [1]byte
			if _, err := r.Read(buf[:]); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			output[i] = append(output[i], time.Since(started))
			exec[i] = append(exec[i], env.(interface{ Timings() linux.Timings }).Timings().Start)
			if err := env.Destroy(context.Background()); err != nil {
				b.Fatal(err)
			}
			r.Close()
		}
	}
	for i, c := range cases {
		b.ReportMetric(median(exec[i]), c.name+"-exec-p50-µs")
		b.ReportMetric(median(output[i]), c.name+"-first-output-p50-µs")
	}
}

// BenchmarkBurstStart starts 50 environments at once, as a burst of cold
// starts of one account does, and reports environments per second: from
// the first Start to the last bootstrap's first byte. Each burst begins
// with the pool as full as the previous burst made it.
// "fixed" keeps the pool at 2, as before it adapted.
func BenchmarkBurstStart(b *testing.B) {
	b.Run("fixed", func(b *testing.B) { benchmarkBurst(b, linux.Config{PoolSize: 2}) })
	b.Run("adaptive", func(b *testing.B) { benchmarkBurst(b, linux.Config{}) })
}

func benchmarkBurst(b *testing.B, cfg linux.Config) {
	const n = 50
	d := newDriver(b, cfg)
	code := b.TempDir()
	var rates []float64
	for b.Loop() {
		b.StopTimer()
		// The pool refills (to the size the last burst grew it to), the
		// kernel dismantles the last burst's namespaces.
		for n, stable := d.Prepared(), 0; stable < 4; stable++ {
			time.Sleep(100 * time.Millisecond)
			if m := d.Prepared(); m != n {
				n, stable = m, 0
			}
		}
		b.StartTimer()
		envs := make([]sandbox.Env, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		began := time.Now()
		for i := range n {
			wg.Go(func() {
				r, w, err := os.Pipe()
				if err != nil {
					errs[i] = err
					return
				}
				defer r.Close()
				spec := &sandbox.Spec{
					ID: "burst" + strconv.Itoa(i), Cmd: []string{"/bin/sh", "-c", "echo x; exec sleep 100"},
					CodeDir: code, Output: w, MemoryMB: 128, Account: "123456789012",
				}
				envs[i], errs[i] = d.Start(context.Background(), spec)
				w.Close()
				if errs[i] == nil {
					var buf [1]byte
					_, errs[i] = r.Read(buf[:])
				}
			})
		}
		wg.Wait()
		rates = append(rates, n/time.Since(began).Seconds())
		b.StopTimer()
		for i, env := range envs {
			if errs[i] != nil {
				b.Fatal(errs[i])
			}
			if err := env.Destroy(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	slices.Sort(rates)
	b.ReportMetric(rates[len(rates)/2], "envs/s")
	b.ReportMetric(rates[0], "min-envs/s")
	b.ReportMetric(rates[len(rates)-1], "max-envs/s")
}
