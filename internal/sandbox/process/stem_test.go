package process_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

func newStemDriver(t *testing.T, zygote bool) *process.Driver {
	t.Helper()
	d, err := process.New(process.Config{Root: t.TempDir(), Prestart: true, Zygote: zygote}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// stemSpec is s.spec for a Python stem.
func (s zygoteSetup) stemSpec(vars ...string) *sandbox.Spec {
	sp := s.spec(false, vars...)
	sp.Stem = "python"
	return sp
}

// stemmed starts spec until it is started from a stem (the first ones
// start the ordinary way while the stems start), and returns that probe.
func stemmed(t *testing.T, d sandbox.Driver, spec func() *sandbox.Spec) probed {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := runProbe(t, d, spec())
		if p.stem {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatal("no environment started from a stem after 20 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStemEnvironmentIsOrdinary: a Python bootstrap started from a stem
// sees the same process as one the driver executed: variables, cwd, ids,
// session, sys.path and argv, interpreter flags, stdio, time zone, open
// files, signal state, umask, limits, /opt and TMPDIR, and the driver is
// its parent.
func TestStemEnvironmentIsOrdinary(t *testing.T) {
	s := newZygoteSetup(t)
	d := newStemDriver(t, false)
	plain := runProbe(t, d, s.spec(false, "USER_VAR=plain"))
	if plain.stem {
		t.Fatal("an environment without Stem was started from a stem")
	}
	st := stemmed(t, d, func() *sandbox.Spec { return s.stemSpec("USER_VAR=plain") })
	if st.ppid != os.Getpid() {
		t.Errorf("stem's parent is %d; want the driver's process %d", st.ppid, os.Getpid())
	}
	for _, r := range []map[string]any{plain.report, st.report} {
		env := r["env"].(map[string]any)
		for _, k := range []string{"TMPDIR", "AWS_LAMBDA_RUNTIME_API"} {
			if env[k] == nil {
				t.Errorf("no %s in the environment", k)
			}
			delete(env, k)
		}
	}
	if diff := cmp.Diff(plain.report, st.report); diff != "" {
		t.Errorf("environment started from a stem differs from an ordinary one (-ordinary +stem):\n%s", diff)
	}
}

// TestStemExitsAndDestroy: how a bootstrap started from a stem ends is
// reported as an executed one's is, and Destroy kills it and what it
// started.
func TestStemExitsAndDestroy(t *testing.T) {
	s := newZygoteSetup(t)
	d := newStemDriver(t, false)
	for _, tc := range []struct {
		act  string
		want sandbox.Exit
	}{
		{"exit3", sandbox.Exit{Code: 3}},
		{"segv", sandbox.Exit{Code: -1, Signal: syscall.SIGSEGV}},
	} {
		p := stemmed(t, d, func() *sandbox.Spec { return s.stemSpec("USER_VAR=x", "PROBE_ACT="+tc.act) })
		if got := sandboxtest.WaitExit(t, p.env.Env, 10*time.Second); got != tc.want {
			t.Errorf("%s: Exit() = %+v; want %+v", tc.act, got, tc.want)
		}
	}
	p := stemmed(t, d, func() *sandbox.Spec { return s.stemSpec("USER_VAR=x", "PROBE_ACT=child") })
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

// stemProcs lists the stems of this process still waiting: children
// whose initial environment holds _HEARTH_STEM_FD, in / (a stem bound to
// an environment is in its task root).
func stemProcs(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 || f[0] == "Z" || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		if cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd"); err != nil || cwd != "/" {
			continue
		}
		if env, err := os.ReadFile("/proc/" + e.Name() + "/environ"); err == nil && bytes.Contains(env, []byte(sandbox.StemFDVar+"=")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitStems waits until n stems are alive.
func waitStems(t *testing.T, n int) []int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pids := stemProcs(t)
		if len(pids) >= n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d stems alive after 20 s; want %d", len(pids), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStemServesOnlyItsKey: a stem started for one set of start variables
// never serves another: that one's first start is ordinary and gets its
// own values; later ones come from stems of its own. A stem's process
// holds none of a function's variables.
func TestStemServesOnlyItsKey(t *testing.T) {
	s := newZygoteSetup(t)
	d := newStemDriver(t, false)
	stemmed(t, d, func() *sandbox.Spec { return s.stemSpec("USER_VAR=secret-a") })
	waitStems(t, 2)
	paris := func() *sandbox.Spec {
		sp := s.stemSpec("USER_VAR=b")
		sp.Env = append(sp.Env, "TZ=Europe/Paris")
		return sp
	}
	first := runProbe(t, d, paris())
	if first.stem {
		t.Error("a start with another TZ was served by a stem of the first key")
	}
	later := stemmed(t, d, paris)
	for _, p := range []probed{first, later} {
		tz := p.report["tz"].([]any)
		if got := fmt.Sprint(tz[0]); !strings.Contains(got, "CET") {
			t.Errorf("TZ=Europe/Paris: time.tzname = %s", got)
		}
	}
	// Another function (other code, other variables) with the first
	// key's start variables shares its stems.
	other := newZygoteSetup(t)
	if p := stemmed(t, d, func() *sandbox.Spec { return other.stemSpec("USER_VAR=c") }); p.report["cwd"] != other.codeDir {
		t.Errorf("cwd = %v; want %s", p.report["cwd"], other.codeDir)
	}
	for _, pid := range stemProcs(t) {
		for _, f := range []string{"environ", "cmdline"} {
			raw, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + f)
			if bytes.Contains(raw, []byte("secret-")) || bytes.Contains(raw, []byte("USER_VAR")) {
				t.Errorf("stem %d's %s holds a function's variables: %q", pid, f, raw)
			}
		}
	}
}

// TestStemDeadFallsBack: when the ready stems have died, Start runs the
// bootstrap the ordinary way, and new stems take over.
func TestStemDeadFallsBack(t *testing.T) {
	s := newZygoteSetup(t)
	d := newStemDriver(t, false)
	stemmed(t, d, func() *sandbox.Spec { return s.stemSpec("USER_VAR=x") })
	for _, pid := range waitStems(t, 2) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	time.Sleep(100 * time.Millisecond) // reaped
	p := runProbe(t, d, s.stemSpec("USER_VAR=after"))
	if p.stem {
		t.Error("started from a stem that was killed")
	}
	if got := p.report["env"].(map[string]any)["USER_VAR"]; got != "after" {
		t.Errorf("USER_VAR = %v; want after", got)
	}
	stemmed(t, d, func() *sandbox.Spec { return s.stemSpec("USER_VAR=x") })
}

// TestStemCloseLeavesNoProcess: Close kills every stem.
func TestStemCloseLeavesNoProcess(t *testing.T) {
	s := newZygoteSetup(t)
	d, err := process.New(process.Config{Root: t.TempDir(), Prestart: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("start", func(t *testing.T) {
		stemmed(t, d, func() *sandbox.Spec { return s.stemSpec("USER_VAR=x") })
		waitStems(t, 2)
	})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if pids := stemProcs(t); len(pids) > 0 {
		t.Errorf("stems %v alive after Close", pids)
	}
}

// TestStemPreferZygote: with zygotes on, a Python bootstrap is forked by
// the zygote, not started from a stem.
func TestStemPreferZygote(t *testing.T) {
	s := newZygoteSetup(t)
	d := newStemDriver(t, true)
	p := forked(t, d, func() *sandbox.Spec {
		sp := s.stemSpec("USER_VAR=x")
		sp.Zygote = "python"
		return sp
	})
	if p.stem {
		t.Error("forked by a zygote and started from a stem")
	}
}

// fakeClient is a runtime client that speaks the stem protocol: it writes
// before it waits for its message, and then, for each number it sends to
// the Runtime API, first writes a line with it.
const fakeClient = `import json, os, socket, sys
print("BEFORE", flush=True)
fd = os.environ.pop("_HEARTH_STEM_FD", None)
if fd is not None:
    data = b""
    while True:
        b = os.read(int(fd), 65536)
        if not b:
            break
        data += b
    os.close(int(fd))
    msg = json.loads(data)
    os.environ.clear()
    for kv in msg["env"]:
        k, _, v = kv.partition("=")
        os.environ[k] = v
    os.chdir(msg["cwd"])
print("AFTER stem=%s USER_VAR=%s" % (fd is not None, os.environ.get("USER_VAR")), flush=True)
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
s = socket.create_connection((host, int(port)))
for i in range(200):
    sys.stdout.write("LINE %d\n" % i)
    sys.stdout.flush()
    s.sendall(b"%d\n" % i)
    s.recv(1)
`

// TestStemOutputRelayed: what a stem writes before Start and after is in
// the environment's output, and each line it wrote before sending bytes
// to the Runtime API is in the output by the time the server reads them,
// as Capture.Flush expects of a runtime writing to the output itself.
func TestStemOutputRelayed(t *testing.T) {
	s := newZygoteSetup(t)
	os.WriteFile(filepath.Join(s.rtDir, "bootstrap.py"), []byte(fakeClient), 0o644)
	d := newStemDriver(t, false)
	for i := 0; ; i++ {
		stem := run(t, d, s.stemSpec("USER_VAR=v"+strconv.Itoa(i)), i)
		if stem {
			break
		}
		if i > 100 {
			t.Fatal("no environment started from a stem")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run starts spec with a Capture as its output and checks, for each line
// the fake client sends, that the capture holds the line it wrote first.
func run(t *testing.T, d sandbox.Driver, spec *sandbox.Spec, i int) (stem bool) {
	t.Helper()
	c := sandboxtest.NewLineCapture(t)
	spec.Output = c.W
	e, err := d.Start(t.Context(), spec)
	c.W.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Destroy(context.Background())
	sandboxtest.CheckSendsAttributed(t, e, c, 200)
	all := c.Lines()
	stem = slices.Contains(all, "AFTER stem=True USER_VAR=v"+strconv.Itoa(i))
	if stem && (len(all) < 2 || all[0] != "BEFORE") {
		t.Errorf("output of an environment started from a stem starts %q; want BEFORE, then AFTER with its own USER_VAR", all[:min(2, len(all))])
	}
	return stem
}

// TestNodeStem: a Node bootstrap started from a stem sees the same
// variables, working directory, command line and module search paths as
// an executed one.
func TestNodeStem(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node")
	}
	client, err := os.ReadFile("../../runtimes/node/bootstrap.mjs")
	if err != nil {
		t.Fatal(err)
	}
	rtDir, codeDir := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(rtDir, "bootstrap.mjs"), client, 0o644)
	os.WriteFile(filepath.Join(codeDir, "probe.js"), []byte(`const Module = require('module');
const fs = require('fs');
const initial = fs.readFileSync('/proc/self/environ', 'latin1');
const say = (l) => fs.writeSync(1, l + '\n');
say('PROBE ' + JSON.stringify({
  env: process.env, cwd: process.cwd(), argv: process.argv, execArgv: process.execArgv, title: process.title,
  paths: module.paths, globalPaths: Module.globalPaths, resolve: require.resolve.paths('x'),
  tz: Intl.DateTimeFormat().resolvedOptions().timeZone, session: fs.readFileSync('/proc/self/stat', 'latin1').split(') ')[1].split(' ').slice(2, 4).map((id) => Number(id) === process.pid),
}));
say('STEM ' + (initial.includes('_HEARTH_STEM_FD=') ? 'True' : 'False'));
say('PPID ' + process.ppid);
exports.handler = async (e) => e;
`), 0o644)
	spec := func(stem bool) *sandbox.Spec {
		sp := &sandbox.Spec{
			ID:       sandboxtest.NewID(),
			Function: "probe",
			Cmd:      []string{node, "--max-http-header-size=81920", "$LAMBDA_RUNTIME_DIR/bootstrap.mjs"},
			Env: []string{
				"TZ=:UTC", "LANG=en_US.UTF-8", "PATH=/usr/local/bin:/usr/bin/:/bin:" + sandbox.OptRef + "/bin",
				"LD_LIBRARY_PATH=/lib64:/usr/lib64:$LAMBDA_RUNTIME_DIR:$LAMBDA_RUNTIME_DIR/lib:$LAMBDA_TASK_ROOT:$LAMBDA_TASK_ROOT/lib:" + sandbox.OptRef + "/lib",
				"PWD=$LAMBDA_TASK_ROOT",
				"NODE_PATH=" + sandbox.OptRef + "/nodejs/node20/node_modules:" + sandbox.OptRef + "/nodejs/node_modules:$LAMBDA_RUNTIME_DIR/node_modules:$LAMBDA_RUNTIME_DIR:$LAMBDA_TASK_ROOT",
				"_HANDLER=probe.handler", "USER_VAR=node",
			},
			CodeDir: codeDir, RuntimeDir: rtDir, MemoryMB: 128, TmpMB: 64,
		}
		if stem {
			sp.Stem = "node"
		}
		return sp
	}
	d := newStemDriver(t, false)
	plain := runProbe(t, d, spec(false))
	st := stemmed(t, d, func() *sandbox.Spec { return spec(true) })
	if plain.stem {
		t.Error("an environment without Stem was started from a stem")
	}
	if st.ppid != os.Getpid() {
		t.Errorf("stem's parent is %d; want the driver's process %d", st.ppid, os.Getpid())
	}
	for _, r := range []map[string]any{plain.report, st.report} {
		env := r["env"].(map[string]any)
		for _, k := range []string{"TMPDIR", "AWS_LAMBDA_RUNTIME_API", "PATH", "LD_LIBRARY_PATH", "NODE_PATH"} {
			if env[k] == nil {
				t.Errorf("no %s in the environment", k)
			}
			delete(env, k) // may hold the environment's own directories
		}
		r["globalPaths"], r["resolve"] = stripOwn(r["globalPaths"]), stripOwn(r["resolve"])
	}
	if diff := cmp.Diff(plain.report, st.report); diff != "" {
		t.Errorf("environment started from a stem differs from an ordinary one (-ordinary +stem):\n%s", diff)
	}
	if b, _ := json.Marshal(st.report["globalPaths"]); !bytes.Contains(b, []byte(codeDir)) {
		t.Errorf("module search paths %s lack the task root (NODE_PATH)", b)
	}
}

// stripOwn drops the search paths in an environment's own empty /opt
// directory (without root each environment has its own).
func stripOwn(v any) any {
	var out []any
	for _, p := range v.([]any) {
		if s, _ := p.(string); !strings.Contains(s, "/opt/nodejs") {
			out = append(out, p)
		}
	}
	return out
}

// BenchmarkStemStart times a bootstrap from Start to its first connection
// to the Runtime API (the client's GET /next, after loading a hello
// handler), started from a stem and executed, alternately, against a bare
// start of the interpreter (python -c pass, node -e 0).
func BenchmarkStemStart(b *testing.B) {
	for _, lang := range []string{"python", "node"} {
		b.Run(lang, func(b *testing.B) {
			name, client, handler, bare := "python3", "bootstrap.py", "def handler(event, context):\n    return event\n", []string{"-c", "pass"}
			if lang == "node" {
				name, client, handler, bare = "node", "bootstrap.mjs", "exports.handler = async (e) => e;\n", []string{"-e", "0"}
			}
			interp, err := exec.LookPath(name)
			if err != nil {
				b.Skip("no " + name)
			}
			if lang == "python" {
				out, err := exec.Command(interp, "-c", "import sys; print(sys.executable)").Output()
				if err != nil {
					b.Fatal(err)
				}
				interp = strings.TrimSpace(string(out))
			}
			src, err := os.ReadFile("../../runtimes/" + lang + "/" + client)
			if err != nil {
				b.Fatal(err)
			}
			rtDir, codeDir := b.TempDir(), b.TempDir()
			os.WriteFile(filepath.Join(rtDir, client), src, 0o644)
			mod := "probe.py"
			if lang == "node" {
				mod = "probe.js"
			}
			os.WriteFile(filepath.Join(codeDir, mod), []byte(handler), 0o644)
			d, err := process.New(process.Config{Root: b.TempDir(), Prestart: true}, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			defer devnull.Close()
			cmd := []string{interp, "$LAMBDA_RUNTIME_DIR/" + client}
			if lang == "node" {
				cmd = []string{interp, "--max-http-header-size=81920", "$LAMBDA_RUNTIME_DIR/" + client}
			}
			var dStart []time.Duration
			start := func(stem bool) time.Duration {
				sp := &sandbox.Spec{
					ID: sandboxtest.NewID(), Function: "probe", Cmd: cmd,
					Env:     []string{"TZ=:UTC", "LANG=en_US.UTF-8", "PATH=/usr/bin:/bin", "_HANDLER=probe.handler", "PYTHONPATH=$LAMBDA_RUNTIME_DIR"},
					CodeDir: codeDir, RuntimeDir: rtDir, MemoryMB: 128, TmpMB: 64, Output: devnull,
				}
				if stem {
					sp.Stem = lang
				}
				t0 := time.Now()
				e, err := d.Start(b.Context(), sp)
				if err != nil {
					b.Fatal(err)
				}
				if stem {
					dStart = append(dStart, time.Since(t0))
				}
				c, err := e.RuntimeListener().Accept()
				if err == nil {
					c.Read(make([]byte, 1))
				}
				took := time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
				e.Destroy(b.Context())
				return took
			}
			for range 3 {
				start(true) // the stems start
				time.Sleep(300 * time.Millisecond)
			}
			var ds, dp, db []time.Duration
			for b.Loop() {
				time.Sleep(300 * time.Millisecond) // the next stem starts
				ds = append(ds, start(true))
				dp = append(dp, start(false))
				t0 := time.Now()
				c := exec.Command(interp, bare...)
				c.Env = []string{"PATH=/usr/bin:/bin"}
				if err := c.Run(); err != nil {
					b.Fatal(err)
				}
				db = append(db, time.Since(t0))
			}
			p50 := func(d []time.Duration) float64 {
				slices.Sort(d)
				return float64(d[len(d)/2].Microseconds()) / 1000
			}
			s, p, bare50 := p50(ds), p50(dp), p50(db)
			b.ReportMetric(p50(dStart), "stem-Start-p50-ms")
			b.ReportMetric(s, "stem-p50-ms")
			b.ReportMetric(p, "exec-p50-ms")
			b.ReportMetric(bare50, "bare-p50-ms")
			b.ReportMetric(s/bare50, "stem/bare")
			b.ReportMetric(p/bare50, "exec/bare")
		})
	}
}
