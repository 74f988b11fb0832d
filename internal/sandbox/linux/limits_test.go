//go:build linux

package linux_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/linux"
	"hearth/internal/sandbox/sandboxtest"
)

func TestForkBombIsContained(t *testing.T) {
	const limit = 64
	d := newDriver(t, linux.Config{PidsLimit: limit})
	bomb := start(t, d, envSpec(t, `echo boom; b() { b | b & }; b; sleep 100`, nil))
	bomb.WaitFor(t, "Resource temporarily unavailable")

	// The bomb's cgroup is the one at its limit; the others are prepared
	// sandboxes with only their init.
	var cur []string
	for dir := range pidsCgroups(t) {
		n := readNumber(t, filepath.Join(dir, "pids.current"))
		if n > limit {
			t.Errorf("%s: %d tasks; want at most %d", dir, n, limit)
		}
		if n > limit/2 {
			cur = append(cur, dir)
		}
	}
	if len(cur) != 1 {
		t.Fatalf("found %d pids cgroups near the limit; want the bomb's alone", len(cur))
	}

	// The host and another environment keep working.
	if err := exec.Command("/bin/true").Run(); err != nil {
		t.Errorf("host fork during the bomb: %v", err)
	}
	other := start(t, d, envSpec(t, `echo alive`, nil))
	if exit := waitExit(t, other); exit.Code != 0 || !strings.Contains(other.Output(t), "alive") {
		t.Errorf("another environment during the bomb: %v %q", exit, other.Output(t))
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := bomb.Env.Destroy(ctx); err != nil {
		t.Fatalf("Destroy() = %v", err)
	}
	bomb.WaitEOF(t, 10*time.Second)
	for _, dir := range cur {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("cgroup %s still exists after Destroy", dir)
		}
	}
}

// pidsCgroups lists the driver cgroups that exist in the pids hierarchy.
func pidsCgroups(t *testing.T) map[string]bool {
	t.Helper()
	dirs, _ := filepath.Glob("/sys/fs/cgroup/pids/hearth/*/*/b*")
	if len(dirs) == 0 {
		dirs, _ = filepath.Glob("/sys/fs/cgroup/hearth/*/*/b*") // cgroup v2
	}
	m := map[string]bool{}
	for _, d := range dirs {
		m[d] = true
	}
	return m
}

