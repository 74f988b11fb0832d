package runtimes

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed python/bootstrap.py node/bootstrap.mjs
var clients embed.FS

// Config says where the host's interpreters are. The zero value searches
// for them (see Search).
type Config struct {
	// Interpreters names the interpreter of a managed runtime, by runtime
	// id ("python3.12" → "/usr/local/bin/python3.12"), instead of
	// searching. It must be of exactly the runtime's version.
	Interpreters map[string]string
	// Search is where to look for interpreters. Nil means DefaultSearch().
	Search *Search
}

// Host is the set of runtimes this machine can run, with the runtime
// clients unpacked on disk.
type Host struct {
	dir     string
	managed map[string]*served // by runtime id; managed runtimes only
}

// served is the interpreter of one managed runtime, or why there is none.
type served struct {
	in      *interpreter // nil when absent
	reason  string       // why in is nil
	explain string       // what to do about it
}

// interpreter is one interpreter executable found on the host.
type interpreter struct {
	kind    Kind
	path    string   // real executable
	version string   // "3.12.1", "22.11.0"
	paths   []string // host paths the interpreter needs beyond the system dirs

	compileOnce sync.Once // Python: the client's code cache for this version
	compileErr  error
}

// series is the version a runtime id stands for: "3.12" for python3.12,
// "22" for nodejs22.x.
func series(rt Runtime) string {
	switch rt.Kind {
	case Python:
		return strings.TrimPrefix(rt.ID, "python")
	case Node:
		return strings.TrimSuffix(strings.TrimPrefix(rt.ID, "nodejs"), ".x")
	}
	return ""
}

// serves reports whether version ("3.12.1") belongs to series ("3.12").
func serves(series, version string) bool {
	return version == series || strings.HasPrefix(version, series+".")
}

// Setup writes the runtime clients under dir (replacing what was there) and
// resolves the interpreter of every managed runtime: an interpreter named in
// cfg must exist and be of the runtime's version; otherwise Setup searches
// (cfg.Search). It probes the candidates in parallel, a few at a time.
func Setup(ctx context.Context, dir string, cfg Config) (*Host, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clean runtime dir: %w", err)
	}
	err := fs.WalkDir(clients, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, p)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := clients.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return nil, fmt.Errorf("write runtime clients: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "provided"), 0o755); err != nil {
		return nil, fmt.Errorf("write runtime clients: %w", err)
	}
	managed, err := resolve(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Host{dir: dir, managed: managed}, nil
}

