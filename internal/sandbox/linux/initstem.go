//go:build linux

package linux

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"hearth/internal/sandbox"
)

// The init's side of pre-started runtimes (stems; the driver's side is in
// stem.go). A prepared init that gets a stem message starts the runtime at
// once, locked down as a bootstrap is, but in an environment that knows
// nothing of any function yet: the runtime's directory, the host paths and
// the identity are there; the code, the function's variables, hostname,
// limits and /tmp come with the start message, and the stem reads them
// from its start pipe (sandbox.StemMessage).
//
// The init must still mount the function's code once the stem runs, so it
// cannot lock itself down before it starts the stem, as it does before
// it executes a bootstrap. A thread of its own does: it drops the
// capability sets, installs the environment's seccomp filter on itself
// only and forks the stem, which inherits both as a bootstrap does from
// the init. The thread then lives as long as the init (the stem's parent
// death signal is tied to it), and at Start, once the mounts are made,
// spreads its filter to the rest of the init (allowAll with TSYNC), as the
// ordinary start's lockDown does. The init then holds two filters where
// it held one, the second allowing everything; the stem holds one, as a
// bootstrap does.

// errStemGone reports that the stem exited before its start message
// reached it. The init exits without an error message, so that the driver
// sees it gone and starts the function in another sandbox: nothing of the
// function ran.
var errStemGone = errors.New("the pre-started runtime exited before its start")

// stemFD is the stem's descriptor for its start pipe; the driver names it
// in the start environment (sandbox.StemFDVar).
const stemFD = 3

// heldStem is a stem the init started and holds until its start.
type heldStem struct {
	pid      int // in the environment
	pidfd    int // -1 when the kernel has no pidfds
	uid, gid int
	msg      *os.File        // the start pipe's write end
	out      int             // the read end of the stem's stdout and stderr, for the driver
	lock     chan chan error // asks the stem's thread to lock the init down
}

// runStem starts a stem for s, reports it, and once the start message
// comes runs it as runBootstrap runs a bootstrap. It returns nil when the
// driver releases the sandbox unused.
func runStem(s stemMsg, trees []*os.File, filter *seccompFilter) error {
	st, err := startStem(s, trees, filter)
	if err != nil {
		return err
	}
	// The driver relays the stem's output from now on (see
	// relay.Listener): the init keeps no end of it.
	err = sendFD(ctlFD, message{Kind: msgStemmed, Pid: st.pid}, st.out)
	unix.Close(st.out)
	if err != nil {
		return err
	}
	m, files, err := st.awaitStart()
	if errors.Is(err, io.EOF) {
		return nil // released from the pool unused
	}
	if err != nil {
		return err
	}
	if m.Kind != msgStart || m.Start == nil || len(files) == 0 {
		closeAll(files)
		return fmt.Errorf("expected %s message with output, got %q", msgStart, m.Kind)
	}
	files[0].Close() // the stem's output goes to the driver, which relays it
	return st.run(*m.Start, files[1:])
}

// startStem attaches the stem's trees, writes /etc for its identity and
// starts it from a thread of its own (see above).
func startStem(s stemMsg, trees []*os.File, filter *seccompFilter) (*heldStem, error) {
	defer closeAll(trees)
	if s.UID <= 0 || s.GID <= 0 {
		return nil, errors.New("refusing to run a function as root")
	}
	if len(s.Argv) == 0 || len(trees) != len(s.Trees) {
		return nil, fmt.Errorf("stem message: %d arguments, %d trees for %d descriptors", len(s.Argv), len(s.Trees), len(trees))
	}
	if err := writeEtc("/", s.UID, s.GID); err != nil {
		return nil, err
	}
	for i, t := range s.Trees {
		if t.Target == "/tmp" || t.Target == sandbox.TaskRoot || t.Target == sandbox.OptDir {
			return nil, fmt.Errorf("stem message: %s is the function's", t.Target)
		}
		if err := attachTree(t, trees[i]); err != nil {
			return nil, err
		}
	}
	if err := setRlimits(); err != nil {
		return nil, err
	}
	devnull, err := os.Open("/dev/null")
	if err != nil {
		return nil, fmt.Errorf("open /dev/null: %w", err)
	}
	defer devnull.Close()
	// The stem's ends stay blocking, as a bootstrap's stdio is; the
	// read end of the output, which the driver polls, is not.
	var start, out [2]int
	if err := unix.Pipe2(start[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("stem start pipe: %w", err)
	}
	if err := unix.Pipe2(out[:], unix.O_CLOEXEC); err != nil {
		unix.Close(start[0])
		unix.Close(start[1])
		return nil, fmt.Errorf("stem output pipe: %w", err)
	}
	unix.SetNonblock(out[0], true)
	st := &heldStem{pidfd: -1, uid: s.UID, gid: s.GID,
		msg: os.NewFile(uintptr(start[1]), "stem-start"), out: out[0],
		lock: make(chan chan error)}

	type forked struct {
		pid int
		err error
	}
	ch := make(chan forked, 1)
	go func() {
		// Never unlocked: the thread ends with the init (or now, on an
		// error), and no other goroutine ever runs on it.
		runtime.LockOSThread()
		pid, err := spawnStem(s, filter, []uintptr{devnull.Fd(), uintptr(out[1]), uintptr(out[1]), uintptr(start[0])})
		ch <- forked{pid, err}
		if err != nil {
			return
		}
		for reply := range st.lock {
			reply <- allowAll.install()
		}
	}()
	f := <-ch
	unix.Close(start[0])
	unix.Close(out[1])
	if f.err != nil {
		st.msg.Close()
		unix.Close(st.out)
		return nil, f.err
	}
	st.pid = f.pid
	// As after a bootstrap's fork: the kernel must pick the stem, never
	// the init, when memory runs out.
	os.WriteFile("/proc/self/oom_score_adj", []byte("-1000"), 0)
	if fd, err := unix.PidfdOpen(st.pid, 0); err == nil {
		st.pidfd = fd
	}
	return st, nil
}

// spawnStem runs on the stem's locked thread: it locks the thread down as
// lockDown locks the init down and forks the stem from it, with files as
// its descriptors 0 to 3, from the root.
func spawnStem(s stemMsg, filter *seccompFilter, files []uintptr) (int, error) {
	if err := dropCapabilities(); err != nil {
		return 0, err
	}
	if err := filter.installThread(); err != nil {
		return 0, err
	}
	pid, err := syscall.ForkExec(s.Argv[0], s.Argv, &syscall.ProcAttr{
		Dir:   "/",
		Env:   s.Env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(s.UID), Gid: uint32(s.GID), Groups: []uint32{}},
			Setsid:     true,
			Pdeathsig:  syscall.SIGKILL,
		},
	})
	if err != nil {
		return 0, &sandbox.ExecError{Path: s.Argv[0], Err: err}
	}
	return pid, nil
}

