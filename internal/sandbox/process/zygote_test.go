package process_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/process"
	"hearth/internal/sandbox/sandboxtest"
)

// probe is a Python handler module whose import reports, as one JSON line,
// everything of its process that an environment defines, then acts as
// $PROBE_ACT says.
const probe = `import json, os, resource, signal, sys, time
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return line.split()[1]
tmp = os.path.join(os.environ["TMPDIR"], "probe")
open(tmp, "w").write("x")
opt = [l.split()[4] + " " + l.split(" - ")[1].split()[0] for l in open("/proc/self/mountinfo") if l.split()[4] == "/opt"]
report = {
    "env": dict(os.environ),
    "cwd": os.getcwd(),
    "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), sorted(os.getgroups())],
    "session": os.getsid(0) == os.getpid() and os.getpgid(0) == os.getpid(),
    "argv": sys.argv,
    "path": sys.path,
    "flags": repr(sys.flags),
    "executable": sys.executable,
    "stdout": [sys.stdout.encoding, sys.stdout.line_buffering, sys.stderr.encoding, sys.getfilesystemencoding()],
    "tz": [time.tzname, time.timezone],
    "fds": sorted(os.listdir("/proc/self/fd")),
    "sigmask": [status("SigBlk"), status("SigIgn"), status("SigCgt")],
    "handlers": [str(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE)],
    "umask": os.umask(0o022),
    "rlimits": [resource.getrlimit(r) for r in (resource.RLIMIT_NOFILE, resource.RLIMIT_STACK, resource.RLIMIT_CORE)],
    "nice": os.nice(0),
    "opt": opt,
    "tmp": open(tmp).read(),
    "mark": getattr(sys, "hearth_probe_mark", None),
}
# Started as a stem: its initial environment (which /proc shows) was the start one.
started_as_stem = b"_HEARTH_STEM_FD=" in open("/proc/self/environ", "rb").read()
import random
drawn = [random.random(), os.urandom(8).hex()]
sys.hearth_probe_mark = os.environ["USER_VAR"]
print("PROBE " + json.dumps(report, sort_keys=True))
print("RANDOM %s" % json.dumps(drawn))
print("STEM %s" % started_as_stem)
print("PPID %d" % os.getppid(), flush=True)
act = os.environ.get("PROBE_ACT", "")
if act.startswith("exit"):
    os._exit(int(act[4:]))
if act == "segv":
    os.kill(os.getpid(), signal.SIGSEGV)
if act == "child":
    import subprocess
    subprocess.Popen(["sleep", "300"])

def handler(event, context):
    return event
`

// zygoteSetup is a Python runtime laid out as the worker lays it out:
// Hearth's client in a runtime directory and the probe in a code
// directory.
type zygoteSetup struct {
	python, rtDir, codeDir string
}

