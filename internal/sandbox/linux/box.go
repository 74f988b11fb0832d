//go:build linux && !hearth_noinitbin

package linux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// box is a prepared sandbox: a cgroup, an init waiting in fresh namespaces
// with its root built and pivoted into, a network and the Runtime API
// listener. The pool keeps a few; Start turns one into an environment.
type box struct {
	name    string // the cgroup's leaf name
	account string // Spec.Account of the environments it may become
	cg      *cgroup
	cmd     *exec.Cmd // the init, pid 1 of the environment
	ctl     *net.UnixConn
	ln      net.Listener
	veth    *veth // nil without a network
	uid     int   // the environment's uid and gid; 0 until Start picks one
	// tmpMB is the size of the disk-backed /tmp the init has mounted; 0
	// when it has none.
	tmpMB int
	// stem is the key of the pre-started runtime the init holds (see
	// stem.go); empty when it holds none.
	stem string
	// stemOut is the read end of the stem's stdout and stderr, which the
	// init handed over: an environment started from the stem relays it
	// (package relay); nil when the init holds no stem.
	stemOut *os.File
	// code holds the code mounts the stem's trees came from, released
	// with the box unless an environment takes them over.
	code []*codeMount

	prepared time.Duration // how long prepare took
}

// prepareTimeout bounds prepare when ctx has no deadline.
const prepareTimeout = 30 * time.Second

// prepare builds a box for an environment of account, in its cgroup
// subtree. In the background, the box gets the smallest CPU weight until
// Start gives it its limits, so that refilling the pool yields to running
// functions. If prepare fails, it has left nothing behind.
func (d *Driver) prepare(ctx context.Context, background bool, account string) (_ *box, err error) {
	began := time.Now()
	var undo undoStack
	defer undo.runOnError(&err)

	b := &box{name: "b" + strconv.FormatUint(d.seq.Add(1), 10), account: account}
	if b.cg, err = d.cgroups.createIn(account, b.name, d.cfg.PidsLimit, background); err != nil {
		return nil, err
	}
	undo.push(func() error {
		ctx, cancel := cleanupContext()
		defer cancel()
		return d.cgroups.deleteIn(ctx, account, b.cg)
	})

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create control socket: %w", err)
	}
	child := os.NewFile(uintptr(pair[1]), "init-control")
	defer child.Close()
	parent := os.NewFile(uintptr(pair[0]), "control")
	fc, err := net.FileConn(parent)
	parent.Close()
	if err != nil {
		return nil, fmt.Errorf("wrap control socket: %w", err)
	}
	b.ctl = fc.(*net.UnixConn)
	undo.push(b.ctl.Close)

	b.cmd = &exec.Cmd{
		Path:       d.init.path,
		Args:       []string{initArg0},
		Env:        []string{"GOMAXPROCS=1", "GORACE=atexit_sleep_ms=0"}, // nothing of the host's environment
		ExtraFiles: []*os.File{child},                                    // fd 3 = ctlFD
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC |
				syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET,
			// If Hearth dies without tearing down, the kernel kills the
			// init, and with it the whole pid namespace.
			Pdeathsig:   syscall.SIGKILL,
			UseCgroupFD: b.cg.cgroupFD() >= 0,
			CgroupFD:    b.cg.cgroupFD(),
		},
	}
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sandbox init: %w", err)
	}
	undo.push(func() error {
		b.cmd.Process.Kill()
		b.cmd.Wait()
		return nil
	})
	child.Close()

	ctx, cancel := withDefaultTimeout(ctx, prepareTimeout)
	defer cancel()
	// On v1 the init starts in the server's cgroup and is moved into its
	// own after. A refill in the background moves it before the init
	// builds anything: otherwise that work runs at the root's CPU weight,
	// beside the functions serving invocations meanwhile, not at the
	// smallest weight its cgroup gives it.
	moveFirst := background && b.cg.cgroupFD() < 0
	if moveFirst {
		if err := b.cg.addProc(b.cmd.Process.Pid); err != nil {
			return nil, err
		}
	}
	if err := b.send(ctx, message{Kind: msgSetup, Setup: &setupMsg{
		MountPoint: d.mountPoint,
	}}); err != nil {
		return nil, err
	}
	// The init builds its root meanwhile. Moving it into its cgroup (v1)
	// waits for an RCU grace period per hierarchy, so it runs alongside
	// making the veth and the /tmp of the default size (most functions
	// keep it; Start replaces it for the others); all are done before the
	// bootstrap can exist.
	var wg sync.WaitGroup
	var addErr, tmpErr error
	var tmp *os.File
	if !moveFirst {
		wg.Go(func() { addErr = b.cg.addProc(b.cmd.Process.Pid) })
	}
	if d.tmp != nil {
		wg.Go(func() { tmp, tmpErr = d.tmp.Make(defaultTmpMB) })
	}
	nm := netMsg{}
	var vethErr error
	if d.network != nil {
		b.veth, vethErr = d.network.addVeth(b.cmd.Process.Pid, b.account)
	}
	wg.Wait()
	if b.veth != nil {
		undo.push(func() error { return d.network.removeVeth(b.veth) })
		nm = netMsg{Addr: b.veth.env.String(), Gateway: b.veth.host.Addr().String()}
	}
	var fds []int
	if tmp != nil {
		// The init's mount keeps the filesystem once sent; until then,
		// closing this one throws it away.
		defer tmp.Close()
		nm.Tmp = true
		fds = append(fds, int(tmp.Fd()))
		b.tmpMB = defaultTmpMB
	}
	if err := errors.Join(addErr, vethErr, tmpErr); err != nil {
		return nil, err
	}
	if err := b.send(ctx, message{Kind: msgNet, Net: &nm}, fds...); err != nil {
		return nil, err
	}
	m, files, err := b.recv(ctx)
	if err != nil {
		return nil, err
	}
	if m.Kind != msgReady || len(files) != 1 {
		closeAll(files)
		return nil, fmt.Errorf("sandbox init: expected %s with a listener, got %q", msgReady, m.Kind)
	}
	b.ln, err = net.FileListener(files[0])
	files[0].Close()
	if err != nil {
		return nil, fmt.Errorf("wrap runtime api listener: %w", err)
	}
	b.prepared = time.Since(began)
	return b, nil
}

