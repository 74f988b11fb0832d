//go:build linux

package linux

import (
	"log/slog"
	"testing"
	"time"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/sandboxtest"
)

func startPeakEnv(t *testing.T, cmd ...string) *env {
	requireRoot(t)
	d, err := New(Config{Root: t.TempDir(), PoolSize: -1, Network: NetworkNone}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(func() { d.Close() })
	spec := &sandbox.Spec{ID: sandboxtest.NewID(), Function: "peak", Cmd: cmd, CodeDir: t.TempDir(), MemoryMB: 256}
	return sandboxtest.StartSpec(t, d, spec).Env.(*env)
}

// MaxMemory runs on every invocation: it reads the cgroup's peak without
// allocating (an open file read with pread, not a path opened each time)
// and still sees the peak grow.
func TestMaxMemoryIsCheapAndCurrent(t *testing.T) {
	// 40 MB of dirty memory a little after the start, then idle.
	e := startPeakEnv(t, "/usr/bin/python3", "-c", "import time; time.sleep(0.3); x = bytearray(40 << 20); time.sleep(100)")
	before := e.MaxMemory()
	if before <= 0 {
		t.Fatalf("MaxMemory() = %d; want > 0", before)
	}
	// The race detector makes the read buffer escape: one allocation;
	// opening the file by path made seven.
	if allocs := testing.AllocsPerRun(100, func() { e.MaxMemory() }); allocs > 1 {
		t.Errorf("MaxMemory() allocates %v times a call; want none (one under -race)", allocs)
	}
	r := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			e.MaxMemory()
		}
	})
	t.Logf("MaxMemory: %v", r)
	// The peak read first may already hold some of the interpreter's
	// start-up, freed before the allocation: expect most of the 40 MB on
	// top of it, not all.
	const grown = 32 << 20
	var after int64
	for range 100 {
		if after = e.MaxMemory(); after >= before+grown {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("MaxMemory() = %d MB after the 40 MB allocation; want at least %d MB", after>>20, (before+grown)>>20)
}