func newZygoteSetup(t *testing.T) zygoteSetup {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	// The real interpreter, not a version manager's shim.
	out, err := exec.Command(py, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatal(err)
	}
	py = strings.TrimSpace(string(out))
	client, err := os.ReadFile("../../runtimes/python/bootstrap.py")
	if err != nil {
		t.Fatal(err)
	}
	s := zygoteSetup{python: py, rtDir: t.TempDir(), codeDir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(s.rtDir, "bootstrap.py"), client, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.codeDir, "probe.py"), []byte(probe), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// spec is the spec the worker would make for the probe, with the
// function's own variables vars.
func (s zygoteSetup) spec(zygote bool, vars ...string) *sandbox.Spec {
	sp := &sandbox.Spec{
		ID:       sandboxtest.NewID(),
		Function: "probe",
		Cmd:      []string{s.python, "$LAMBDA_RUNTIME_DIR/bootstrap.py"},
		Env: append([]string{
			"TZ=:UTC", "LANG=en_US.UTF-8", "PATH=/usr/local/bin:/usr/bin/:/bin:" + sandbox.OptRef + "/bin",
			"LD_LIBRARY_PATH=/lib64:/usr/lib64:$LAMBDA_RUNTIME_DIR:$LAMBDA_RUNTIME_DIR/lib:$LAMBDA_TASK_ROOT:$LAMBDA_TASK_ROOT/lib:" + sandbox.OptRef + "/lib",
			"PWD=$LAMBDA_TASK_ROOT",
			"PYTHONPATH=$LAMBDA_RUNTIME_DIR", "PYTHONUNBUFFERED=1",
			"_HANDLER=probe.handler",
		}, vars...),
		CodeDir:    s.codeDir,
		RuntimeDir: s.rtDir,
		MemoryMB:   128,
		TmpMB:      64,
	}
	if zygote {
		sp.Zygote = "python"
	}
	return sp
}

// probed is what one probe reported.
type probed struct {
	report map[string]any
	ppid   int
	stem   bool // started from a stem
	env    *sandboxtest.Started
}

func runProbe(t *testing.T, d sandbox.Driver, spec *sandbox.Spec) probed {
	t.Helper()
	st := sandboxtest.StartSpec(t, d, spec)
	st.WaitFor(t, "PPID ")
	var p probed
	p.env = st
	for line := range strings.Lines(st.Output(t)) {
		if rest, ok := strings.CutPrefix(line, "PROBE "); ok {
			if err := json.Unmarshal([]byte(rest), &p.report); err != nil {
				t.Fatalf("probe output %q: %v", rest, err)
			}
		}
		if rest, ok := strings.CutPrefix(line, "STEM "); ok {
			p.stem = strings.TrimSpace(rest) == "True"
		}
		if rest, ok := strings.CutPrefix(line, "PPID "); ok {
			p.ppid, _ = strconv.Atoi(strings.TrimSpace(rest))
		}
	}
	if p.report == nil {
		t.Fatalf("no probe report in %q", st.Output(t))
	}
	return p
}

// forked starts spec until a zygote forks it (the first ones start the
// ordinary way while the zygote starts), and returns that probe.
func forked(t *testing.T, d sandbox.Driver, spec func() *sandbox.Spec) probed {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := runProbe(t, d, spec())
		if p.ppid != os.Getpid() {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatal("no environment forked by a zygote after 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newZygoteDriver(t *testing.T) *process.Driver {
	d, err := process.New(process.Config{Root: t.TempDir(), Zygote: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestZygoteEnvironmentIsOrdinary: a bootstrap a zygote forked sees the
// same process as one the driver executed: variables, cwd, ids, session,
// sys.path and argv, interpreter flags, stdio, time zone, open files,
// signal state, umask, limits, /opt and TMPDIR. What differs is its
// parent (the zygote), its hash seed, and modules already imported.
func TestZygoteEnvironmentIsOrdinary(t *testing.T) {
	s := newZygoteSetup(t)
	d := newZygoteDriver(t)
	plain := runProbe(t, d, s.spec(false, "USER_VAR=plain"))
	if plain.ppid != os.Getpid() {
		t.Fatalf("an environment without Zygote has parent %d; want the driver's process %d", plain.ppid, os.Getpid())
	}
	z := forked(t, d, func() *sandbox.Spec { return s.spec(true, "USER_VAR=plain") })
	// The scratch directory and listener are the environment's own.
	for _, r := range []map[string]any{plain.report, z.report} {
		env := r["env"].(map[string]any)
		for _, k := range []string{"TMPDIR", "AWS_LAMBDA_RUNTIME_API"} {
			if env[k] == nil {
				t.Errorf("no %s in the environment", k)
			}
			delete(env, k)
		}
	}
	if diff := cmp.Diff(plain.report, z.report); diff != "" {
		t.Errorf("zygote-forked environment differs from an ordinary one (-ordinary +forked):\n%s", diff)
	}
}

// TestZygoteChildrenShareNothing: two functions forked from one zygote
// see neither each other's variables nor memory, and the zygote holds
// none of their variables.
func TestZygoteChildrenShareNothing(t *testing.T) {
	s := newZygoteSetup(t)
	d := newZygoteDriver(t)
	a := forked(t, d, func() *sandbox.Spec { return s.spec(true, "USER_VAR=secret-a", "A_ONLY=1") })
	b := forked(t, d, func() *sandbox.Spec { return s.spec(true, "USER_VAR=secret-b") })
	if a.ppid != b.ppid {
		t.Fatalf("forked by zygotes %d and %d; want one zygote", a.ppid, b.ppid)
	}
	envB := b.report["env"].(map[string]any)
	if got := envB["USER_VAR"]; got != "secret-b" {
		t.Errorf("b's USER_VAR = %v; want secret-b", got)
	}
	if _, ok := envB["A_ONLY"]; ok {
		t.Errorf("b sees a's variable A_ONLY")
	}
	ra, rb := randomOf(t, a), randomOf(t, b)
	for i := range ra {
		if ra[i] == rb[i] {
			t.Errorf("a and b drew the same random numbers (random.random, os.urandom) %v and %v", ra, rb)
		}
	}
	if got := b.report["mark"]; got != nil {
		t.Errorf("b sees a mark %v a set in its own memory; want none", got)
	}
	for _, f := range []string{"environ", "cmdline"} {
		raw, err := os.ReadFile("/proc/" + strconv.Itoa(a.ppid) + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "secret-") || strings.Contains(string(raw), "A_ONLY") {
			t.Errorf("the zygote's %s holds a function's variables: %q", f, raw)
		}
	}
}

// TestZygoteExits: how a forked bootstrap ends is reported as an
// executed one's is.
func TestZygoteExits(t *testing.T) {
	s := newZygoteSetup(t)
	d := newZygoteDriver(t)
	forked(t, d, func() *sandbox.Spec { return s.spec(true, "USER_VAR=warm") })
	for _, tc := range []struct {
		act  string
		want sandbox.Exit
	}{
		{"exit3", sandbox.Exit{Code: 3}},
		{"exit0", sandbox.Exit{Code: 0}},
		{"segv", sandbox.Exit{Code: -1, Signal: syscall.SIGSEGV}},
	} {
		for _, zygote := range []bool{false, true} {
			p := runProbe(t, d, s.spec(zygote, "USER_VAR=x", "PROBE_ACT="+tc.act))
			if got := p.ppid != os.Getpid(); got != zygote {
				t.Errorf("%s: forked = %v; want %v", tc.act, got, zygote)
			}
			if got := sandboxtest.WaitExit(t, p.env.Env, 10*time.Second); got != tc.want {
				t.Errorf("%s (zygote %v): Exit() = %+v; want %+v", tc.act, zygote, got, tc.want)
			}
		}
	}
	// Destroyed while running: killed, and nothing it started survives
	// (StartSpec's cleanup waits for the output to close).
	p := runProbe(t, d, s.spec(true, "USER_VAR=x", "PROBE_ACT=child"))
	if p.ppid == os.Getpid() {
		t.Fatal("not forked")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := p.env.Env.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := p.env.Env.Exit(), (sandbox.Exit{Code: -1, Signal: syscall.SIGKILL}); got != want {
		t.Errorf("destroyed: Exit() = %+v; want %+v", got, want)
	}
	p.env.WaitEOF(t, 10*time.Second)
}

// TestZygoteLeavesRootToEnvironments: the driver's root holds the
// environments' directories (and, as root, the scratch images) only, with
// a zygote running and after its environments are gone.
func TestZygoteLeavesRootToEnvironments(t *testing.T) {
	s := newZygoteSetup(t)
	root := t.TempDir()
	d, err := process.New(process.Config{Root: root, Zygote: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	t.Run("start", func(t *testing.T) {
		forked(t, d, func() *sandbox.Spec { return s.spec(true, "USER_VAR=x") })
	}) // the subtest's cleanup destroys its environments
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != ".tmpdisk" {
			t.Errorf("%s left in the driver's root", e.Name())
		}
	}
}

// TestZygoteFallback: what a zygote cannot start the same way starts the
// ordinary way.
func TestZygoteFallback(t *testing.T) {
	s := newZygoteSetup(t)
	d := newZygoteDriver(t)
	forked(t, d, func() *sandbox.Spec { return s.spec(true, "USER_VAR=warm") })
	libDir := t.TempDir()
	os.Mkdir(filepath.Join(libDir, "lib"), 0o755)
	os.WriteFile(filepath.Join(libDir, "probe.py"), []byte(probe), 0o644)
	for name, mod := range map[string]func(*sandbox.Spec){
		"not asked":    func(sp *sandbox.Spec) { sp.Zygote = "" },
		"layers":       func(sp *sandbox.Spec) { sp.OptDir = t.TempDir() },
		"code has lib": func(sp *sandbox.Spec) { sp.CodeDir = libDir },
		"wrapped":      func(sp *sandbox.Spec) { sp.Cmd = append([]string{"/usr/bin/env"}, sp.Cmd...) },
		"flags":        func(sp *sandbox.Spec) { sp.Cmd = append(sp.Cmd[:1:1], "-X", "dev", sp.Cmd[1]) },
	} {
		sp := s.spec(true, "USER_VAR=x")
		mod(sp)
		if p := runProbe(t, d, sp); p.ppid != os.Getpid() {
			t.Errorf("%s: forked by a zygote; want the ordinary start", name)
		}
	}
	// Variables the interpreter reads at start get a zygote of their own:
	// the first start is ordinary, later ones are forked with them.
	p := forked(t, d, func() *sandbox.Spec { return s.spec(true, "USER_VAR=x", "PYTHONDONTWRITEBYTECODE=1") })
	if got := p.report["flags"].(string); !strings.Contains(got, "dont_write_bytecode=1") {
		t.Errorf("PYTHONDONTWRITEBYTECODE=1: flags %s", got)
	}
}

// TestZygoteDeath: when a zygote dies, its environments are reported
// killed, the next cold starts are ordinary, and another zygote takes
// over.
func TestZygoteDeath(t *testing.T) {
	s := newZygoteSetup(t)
	d := newZygoteDriver(t)
	p := forked(t, d, func() *sandbox.Spec { return s.spec(true, "USER_VAR=x") })
	if err := syscall.Kill(p.ppid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if got, want := sandboxtest.WaitExit(t, p.env.Env, 10*time.Second), (sandbox.Exit{Code: -1, Signal: syscall.SIGKILL}); got != want {
		t.Errorf("after the zygote died: Exit() = %+v; want %+v", got, want)
	}
	p.env.WaitEOF(t, 10*time.Second)
	next := forked(t, d, func() *sandbox.Spec { return s.spec(true, "USER_VAR=x") })
	if next.ppid == p.ppid {
		t.Errorf("forked by the dead zygote %d", p.ppid)
	}
}

// BenchmarkZygoteStart times a Python bootstrap from Start to its first
// connection to the Runtime API (the client's GET /next, after loading a
// hello handler), forked by a zygote and executed, alternately, against a
// bare `python -c pass`.
func BenchmarkZygoteStart(b *testing.B) {
	py, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("no python3")
	}
	out, err := exec.Command(py, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		b.Fatal(err)
	}
	py = strings.TrimSpace(string(out))
	client, err := os.ReadFile("../../runtimes/python/bootstrap.py")
	if err != nil {
		b.Fatal(err)
	}
	s := zygoteSetup{python: py, rtDir: b.TempDir(), codeDir: b.TempDir()}
	os.WriteFile(filepath.Join(s.rtDir, "bootstrap.py"), client, 0o644)
	os.WriteFile(filepath.Join(s.codeDir, "probe.py"), []byte("def handler(event, context):\n    return event\n"), 0o644)
	d, err := process.New(process.Config{Root: b.TempDir(), Zygote: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	defer devnull.Close()
	start := func(zygote bool) time.Duration {
		sp := s.spec(zygote, "USER_VAR=x")
		sp.Output = devnull
		t0 := time.Now()
		e, err := d.Start(b.Context(), sp)
		if err != nil {
			b.Fatal(err)
		}
		c, err := e.RuntimeListener().Accept()
		took := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
		e.Destroy(b.Context())
		return took
	}
	for range 3 {
		start(true) // the zygote starts
	}
	var dz, dp, db []time.Duration
	for b.Loop() {
		dz = append(dz, start(true))
		dp = append(dp, start(false))
		t0 := time.Now()
		cmd := exec.Command(py, "-c", "pass")
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		db = append(db, time.Since(t0))
	}
	p50 := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Microseconds()) / 1000
	}
	z, p, bare := p50(dz), p50(dp), p50(db)
	b.ReportMetric(z, "zygote-p50-ms")
	b.ReportMetric(p, "exec-p50-ms")
	b.ReportMetric(bare, "bare-p50-ms")
	b.ReportMetric(z/bare, "zygote/bare")
	b.ReportMetric(p/bare, "exec/bare")
}

// randomOf is what p's random.random() and os.urandom drew.
func randomOf(t *testing.T, p probed) []any {
	t.Helper()
	for line := range strings.Lines(p.env.Output(t)) {
		if rest, ok := strings.CutPrefix(line, "RANDOM "); ok {
			var drawn []any
			if err := json.Unmarshal([]byte(rest), &drawn); err != nil {
				t.Fatal(err)
			}
			return drawn
		}
	}
	t.Fatalf("no RANDOM line in %q", p.env.Output(t))
	return nil
}

// TestZygoteConcurrentStarts: environments forked at the same time each
// get their own variables and their own exit.
func TestZygoteConcurrentStarts(t *testing.T) {
	s := newZygoteSetup(t)
	d := newZygoteDriver(t)
	forked(t, d, func() *sandbox.Spec { return s.spec(true, "USER_VAR=warm") })
	const n = 8
	type result struct {
		i    int
		p    probed
		exit sandbox.Exit
	}
	results := make(chan result, n)
	for i := range n {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			p := runProbe(t, d, s.spec(true, "USER_VAR=v"+strconv.Itoa(i), "PROBE_ACT=exit"+strconv.Itoa(10+i)))
			results <- result{i, p, sandboxtest.WaitExit(t, p.env.Env, 10*time.Second)}
		})
	}
	t.Cleanup(func() {
		close(results)
		forkedN := 0
		for r := range results {
			if got, want := r.p.report["env"].(map[string]any)["USER_VAR"], "v"+strconv.Itoa(r.i); got != want {
				t.Errorf("environment %d: USER_VAR = %v; want %s", r.i, got, want)
			}
			if want := (sandbox.Exit{Code: 10 + r.i}); r.exit != want {
				t.Errorf("environment %d: Exit() = %+v; want %+v", r.i, r.exit, want)
			}
			if r.p.ppid != os.Getpid() {
				forkedN++
			}
		}
		if forkedN != n {
			t.Errorf("%d of %d concurrent starts forked by the zygote; want all", forkedN, n)
		}
	})
}

// TestZygoteCannotStart: when the zygote of an interpreter dies at once
// (here /bin/true, which ignores --zygote), every start is the ordinary
// one and succeeds.
func TestZygoteCannotStart(t *testing.T) {
	s := newZygoteSetup(t)
	d := newZygoteDriver(t)
	for i := range 10 {
		sp := s.spec(true, "USER_VAR=x")
		sp.Cmd[0] = "/bin/true"
		st := sandboxtest.StartSpec(t, d, sp)
		if got := sandboxtest.WaitExit(t, st.Env, 10*time.Second); got != (sandbox.Exit{}) {
			t.Errorf("start %d: Exit() = %+v; want exit status 0", i, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
