//go:build linux

package linux

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/sandboxtest"
)

// stemProbe is a runtime that speaks the stem protocol as the managed
// runtimes' bootstraps do (sandbox.StemMessage): started with
// _HEARTH_STEM_FD, it prints "early", reads its start message, replaces
// its environment (keeping what the interpreter added at its start) and
// changes to the message's directory. Then, stem or not, it reports what
// it sees as a line "REPORT <json>" and acts as PROBE_ACT says.
const stemProbe = `
import os, sys, json, socket, resource, ctypes, time
print("early", flush=True)
if sys.argv[1:] == ["big-early"]:
    for i in range(2000):
        print("%099d" % i)
    sys.stdout.flush()
fd = os.environ.get("_HEARTH_STEM_FD")
if fd is not None:
    with open("/proc/self/environ", "rb") as f:
        started = {e.partition(b"=")[0].decode() for e in f.read().split(b"\0") if e}
    with os.fdopen(int(fd), "rb") as f:
        data = f.read()
    if not data:
        sys.exit(0)
    msg = json.loads(data)
    added = {k: v for k, v in os.environ.items() if k not in started}
    os.environ.clear()
    for kv in msg["env"]:
        k, _, v = kv.partition("=")
        os.environ[k] = v
    os.environ.update(added)
    os.chdir(msg["cwd"])

def status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp",
                     "Seccomp_filters", "SigBlk", "SigIgn", "Groups", "Umask", "Cpus_allowed_list"):
                out[k] = v.strip()
    return out

def unpriv():
    try:
        os.setuid(0)
        return "setuid(0) worked"
    except OSError as e:
        return e.strerror

libc = ctypes.CDLL(None, use_errno=True)
sig = ctypes.c_int(-1)
libc.prctl(2, ctypes.byref(sig), 0, 0, 0)  # PR_GET_PDEATHSIG
st = os.statvfs("/tmp")
with open("/proc/self/mountinfo") as f:
    mounts = sorted(l.split()[4] + " " + l.split()[5] for l in f)
rl = {n: list(resource.getrlimit(getattr(resource, n))) for n in
      ("RLIMIT_NOFILE", "RLIMIT_CORE", "RLIMIT_NPROC", "RLIMIT_AS", "RLIMIT_STACK", "RLIMIT_MEMLOCK", "RLIMIT_SIGPENDING")}
open("/tmp/probe", "w").write("x")
report = {
    "env": dict(os.environ), "cwd": os.getcwd(), "code": sorted(os.listdir(".")),
    "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()],
    "rlimits": rl, "status": status(), "pdeathsig": sig.value, "unpriv": unpriv(),
    "hostname": socket.gethostname(), "ppid": os.getppid(),
    "session_leader": os.getsid(0) == os.getpid(), "group_leader": os.getpgid(0) == os.getpid(),
    "tmp_mb": st.f_blocks * st.f_frsize >> 20, "mounts": mounts,
    "fds": sorted(os.listdir("/proc/self/fd")), "stdin": os.readlink("/proc/self/fd/0"),
    "passwd": open("/etc/passwd").read(), "oom_score_adj": open("/proc/self/oom_score_adj").read(),
    "argv": sys.argv, "path": sys.path, "flags": str(sys.flags), "nice": os.nice(0),
    "umask": os.umask(0o22),
}
print("REPORT " + json.dumps(report), flush=True)
act = os.environ.get("PROBE_ACT", "")
if act.startswith("exit"):
    sys.exit(int(act[4:]))
if act == "sleep":
    time.sleep(300)
if act == "lines":
    # For each number it sends the Runtime API, first a line with it.
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    s = socket.create_connection((host, int(port)))
    for i in range(200):
        sys.stdout.write("LINE %d\n" % i)
        sys.stdout.flush()
        s.sendall(b"%d\n" % i)
        s.recv(1)
    print("LAST", flush=True)
if act == "oom":
    chunks = []
    while True:
        chunks.append(bytearray(8 << 20))
`

