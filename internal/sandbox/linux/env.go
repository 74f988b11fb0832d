//go:build linux && !hearth_noinitbin

package linux

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/relay"
)

// env is one running environment.
type env struct {
	id string
	d  *Driver
	b  *box
	ln net.Listener // the Runtime API's: b.ln, or relay's wrapping of it
	// relay copies the output of a bootstrap started from a stem; nil
	// otherwise.
	relay   *relay.Relay
	log     *slog.Logger
	timings Timings
	done    chan struct{} // closed by wait when the bootstrap has exited
	reaped  chan struct{} // closed by wait when the init has been reaped
	// nsPid is the bootstrap's pid in the environment; 0 while it is
	// held.
	nsPid atomic.Int64
	// extExits receives each extension's end (cap: one per extension).
	extExits chan sandbox.ExtensionExit

	held      bool        // Spec.HoldBootstrap: Start did not start the bootstrap
	running   chan error  // cap 1; wait passes on the init's answer to release
	destroyed atomic.Bool // Destroy was called
	startMu   sync.Mutex
	launched  bool  // guarded by startMu; StartBootstrap released the bootstrap
	startErr  error // guarded by startMu; and how that went

	exit sandbox.Exit // written by wait before done is closed
	peak atomic.Int64 // bytes; the last reading, kept after release

	memoryMB    int
	code        []*codeMount // released when the environment is destroyed
	endInitOnce sync.Once
	endInitErr  error

	killOnce    sync.Once
	killErr     error
	releaseOnce sync.Once
	releaseErr  error
}

// EndInit implements sandbox.InitBooster: it drops the CPU quota from the
// init phase's whole CPU to the share the memory size buys.
func (e *env) EndInit(context.Context) error {
	e.endInitOnce.Do(func() { e.endInitErr = e.b.cg.setCPU(e.memoryMB, false) })
	return e.endInitErr
}

func newEnv(d *Driver, b *box, id string, t Timings) *env {
	return &env{
		id:      id,
		d:       d,
		b:       b,
		ln:      b.ln,
		log:     d.log.With("env", id),
		timings: t,
		done:    make(chan struct{}),
		reaped:  make(chan struct{}),
		running: make(chan error, 1),
	}
}

// StartBootstrap implements sandbox.BootstrapStarter: it sends the init
// the release and waits for its answer.
func (e *env) StartBootstrap(ctx context.Context) error {
	e.startMu.Lock()
	defer e.startMu.Unlock()
	if !e.held || e.launched {
		return e.startErr
	}
	if e.destroyed.Load() {
		return fmt.Errorf("start bootstrap of env %s: environment destroyed", e.id)
	}
	e.launched = true
	e.startErr = e.release(ctx)
	return e.startErr
}

// release asks the init to start the held bootstrap and waits for its
// answer.
func (e *env) release(ctx context.Context) error {
	if err := e.b.send(ctx, message{Kind: msgRelease}); err != nil {
		return fmt.Errorf("start bootstrap of env %s: %w", e.id, err)
	}
	select {
	case err := <-e.running:
		return err
	case <-e.reaped:
		select {
		case err := <-e.running:
			return err
		default:
			return fmt.Errorf("start bootstrap of env %s: the environment ended", e.id)
		}
	case <-ctx.Done():
		return fmt.Errorf("start bootstrap of env %s: %w", e.id, context.Cause(ctx))
	}
}

// ExtensionExits implements sandbox.ExtensionWatcher.
func (e *env) ExtensionExits() <-chan sandbox.ExtensionExit { return e.extExits }

// Terminate implements sandbox.Terminator: it finds the bootstrap among
// the children of the init's threads by its pid in the environment (NSpid)
// and sends it SIGTERM.
func (e *env) Terminate() error {
	select {
	case <-e.done:
		return nil
	default:
	}
	nsPid := e.nsPid.Load()
	if nsPid == 0 {
		return nil // held, not started
	}
	// A pre-started runtime is the child of another thread of the init
	// than its first.
	init := strconv.Itoa(e.b.cmd.Process.Pid)
	tasks, err := os.ReadDir("/proc/" + init + "/task")
	if err != nil {
		return fmt.Errorf("terminate env %s: %w", e.id, err)
	}
	var children []string
	for _, task := range tasks {
		c, err := os.ReadFile("/proc/" + init + "/task/" + task.Name() + "/children")
		if err != nil {
			continue // the thread ended
		}
		children = append(children, strings.Fields(string(c))...)
	}
	for _, c := range children {
		status, err := os.ReadFile("/proc/" + c + "/status")
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(status)) {
			if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
				f := strings.Fields(rest)
				if len(f) > 1 && f[len(f)-1] == strconv.FormatInt(nsPid, 10) {
					pid, _ := strconv.Atoi(c)
					if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
						return fmt.Errorf("terminate env %s: %w", e.id, err)
					}
					return nil
				}
			}
		}
	}
	return nil // gone already
}

