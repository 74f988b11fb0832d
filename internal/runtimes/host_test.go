package runtimes_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"hearth/internal/runtimes"
)

// hostInterpreters resolves this host's interpreters as the server does.
func hostInterpreters(t *testing.T) map[string]runtimes.Status {
	t.Helper()
	sts, err := runtimes.Resolve(t.Context(), runtimes.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]runtimes.Status{}
	for _, st := range sts {
		out[st.Runtime] = st
	}
	return out
}

// version runs exe and returns the version it reports.
func version(t *testing.T, kind, exe string) string {
	t.Helper()
	var out []byte
	var err error
	if kind == "python" {
		out, err = exec.Command(exe, "-c", "import platform; print(platform.python_version())").Output()
	} else {
		out, err = exec.Command(exe, "-p", "process.versions.node").Output()
	}
	if err != nil {
		t.Fatalf("%s: %v", exe, err)
	}
	return strings.TrimSpace(string(out))
}

// TestRuntimeVersionsAreExact checks that each managed runtime id is served
// by an interpreter of exactly its version, and that Launch runs that
// interpreter: a python3.12 function must not run on the host's python3
// when that is 3.11.
func TestRuntimeVersionsAreExact(t *testing.T) {
	h, err := runtimes.Setup(t.Context(), t.TempDir(), runtimes.Config{})
	if err != nil {
		t.Fatal(err)
	}
	served := 0
	for _, st := range h.Statuses() {
		rt, _ := runtimes.Lookup(st.Runtime)
		if rt.Kind == runtimes.Provided {
			continue
		}
		series := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(st.Runtime, "python"), "nodejs"), ".x")
		if !st.Available {
			if !strings.Contains(st.Reason, "--runtime "+st.Runtime+"=") {
				t.Errorf("%s: reason %q does not say how to name an interpreter", st.Runtime, st.Reason)
			}
			if err := h.Available(rt); !errors.Is(err, runtimes.ErrUnavailable) {
				t.Errorf("Available(%s) = %v; want ErrUnavailable", st.Runtime, err)
			}
			continue
		}
		served++
		l, err := h.Launch(rt)
		if err != nil {
			t.Fatalf("Launch(%s) = %v", st.Runtime, err)
		}
		if l.Cmd[0] != st.Interpreter {
			t.Errorf("Launch(%s) runs %s; Statuses says %s", st.Runtime, l.Cmd[0], st.Interpreter)
		}
		got := version(t, rt.Kind.String(), l.Cmd[0])
		if got != st.Version || !strings.HasPrefix(got+".", series+".") {
			t.Errorf("%s runs %s, which is version %s (Statuses says %s); want %s.*", st.Runtime, l.Cmd[0], got, st.Version, series)
		}
	}
	if served == 0 {
		t.Skip("this host has no interpreter for any managed runtime")
	}
}

// TestSearchFindsVersionManagers builds pyenv- and nvm-like directories
// (links to this host's interpreters) and checks that each runtime gets the
// matching one, not the python3 or node on PATH.
func TestSearchFindsVersionManagers(t *testing.T) {
	have := hostInterpreters(t)
	var py, pyOther, node runtimes.Status
	for _, st := range have {
		switch {
		case !st.Available || st.Interpreter == "":
		case st.Kind == "python" && py.Runtime == "":
			py = st
		case st.Kind == "python" && pyOther.Runtime == "":
			pyOther = st
		case st.Kind == "node" && node.Runtime == "":
			node = st
		}
	}
	if py.Runtime == "" || pyOther.Runtime == "" {
		t.Skip("this host needs two Python versions for this test")
	}
	link := func(target, p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	// python3 on PATH is the other version.
	link(pyOther.Interpreter, filepath.Join(bin, "python3"))
	pyMinor := strings.TrimPrefix(py.Runtime, "python")
	link(py.Interpreter, filepath.Join(root, "pyenv", pyMinor+".0", "bin", py.Runtime))
	search := &runtimes.Search{
		Path:          []string{bin},
		PyenvVersions: filepath.Join(root, "pyenv"),
		NVMVersions:   filepath.Join(root, "nvm"),
	}
	if node.Runtime != "" {
		major := strings.TrimSuffix(strings.TrimPrefix(node.Runtime, "nodejs"), ".x")
		link(node.Interpreter, filepath.Join(root, "nvm", "v"+major+".1.0", "bin", "node"))
	}
	sts, err := runtimes.Resolve(t.Context(), runtimes.Config{Search: search})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]runtimes.Status{}
	for _, st := range sts {
		got[st.Runtime] = st
	}
	for _, want := range []runtimes.Status{py, pyOther, node} {
		if want.Runtime == "" {
			continue
		}
		if g := got[want.Runtime]; !g.Available || g.Version != want.Version {
			t.Errorf("%s = %+v; want version %s", want.Runtime, g, want.Version)
		}
	}
	for id, g := range got {
		if g.Available && g.Interpreter != "" && id != py.Runtime && id != pyOther.Runtime && id != node.Runtime {
			t.Errorf("%s is served by %s %s, which the search did not offer", id, g.Interpreter, g.Version)
		}
	}
}

// TestExplicitInterpreterMustMatch checks --runtime ID=PATH: the named
// interpreter serves the runtime, and one of another version is refused.
func TestExplicitInterpreterMustMatch(t *testing.T) {
	have := hostInterpreters(t)
	var py runtimes.Status
	for _, st := range have {
		if st.Kind == "python" && st.Available {
			py = st
			break
		}
	}
	if py.Runtime == "" {
		t.Skip("no Python interpreter on this host")
	}
	empty := &runtimes.Search{}
	sts, err := runtimes.Resolve(t.Context(), runtimes.Config{Search: empty, Interpreters: map[string]string{py.Runtime: py.Interpreter}})
	if err != nil {
		t.Fatalf("Resolve with %s=%s: %v", py.Runtime, py.Interpreter, err)
	}
	for _, st := range sts {
		if st.Runtime == py.Runtime && (!st.Available || st.Interpreter != py.Interpreter) {
			t.Errorf("%s = %+v; want served by %s", st.Runtime, st, py.Interpreter)
		}
		if st.Runtime != py.Runtime && st.Interpreter != "" {
			t.Errorf("%s = %+v; want unavailable with an empty search", st.Runtime, st)
		}
	}
	other := "python3.9"
	if py.Runtime == other {
		other = "python3.14"
	}
	_, err = runtimes.Resolve(t.Context(), runtimes.Config{Search: empty, Interpreters: map[string]string{other: py.Interpreter}})
	if err == nil || !strings.Contains(err.Error(), "needs Python "+strings.TrimPrefix(other, "python")) {
		t.Errorf("Resolve with %s=%s (Python %s) = %v; want a refusal naming the version", other, py.Interpreter, py.Version, err)
	}
	_, err = runtimes.Resolve(t.Context(), runtimes.Config{Search: empty, Interpreters: map[string]string{"provided.al2023": py.Interpreter}})
	if err == nil {
		t.Errorf("Resolve with an interpreter for provided.al2023 = nil; want an error")
	}
}