// send writes m to the init, failing when ctx is done.
func (b *box) send(ctx context.Context, m message, fds ...int) error {
	stop := b.deadline(ctx, b.ctl.SetWriteDeadline)
	defer stop()
	if err := sendConn(b.ctl, m, fds...); err != nil {
		return b.ctxErr(ctx, err)
	}
	return nil
}

// recv reads the next message from the init. An error message from the init
// becomes the returned error.
func (b *box) recv(ctx context.Context) (message, []*os.File, error) {
	stop := b.deadline(ctx, b.ctl.SetReadDeadline)
	defer stop()
	m, files, err := recvConn(b.ctl)
	if err != nil {
		return message{}, nil, b.ctxErr(ctx, fmt.Errorf("sandbox init: %w", err))
	}
	if m.Kind == msgError {
		closeAll(files)
		return message{}, nil, m.err()
	}
	return m, files, nil
}

// deadline applies ctx's deadline to the control socket, and cuts a pending
// call short when ctx is canceled.
func (b *box) deadline(ctx context.Context, set func(time.Time) error) (stop func()) {
	dl, _ := ctx.Deadline()
	set(dl)
	unregister := context.AfterFunc(ctx, func() { set(time.Unix(1, 0)) })
	return func() {
		unregister()
		set(time.Time{})
	}
}

func (b *box) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.Join(err, context.Cause(ctx))
	}
	return err
}

// kill ends every process of the box: the init (which takes its pid
// namespace with it) and anything else in the cgroup.
func (b *box) kill() error {
	if err := b.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return errors.Join(fmt.Errorf("kill sandbox init: %w", err), b.cg.kill())
	}
	return b.cg.kill()
}

// release frees what the box holds once its init has been reaped.
func (d *Driver) release(ctx context.Context, b *box) error {
	b.ln.Close()
	b.ctl.Close()
	if b.stemOut != nil {
		b.stemOut.Close()
		b.stemOut = nil
	}
	if b.veth != nil {
		// The init is gone, so its network namespace is being dismantled
		// and the kernel deletes both ends of the veth with it (deleting
		// it here would wait ≈20 ms for RCU). Its name keeps the index
		// from being reused until then; Close waits for the rest.
		d.network.release(b.veth.idx)
	}
	if err := d.cgroups.deleteIn(ctx, b.account, b.cg); err != nil {
		return err // processes may remain: the uid stays taken
	}
	if b.uid != 0 {
		// The cgroup is gone, so is every process that ran as the uid.
		d.uids.put(b.uid)
		b.uid = 0
	}
	return nil
}

// alive reports whether the box's init is still running. It leaves an
// exited init for discard to reap.
func (b *box) alive() bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, b.cmd.Process.Pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	// waitid with WNOHANG leaves info zeroed while the child runs.
	return err == nil && info.Signo == 0
}

// discard destroys a box that never became an environment.
func (d *Driver) discard(b *box) error {
	kerr := b.kill()
	b.cmd.Wait()
	ctx, cancel := cleanupContext()
	defer cancel()
	err := d.release(ctx, b)
	d.code.release(b.code...)
	b.code = nil
	return errors.Join(kerr, err)
}

// cleanupContext bounds a teardown that no caller's context bounds.
func cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