func readNumber(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFreezeStopsEveryThread(t *testing.T) {
	d := newDriver(t, linux.Config{})
	spec := pythonSpec(t, `
import threading, time
n = 0
def count():
    global n
    while True:
        n += 1
threading.Thread(target=count, daemon=True).start()
while True:
    print("count", n, time.monotonic(), flush=True)
    time.sleep(0.02)
`)
	spec.MemoryMB = 1769 // one CPU
	e := start(t, d, spec)
	fz := e.Env.(sandbox.Freezer)
	e.WaitFor(t, "count")
	time.Sleep(200 * time.Millisecond)

	if err := fz.Freeze(t.Context()); err != nil {
		t.Fatalf("Freeze() = %v", err)
	}
	time.Sleep(50 * time.Millisecond) // let lines written before the freeze arrive
	frozen := samples(t, e)
	time.Sleep(500 * time.Millisecond)
	if got := samples(t, e); len(got) != len(frozen) {
		t.Fatalf("output grew while frozen: %d -> %d lines", len(frozen), len(got))
	}
	if err := fz.Thaw(t.Context()); err != nil {
		t.Fatalf("Thaw() = %v", err)
	}
	e.WaitFor(t, "count") // already there; wait for two more below
	deadline := time.Now().Add(10 * time.Second)
	for len(samples(t, e)) < len(frozen)+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	all := samples(t, e)
	if len(all) < len(frozen)+2 || len(frozen) < 3 {
		t.Fatalf("got %d samples before freezing and %d in all; want progress after thaw", len(frozen), len(all))
	}
	// What the counting thread added between the two samples that
	// straddle the freeze (a sample taken just before the freeze may be
	// printed just after the thaw, so look for the pair ≥ 0.5 s apart),
	// against its fastest rate between any other two consecutive samples:
	// on a loaded machine its average rate says little about how fast it
	// ran in the few milliseconds around the freeze.
	var before, after *sample
	rate := 0.0
	for i := 1; i < len(all); i++ {
		dt := all[i].t - all[i-1].t
		switch {
		case dt >= 0.5 && before == nil:
			before, after = &all[i-1], &all[i]
		case dt >= 0.015:
			rate = max(rate, (all[i].n-all[i-1].n)/dt)
		}
	}
	if before == nil {
		t.Fatalf("no two samples straddle the 550 ms freeze: %v", all)
	}
	if gained := after.n - before.n; gained > rate*0.25 {
		t.Errorf("the counter advanced by %.0f across a %.0f ms freeze; at %.0f/s that is %.0f ms of running",
			gained, 1000*(after.t-before.t), rate, 1000*gained/rate)
	}
}

type sample struct{ n, t float64 }

func samples(t *testing.T, e interface{ Output(*testing.T) string }) []sample {
	var out []sample
	for l := range strings.Lines(e.Output(t)) {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "count" {
			continue
		}
		n, err1 := strconv.ParseFloat(f[1], 64)
		ts, err2 := strconv.ParseFloat(f[2], 64)
		if err1 == nil && err2 == nil {
			out = append(out, sample{n, ts})
		}
	}
	return out
}

func TestConcurrentStarts(t *testing.T) {
	d := newDriver(t, linux.Config{})
	const n = 6
	errs := make(chan error, n)
	for range n {
		spec := envSpec(t, `exit 7`, nil)
		go func() {
			r, w, err := os.Pipe()
			if err != nil {
				errs <- err
				return
			}
			defer r.Close()
			spec.Output = w
			env, err := d.Start(t.Context(), spec)
			w.Close()
			if err != nil {
				errs <- err
				return
			}
			<-env.Done()
			if exit := env.Exit(); exit.Code != 7 {
				errs <- fmt.Errorf("Exit() = %v; want code 7", exit)
			}
			errs <- env.Destroy(t.Context())
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// A function gets CPU in proportion to its memory (1,769 MB is one vCPU),
// except during init, which runs with at least a whole CPU until EndInit.
func TestCPUFollowsMemory(t *testing.T) {
	d := newDriver(t, linux.Config{})
	spec := pythonSpec(t, `
import time
def burn(secs):
    w0, c0 = time.monotonic(), time.process_time()
    while time.monotonic() - w0 < secs:
        pass
    return (time.process_time() - c0) / (time.monotonic() - w0)
print("init %.3f" % burn(0.5), flush=True)
time.sleep(0.5)  # meanwhile the test ends init
print("after %.3f" % burn(1.0), flush=True)
`)
	spec.MemoryMB = 128
	e := start(t, d, spec)
	e.WaitFor(t, "init ")
	if err := e.Env.(sandbox.InitBooster).EndInit(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitExit(t, e)
	share := func(prefix string) float64 {
		l := lines(t, e, prefix)
		if len(l) != 1 {
			t.Fatalf("output lacks %q:\n%s", prefix, e.Output(t))
		}
		v, err := strconv.ParseFloat(l[0], 64)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("CPU share %s%.3f", prefix, v)
		return v
	}
	// 128/1769 = 0.072 of a CPU is a hard cap; a busy host can only lower
	// what the boosted init gets, so its bound is loose.
	if got := share("after "); got > 0.1 {
		t.Errorf("CPU share at 128 MB after init = %.3f; want at most 128/1769 = 0.072", got)
	}
	if got := share("init "); got < 0.3 {
		t.Errorf("CPU share at 128 MB during init = %.3f; want a whole CPU (at least 0.3 on a busy host)", got)
	}
}

// A prepared sandbox whose init dies in the pool (killed by an operator or
// the OOM killer) is discarded, and reaped, rather than handed to Start.
func TestDeadPooledSandboxIsReplaced(t *testing.T) {
	d := newDriver(t, linux.Config{PoolSize: 2})
	deadline := time.Now().Add(30 * time.Second)
	for d.Prepared() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the pool did not fill in 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	inits := childInits(t)
	if len(inits) != 2 {
		t.Fatalf("sandbox inits of this process = %v; want the 2 prepared", inits)
	}
	for pid, state := range inits {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill init %d (%s): %v", pid, state, err)
		}
	}
	// Dead means reapable, as the driver sees it: the leader shows "Z"
	// while the init's other threads still exit, the last of them
	// tearing down its mount namespace (its /tmp filesystem too).
	for pid := range inits {
		for !exited(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("init %d did not die", pid)
			}
			time.Sleep(time.Millisecond)
		}
	}
	e := start(t, d, envSpec(t, `echo alive`, nil))
	e.WaitFor(t, "alive\n")
	for pid := range inits {
		if state, ok := childInits(t)[pid]; ok {
			t.Errorf("the killed init %d is still a child of the server, state %s", pid, state)
		}
	}
}

// exited reports whether the child pid has exited and can be reaped,
// without reaping it.
func exited(pid int) bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err == nil && info.Signo != 0
}

// childInits maps the pids of this process's sandbox inits to their state.
func childInits(t *testing.T) map[int]string {
	t.Helper()
	out := map[int]string{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(os.Getpid()) || !strings.Contains(s[:i], "(hearth-init") {
			continue
		}
		pid, _ := strconv.Atoi(strings.Fields(s)[0])
		out[pid] = f[0]
	}
	return out
}

// A Start that takes a pooled sandbox whose init is being killed at that
// moment (its exit not yet complete, so the pool still thinks it alive)
// starts the function in another sandbox instead of failing.
func TestStartSurvivesPooledInitDyingUnderIt(t *testing.T) {
	d := newDriver(t, linux.Config{PoolSize: 2})
	for round := range 5 {
		deadline := time.Now().Add(30 * time.Second)
		for d.Prepared() < 2 {
			if time.Now().After(deadline) {
				t.Fatal("the pool did not fill in 30s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		for pid := range childInits(t) {
			syscall.Kill(pid, syscall.SIGKILL) // no wait: Start races the exit
		}
		e := start(t, d, envSpec(t, `echo alive`, nil))
		e.WaitFor(t, "alive\n")
		t.Logf("round %d: started", round)
	}
}

// TestOutputIsBlocking: a bootstrap's stdout and stderr are blocking, as on
// Lambda, even when the driver's end of the output is non-blocking (as Go
// makes its pipes, the worker's included) and the mode is the open file's,
// shared with the bootstrap. A non-blocking stdout made Python's print
// fail with BlockingIOError, and lose output, once a slow reader let the
// pipe fill.
func TestOutputIsBlocking(t *testing.T) {
	d := newDriver(t, linux.Config{})
	e := sandboxtest.Start(t, d, `for fd in 1 2; do echo "fd$fd $(grep '^flags' /proc/$$/fdinfo/$fd)"; done; sleep 100`)
	e.WaitFor(t, "fd2 ")
	for _, fd := range []string{"fd1", "fd2"} {
		var flags string
		for l := range strings.Lines(e.Output(t)) {
			if rest, ok := strings.CutPrefix(l, fd+" flags:"); ok {
				flags = strings.TrimSpace(rest)
			}
		}
		v, err := strconv.ParseUint(flags, 8, 64)
		if err != nil {
			t.Fatalf("%s flags %q: %v\n%s", fd, flags, err, e.Output(t))
		}
		if v&unix.O_NONBLOCK != 0 {
			t.Errorf("the bootstrap's %s is non-blocking (flags %s)", fd, flags)
		}
	}
}
