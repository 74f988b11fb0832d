// Package process is the unisolated sandbox driver: each execution
// environment is a plain child process in its own session and process
// group, with its own working directory, scratch directory and Runtime API
// listener on loopback. It runs on any Unix without privileges and isolates
// nothing; use it for development and on hosts where the linux driver
// cannot run.
//
// The Runtime API listener is on the host's loopback, which every local
// user can reach. On Linux it serves only connections whose other end a
// process of the environment's process group holds (found through
// /proc/net/tcp and /proc/<pid>/fd), so no other process can take the
// environment's events or answer for it; a process the function starts in
// a session or group of its own cannot reach it either.
//
// Freezing stops the whole process group with SIGSTOP and thawing continues
// it with SIGCONT. Peak memory is the bootstrap process's VmHWM.
//
// As root on Linux with loop devices and mkfs.ext4, the scratch directory
// (TMPDIR) is an ext4 filesystem of exactly [sandbox.Spec.TmpMB] megabytes
// mounted on the host (package tmpdisk): writing more fails with ENOSPC.
// Otherwise it is a plain directory under Root, limited only by its disk.
//
// /opt ([sandbox.Spec.OptDir]): as root on Linux, when the host has an /opt
// directory, the bootstrap starts in a mount namespace of its own (made on a
// locked thread that forks it and then reaps it, so that Pdeathsig, which
// follows the forking thread, fires only when the server dies) in which
// OptDir, or an empty tmpfs, is mounted read-only at /opt; mounts made on
// the host later still reach it (slave propagation). Otherwise the
// environment's /opt is the host's: only Cmd and Env entries written with
// [sandbox.OptRef] lead to OptDir (to an empty directory of the environment
// when OptDir is empty), and a function that opens /opt/... by name does not
// find its layers.
package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/relay"
	"hearth/internal/sandbox/tmpdisk"
)

// Config configures a Driver. The zero value is usable.
type Config struct {
	// Root holds one scratch directory per environment (and, as root, the
	// images that cap them). Zero means $TMPDIR/hearth-process. Whatever
	// Root holds when the driver is created is debris of an earlier run
	// and is removed.
	Root string
	// Zygote lets a Python bootstrap be forked from a pre-initialized
	// interpreter, when that is the same as executing it (see zygote.go).
	Zygote bool
	// Prestart lets a Python or Node bootstrap ([sandbox.Spec.Stem]) be
	// an interpreter the driver started ahead of time (a stem, see
	// stem.go), when that is the same as executing it. For Python the
	// zygote, when on, is preferred.
	Prestart bool
}

// Driver starts environments as child processes.
type Driver struct {
	root string
	log  *slog.Logger
	tmp  *tmpdisk.Maker // nil: scratch directories are not capped
	// optNS: each bootstrap gets a mount namespace with OptDir at /opt.
	optNS bool
	zyg   *zygotes // nil: no zygotes
	stems *stems   // nil: no stems
}

// defaultTmpMB is the scratch space when the spec leaves it zero.
const defaultTmpMB = 512

var (
	_ sandbox.Driver           = (*Driver)(nil)
	_ sandbox.Freezer          = (*env)(nil)
	_ sandbox.ExtensionWatcher = (*env)(nil)
	_ sandbox.Dialer           = (*env)(nil)
	_ sandbox.Terminator       = (*env)(nil)
	_ sandbox.BootstrapStarter = (*env)(nil)
)

// errDestroyed is StartBootstrap's error once the environment is
// destroyed.
var errDestroyed = errors.New("environment destroyed")

