// Package sandbox defines the contract between the worker and an isolation
// backend: how an execution environment is started, observed, paused and
// destroyed.
//
// This package has no implementation. Backends live in subpackages: process
// (plain child processes, any OS, no root) and linux (namespaces, cgroups,
// seccomp, a read-only root). Package sandboxtest holds the conformance suite
// every backend must pass.
//
// A backend places the function's code, the runtime client and a private
// scratch directory where the runtime expects them, and it tells the runtime
// where it put them through the environment variables LAMBDA_TASK_ROOT,
// LAMBDA_RUNTIME_DIR, TMPDIR and AWS_LAMBDA_RUNTIME_API. The worker never
// needs to know the paths: arguments of [Spec.Cmd] and values of
// [Spec.Env] may refer to $LAMBDA_TASK_ROOT and $LAMBDA_RUNTIME_DIR and the
// backend expands them with [Expand]. They may also refer to [OptRef], which
// the backend replaces ([ExpandOpt]) with where the environment sees
// [Spec.OptDir]: /opt, or a host path when it cannot show it there.
//
// # Accounts
//
// [Spec.Account] names the account whose function an environment runs.
// Environments of different accounts must share nothing. The linux driver
// guarantees it: every environment has its own namespaces, its own uid
// (never one another account's environment may still hold files or
// processes as), its own cgroup in a subtree of its account's, and a network
// address no other environment, of the same account or another, can reach.
// The process driver cannot isolate accounts at all: its environments run
// as the server's own user, see the whole file system and share the host's
// network, so they can signal, trace and read each other whatever their
// account. It accepts Spec.Account only so that the same server runs on
// it; a server must serve no more than one account on it (Hearth's server
// refuses a second account when its driver is the process driver).
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
)

// Paths inside an isolated environment, as Lambda lays them out. Backends
// that cannot relocate files (process) use host paths instead.
const (
	TaskRoot   = "/var/task"
	RuntimeDir = "/var/runtime"
	OptDir     = "/opt"
	// RuntimeAPIAddr is where an isolated environment's runtime finds the
	// Runtime API, as on Lambda.
	RuntimeAPIAddr = "127.0.0.1:9001"
	// OptRef in a Spec's Cmd or Env stands for the directory where the
	// environment sees Spec.OptDir: "/opt" in an isolated environment. The
	// process driver without root cannot change what /opt shows, so there
	// it stands for the host directory itself (and for an empty directory
	// of the environment's when OptDir is empty). Like $LAMBDA_TASK_ROOT,
	// the environment never sees the name: the driver replaces it.
	OptRef = "$HEARTH_OPT"
)

// Spec describes one execution environment.
type Spec struct {
	// ID names the environment. It is unique among the live environments
	// of a driver and matches [a-z0-9-]{1,40}.
	ID string
	// Function is the name of the function the environment runs, for
	// labels and logs only.
	Function string
	// Account is the 12-digit id of the account the function belongs to;
	// empty means the server's default account. Isolating drivers keep
	// environments of different accounts apart (see the package doc).
	Account string

	// Cmd is the bootstrap command line. Arguments may contain
	// $LAMBDA_TASK_ROOT and $LAMBDA_RUNTIME_DIR, expanded by the driver.
	// Cmd[0] is an absolute path, or a path under one of those two.
	Cmd []string
	// Env is the bootstrap's environment as KEY=VALUE pairs, expanded
	// like Cmd (LD_LIBRARY_PATH refers to the task root). The driver
	// adds LAMBDA_TASK_ROOT, LAMBDA_RUNTIME_DIR, TMPDIR and
	// AWS_LAMBDA_RUNTIME_API; nothing of the host's environment leaks in.
	Env []string

	// CodeDir is the unpacked function code on the host. The runtime sees
	// it read-only at LAMBDA_TASK_ROOT and starts in it. Its content must
	// not change once used: a driver may keep a copy of it (the linux
	// driver does) for the next environments with the same CodeDir.
	CodeDir string
	// RuntimeDir holds the runtime client on the host (may be empty). The
	// runtime sees it read-only at LAMBDA_RUNTIME_DIR.
	RuntimeDir string
	// HostPaths are extra host files or directories the runtime needs,
	// such as an interpreter installed outside the system directories.
	// Isolating drivers make them visible read-only at the same path.
	HostPaths []string
	// OptDir is a host directory (the function's layers, merged in order)
	// the runtime sees read-only at /opt; empty means an empty /opt. Like
	// CodeDir it must not change once used: the linux driver keeps a copy
	// of it. The process driver shows it at /opt only as root (a private
	// mount namespace for the bootstrap); without root /opt is the host's,
	// and only paths written with [OptRef] lead to OptDir.
	OptDir string

	// Extensions are the external extensions to start before the
	// bootstrap: paths of executables as the environment sees them
	// (written with [OptRef]: "$HEARTH_OPT/extensions/NAME"). They run in
	// the same environment as the bootstrap (its limits, network, freeze
	// and teardown), from the task root, with ExtensionEnv, their output
	// to Output. Drivers that start them implement [ExtensionWatcher].
	Extensions []string
	// ExtensionEnv is the extensions' environment, expanded and
	// completed like Env.
	ExtensionEnv []string
	// ExtensionOutput receives what the extensions write to stdout and
	// stderr, like Output; nil means Output.
	ExtensionOutput *os.File
	// HoldBootstrap asks the driver to start the extensions only: the
	// bootstrap waits until the caller releases it with
	// [BootstrapStarter.StartBootstrap], as Lambda starts the runtime
	// only once every external extension has registered. Drivers whose
	// environments do not implement BootstrapStarter ignore it.
	HoldBootstrap bool

	// Zygote names the pre-initialized interpreter that may start the
	// bootstrap in place of executing Cmd: "python" when Cmd is the
	// managed Python runtime's own launch, unwrapped; empty means Cmd is
	// always executed. A driver with zygotes uses one only when the
	// result is the same as executing Cmd (see the process driver), and
	// otherwise executes Cmd.
	Zygote string

	// Stem names the managed runtime ("python" or "node") whose
	// interpreter a driver may have started ahead of time, before it knew
	// the function: a pre-started runtime ("stem") that has loaded the
	// runtime client and waits for its start message (see [StemMessage]).
	// Empty means Cmd is always executed at Start. Like Zygote, a driver
	// uses a stem only when the result is the same as executing Cmd and
	// otherwise executes Cmd; the worker sets it only when the function
	// sets no variable an interpreter reads as it starts.
	Stem string

	// MemoryMB is the function's MemorySize. Isolating drivers enforce it.
	MemoryMB int
	// TmpMB is the size of the private scratch space (EphemeralStorage).
	TmpMB int

	// Output receives everything the environment's processes write to
	// stdout and stderr. The driver duplicates it into the process; the
	// caller keeps ownership and may close its copy after Start returns.
	Output *os.File
}