// awaitStart waits for the driver's next message. A stem that exits
// first ends the init (errStemGone): the driver finds the sandbox dead
// and discards it.
func (st *heldStem) awaitStart() (message, []*os.File, error) {
	for {
		fds := []unix.PollFd{{Fd: ctlFD, Events: unix.POLLIN}}
		timeout := 100
		if st.pidfd >= 0 {
			fds = append(fds, unix.PollFd{Fd: int32(st.pidfd), Events: unix.POLLIN})
			timeout = -1
		}
		if _, err := unix.Poll(fds, timeout); err != nil && !errors.Is(err, unix.EINTR) {
			return message{}, nil, fmt.Errorf("wait for start: %w", err)
		}
		if fds[0].Revents != 0 {
			return recvFD(ctlFD)
		}
		if !st.alive() {
			return message{}, nil, errStemGone
		}
	}
}

// alive reports whether the stem still runs, leaving it for reap.
func (st *heldStem) alive() bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, st.pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err == nil && info.Signo == 0
}

// run binds the stem to the function of start: it mounts the function's
// trees, sets the hostname, locks the init down, sends the stem its
// message, reports it started, and reaps and reports it as runBootstrap
// does a bootstrap.
func (st *heldStem) run(start startMsg, trees []*os.File) error {
	defer st.msg.Close()
	if start.UID != st.uid || start.GID != st.gid {
		closeAll(trees)
		return fmt.Errorf("start message for uid %d, gid %d: the stem runs as %d, %d", start.UID, start.GID, st.uid, st.gid)
	}
	if len(start.Extensions) > 0 || start.Hold || start.ExtOutput {
		closeAll(trees)
		return errors.New("a pre-started runtime starts no extensions")
	}
	if !st.alive() {
		closeAll(trees)
		return errStemGone
	}
	oldTmp, err := attachTrees(start.Trees, trees, start.TmpMB)
	closeAll(trees)
	if err != nil {
		return err
	}
	if oldTmp != nil {
		defer oldTmp.Close()
	}
	if err := unix.Sethostname([]byte(start.Hostname)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	// lockDown's part for the init itself: the stem is locked down
	// already, and the limits are set.
	if err := dropCapabilities(); err != nil {
		return err
	}
	reply := make(chan error)
	st.lock <- reply
	if err := <-reply; err != nil {
		return err
	}
	b, err := json.Marshal(sandbox.StemMessage{Cwd: sandbox.TaskRoot, Env: start.Env})
	if err == nil {
		_, err = st.msg.Write(b)
	}
	if cerr := st.msg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, unix.EPIPE) {
			return errStemGone
		}
		return fmt.Errorf("send the stem its start: %w", err)
	}
	if err := sendFD(ctlFD, message{Kind: msgStarted, Pid: st.pid}); err != nil {
		return err
	}
	if oldTmp != nil {
		oldTmp.Close()
		oldTmp = nil
	}
	exit, err := reap(st.pid, map[int]string{})
	if err != nil {
		return err
	}
	return sendFD(ctlFD, message{Kind: msgExit, Exit: &exit})
}