// Resolve finds the interpreter of every managed runtime as Setup does,
// without writing the clients, and reports the outcome.
func Resolve(ctx context.Context, cfg Config) ([]Status, error) {
	managed, err := resolve(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return (&Host{managed: managed}).Statuses(), nil
}

func resolve(ctx context.Context, cfg Config) (map[string]*served, error) {
	search := cfg.Search
	if search == nil {
		search = DefaultSearch()
	}
	var ids []string // managed runtimes, sorted
	for _, id := range IDs() {
		if rt, _ := Lookup(id); rt.Kind != Provided {
			ids = append(ids, id)
		}
	}
	named := map[string]string{} // runtime id → absolute path
	for id, p := range cfg.Interpreters {
		rt, ok := Lookup(id)
		if !ok || rt.Kind == Provided {
			return nil, fmt.Errorf("runtime %s=%s: %s is not a managed runtime (one of %s)", id, p, id, strings.Join(ids, ", "))
		}
		abs, err := exec.LookPath(p) // a bare name is looked up on PATH
		if err == nil {
			abs, err = filepath.Abs(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("runtime %s=%s: %w", id, p, err)
		}
		named[id] = abs
	}

	// Every candidate file, in order of preference for each runtime.
	cands := map[string][]string{} // runtime id → candidate paths
	for _, id := range ids {
		rt, _ := Lookup(id)
		if p, ok := named[id]; ok {
			cands[id] = []string{p}
			continue
		}
		cands[id] = search.candidates(rt)
	}
	var files []string
	kinds := map[string]Kind{}
	for _, id := range ids {
		rt, _ := Lookup(id)
		for _, p := range cands[id] {
			if _, ok := kinds[p]; !ok {
				kinds[p] = rt.Kind
				files = append(files, p)
			}
		}
	}
	probed := probeAll(ctx, files, kinds)
	// Every interpreter found, per kind and by version, for the reasons.
	var all []*interpreter
	for _, p := range files {
		if in := probed[p].in; in != nil && !slices.Contains(all, in) {
			all = append(all, in)
		}
	}
	slices.SortFunc(all, func(a, b *interpreter) int { return compareVersions(a.version, b.version) })

	out := map[string]*served{}
	for _, id := range ids {
		rt, _ := Lookup(id)
		want := series(rt)
		s := &served{}
		var found []string
		for _, p := range cands[id] {
			r := probed[p]
			if r.err != nil {
				found = append(found, r.err.Error())
				continue
			}
			if serves(want, r.in.version) {
				s.in = r.in
				break
			}
			if _, explicit := named[id]; explicit {
				found = append(found, fmt.Sprintf("%s %s at %s", kindName(rt.Kind), r.in.version, r.in.path))
			}
		}
		if _, explicit := named[id]; !explicit {
			for _, in := range all {
				if in.kind == rt.Kind {
					found = append(found, fmt.Sprintf("%s %s at %s", kindName(rt.Kind), in.version, in.path))
				}
			}
		}
		if p, ok := named[id]; ok && s.in == nil {
			if r := probed[p]; r.err != nil {
				return nil, fmt.Errorf("runtime %s=%s: %w", id, p, r.err)
			}
			return nil, fmt.Errorf("runtime %s=%s: that is %s; %s needs %s %s", id, p, found[0], id, kindName(rt.Kind), want)
		}
		if s.in == nil {
			s.reason = fmt.Sprintf("no %s %s interpreter was found on this host", kindName(rt.Kind), want)
			if len(found) > 0 {
				s.reason += " (found " + strings.Join(found, ", ") + ")"
			}
			s.explain = search.advice(rt)
		}
		out[id] = s
	}
	return out, nil
}

// compareVersions orders dotted version numbers numerically.
func compareVersions(a, b string) int {
	num := func(v string) []int {
		var out []int
		for f := range strings.SplitSeq(v, ".") {
			n, _ := strconv.Atoi(f)
			out = append(out, n)
		}
		return out
	}
	return slices.Compare(num(a), num(b))
}

func kindName(k Kind) string {
	if k == Node {
		return "Node.js"
	}
	return "Python"
}

type probeResult struct {
	in  *interpreter
	err error
}

// probeParallel bounds the interpreter processes started at once.
const probeParallel = 4

// probeAll probes every file, probeParallel at a time. Files that are the
// same executable share one probe and one interpreter.
func probeAll(ctx context.Context, files []string, kinds map[string]Kind) map[string]probeResult {
	type job struct {
		real string
		kind Kind
	}
	reals := map[string]string{} // file → real path
	var jobs []job
	seen := map[string]bool{}
	out := map[string]probeResult{}
	for _, f := range files {
		real, err := filepath.EvalSymlinks(f)
		if err != nil {
			out[f] = probeResult{err: fmt.Errorf("%s: %w", f, err)}
			continue
		}
		reals[f] = real
		if !seen[real] {
			seen[real] = true
			jobs = append(jobs, job{real, kinds[f]})
		}
	}
	results := make([]probeResult, len(jobs))
	sem := make(chan struct{}, probeParallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			in, err := probe(ctx, j.kind, j.real)
			results[i] = probeResult{in, err}
		})
	}
	wg.Wait()
	byReal := map[string]probeResult{}
	for i, j := range jobs {
		byReal[j.real] = results[i]
	}
	for f, real := range reals {
		out[f] = byReal[real]
	}
	return out
}

// probeTimeout bounds one interpreter's answer.
const probeTimeout = 10 * time.Second