// nodeStemProbe is stemProbe for Node.
const nodeStemProbe = `
import fs from "node:fs";
import os from "node:os";
fs.writeSync(1, "early\n");
const fd = process.env._HEARTH_STEM_FD;
if (fd !== undefined) {
  const data = fs.readFileSync(Number(fd));
  fs.closeSync(Number(fd));
  if (data.length === 0) process.exit(0);
  const msg = JSON.parse(data);
  for (const k of Object.keys(process.env)) delete process.env[k];
  for (const kv of msg.env) {
    const i = kv.indexOf("=");
    process.env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  process.chdir(msg.cwd);
  // Node split NODE_PATH as it started, without it unless it is a start
  // variable: again, as the bootstraps do.
  (await import("node:module")).default._initPaths();
}
const status = {};
for (const line of fs.readFileSync("/proc/self/status", "utf8").split("\n")) {
  const [k, v] = line.split(":");
  if (["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters",
       "SigBlk", "SigIgn", "Groups", "Umask", "Cpus_allowed_list"].includes(k)) status[k] = v.trim();
}
let unpriv;
try { process.setuid(0); unpriv = "setuid(0) worked"; } catch (e) { unpriv = e.code; }
const st = fs.statfsSync("/tmp");
fs.writeFileSync("/tmp/probe", "x");
const report = {
  env: { ...process.env }, cwd: process.cwd(), code: fs.readdirSync(".").sort(),
  ids: [process.getuid(), process.geteuid(), process.getgid(), process.getegid(), process.getgroups()],
  status, unpriv, hostname: os.hostname(), ppid: process.ppid,
  tmp_mb: (st.blocks * st.bsize) / 1048576 | 0,
  mounts: fs.readFileSync("/proc/self/mountinfo", "utf8").trim().split("\n").map((l) => l.split(" ").slice(4, 6).join(" ")).sort(),
  stdin: fs.readlinkSync("/proc/self/fd/0"),
  passwd: fs.readFileSync("/etc/passwd", "utf8"), oom_score_adj: fs.readFileSync("/proc/self/oom_score_adj", "utf8"),
  argv: process.argv, execArgv: process.execArgv, umask: process.umask(),
  tz: Intl.DateTimeFormat().resolvedOptions().timeZone, paths: (await import("node:module")).default.globalPaths,
};
fs.writeSync(1, "REPORT " + JSON.stringify(report) + "\n");
`

// stemSetup is a runtime directory holding stemProbe and the host's
// python3.
type stemSetup struct {
	py, prefix, runtimeDir string
}

