//go:build linux

package linux_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/sandboxtest"
)

// envSpec is a spec running script with bash, with its code in a fresh
// directory holding files.
func envSpec(t *testing.T, script string, files map[string]string) *sandbox.Spec {
	t.Helper()
	code := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(code, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &sandbox.Spec{
		ID:         sandboxtest.NewID(),
		Function:   "linux-test",
		Cmd:        []string{"/bin/bash", "-c", script},
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		CodeDir:    code,
		RuntimeDir: t.TempDir(),
		MemoryMB:   512,
		TmpMB:      64,
	}
}

// pythonSpec is a spec running the python program src, with the host's
// python3 made visible through HostPaths as the server does.
func pythonSpec(t *testing.T, src string) *sandbox.Spec {
	t.Helper()
	py, prefix := hostPython(t)
	spec := envSpec(t, "", map[string]string{"main.py": src, "probe.py": probePy})
	spec.Cmd = []string{py, "-u", "$LAMBDA_TASK_ROOT/main.py"}
	spec.HostPaths = []string{prefix}
	return spec
}

// hostPython returns the real python3 executable and its installation
// prefix, or skips the test.
func hostPython(t *testing.T) (exe, prefix string) {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable); print(sys.base_prefix)").Output()
	if err != nil {
		t.Skipf("python3 is not installed: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		t.Skipf("python3 printed %q", out)
	}
	return f[0], f[1]
}

// probePy connects to each host:port argument and prints one line per
// target: "<target> ok <first line received>" or "<target> err <errno name>".
const probePy = `
import errno, socket, sys
def probe(target, timeout=3):
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.settimeout(timeout)
            return "ok " + s.recv(100).decode().strip()
    except socket.timeout:
        return "err timeout"
    except OSError as e:
        return "err " + (errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__)
def gateway():
    with open("/proc/net/route") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if p[1] == "00000000":
                return socket.inet_ntoa(bytes.fromhex(p[2])[::-1])
    return "none"
def my_addr():
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("10.255.255.255", 1))
        return s.getsockname()[0]
    except OSError:
        return "none"
`

// start starts spec on d; t.Cleanup destroys the environment.
func start(t *testing.T, d sandbox.Driver, spec *sandbox.Spec) *sandboxtest.Started {
	t.Helper()
	return sandboxtest.StartSpec(t, d, spec)
}

// lines returns the output lines of e that start with prefix, without it.
func lines(t *testing.T, e *sandboxtest.Started, prefix string) []string {
	var out []string
	for l := range strings.Lines(e.Output(t)) {
		if rest, ok := strings.CutPrefix(strings.TrimRight(l, "\n"), prefix); ok {
			out = append(out, rest)
		}
	}
	return out
}

// waitExit waits for the bootstrap to end and for its output to be read to
// the end (Done can come before the reader has caught up).
func waitExit(t *testing.T, e *sandboxtest.Started) sandbox.Exit {
	t.Helper()
	exit := sandboxtest.WaitExit(t, e.Env, 30*time.Second)
	e.WaitEOF(t, 10*time.Second)
	return exit
}