// probe runs the interpreter at path and asks for its real executable, its
// version and (Python) its installation prefix, which sees through
// wrappers. Its environment is empty, so PYTHON* and NODE_OPTIONS variables
// of the server's cannot change the answer.
func probe(ctx context.Context, kind Kind, path string) (*interpreter, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var cmd *exec.Cmd
	if kind == Python {
		cmd = exec.CommandContext(ctx, path, "-I", "-S", "-c",
			"import sys, os; print(os.path.realpath(sys.executable)); print('%d.%d.%d' % sys.version_info[:3]); print(os.path.realpath(sys.base_prefix))")
	} else {
		cmd = exec.CommandContext(ctx, path, "-p", "process.execPath + '\\n' + process.versions.node")
	}
	cmd.Env = []string{}
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s does not run: %v", path, err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 || !filepath.IsAbs(lines[0]) {
		return nil, fmt.Errorf("%s printed %q", path, b)
	}
	exe, err := filepath.EvalSymlinks(lines[0])
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", lines[0], err)
	}
	in := &interpreter{kind: kind, path: exe, version: lines[1]}
	var dirs []string
	if kind == Python && len(lines) == 3 {
		dirs = []string{lines[2], exe}
	} else {
		// node finds its own files next to its executable: bin/node,
		// lib/node_modules, include.
		dirs = []string{filepath.Dir(filepath.Dir(exe))}
	}
	for _, d := range dirs {
		if !outsideSystem(d) || slices.ContainsFunc(in.paths, func(p string) bool { return d == p || strings.HasPrefix(d, p+"/") }) {
			continue
		}
		if bad := reservedInside(d); bad != "" {
			return nil, fmt.Errorf("%s is installed under %s, which environments reserve (%s); install it elsewhere, such as under /usr/local", path, d, bad)
		}
		in.paths = append(in.paths, d)
	}
	return in, nil
}

// systemDirs are visible inside every sandbox already.
var systemDirs = []string{"/usr/", "/bin/", "/lib/", "/lib64/", "/sbin/"}

func outsideSystem(p string) bool {
	for _, d := range systemDirs {
		if strings.HasPrefix(p+"/", d) {
			return false
		}
	}
	return true
}

// reservedInside returns the directory of an environment's own that p lies
// in (an isolating driver cannot show the host's files there), or "".
func reservedInside(p string) string {
	for _, d := range []string{"/opt", "/tmp", "/var/task", "/var/runtime", "/proc", "/dev", "/sys"} {
		if p == d || strings.HasPrefix(p, d+"/") {
			return d
		}
	}
	return ""
}

// ErrUnavailable reports a runtime whose interpreter this host lacks.
var ErrUnavailable = errors.New("runtime not available on this host")

// Available reports whether the host can run rt, and why not: the error
// says what was found and how to provide the interpreter.
func (h *Host) Available(rt Runtime) error {
	if rt.Kind == Provided {
		return nil
	}
	s, ok := h.managed[rt.ID]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnavailable, rt.ID)
	}
	if s.in == nil {
		return fmt.Errorf("%w: %s: %s. %s", ErrUnavailable, rt.ID, s.reason, s.explain)
	}
	return nil
}

// Status is how this host serves one runtime id.
type Status struct {
	Runtime string `json:"runtime"`
	Kind    string `json:"kind"`
	// Interpreter and Version name the executable that runs the
	// runtime's functions; empty for custom runtimes, which run the
	// package's bootstrap.
	Interpreter string `json:"interpreter,omitempty"`
	Version     string `json:"version,omitempty"`
	Available   bool   `json:"available"`
	// Reason says why the runtime is not available and how to fix it.
	Reason string `json:"reason,omitempty"`
}

// Statuses lists every runtime id of the catalogue, sorted, with how this
// host serves it.
func (h *Host) Statuses() []Status {
	var out []Status
	for _, id := range IDs() {
		rt, _ := Lookup(id)
		st := Status{Runtime: id, Kind: rt.Kind.String(), Available: true}
		if s, ok := h.managed[id]; ok {
			if s.in != nil {
				st.Interpreter, st.Version = s.in.path, s.in.version
			} else {
				st.Available, st.Reason = false, s.reason+". "+s.explain
			}
		}
		out = append(out, st)
	}
	return out
}

// Launch is how to start a runtime: the command and what the sandbox must
// make visible for it.
type Launch struct {
	// Cmd refers to $LAMBDA_TASK_ROOT and $LAMBDA_RUNTIME_DIR (sandbox.Expand).
	Cmd []string
	// RuntimeDir is the host directory to expose as LAMBDA_RUNTIME_DIR.
	RuntimeDir string
	// HostPaths are interpreter files outside the system directories.
	HostPaths []string
	// Env holds runtime-specific variables (NODE_PATH, ...).
	Env []string
}

