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
	"strings"
	"time"
)

//go:embed python/bootstrap.py node/bootstrap.mjs
var clients embed.FS

// Config says where the host's interpreters are. The zero value finds them
// on PATH.
type Config struct {
	// Python is the python3 to run Python functions with. Empty means
	// python3 on PATH.
	Python string
	// Node is the node to run Node.js functions with. Empty means node on
	// PATH.
	Node string
}

// Host is the set of runtimes this machine can run, with the runtime
// clients unpacked on disk.
type Host struct {
	dir    string
	python interpreter
	node   interpreter
}

type interpreter struct {
	path   string   // real executable, empty when absent
	paths  []string // host paths the interpreter needs beyond the system dirs
	reason string   // why it is absent
}

// Setup writes the runtime clients under dir (replacing what was there) and
// resolves the interpreters once.
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
	h := &Host{dir: dir}
	h.python = resolvePython(ctx, cfg.Python)
	h.node = resolveNode(ctx, cfg.Node)
	if h.python.path != "" {
		// Cache the client's compiled code next to it; sandboxes mount the
		// runtime directory read-only, so it must be there up front.
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(pctx, h.python.path, filepath.Join(dir, "python", "bootstrap.py"), "--precompile")
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("precompile python client: %v: %s", err, out)
		}
	}
	return h, nil
}

// systemDirs are visible inside every sandbox already.
var systemDirs = []string{"/usr/", "/bin/", "/lib/", "/lib64/", "/sbin/"}

func outsideSystem(p string) bool {
	for _, d := range systemDirs {
		if strings.HasPrefix(p, d) {
			return false
		}
	}
	return true
}

// resolvePython asks the interpreter for its real executable and prefix,
// which sees through shims such as pyenv's.
func resolvePython(ctx context.Context, name string) interpreter {
	if name == "" {
		name = "python3"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return interpreter{reason: "python3 was not found on this host"}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-c",
		"import sys, os; print(os.path.realpath(sys.executable)); print(os.path.realpath(sys.base_prefix)); print(sys.version_info[0], sys.version_info[1])").Output()
	if err != nil {
		return interpreter{reason: fmt.Sprintf("%s does not run: %v", path, err)}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 {
		return interpreter{reason: fmt.Sprintf("%s printed %q", path, out)}
	}
	var major, minor int
	fmt.Sscan(lines[2], &major, &minor)
	if major != 3 || minor < 9 {
		return interpreter{reason: fmt.Sprintf("%s is Python %d.%d; Hearth needs 3.9 or later", lines[0], major, minor)}
	}
	in := interpreter{path: lines[0]}
	for _, p := range []string{lines[0], lines[1]} {
		if outsideSystem(p) {
			in.paths = append(in.paths, p)
		}
	}
	return in
}

func resolveNode(ctx context.Context, name string) interpreter {
	if name == "" {
		name = "node"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return interpreter{reason: "node was not found on this host"}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-p", "process.execPath + '\\n' + process.versions.node")
	cmd.Env = []string{} // NODE_OPTIONS and friends must not change the answer
	out, err := cmd.Output()
	if err != nil {
		return interpreter{reason: fmt.Sprintf("%s does not run: %v", path, err)}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	real, err := filepath.EvalSymlinks(lines[0])
	if err != nil {
		return interpreter{reason: fmt.Sprintf("resolve %s: %v", lines[0], err)}
	}
	var major int
	if len(lines) > 1 {
		fmt.Sscanf(lines[1], "%d", &major)
	}
	if major < 18 {
		return interpreter{reason: fmt.Sprintf("%s is Node.js %s; Hearth needs 18 or later", real, lines[len(lines)-1])}
	}
	in := interpreter{path: real}
	if outsideSystem(real) {
		// node finds its own files next to its executable.
		in.paths = append(in.paths, filepath.Dir(filepath.Dir(real)))
	}
	return in
}

// ErrUnavailable reports a runtime whose interpreter this host lacks.
var ErrUnavailable = errors.New("runtime not available on this host")

// Available reports whether the host can run rt, and why not.
func (h *Host) Available(rt Runtime) error {
	var in interpreter
	switch rt.Kind {
	case Provided:
		return nil
	case Python:
		in = h.python
	case Node:
		in = h.node
	default:
		return fmt.Errorf("%w: %s", ErrUnavailable, rt.ID)
	}
	if in.path == "" {
		return fmt.Errorf("%w: %s: %s", ErrUnavailable, rt.ID, in.reason)
	}
	return nil
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

// Launch returns how to start rt.
func (h *Host) Launch(rt Runtime) (Launch, error) {
	if err := h.Available(rt); err != nil {
		return Launch{}, err
	}
	switch rt.Kind {
	case Python:
		return Launch{
			Cmd:        append([]string{h.python.path}, pythonArgs...),
			RuntimeDir: filepath.Join(h.dir, "python"),
			HostPaths:  h.python.paths,
			Env:        []string{"PYTHONPATH=$LAMBDA_RUNTIME_DIR", "PYTHONUNBUFFERED=1"},
		}, nil
	case Node:
		return Launch{
			Cmd:        append([]string{h.node.path}, nodeArgs...),
			RuntimeDir: filepath.Join(h.dir, "node"),
			HostPaths:  h.node.paths,
			Env:        []string{"NODE_PATH=/opt/nodejs/node_modules:$LAMBDA_RUNTIME_DIR/node_modules"},
		}, nil
	default: // Provided
		return Launch{
			Cmd:        []string{"$LAMBDA_TASK_ROOT/bootstrap"},
			RuntimeDir: filepath.Join(h.dir, "provided"),
		}, nil
	}
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