// New returns a driver whose scratch directories live under cfg.Root. It
// removes debris left there by an earlier run.
func New(cfg Config, log *slog.Logger) (*Driver, error) {
	root := cfg.Root
	if root == "" {
		root = filepath.Join(os.TempDir(), "hearth-process")
	}
	// A crashed run's capped scratch directories are still mounted;
	// unmounting them frees their images.
	if err := tmpdisk.UnmountUnder(root); err != nil {
		return nil, fmt.Errorf("clean sandbox root: %w", err)
	}
	if err := os.RemoveAll(root); err != nil {
		return nil, fmt.Errorf("clean sandbox root: %w", err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create sandbox root: %w", err)
	}
	d := &Driver{root: root, log: log.With("component", "sandbox", "driver", "process")}
	if cfg.Zygote {
		empty, err := os.MkdirTemp("", "hearth-zygote-empty-")
		if err != nil {
			return nil, fmt.Errorf("zygotes: %w", err)
		}
		d.zyg = &zygotes{d: d, log: d.log.With("zygote", true), empty: empty, byKey: map[string]*zygote{}}
	}
	if os.Geteuid() == 0 {
		// Environment ids never start with a dot.
		tmp, err := tmpdisk.New(filepath.Join(root, ".tmpdisk"))
		if err == nil {
			// mkfs.ext4 now rather than in the first cold start.
			if err = tmp.Warm(defaultTmpMB); err != nil {
				tmp.Close()
			}
		}
		if err != nil {
			d.log.Warn("scratch directories are not capped", "err", err)
		} else {
			d.tmp = tmp
		}
	}
	if os.Geteuid() == 0 {
		if fi, err := os.Stat(sandbox.OptDir); err == nil && fi.IsDir() && optNamespaces() {
			d.optNS = true
		} else {
			d.log.Warn("/opt inside environments is the host's; layers are reached only through the runtimes' search paths", "err", err)
		}
	}
	if cfg.Prestart {
		stems, err := newStems(d)
		if err != nil {
			d.Close()
			return nil, err
		}
		d.stems = stems
	}
	return d, nil
}

// Name implements sandbox.Driver.
func (d *Driver) Name() string { return "process" }

// Close implements sandbox.Driver. The process driver holds nothing beyond
// its environments but the directory of its images.
func (d *Driver) Close() error {
	if d.zyg != nil {
		d.zyg.close()
	}
	if d.stems != nil {
		d.stems.close()
	}
	if d.tmp == nil {
		return nil
	}
	return d.tmp.Close()
}

// Start implements sandbox.Driver.
func (d *Driver) Start(ctx context.Context, spec *sandbox.Spec) (_ sandbox.Env, err error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := filepath.Join(d.root, spec.ID)
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("create scratch dir: %w", err)
	}
	defer func() {
		if err != nil {
			tmpdisk.Unmount(tmp)
			os.RemoveAll(dir)
		}
	}()
	if d.tmp != nil {
		if err := d.mountTmp(tmp, spec.TmpMB); err != nil {
			return nil, err
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for runtime api: %w", err)
	}
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()

	opt := sandbox.OptDir
	if !d.optNS {
		if opt = spec.OptDir; opt == "" {
			opt = filepath.Join(dir, "opt")
			if err := os.Mkdir(opt, 0o555); err != nil {
				return nil, fmt.Errorf("create empty opt dir: %w", err)
			}
		}
	}
	argv := sandbox.ExpandOpt(sandbox.Expand(spec.Cmd, spec.CodeDir, spec.RuntimeDir), opt)
	cmd := &exec.Cmd{
		Path:   argv[0],
		Args:   argv,
		Dir:    spec.CodeDir,
		Stdout: spec.Output,
		Stderr: spec.Output,
		Env: sandbox.BootstrapEnv(sandbox.ExpandOpt(sandbox.Expand(spec.Env, spec.CodeDir, spec.RuntimeDir), opt),
			spec.CodeDir, spec.RuntimeDir, tmp, ln.Addr().String()),
		SysProcAttr: &syscall.SysProcAttr{
			// A session of its own: its process group leads it, so no
			// process outside can join the group (setpgid stays within a
			// session), which is what the Runtime API listener trusts.
			Setsid: true,
			// If hearth dies without tearing down, the kernel kills the
			// bootstrap with it.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	if !strings.Contains(argv[0], "/") {
		return nil, fmt.Errorf("bootstrap path %q is not absolute", argv[0])
	}
	e := &env{
		id:       spec.ID,
		dir:      dir,
		cmd:      cmd,
		done:     make(chan struct{}),
		hold:     make(chan struct{}),
		extExits: make(chan sandbox.ExtensionExit, len(spec.Extensions)),
		held:     spec.HoldBootstrap,
		pidfd:    -1,
	}
	if e.held {
		// The caller may close spec.Output once Start returns: the
		// bootstrap, started later, writes to a copy.
		var fd int
		syscall.ForkLock.RLock() // no fork may inherit it before it is close-on-exec
		if fd, err = syscall.Dup(int(spec.Output.Fd())); err == nil {
			syscall.CloseOnExec(fd)
		}
		syscall.ForkLock.RUnlock()
		if err != nil {
			return nil, fmt.Errorf("duplicate output: %w", err)
		}
		e.heldOut = os.NewFile(uintptr(fd), "output")
		cmd.Stdout, cmd.Stderr = e.heldOut, e.heldOut
		defer func() {
			if err != nil {
				e.heldOut.Close()
			}
		}()
	}
	extEnv := sandbox.ExtensionEnv(sandbox.ExpandOpt(sandbox.Expand(spec.ExtensionEnv, spec.CodeDir, spec.RuntimeDir), opt),
		tmp, ln.Addr().String())
	startExts := func() { e.startExtensions(spec, opt, extEnv) }
	defer func() {
		if err != nil {
			e.killExtensions()
			close(e.hold)
		}
	}()
	var z *zygote
	zygoteFits := false
	if d.zyg != nil {
		if key, vars, ok := d.zygoteKey(spec, argv); ok {
			zygoteFits = true
			z = d.zyg.get(key, argv, vars)
		}
	}
	if z != nil {
		if zerr := e.spawn(ctx, z); zerr != nil {
			d.log.Warn("zygote did not fork; running the bootstrap", "env", spec.ID, "err", zerr)
			z = nil
		}
	}
	var st *stem
	if d.stems != nil && !zygoteFits {
		if key, stemEnv, ok := d.stemKeyOf(spec, argv); ok {
			st = d.stems.take(key, argv, stemEnv)
		}
	}
	if st != nil {
		if serr := e.startFromStem(st, spec.Output); serr != nil {
			d.log.Warn("stem did not start; running the bootstrap", "env", spec.ID, "err", serr)
			st = nil
		}
	}
	switch {
	case z != nil:
		d.log.Debug("bootstrap forked by a zygote", "env", spec.ID, "pid", e.pid)
	case st != nil:
		d.log.Debug("bootstrap started from a stem", "env", spec.ID, "pid", e.pid)
	case d.optNS:
		e.launchReq = make(chan chan error)
		err = startInOptNamespace(e, spec.OptDir, startExts)
	default:
		startExts()
		if !e.held {
			err = e.launch()
		}
	}
	if err != nil {
		return nil, bootstrapError(err)
	}
	if !e.held {
		if z == nil && st == nil {
			e.pid = cmd.Process.Pid
		}
		e.addGroup(e.pid)
		e.running.Store(true)
	}
	e.ln = onlyGroup(ln, e.groups, d.log.With("env", spec.ID))
	if e.relay != nil {
		e.ln = relay.Listener(e.ln, e.relay)
	}
	return e, nil
}

// bootstrapError is the error of a bootstrap that could not be started:
// an [*sandbox.ExecError] when the kernel refused to execute it.
func bootstrapError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "fork/exec" {
		err = &sandbox.ExecError{Path: pe.Path, Err: pe.Err}
	}
	return fmt.Errorf("start bootstrap: %w", err)
}

// launch starts the bootstrap and its reaping: on the opt namespace's
// thread, which forks it there, or from here.
func (e *env) launch() error {
	if e.launchReq == nil {
		if err := e.cmd.Start(); err != nil {
			return err
		}
		go e.wait()
		return nil
	}
	reply := make(chan error, 1)
	select {
	case e.launchReq <- reply:
		return <-reply
	case <-e.hold:
		return errDestroyed
	}
}

// StartBootstrap implements sandbox.BootstrapStarter.
func (e *env) StartBootstrap(ctx context.Context) error {
	e.startMu.Lock()
	defer e.startMu.Unlock()
	switch {
	case !e.held || e.launched:
		return e.startErr
	case e.destroyed:
		return fmt.Errorf("start bootstrap of env %s: %w", e.id, errDestroyed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e.launched = true
	err := e.launch()
	e.heldOut.Close() // the bootstrap has its own
	if err != nil {
		e.startErr = bootstrapError(err)
		// Never executed: the environment's end is the shell's for a
		// command it cannot run.
		e.exit = sandbox.Exit{Code: 127}
		close(e.done)
		return e.startErr
	}
	e.pid = e.cmd.Process.Pid
	e.addGroup(e.pid)
	e.running.Store(true)
	return nil
}

// spawn has z fork the bootstrap, as e.cmd describes it, and starts
// reaping it.
func (e *env) spawn(ctx context.Context, z *zygote) error {
	out := e.cmd.Stdout.(*os.File)
	pid, exit, err := z.spawn(ctx, e.cmd.Dir, e.cmd.Env, out)
	if err != nil {
		return err
	}
	e.pid = pid
	// To kill it by pid safely (the zygote reaps it, and its pid may be
	// reused after): when it is gone already, there is nothing to kill.
	if fd, err := unix.PidfdOpen(pid, 0); err == nil {
		e.pidfd = fd
	}
	go e.waitZygote(exit)
	return nil
}

// waitZygote is wait for a bootstrap a zygote forked: the zygote reaps
// it and reports its status.
func (e *env) waitZygote(exit <-chan syscall.WaitStatus) {
	ws := <-exit
	e.pidfdMu.Lock()
	if e.pidfd >= 0 {
		unix.Close(e.pidfd)
		e.pidfd = -1
	}
	e.pidfdMu.Unlock()
	e.exit = waitExit(ws)
	close(e.done)
}

// waitExit is how a process that ended with ws exited.
func waitExit(ws syscall.WaitStatus) sandbox.Exit {
	if ws.Signaled() {
		return sandbox.Exit{Code: -1, Signal: ws.Signal()}
	}
	return sandbox.Exit{Code: ws.ExitStatus()}
}

// addGroup adds the process group led by pid to the environment's.
func (e *env) addGroup(pid int) {
	e.pgidsMu.Lock()
	defer e.pgidsMu.Unlock()
	e.pgids = append(e.pgids, pid)
}

// groups returns the environment's process groups.
func (e *env) groups() []int {
	e.pgidsMu.Lock()
	defer e.pgidsMu.Unlock()
	return e.pgids
}

// startExtensions starts spec's extensions, each in a session of its own
// (whose group the Runtime API listener and freezing include), and watches
// them. One that cannot be executed is reported as it exits.
func (e *env) startExtensions(spec *sandbox.Spec, opt string, env []string) {
	out := spec.ExtensionOutput
	if out == nil {
		out = spec.Output
	}
	for _, p := range sandbox.ExpandOpt(spec.Extensions, opt) {
		name := filepath.Base(p)
		cmd := &exec.Cmd{
			Path: p, Args: []string{p}, Dir: spec.CodeDir, Env: env,
			Stdout: out, Stderr: out,
			SysProcAttr: &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL},
		}
		if err := cmd.Start(); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) && pe.Op == "fork/exec" {
				err = &sandbox.ExecError{Path: pe.Path, Err: pe.Err}
			}
			e.extExits <- sandbox.ExtensionExit{Name: name, Exit: sandbox.Exit{Code: 127}, Err: err}
			continue
		}
		e.addGroup(cmd.Process.Pid)
		e.exts = append(e.exts, cmd)
		go func() {
			cmd.Wait()
			exit := sandbox.Exit{Code: cmd.ProcessState.ExitCode()}
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				exit.Code, exit.Signal = -1, ws.Signal()
			}
			e.extExits <- sandbox.ExtensionExit{Name: name, Exit: exit}
		}()
	}
}