// Launch returns how to start rt. The first launch of a Python version
// writes the client's code cache for it into the runtime directory, which
// sandboxes mount read-only.
func (h *Host) Launch(rt Runtime) (Launch, error) {
	if err := h.Available(rt); err != nil {
		return Launch{}, err
	}
	switch rt.Kind {
	case Python:
		in := h.managed[rt.ID].in
		dir := filepath.Join(h.dir, "python")
		if err := in.precompile(dir); err != nil {
			return Launch{}, err
		}
		return Launch{
			Cmd:        append([]string{in.path}, pythonArgs...),
			RuntimeDir: dir,
			HostPaths:  in.paths,
			Env:        []string{"PYTHONPATH=$LAMBDA_RUNTIME_DIR", shellLevel},
		}, nil
	case Node:
		in := h.managed[rt.ID].in
		return Launch{
			Cmd:        append([]string{in.path}, nodeArgs...),
			RuntimeDir: filepath.Join(h.dir, "node"),
			HostPaths:  in.paths,
			// $HEARTH_OPT is sandbox.OptRef: /opt in the environment.
			Env: []string{"NODE_PATH=$HEARTH_OPT/nodejs/" + nodeDir(rt.ID) + "/node_modules:$HEARTH_OPT/nodejs/node_modules:" +
				"$LAMBDA_RUNTIME_DIR/node_modules:$LAMBDA_RUNTIME_DIR:$LAMBDA_TASK_ROOT", shellLevel},
		}, nil
	default: // Provided
		return Launch{
			Cmd:        []string{"$LAMBDA_TASK_ROOT/bootstrap"},
			RuntimeDir: filepath.Join(h.dir, "provided"),
		}, nil
	}
}

// shellLevel is in a managed runtime's environment on Lambda, whose
// bootstrap is a shell script that execs the interpreter (bash counts the
// exec down to 0). Custom runtimes have none (an AWS recording of January
// 2026: python3.x and nodejs*.x have SHLVL=0, provided.al2023 no SHLVL).
const shellLevel = "SHLVL=0"

// nodeDir is the version directory of a Node runtime's layer packages, as
// Lambda puts it on NODE_PATH: node22 for nodejs22.x.
func nodeDir(id string) string {
	return "node" + strings.TrimSuffix(strings.TrimPrefix(id, "nodejs"), ".x")
}

// precompile writes the Python client's code cache for this interpreter's
// version into dir, once.
func (in *interpreter) precompile(dir string) error {
	in.compileOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, in.path, filepath.Join(dir, "bootstrap.py"), "--precompile")
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		if out, err := cmd.CombinedOutput(); err != nil {
			in.compileErr = fmt.Errorf("precompile the python client with %s: %v: %s", in.path, err, out)
		}
	})
	return in.compileErr
}

// Architecture is this host's processor as Lambda names architectures:
// "x86_64" or "arm64", or "" for any other.
func Architecture() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "arm64"
	}
	return ""
}

// ErrArchitecture reports a function built for an architecture this host's
// processor cannot execute.
var ErrArchitecture = errors.New("architecture not supported by this host")

// CheckArchitecture reports whether this host runs functions of arch, a
// Lambda architecture ("x86_64" or "arm64"); other values are left to the
// configuration's own validation. Native code for another processor fails
// to execute ("exec format error"), so such a function is refused up front.
func CheckArchitecture(arch string) error {
	if arch != "x86_64" && arch != "arm64" {
		return nil
	}
	if arch != Architecture() {
		return fmt.Errorf("%w: %s functions cannot run on a %s processor", ErrArchitecture, arch, runtime.GOARCH)
	}
	return nil
}

// Bootstrap is the file a custom runtime's package must hold.
const Bootstrap = "bootstrap"

// ErrInvalidEntrypoint reports a custom runtime package that cannot start:
// Lambda's Runtime.InvalidEntrypoint.
var ErrInvalidEntrypoint = errors.New("invalid entrypoint")

// CheckCode reports a problem the unpacked package in dir has for rt that
// keeps it from ever starting: a custom runtime needs an executable
// bootstrap at the package root.
func CheckCode(rt Runtime, dir string) error {
	if rt.Kind != Provided {
		return nil
	}
	st, err := os.Stat(filepath.Join(dir, Bootstrap))
	if err != nil {
		return fmt.Errorf("%w: Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]", ErrInvalidEntrypoint)
	}
	if !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%w: bootstrap is not an executable file (fork/exec /var/task/bootstrap: permission denied)", ErrInvalidEntrypoint)
	}
	return nil
}
