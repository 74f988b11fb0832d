package runtimes_test

// Tests for the clients' stem mode (_HEARTH_STEM_FD): a runtime started
// ahead of time with only its start variables, which gets its environment
// and working directory in a message on a pipe, must then be the same
// process, as user code sees it, as one started the ordinary way.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// pyProbe reports what a Python environment defines, from its handler.
const pyProbe = `import os, signal, sys, time, resource
import viapath
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return line.split()[1]
def handler(event, context):
    return {
        "env": dict(os.environ),
        "environ_order": list(os.environ),
        "cwd": os.getcwd(),
        "argv": sys.argv,
        "orig_argv": getattr(sys, "orig_argv", None),
        "path": sys.path,
        "flags": repr(sys.flags),
        "executable": sys.executable,
        "stdout": [sys.stdout.encoding, sys.stdout.line_buffering, sys.stderr.encoding, sys.getfilesystemencoding()],
        "tz": [time.tzname, time.timezone],
        "fds": sorted(os.listdir("/proc/self/fd")),
        "sigmask": [status("SigBlk"), status("SigIgn"), status("SigCgt")],
        "handlers": [str(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE)],
        "umask": os.umask(0o022),
        "rlimits": [resource.getrlimit(r) for r in (resource.RLIMIT_NOFILE, resource.RLIMIT_STACK)],
        "modules": sorted(m for m in sys.modules if m not in ("resource",)),
        "main": sorted(k for k in vars(sys.modules["__main__"])),
        "viapath": viapath.WHERE,
        "pwd_env": os.environ.get("PWD"),
    }
`

// nodeProbe reports what a Node environment defines, from its handler.
const nodeProbe = `const Module = require('module');
const fs = require('fs');
const viapath = require('viapath');
exports.handler = async () => ({
  env: { ...process.env },
  envOrder: Object.keys(process.env),
  cwd: process.cwd(),
  argv: process.argv,
  execArgv: process.execArgv,
  execPath: process.execPath,
  title: process.title,
  modulePaths: module.paths,
  globalPaths: Module.globalPaths,
  resolvePaths: require.resolve.paths('x'),
  viapath: viapath.where,
  intl: Intl.DateTimeFormat().resolvedOptions(),
  tzOffset: new Date(0).getTimezoneOffset(),
  umask: process.umask(),
  stdout: [fs.fstatSync(1).isFIFO(), fs.fstatSync(2).isFIFO()],
  fds: fs.readdirSync('/proc/self/fd').length,
  listeners: ['SIGINT', 'SIGTERM', 'uncaughtException', 'unhandledRejection', 'beforeExit'].map((e) => process.listenerCount(e)),
  mainModule: require.main === module,
  versions: process.versions,
  config: process.config.variables.node_module_version,
});
`

// stemSetup is a runtime client of lang installed in a runtime directory
// and a probe in a code directory, with a module that only NODE_PATH or
// PYTHONPATH leads to.
type stemSetup struct {
	lang, rtDir, codeDir, libDir string
	handler                      string
}

func newStemSetup(t *testing.T, lang string) stemSetup {
	t.Helper()
	s := stemSetup{lang: lang, rtDir: installClient(t, lang), codeDir: t.TempDir(), libDir: t.TempDir()}
	switch lang {
	case "python":
		realPython(t)
		s.handler = "probe.handler"
		os.WriteFile(filepath.Join(s.codeDir, "probe.py"), []byte(pyProbe), 0o644)
		os.WriteFile(filepath.Join(s.libDir, "viapath.py"), []byte("WHERE = __file__\n"), 0o644)
	case "node":
		realNode(t)
		s.handler = "probe.handler"
		os.WriteFile(filepath.Join(s.codeDir, "probe.js"), []byte(nodeProbe), 0o644)
		os.WriteFile(filepath.Join(s.libDir, "viapath.js"), []byte("exports.where = __filename;\n"), 0o644)
	}
	return s
}

