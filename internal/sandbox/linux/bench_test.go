//go:build linux

package linux_test

import (
	"context"
	"os"
	"slices"
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

func benchmarkStart(b *testing.B, cfg linux.Config) {
	d := newDriver(b, cfg)
	code := b.TempDir()
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
		spec := &sandbox.Spec{
			ID: "bench", Cmd: []string{"/bin/sh", "-c", "echo x; exec sleep 100"},
			CodeDir: code, Output: w, MemoryMB: 1769, TmpMB: 512, // the default
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