func (e *env) killExtensions() {
	for _, c := range e.exts {
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
}

// ExtensionExits implements sandbox.ExtensionWatcher.
func (e *env) ExtensionExits() <-chan sandbox.ExtensionExit { return e.extExits }

// Terminate implements sandbox.Terminator.
func (e *env) Terminate() error {
	if !e.running.Load() {
		return nil // held, never started
	}
	select {
	case <-e.done:
		return nil
	default:
	}
	var err error
	if e.cmd.Process != nil {
		err = e.cmd.Process.Signal(syscall.SIGTERM)
	} else if err = syscall.Kill(e.pid, syscall.SIGTERM); errors.Is(err, syscall.ESRCH) {
		err = nil // forked by a zygote, which is reaping it
	}
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("terminate env %s: %w", e.id, err)
	}
	return nil
}

// Dial implements sandbox.Dialer: the environment shares the host's
// loopback.
func (e *env) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// mountTmp mounts a filesystem of mb megabytes (the default when zero) at
// the scratch directory tmp.
func (d *Driver) mountTmp(tmp string, mb int) error {
	if mb <= 0 {
		mb = defaultTmpMB
	}
	mnt, err := d.tmp.Take(min(mb, tmpdisk.MaxMB))
	if err != nil {
		return err
	}
	defer mnt.Close()
	return tmpdisk.MountAt(mnt, tmp)
}