// env is the whole environment an ordinary start of the probe gets, as a
// driver builds it, with extra variables last.
func (s stemSetup) env(api string, extra ...string) []string {
	tmp := filepath.Join(filepath.Dir(s.codeDir), filepath.Base(s.codeDir)+"-tmp")
	os.MkdirAll(tmp, 0o755)
	env := []string{
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"PATH=/usr/local/bin:/usr/bin/:/bin",
		"LD_LIBRARY_PATH=/lib64:/usr/lib64:" + s.rtDir + ":" + s.codeDir + ":" + s.codeDir + "/lib",
		"PWD=" + s.codeDir,
		"_HANDLER=" + s.handler,
		"AWS_LAMBDA_FUNCTION_NAME=probe",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/probe",
		"AWS_LAMBDA_LOG_STREAM_NAME=2026/12/01/[$LATEST]0123",
		"AWS_REGION=us-east-1",
		"USER_VAR=only-in-the-message",
	}
	switch s.lang {
	case "python":
		env = append(env, "PYTHONPATH="+s.rtDir+":"+s.libDir, "PYTHONUNBUFFERED=1", "AWS_EXECUTION_ENV=AWS_Lambda_python3.12")
	case "node":
		env = append(env, "NODE_PATH="+s.rtDir+"/node_modules:"+s.libDir+":"+s.codeDir, "AWS_EXECUTION_ENV=AWS_Lambda_nodejs20.x")
	}
	env = append(env, extra...)
	env = append(env,
		"LAMBDA_TASK_ROOT="+s.codeDir,
		"LAMBDA_RUNTIME_DIR="+s.rtDir,
		"TMPDIR="+tmp,
		"AWS_LAMBDA_RUNTIME_API="+api,
	)
	// Each name once, the last value in the first place, as drivers
	// build environments (sandbox.Environ).
	var out []string
	at := map[string]int{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := at[k]; ok {
			out[i] = kv
			continue
		}
		at[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// startVar is sandbox.StartVar, as the clients' contract states it.
func startVar(name string) bool {
	for _, p := range []string{"PYTHON", "NODE_", "UV_", "OPENSSL_", "LD_", "LC_", "MALLOC_", "GLIBC_"} {
		if strings.HasPrefix(name, p) {
			return name != "NODE_PATH"
		}
	}
	switch name {
	case "LANG", "LANGUAGE", "TZ", "HOME", "PATH":
		return true
	}
	return false
}

// start starts the probe's runtime against api: the ordinary way, or as a
// stem (started from / with its start variables only) that is sent its
// message after a while. It returns the runtime's output files' reader.
func (s stemSetup) start(t *testing.T, stem bool, api *runtimeAPI, extra ...string) *runtimeProc {
	t.Helper()
	args, _ := launch(t, s.lang, s.rtDir)
	env := s.env(api.addr(), extra...)
	root := t.TempDir()
	rt := &runtimeProc{stdoutPath: filepath.Join(root, "stdout"), stderrPath: filepath.Join(root, "stderr"), exited: make(chan struct{})}
	stdout, _ := os.Create(rt.stdoutPath)
	defer stdout.Close()
	stderr, _ := os.Create(rt.stderrPath)
	defer stderr.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Dir, cmd.Env = s.codeDir, env
	var w *os.File
	if stem {
		var r *os.File
		var err error
		if r, w, err = os.Pipe(); err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		cmd.ExtraFiles = []*os.File{r}
		cmd.Dir = "/"
		cmd.Env = []string{"_HEARTH_STEM_FD=3"}
		for _, kv := range env {
			if k, _, _ := strings.Cut(kv, "="); startVar(k) {
				cmd.Env = append(cmd.Env, kv)
			}
		}
	}
	rt.cmd = cmd
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		rt.err = cmd.Wait()
		close(rt.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-rt.exited:
		default:
			cmd.Process.Kill()
			<-rt.exited
		}
	})
	if stem {
		// Long enough for the stem to be waiting, as it usually is.
		time.Sleep(300 * time.Millisecond)
		msg, _ := json.Marshal(map[string]any{"cwd": s.codeDir, "env": env})
		if _, err := w.Write(msg); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	return rt
}

// probe starts the runtime, invokes the probe once and returns its report.
func (s stemSetup) probe(t *testing.T, stem bool, extra ...string) map[string]any {
	t.Helper()
	api := newRuntimeAPI(t)
	rt := s.start(t, stem, api, extra...)
	api.outMu.Lock()
	api.stdoutPath, api.stderrPath = rt.stdoutPath, rt.stderrPath
	api.outMu.Unlock()
	p := api.invoke(t, rt, invocation{Body: []byte(`{}`)})
	if p.Kind != "response" {
		t.Fatalf("probe posted %s %s\nstderr:\n%s", p.Kind, p.Body, rt.stderr())
	}
	var report map[string]any
	if err := json.Unmarshal(p.Body, &report); err != nil {
		t.Fatal(err)
	}
	if stderr := rt.stderr(); stderr != "" {
		t.Errorf("stderr: %s", stderr)
	}
	// Each start has its own Runtime API address.
	delete(report["env"].(map[string]any), "AWS_LAMBDA_RUNTIME_API")
	return report
}

// TestStemIsOrdinary: a stem given its message is, as the function sees
// it, the process an ordinary start makes: variables (and their order),
// working directory, command line, interpreter flags, search paths
// (PYTHONPATH and NODE_PATH included, which the message brings), time zone
// and locale, stdio, signal state and loaded modules.
func TestStemIsOrdinary(t *testing.T) {
	for _, tc := range []struct {
		lang  string
		extra []string
	}{
		{"python", nil},
		{"python", []string{"LANG=C", "LC_ALL="}}, // locale coercion adds LC_CTYPE at start
		{"node", nil},
		{"node", []string{"UV_THREADPOOL_SIZE=2", "NODE_OPTIONS=--stack-trace-limit=7"}},
	} {
		t.Run(tc.lang+strings.Join(tc.extra, ","), func(t *testing.T) {
			t.Parallel()
			s := newStemSetup(t, tc.lang)
			plain := s.probe(t, false, tc.extra...)
			stem := s.probe(t, true, tc.extra...)
			if got := plain["env"].(map[string]any)["USER_VAR"]; got != "only-in-the-message" {
				t.Errorf("ordinary start: USER_VAR = %v", got)
			}
			if diff := cmp.Diff(plain, stem); diff != "" {
				t.Errorf("stem differs from an ordinary start (-ordinary +stem):\n%s", diff)
			}
		})
	}
}

// TestStemReleasedUnused: a stem whose pipe closes without a message
// exits 0 having run nothing.
func TestStemReleasedUnused(t *testing.T) {
	for _, lang := range []string{"python", "node"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			s := newStemSetup(t, lang)
			args, _ := launch(t, lang, s.rtDir)
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(args[0], args[1:]...)
			cmd.ExtraFiles = []*os.File{r}
			cmd.Env = []string{"_HEARTH_STEM_FD=3", "PATH=/usr/bin:/bin"}
			cmd.Dir = "/"
			out, err := os.CreateTemp(t.TempDir(), "out")
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r.Close()
			time.Sleep(200 * time.Millisecond)
			w.Close()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("released stem: %v; want exit status 0", err)
				}
			case <-time.After(waitTimeout):
				cmd.Process.Kill()
				t.Fatal("released stem did not exit")
			}
			if b, _ := os.ReadFile(out.Name()); len(b) != 0 {
				t.Errorf("released stem wrote %q; want nothing", b)
			}
		})
	}
}