// Validate reports the first problem with s.
func (s *Spec) Validate() error {
	switch {
	case !validID(s.ID):
		return fmt.Errorf("sandbox spec: invalid id %q", s.ID)
	case !ValidAccount(s.Account):
		return fmt.Errorf("sandbox spec: invalid account %q: want 12 digits or none", s.Account)
	case len(s.Cmd) == 0:
		return errors.New("sandbox spec: empty command")
	case s.CodeDir == "":
		return errors.New("sandbox spec: no code directory")
	case s.Output == nil:
		return errors.New("sandbox spec: no output file")
	}
	return nil
}

func validID(id string) bool {
	if id == "" || len(id) > 40 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidAccount reports whether account is a 12-digit account id, or empty
// (the default account).
func ValidAccount(account string) bool {
	if account == "" {
		return true
	}
	if len(account) != 12 {
		return false
	}
	for _, c := range account {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Expand replaces $LAMBDA_TASK_ROOT and $LAMBDA_RUNTIME_DIR in each
// argument of cmd. Other text, including other $ references, is kept.
func Expand(cmd []string, taskRoot, runtimeDir string) []string {
	r := strings.NewReplacer("$LAMBDA_TASK_ROOT", taskRoot, "$LAMBDA_RUNTIME_DIR", runtimeDir)
	out := make([]string, len(cmd))
	for i, a := range cmd {
		out[i] = r.Replace(a)
	}
	return out
}

// ExpandOpt replaces [OptRef] in each of vals with optDir.
func ExpandOpt(vals []string, optDir string) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.ReplaceAll(v, OptRef, optDir)
	}
	return out
}

// Driver starts execution environments. It is safe for concurrent use.
type Driver interface {
	// Name is the driver's name as given to --isolation.
	Name() string

	// Start prepares an environment for spec and starts its bootstrap
	// process (only its extensions when spec.HoldBootstrap and the
	// driver's environments implement [BootstrapStarter]). If Start
	// returns an error, it has left nothing behind.
	// When the bootstrap itself cannot be executed the error wraps an
	// [*ExecError].
	// ctx bounds the preparation only, not the environment's life.
	Start(ctx context.Context, spec *Spec) (Env, error)

	// Close releases what the driver holds beyond its environments (pools
	// of prepared sandboxes, host rules). Environments must have been
	// destroyed first. Close is idempotent.
	Close() error
}

// Env is one running execution environment. Its methods are safe for
// concurrent use.
type Env interface {
	ID() string

	// RuntimeListener is reachable inside the environment at the address
	// in AWS_LAMBDA_RUNTIME_API. The caller serves the Runtime API on it
	// and closes it; Destroy closes it too.
	RuntimeListener() net.Listener

	// Done is closed once the bootstrap process has exited and been
	// reaped.
	Done() <-chan struct{}

	// Exit reports how the bootstrap process ended. It is valid once Done
	// is closed.
	Exit() Exit

	// MaxMemory is the peak memory the environment has used, in bytes,
	// as well as the driver can measure it.
	MaxMemory() int64

	// Destroy kills every process of the environment and releases every
	// resource it holds, including its scratch space. It is idempotent,
	// may run concurrently with anything else, and returns after Done is
	// closed. A frozen environment can be destroyed.
	Destroy(ctx context.Context) error
}

// Freezer is implemented by environments that can be paused between
// invocations so that they use no CPU. Callers discover it with a type
// assertion. Freeze and Thaw are idempotent.
type Freezer interface {
	Freeze(ctx context.Context) error
	Thaw(ctx context.Context) error
}

// CodePreparer is implemented by drivers that can do part of a cold start
// ahead, when a function version is activated: the linux driver builds the
// read-only filesystems it mounts a package and a runtime client's
// directory from. codeDir and runtimeDir are a later Spec's CodeDir and
// RuntimeDir (either may be empty). PrepareCode is idempotent and safe for
// concurrent use; if it fails, Start does the work itself.
type CodePreparer interface {
	PrepareCode(ctx context.Context, codeDir, runtimeDir string) error
}

// InitBooster is implemented by environments that run the init phase with
// more CPU than their memory size buys, as Lambda does, so that a runtime
// and the function's module-level code start at full speed. The worker
// calls EndInit once init has completed; from then on the environment gets
// the CPU share in proportion to its memory. EndInit is idempotent.
type InitBooster interface {
	EndInit(ctx context.Context) error
}

// ExtensionWatcher is implemented by environments that started
// [Spec.Extensions].
type ExtensionWatcher interface {
	// ExtensionExits yields the end of each extension process, once per
	// extension (its capacity is the number of extensions).
	ExtensionExits() <-chan ExtensionExit
}

// BootstrapStarter is implemented by environments that can be started
// with their bootstrap held ([Spec.HoldBootstrap]). Until it is released
// the environment is complete (its limits, network, /tmp and extensions),
// no process of the bootstrap exists, and Done stays open unless the
// environment dies or is destroyed.
type BootstrapStarter interface {
	// StartBootstrap executes the held bootstrap and returns once it
	// runs. When the bootstrap cannot be executed the error wraps an
	// [*ExecError], as Start's would; the environment is then of no
	// further use. Without HoldBootstrap, and after the first call, it
	// does nothing more and returns the first call's result. After
	// Destroy it starts nothing and returns an error.
	StartBootstrap(ctx context.Context) error
}

// ExtensionExit reports that an extension process ended.
type ExtensionExit struct {
	// Name is the extension's file name.
	Name string
	Exit Exit
	// Err is set when the extension could not be executed at all.
	Err error
}

// Terminator is implemented by environments that can ask their bootstrap
// to stop: Terminate sends it SIGTERM. Lambda does so at shutdown when an
// extension has registered (aws-lambda-go's WithEnableSIGTERM registers an
// internal one just for that).
type Terminator interface {
	Terminate() error
}

// Dialer is implemented by environments whose network the server can
// reach: Dial connects to addr (such as 127.0.0.1:PORT) as seen from
// inside the environment. The Telemetry API delivers to extensions
// through it.
type Dialer interface {
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

// ExecError reports that the bootstrap could not be executed: the kernel
// refused it (no such file, a missing #! interpreter, a binary built for
// another architecture, no permission). It is the function's fault, not
// the platform's: [Driver.Start] returns it, possibly wrapped, and callers
// find it with errors.As.
type ExecError struct {
	// Path is the bootstrap's path as the environment sees it.
	Path string
	// Err is the exec's error, usually a [syscall.Errno].
	Err error
}

// Error reads like Go's own exec failures, as Lambda reports them:
// "fork/exec /var/task/bootstrap: exec format error".
func (e *ExecError) Error() string { return "fork/exec " + e.Path + ": " + e.Err.Error() }

func (e *ExecError) Unwrap() error { return e.Err }

// Exit describes how a bootstrap process ended.
type Exit struct {
	// Code is the exit status, or -1 when a signal killed the process.
	Code int
	// Signal is the signal that killed the process, or 0.
	Signal syscall.Signal
	// OOM reports that the environment was killed for exceeding its
	// memory limit.
	OOM bool
}

// String describes e the way Lambda's Runtime.ExitError does:
// "exit status 1" or "signal: killed".
func (e Exit) String() string {
	if e.Signal != 0 {
		return "signal: " + e.Signal.String()
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// StemFDVar is the variable that tells a pre-started runtime (a stem, see
// [Spec.Stem]) which of its descriptors carries its start message. Only a
// stem's start environment has it; the message's environment does not.
const StemFDVar = "_HEARTH_STEM_FD"

// StemMessage is what a driver writes, as JSON, to a stem's start
// descriptor (a pipe), then closes it: the stem reads to end of file,
// replaces its whole environment with Env (KEY=VALUE pairs, expanded as
// for an executed Cmd), changes to Cwd, closes the descriptor and goes on
// as an executed bootstrap would, loading the function's code only now.
type StemMessage struct {
	Cwd string   `json:"cwd"`
	Env []string `json:"env"`
}