type env struct {
	id      string
	dir     string
	ln      net.Listener
	cmd     *exec.Cmd
	pgidsMu sync.Mutex
	// pgids are the process groups of each extension and of the
	// bootstrap (each leads a session of its own). Only appended to.
	pgids    []int
	exts     []*exec.Cmd
	extExits chan sandbox.ExtensionExit // cap: one per extension
	hold     chan struct{}              // closed by Destroy: the forking thread may end
	done     chan struct{}              // closed by wait, or when a held bootstrap never ran
	// launchReq asks the opt namespace's thread to start the held
	// bootstrap; nil without an opt namespace.
	launchReq chan chan error
	// ln is set before e is returned by Start; wait does not read it.

	// relay copies the output of a bootstrap started from a stem; nil
	// for others.
	relay *relay.Relay

	held    bool        // Spec.HoldBootstrap: Start did not start the bootstrap
	heldOut *os.File    // a held bootstrap's output until it starts
	running atomic.Bool // the bootstrap was started: pid is set
	pid     int         // the bootstrap's; written before running is set
	pidfdMu sync.Mutex
	pidfd   int // guarded by pidfdMu: a zygote-forked bootstrap's pidfd until reaped, or -1

	startMu   sync.Mutex
	launched  bool  // guarded by startMu; StartBootstrap tried
	startErr  error // guarded by startMu; its error
	destroyed bool  // guarded by startMu

	exit     sandbox.Exit // written before done is closed
	peakRSS  atomic.Int64 // bytes, last VmHWM read
	peakRead atomic.Int64 // unix nanoseconds of that read

	destroyOnce sync.Once
	destroyErr  error
}