// Dial implements sandbox.Dialer: it connects from inside the
// environment's network namespace, so that addr (127.0.0.1:PORT) is the
// environment's loopback. The connecting thread enters the namespace and
// goes back; one that cannot go back dies with its goroutine.
func (e *env) Dial(ctx context.Context, addr string) (net.Conn, error) {
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", e.b.cmd.Process.Pid))
	if err != nil {
		return nil, fmt.Errorf("open the environment's network namespace: %w", err)
	}
	defer ns.Close()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer home.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("enter the environment's network namespace: %w", err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func (e *env) ID() string                    { return e.id }
func (e *env) RuntimeListener() net.Listener { return e.ln }
func (e *env) Done() <-chan struct{}         { return e.done }

// Timings reports how long the environment took to start.
func (e *env) Timings() Timings { return e.timings }

func (e *env) Exit() sandbox.Exit {
	<-e.done
	return e.exit
}

// wait collects the bootstrap's status from the init (Done closes then),
// the extensions' ends, then reaps the init, which outlives the bootstrap
// while extensions run.
func (e *env) wait() {
	exited := false
	for {
		m, files, err := recvConn(e.b.ctl)
		closeAll(files)
		if err != nil {
			break // the init is gone: killed, or it exited after reporting
		}
		switch m.Kind {
		case msgRunning:
			e.nsPid.Store(int64(m.Pid))
			select {
			case e.running <- nil:
			default: // more than one: the init misbehaves
			}
		case msgError:
			// The held bootstrap could not be started; the init exits.
			select {
			case e.running <- m.err():
			default:
			}
		}
		if m.Kind == msgExit && m.Exit != nil && !exited {
			exited = true
			e.setExit(sandbox.Exit{Code: m.Exit.Code, Signal: syscall.Signal(m.Exit.Signal)})
		}
		if m.Kind == msgExtExit && m.Exit != nil {
			x := sandbox.ExtensionExit{Name: m.Ext, Exit: sandbox.Exit{Code: m.Exit.Code, Signal: syscall.Signal(m.Exit.Signal)}}
			if m.Exec != nil {
				x.Err = &sandbox.ExecError{Path: m.Exec.Path, Err: syscall.Errno(m.Exec.Errno)}
			}
			select {
			case e.extExits <- x:
			default: // more reports than extensions: the init misbehaves
			}
		}
	}
	e.b.cmd.Wait()
	if !exited {
		// Without a report the init died first, and the bootstrap with
		// it: killed by Destroy, or the init failed.
		exit := sandbox.Exit{Code: -1, Signal: syscall.SIGKILL}
		ws, _ := e.b.cmd.ProcessState.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			exit.Signal = ws.Signal()
		case ws.Exited():
			exit = sandbox.Exit{Code: ws.ExitStatus()}
		}
		e.setExit(exit)
	}
	close(e.reaped)
}

// setExit records the bootstrap's end and closes done.
func (e *env) setExit(exit sandbox.Exit) {
	exit.OOM = e.b.cg.oomKills() > 0
	e.storePeak(e.b.cg.peakMemory())
	if e.relay != nil {
		// Everything the bootstrap wrote is in the pipe: into the output
		// before Done, as an executed bootstrap's would be.
		e.relay.Drain()
	}
	e.exit = exit
	close(e.done)
}

func (e *env) storePeak(v int64) {
	for {
		old := e.peak.Load()
		if v <= old || e.peak.CompareAndSwap(old, v) {
			return
		}
	}
}

// MaxMemory reads the cgroup's peak memory use (v1 memory.max_usage_in_bytes,
// v2 memory.peak). It includes the init and the page cache of what the
// environment wrote, to /tmp too (a tmpfs /tmp entirely).
func (e *env) MaxMemory() int64 {
	select {
	case <-e.done:
		return e.peak.Load()
	default:
	}
	e.storePeak(e.b.cg.peakMemory())
	return e.peak.Load()
}

// Freeze stops every process of the environment with the cgroup freezer.
func (e *env) Freeze(ctx context.Context) error {
	select {
	case <-e.reaped:
		return nil // nothing left to freeze; the caller sees Done
	default:
	}
	start := time.Now()
	if err := e.b.cg.freeze(ctx); err != nil {
		return fmt.Errorf("freeze env %s: %w", e.id, err)
	}
	e.log.Debug("env frozen", "dur", time.Since(start))
	return nil
}

// Thaw resumes every process of the environment.
func (e *env) Thaw(ctx context.Context) error {
	select {
	case <-e.reaped:
		return nil
	default:
	}
	start := time.Now()
	if err := e.b.cg.thaw(ctx); err != nil {
		return fmt.Errorf("thaw env %s: %w", e.id, err)
	}
	e.log.Debug("env thawed", "dur", time.Since(start))
	return nil
}

// Destroy kills every process (frozen or not), waits until the init has been
// reaped, then removes the veth and the cgroup and closes the listener.
func (e *env) Destroy(ctx context.Context) error {
	e.destroyed.Store(true)
	e.killOnce.Do(func() { e.killErr = e.b.kill() })
	select {
	case <-e.reaped:
	case <-ctx.Done():
		return fmt.Errorf("destroy env %s: %w", e.id, context.Cause(ctx))
	}
	e.releaseOnce.Do(func() {
		// Release must finish even if this caller gives up; it has its own
		// budget.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		e.releaseErr = e.d.release(rctx, e.b)
		e.d.untrack(e)
	})
	if err := errors.Join(e.killErr, e.releaseErr); err != nil {
		return fmt.Errorf("destroy env %s: %w", e.id, err)
	}
	return nil
}