func newStemSetup(t testing.TB) *stemSetup {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable); print(sys.base_prefix)").Output()
	if err != nil {
		t.Skipf("python3 is not installed: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		t.Skipf("python3 printed %q", out)
	}
	s := &stemSetup{py: f[0], prefix: f[1], runtimeDir: t.TempDir()}
	for name, src := range map[string]string{"stemprobe.py": stemProbe, "stembench.py": stemBench, "stemprobe.mjs": nodeStemProbe} {
		if err := os.WriteFile(filepath.Join(s.runtimeDir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// spec is a Spec of the probe runtime with a fresh code directory, the
// function's variables vars.
func (s *stemSetup) spec(t testing.TB, account string, vars ...string) *sandbox.Spec {
	t.Helper()
	code := t.TempDir()
	if err := os.WriteFile(filepath.Join(code, "handler.py"), []byte("pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &sandbox.Spec{
		ID:       sandboxtest.NewID(),
		Function: "stem-test",
		Account:  account,
		Cmd:      []string{s.py, "-u", "$LAMBDA_RUNTIME_DIR/stemprobe.py"},
		Env: append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "TZ=:UTC",
			"PYTHONPATH=$LAMBDA_RUNTIME_DIR", "LD_LIBRARY_PATH=$LAMBDA_TASK_ROOT/lib", "USER_VAR=plain"}, vars...),
		CodeDir:    code,
		RuntimeDir: s.runtimeDir,
		HostPaths:  []string{s.prefix},
		Stem:       "python",
		MemoryMB:   256,
		TmpMB:      64,
	}
}

func newStemDriver(t testing.TB, cfg Config) *Driver {
	t.Helper()
	requireRoot(t)
	if cfg.Root == "" {
		cfg.Root = t.TempDir()
	}
	cfg.Prestart = true
	d, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return d
}

// probed is a started probe and what it reported.
type probed struct {
	e      *sandboxtest.Started
	stem   bool // started by a stem
	uid    int
	report map[string]any
}

// runStemProbe starts spec and waits for its report.
func runStemProbe(t *testing.T, d *Driver, spec *sandbox.Spec) probed {
	t.Helper()
	e := sandboxtest.StartSpec(t, d, spec)
	p := probed{e: e, stem: e.Env.(*env).Timings().Stem, uid: e.Env.(*env).b.uid}
	e.WaitFor(t, "REPORT ")
	deadline := time.Now().Add(10 * time.Second)
	for {
		for l := range strings.Lines(e.Output(t)) {
			if rest, ok := strings.CutPrefix(l, "REPORT "); ok && strings.HasSuffix(rest, "\n") {
				if err := json.Unmarshal([]byte(rest), &p.report); err != nil {
					t.Fatalf("report %q: %v", rest, err)
				}
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete report in %q", e.Output(t))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitStems waits until d holds n stems.
func waitStems(t testing.TB, d *Driver, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for d.Prestarted() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d stems ready after 30 s; want %d", d.Prestarted(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stemStarted starts specs of mk until one is started by a stem (the
// first registers the key), and returns it.
func stemStarted(t *testing.T, d *Driver, mk func() *sandbox.Spec) probed {
	t.Helper()
	for range 3 {
		waitStems(t, d, 1)
		if p := runStemProbe(t, d, mk()); p.stem {
			return p
		}
	}
	t.Fatal("no environment started by a stem")
	return probed{}
}

// normalize replaces what differs between any two environments of a
// driver, whether a stem started them or not (hostname, uid), after
// checking it.
func normalize(t *testing.T, p probed, spec *sandbox.Spec) {
	t.Helper()
	r := p.report
	if got := r["hostname"]; got != spec.ID {
		t.Errorf("hostname %v; want the environment's id %s", got, spec.ID)
	}
	r["hostname"] = "ID"
	uid := float64(p.uid)
	// Node's getgroups adds the effective gid to the (empty) list.
	if got, want := r["ids"], []any{uid, uid, uid, uid, []any{}}; !cmp.Equal(got, want) &&
		!cmp.Equal(got, []any{uid, uid, uid, uid, []any{uid}}) {
		t.Errorf("ids (uid, euid, gid, egid, groups) %v; want %v", got, want)
	}
	r["ids"] = "UID"
	r["passwd"] = strings.ReplaceAll(r["passwd"].(string), strconv.Itoa(p.uid), "UID")
}

// TestStemEnvironmentIsOrdinary: a bootstrap a stem started sees what an
// executed one sees: variables (but for what the interpreter adds), cwd
// and code, ids, limits, capabilities, no_new_privs and seccomp, signal
// state, session, parent, hostname, /tmp, mounts, descriptors, /etc,
// argv and sys.path. Only /proc/self/environ (the start environment) and
// its stdout (the init's pipe) differ.
func TestStemEnvironmentIsOrdinary(t *testing.T) {
	s := newStemSetup(t)
	d := newStemDriver(t, Config{})
	spec := s.spec(t, "")
	plain := runStemProbe(t, d, spec)
	if plain.stem {
		t.Fatal("the first Start of a key was started by a stem")
	}
	normalize(t, plain, spec)
	waitStems(t, d, 1)
	time.Sleep(200 * time.Millisecond) // the stem prints "early" while it waits
	var stemSpec *sandbox.Spec
	stem := stemStarted(t, d, func() *sandbox.Spec { stemSpec = s.spec(t, ""); return stemSpec })
	normalize(t, stem, stemSpec)
	if diff := cmp.Diff(plain.report, stem.report); diff != "" {
		t.Errorf("stem-started environment differs from an executed one (-executed +stem):\n%s", diff)
	}
	if got, _ := plain.report["tmp_mb"].(float64); got < 60 || got > 70 {
		t.Errorf("/tmp of %v MB; want the spec's 64", got)
	}
	// What the stem wrote before its start reached the output too, first.
	if out := stem.e.Output(t); !strings.HasPrefix(out, "early\nREPORT ") {
		t.Errorf("stem output starts %.40q; want early, then the report", out)
	}
	if got, want := sandboxtest.WaitExit(t, stem.e.Env, 10*time.Second), (sandbox.Exit{}); got != want {
		t.Errorf("Exit() = %v; want %v", got, want)
	}
}

// TestNodeStemEnvironmentIsOrdinary is TestStemEnvironmentIsOrdinary
// for Node, whose start makes threads of its own.
func TestNodeStemEnvironmentIsOrdinary(t *testing.T) {
	s := newStemSetup(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	if node, err = filepath.EvalSymlinks(node); err != nil {
		t.Fatal(err)
	}
	d := newStemDriver(t, Config{})
	mk := func() *sandbox.Spec {
		sp := s.spec(t, "", "NODE_PATH=$LAMBDA_RUNTIME_DIR:$LAMBDA_TASK_ROOT")
		sp.Cmd = []string{node, "$LAMBDA_RUNTIME_DIR/stemprobe.mjs"}
		sp.HostPaths = nil
		sp.Stem = "node"
		return sp
	}
	spec := mk()
	plain := runStemProbe(t, d, spec)
	normalize(t, plain, spec)
	var stemSpec *sandbox.Spec
	stem := stemStarted(t, d, func() *sandbox.Spec { stemSpec = mk(); return stemSpec })
	normalize(t, stem, stemSpec)
	if diff := cmp.Diff(plain.report, stem.report); diff != "" {
		t.Errorf("stem-started environment differs from an executed one (-executed +stem):\n%s", diff)
	}
}

// TestStemOutputBeforeStartIsKept: what a stem writes while it waits,
// more than its pipe holds, reaches the function's output in full and in
// order, before what it writes after its start.
func TestStemOutputBeforeStartIsKept(t *testing.T) {
	s := newStemSetup(t)
	d := newStemDriver(t, Config{})
	mk := func() *sandbox.Spec {
		sp := s.spec(t, "")
		sp.Cmd = append(sp.Cmd, "big-early")
		return sp
	}
	runStemProbe(t, d, mk())
	waitStems(t, d, 1)
	time.Sleep(300 * time.Millisecond) // the stem writes and blocks on its full pipe
	p := stemStarted(t, d, mk)
	var want strings.Builder
	want.WriteString("early\n")
	for i := range 2000 {
		fmt.Fprintf(&want, "%099d\n", i)
	}
	want.WriteString("REPORT ")
	if out := p.e.Output(t); !strings.HasPrefix(out, want.String()) {
		t.Errorf("output of %d bytes does not start with the %d bytes written before the start, then the report", len(out), want.Len())
	}
}

// TestStemOutputAttributed: each line a stem-started runtime wrote before
// it sent bytes to the Runtime API is in the environment's output by the
// time the server reads them (as Capture.Flush expects of a runtime that
// writes to the output itself), and what it wrote last is in the output
// by the time Done is closed. The init once relayed the stem's output
// from a goroutine of its own, and the first check failed within a few
// lines.
func TestStemOutputAttributed(t *testing.T) {
	s := newStemSetup(t)
	d := newStemDriver(t, Config{})
	runStemProbe(t, d, s.spec(t, "")) // registers the key
	waitStems(t, d, 1)

	c := sandboxtest.NewLineCapture(t)
	spec := s.spec(t, "", "PROBE_ACT=lines")
	spec.Output = c.W
	e, err := d.Start(t.Context(), spec)
	c.W.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Destroy(context.Background())
	if !e.(*env).Timings().Stem {
		t.Fatal("the environment was not started from the stem")
	}
	sandboxtest.CheckSendsAttributed(t, e, c, 200)
	sandboxtest.WaitExit(t, e, 10*time.Second)
	c.Flush()
	if got := c.Last(); got != "LAST" {
		t.Errorf("last line of the output once Done was closed: %q; want LAST", got)
	}
	if lines := c.Lines(); len(lines) < 3 || lines[0] != "early" || !strings.HasPrefix(lines[1], "REPORT ") {
		t.Errorf("output starts %q; want early, then the report", lines[:min(2, len(lines))])
	}
}

// TestStemExits: a stem-started bootstrap's end is reported as an
// executed one's (its status, running out of the function's memory), and
// Terminate reaches it (it is the child of another of the init's threads).
func TestStemExits(t *testing.T) {
	s := newStemSetup(t)
	d := newStemDriver(t, Config{})
	runStemProbe(t, d, s.spec(t, ""))
	p := stemStarted(t, d, func() *sandbox.Spec { return s.spec(t, "", "PROBE_ACT=exit3") })
	if got, want := sandboxtest.WaitExit(t, p.e.Env, 10*time.Second), (sandbox.Exit{Code: 3}); got != want {
		t.Errorf("Exit() = %v; want %v", got, want)
	}
	// The function's memory limit holds the stem, which was in the
	// sandbox's cgroup before the limit was set.
	p = stemStarted(t, d, func() *sandbox.Spec {
		sp := s.spec(t, "", "PROBE_ACT=oom")
		sp.MemoryMB = 128
		return sp
	})
	if exit := sandboxtest.WaitExit(t, p.e.Env, 30*time.Second); !exit.OOM || exit.Signal != syscall.SIGKILL {
		t.Errorf("Exit() = %+v; want OOM and SIGKILL", exit)
	}
	if peak := p.e.Env.MaxMemory(); peak < 100<<20 || peak > 130<<20 {
		t.Errorf("MaxMemory() = %d MB; want about the 128 MB limit", peak>>20)
	}
	p = stemStarted(t, d, func() *sandbox.Spec { return s.spec(t, "", "PROBE_ACT=sleep") })
	if err := p.e.Env.(sandbox.Terminator).Terminate(); err != nil {
		t.Fatal(err)
	}
	if got, want := sandboxtest.WaitExit(t, p.e.Env, 10*time.Second), (sandbox.Exit{Code: -1, Signal: syscall.SIGTERM}); got != want {
		t.Errorf("terminated: Exit() = %v; want %v", got, want)
	}
}

// TestStemServesOnlyItsKey: a stem serves only Specs of its account and
// key; Specs with layers never use one; the uid it runs as is its
// account's.
func TestStemServesOnlyItsKey(t *testing.T) {
	s := newStemSetup(t)
	d := newStemDriver(t, Config{})
	const a, b = "111111111111", "222222222222"
	runStemProbe(t, d, s.spec(t, a))
	waitStems(t, d, stemsPerKey)
	for name, spec := range map[string]*sandbox.Spec{
		"another account": s.spec(t, b),
		"default account": s.spec(t, ""),
		"another LANG":    s.spec(t, a, "LANG=en_US.UTF-8"),
		"a PYTHON var":    s.spec(t, a, "PYTHONDONTWRITEBYTECODE=1"),
		"another command": func() *sandbox.Spec { sp := s.spec(t, a); sp.Cmd = append(sp.Cmd, "arg"); return sp }(),
		"another runtime": func() *sandbox.Spec { sp := s.spec(t, a); sp.Stem = "node"; return sp }(),
		"no stem":         func() *sandbox.Spec { sp := s.spec(t, a); sp.Stem = ""; return sp }(),
		"layers":          func() *sandbox.Spec { sp := s.spec(t, a); sp.OptDir = t.TempDir(); return sp }(),
		"extensions": func() *sandbox.Spec {
			sp := s.spec(t, a)
			sp.Extensions = []string{"/bin/true"}
			return sp
		}(),
		"a lib in the code": func() *sandbox.Spec {
			sp := s.spec(t, a)
			os.Mkdir(filepath.Join(sp.CodeDir, "lib"), 0o755)
			return sp
		}(),
		"a shared object in the code": func() *sandbox.Spec {
			sp := s.spec(t, a)
			os.WriteFile(filepath.Join(sp.CodeDir, "libx.so.1"), nil, 0o644)
			return sp
		}(),
		"PYTHONPATH in the code": s.spec(t, a, "PYTHONPATH=$LAMBDA_TASK_ROOT/vendor"),
		"another runtime dir": func() *sandbox.Spec {
			sp := s.spec(t, a)
			sp.RuntimeDir = t.TempDir()
			os.WriteFile(filepath.Join(sp.RuntimeDir, "stemprobe.py"), []byte(stemProbe), 0o644)
			return sp
		}(),
	} {
		if p := runStemProbe(t, d, spec); p.stem {
			t.Errorf("%s: started by a stem of account %s's key", name, a)
		}
	}
	// Account a's stems are still there, and serve it.
	p := stemStarted(t, d, func() *sandbox.Spec { return s.spec(t, a) })
	d.uids.mu.Lock()
	holder := d.uids.holder[p.uid-d.uids.first]
	d.uids.mu.Unlock()
	if holder != d.uids.accounts[a] {
		t.Errorf("the stem ran as a uid last held by account index %d; want %s's %d", holder, a, d.uids.accounts[a])
	}
}

// TestDeadStemFallsBack: a Start whose stems died while they waited
// starts the function the ordinary way.
func TestDeadStemFallsBack(t *testing.T) {
	s := newStemSetup(t)
	d := newStemDriver(t, Config{})
	runStemProbe(t, d, s.spec(t, ""))
	waitStems(t, d, stemsPerKey)
	killed := 0
	for _, pid := range stemPids(t, s.runtimeDir) {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	if killed != stemsPerKey {
		t.Fatalf("killed %d stems; want %d", killed, stemsPerKey)
	}
	p := runStemProbe(t, d, s.spec(t, ""))
	if p.stem {
		t.Error("started by a dead stem")
	}
	if got := p.report["cwd"]; got != sandbox.TaskRoot {
		t.Errorf("cwd %v; want %s", got, sandbox.TaskRoot)
	}
}

// TestStemDyingAsItIsTakenFallsBack: a stem that died while its init
// could not notice (stopped here) is found dead only by the init, once
// the start message came; the init exits without a word and the function
// starts in another sandbox.
func TestStemDyingAsItIsTakenFallsBack(t *testing.T) {
	s := newStemSetup(t)
	d := newStemDriver(t, Config{})
	runStemProbe(t, d, s.spec(t, ""))
	waitStems(t, d, stemsPerKey)
	var inits []int
	d.stems.mu.Lock()
	for _, ks := range d.stems.keys {
		for _, b := range ks.ready {
			inits = append(inits, b.cmd.Process.Pid)
		}
	}
	d.stems.mu.Unlock()
	for _, pid := range inits {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	for _, pid := range stemPids(t, s.runtimeDir) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	resume := time.AfterFunc(300*time.Millisecond, func() {
		for _, pid := range inits {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	defer resume.Stop()
	p := runStemProbe(t, d, s.spec(t, ""))
	if p.stem {
		t.Error("started by a dead stem")
	}
	if got := p.report["cwd"]; got != sandbox.TaskRoot {
		t.Errorf("cwd %v; want %s", got, sandbox.TaskRoot)
	}
	if !strings.HasPrefix(p.e.Output(t), "early\nREPORT ") {
		t.Errorf("output %.60q; want only the executed bootstrap's", p.e.Output(t))
	}
}

// stemPids returns the host pids of waiting stems running the probe of
// runtimeDir.
func stemPids(t testing.TB, runtimeDir string) []int {
	t.Helper()
	var pids []int
	environs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range environs {
		env, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(env), sandbox.StemFDVar+"=") {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
		if !strings.Contains(string(cmd), "stemprobe.") && !strings.Contains(string(cmd), "stembench.") {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		pids = append(pids, pid)
	}
	return pids
}

// TestStemsLeaveNothingBehind: environments started by stems, and stems
// still waiting, leave nothing on the host once destroyed and the driver
// closed; their uids go back.
func TestStemsLeaveNothingBehind(t *testing.T) {
	s := newStemSetup(t)
	root := t.TempDir()
	d, err := New(Config{Root: root, Prestart: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("start", func(t *testing.T) {
		runStemProbe(t, d, s.spec(t, ""))
		p := stemStarted(t, d, func() *sandbox.Spec { return s.spec(t, "", "PROBE_ACT=sleep") })
		if err := p.e.Env.(sandbox.Freezer).Freeze(t.Context()); err != nil {
			t.Fatal(err)
		}
	}) // the subtest's cleanup destroys its environments
	waitStems(t, d, 1)
	if err := d.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	assertNothingLeft(t, root, d.cgroups)
	if n := d.uids.inUse(); n != 0 {
		t.Errorf("%d uids still in use after Close", n)
	}
	if pids := stemPids(t, s.runtimeDir); len(pids) > 0 {
		t.Errorf("stems left running: %v", pids)
	}
}

// TestStemsExpire: a key unused for stemIdle loses its stems.
func TestStemsExpire(t *testing.T) {
	st := newStems(8)
	k := stemKey{id: "k"}
	st.started(k)
	now := time.Now()
	got, ok := st.next(now)
	if !ok || got.id != "k" {
		t.Fatalf("next() = %v, %v; want k", got, ok)
	}
	b := &box{name: "b1"}
	st.put(k, b)
	if _, ok := st.next(now); !ok {
		t.Error("next() found nothing to do with one of two stems ready")
	}
	st.abandon(k, now)
	if _, ok := st.next(now); ok {
		t.Error("next() wants another stem right after one failed")
	}
	if left := st.expire(now.Add(stemIdle / 2)); len(left) != 0 {
		t.Errorf("expire half-way through the idle time = %v; want none", left)
	}
	if left := st.expire(now.Add(stemIdle + time.Second)); len(left) != 1 || left[0] != b {
		t.Errorf("expire after the idle time = %v; want b1", left)
	}
	if _, ok := st.next(now.Add(stemIdle + 2*time.Second)); ok || st.len() != 0 {
		t.Error("an expired key still wants stems")
	}
}