func (e *env) ID() string                    { return e.id }
func (e *env) RuntimeListener() net.Listener { return e.ln }
func (e *env) Done() <-chan struct{}         { return e.done }

func (e *env) Exit() sandbox.Exit {
	<-e.done
	return e.exit
}

// wait reaps the bootstrap. It is the one goroutine an env owns; it ends
// when the bootstrap exits, which Destroy forces.
func (e *env) wait() {
	err := e.cmd.Wait()
	exit := sandbox.Exit{Code: e.cmd.ProcessState.ExitCode()}
	if ws, ok := e.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		exit.Code = -1
		exit.Signal = ws.Signal()
	}
	_ = err // the exit status carries everything err would
	e.exit = exit
	close(e.done)
}

// peakEvery bounds how often MaxMemory reads /proc: the read costs more
// than the rest of a warm invocation's bookkeeping, and VmHWM is a high
// water mark, so a reading a moment old misses only a peak reached in that
// moment.
const peakEvery = 250 * time.Millisecond

// MaxMemory reads the bootstrap's peak resident set size (VmHWM).
func (e *env) MaxMemory() int64 {
	select {
	case <-e.done:
		return e.peakRSS.Load()
	default:
	}
	if !e.running.Load() {
		return e.peakRSS.Load() // held: no bootstrap yet
	}
	now := time.Now().UnixNano()
	if last := e.peakRead.Load(); last != 0 && now-last < int64(peakEvery) {
		return e.peakRSS.Load()
	}
	e.peakRead.Store(now)
	if kb := readVmHWM(e.pid); kb > 0 {
		e.peakRSS.Store(kb * 1024)
	}
	return e.peakRSS.Load()
}

func readVmHWM(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// Freeze stops every process in the environment's process group.
func (e *env) Freeze(context.Context) error { return e.signalGroup(syscall.SIGSTOP) }

// Thaw continues every process in the environment's process group.
func (e *env) Thaw(context.Context) error { return e.signalGroup(syscall.SIGCONT) }

func (e *env) signalGroup(sig syscall.Signal) error {
	select {
	case <-e.done:
		return nil // nothing left to signal; the caller sees Done
	default:
	}
	var errs []error
	for _, g := range e.groups() {
		if err := syscall.Kill(-g, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("signal env %s: %w", e.id, err))
		}
	}
	return errors.Join(errs...)
}

// Destroy kills the process group, waits for the bootstrap to be reaped and
// removes the scratch directory.
func (e *env) Destroy(ctx context.Context) error {
	e.destroyOnce.Do(func() {
		e.startMu.Lock()
		e.destroyed = true
		never := e.held && !e.launched
		e.startMu.Unlock()
		close(e.hold)
		e.peakRead.Store(0)
		e.MaxMemory() // keep the last reading for a final REPORT
		for _, g := range e.groups() {
			if err := syscall.Kill(-g, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				e.destroyErr = fmt.Errorf("kill env %s: %w", e.id, err)
			}
		}
		// Forked by a zygote, it may not lead its group yet.
		e.pidfdMu.Lock()
		if e.pidfd >= 0 {
			unix.PidfdSendSignal(e.pidfd, unix.SIGKILL, nil, 0)
		}
		e.pidfdMu.Unlock()
		e.ln.Close()
		if never {
			// The bootstrap was held and is never to run.
			e.heldOut.Close()
			e.exit = sandbox.Exit{Code: -1, Signal: syscall.SIGKILL}
			close(e.done)
		}
	})
	select {
	case <-e.done:
	case <-ctx.Done():
		return fmt.Errorf("destroy env %s: %w", e.id, ctx.Err())
	}
	// Children that left the group are beyond the process driver's reach;
	// the group itself is gone once the leader is reaped and killed. Its
	// scratch filesystem goes with its last open file.
	if err := tmpdisk.Unmount(filepath.Join(e.dir, "tmp")); err != nil {
		return errors.Join(e.destroyErr, err)
	}
	if err := os.RemoveAll(e.dir); err != nil {
		return errors.Join(e.destroyErr, fmt.Errorf("remove scratch dir: %w", err))
	}
	return e.destroyErr
}
