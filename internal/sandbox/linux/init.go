//go:build linux

package linux

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"hearth/internal/sandbox"
)

// initArg0 is the argv[0] with which the driver re-executes its own binary
// as an environment's init.
const initArg0 = "hearth-sandbox-init"

// ctlFD is the init's end of the control socket (ExtraFiles[0]).
const ctlFD = 3

// RunInitIfRequested runs the init stage of an environment (or the
// driver's reaper) when the driver started this process as one, and then
// exits; it never returns in that case. Otherwise it returns at once. Every binary that creates a Driver must
// call it first thing in main, and every test binary in TestMain:
//
//	func main() {
//		linux.RunInitIfRequested()
//		...
//	}
//
//	func TestMain(m *testing.M) {
//		linux.RunInitIfRequested()
//		os.Exit(m.Run())
//	}
func RunInitIfRequested() {
	runReaperIfRequested()
	if len(os.Args) != 1 || os.Args[0] != initArg0 {
		return
	}
	if typ, err := unix.GetsockoptInt(ctlFD, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_SEQPACKET {
		return // not started by the driver, whatever argv[0] says
	}
	// Capabilities are per thread: drop them on the thread that forks the
	// bootstrap.
	runtime.LockOSThread()
	code := 0
	if err := runInit(); err != nil {
		if !errors.Is(err, errStemGone) {
			// Without a message the driver sees the init gone, and
			// starts the function elsewhere.
			sendFD(ctlFD, errorMessage(err))
		}
		code = 1
	}
	os.Exit(code)
}

// runInit is the init stage: prepare the sandbox, then run the bootstrap.
// It returns when the bootstrap has exited, or with nil when the driver
// releases the sandbox unused.
func runInit() error {
	// The control socket came without close-on-exec; the bootstrap must
	// not inherit it.
	unix.CloseOnExec(ctlFD)
	os.WriteFile("/proc/self/comm", []byte("hearth-init"), 0) // not "exe"; best effort

	filter, err := prepareSandbox()
	if err != nil {
		return err
	}
	m, files, err := recvFD(ctlFD)
	if errors.Is(err, io.EOF) {
		return nil // released from the pool unused
	}
	if err != nil {
		return err
	}
	if m.Kind == msgStem && m.Stem != nil {
		return runStem(*m.Stem, files, filter)
	}
	if m.Kind != msgStart || m.Start == nil || len(files) == 0 {
		closeAll(files)
		return fmt.Errorf("expected %s message with output, got %q", msgStart, m.Kind)
	}
	return runBootstrap(*m.Start, files[0], files[1:], filter)
}

// prepareSandbox builds the root and pivots into it, configures the network,
// hands the Runtime API listener to the driver and compiles the seccomp
// filter: everything that does not depend on the function.
func prepareSandbox() (*seccompFilter, error) {
	m, _, err := recvFD(ctlFD)
	if err != nil {
		return nil, err
	}
	if m.Kind != msgSetup || m.Setup == nil {
		return nil, fmt.Errorf("expected %s message, got %q", msgSetup, m.Kind)
	}
	setup := *m.Setup
	if err := buildRoot(setup.MountPoint); err != nil {
		return nil, err
	}
	if err := pivot(setup.MountPoint); err != nil {
		return nil, err
	}

	m, files, err := recvFD(ctlFD)
	if err != nil {
		return nil, err
	}
	if m.Kind != msgNet || m.Net == nil || len(files) != btoi(m.Net.Tmp) {
		closeAll(files)
		return nil, fmt.Errorf("expected %s message, got %q with %d descriptors", msgNet, m.Kind, len(files))
	}
	if m.Net.Tmp {
		// Nothing is mounted at /tmp yet: nothing to release.
		_, err := attachTmp(files[0])
		files[0].Close()
		if err != nil {
			return nil, err
		}
	}
	if err := configureNetwork(*m.Net); err != nil {
		return nil, err
	}
	ln, err := listenRuntimeAPI()
	if err != nil {
		return nil, err
	}
	defer unix.Close(ln) // the driver holds it once sent
	if err := protectProc(); err != nil {
		return nil, err
	}
	filter, err := compileSeccomp()
	if err != nil {
		return nil, err
	}
	if err := sendFD(ctlFD, message{Kind: msgReady}, ln); err != nil {
		return nil, err
	}
	return filter, nil
}

// runBootstrap mounts the function's files, starts the extensions and the
// bootstrap (a held one once the driver releases it), reports that it
// runs, reaps until it exits and reports how.
func runBootstrap(start startMsg, out *os.File, trees []*os.File, filter *seccompFilter) error {
	if start.UID <= 0 || start.GID <= 0 {
		closeAll(trees)
		return errors.New("refusing to run a function as root")
	}
	extOut := out
	if start.ExtOutput && len(trees) > 0 {
		extOut = trees[len(trees)-1]
		trees = trees[:len(trees)-1]
	}
	// The driver's end of an output may be non-blocking (Go makes its
	// pipes so), and the mode belongs to the open file, which the
	// processes share: a runtime expects a blocking stdout, as on Lambda
	// (Python's print raises BlockingIOError on a full non-blocking pipe).
	for _, f := range []*os.File{out, extOut} {
		if err := unix.SetNonblock(int(f.Fd()), false); err != nil {
			closeAll(trees)
			return fmt.Errorf("output: %w", err)
		}
	}
	// The identity is known only now; the root is still writable.
	if err := writeEtc("/", start.UID, start.GID); err != nil {
		closeAll(trees)
		return err
	}
	oldTmp, err := attachTrees(start.Trees, trees, start.TmpMB)
	closeAll(trees)
	if err != nil {
		return err
	}
	// oldTmp, the prepared /tmp if this one replaced it, is released once
	// the bootstrap (a held one: the extensions) runs: that unmounts it and detaches its loop device,
	// kernel work of milliseconds. Closing a descriptor needs no
	// privilege. (On an error below the init exits, which releases it.)
	if err := unix.Sethostname([]byte(start.Hostname)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	spawn, devnull, err := lockDown(start, filter)
	if err != nil {
		return err
	}
	defer devnull.Close()
	exts, failed := startExtensions(start, spawn, extOut)
	if extOut != out {
		extOut.Close()
	}
	if start.Hold {
		// Everything but the bootstrap runs: the driver releases it once
		// the extensions have registered.
		if err := sendFD(ctlFD, message{Kind: msgStarted}); err != nil {
			return err
		}
		if oldTmp != nil {
			oldTmp.Close()
			oldTmp = nil
		}
		for _, m := range failed {
			if err := sendFD(ctlFD, m); err != nil {
				return err
			}
		}
		failed = nil
		if err := awaitRelease(exts); err != nil {
			return err
		}
	}
	pid, err := spawn(start.Argv, start.Env, out)
	out.Close()
	if err != nil {
		return &sandbox.ExecError{Path: start.Argv[0], Err: err}
	}
	// The kernel must pick the function, never its init, when the cgroup
	// runs out of memory. Set after the fork so the bootstrap does not
	// inherit it.
	os.WriteFile("/proc/self/oom_score_adj", []byte("-1000"), 0)
	kind := msgStarted
	if start.Hold {
		kind = msgRunning
	}
	if err := sendFD(ctlFD, message{Kind: kind, Pid: pid}); err != nil {
		return err
	}
	if oldTmp != nil {
		oldTmp.Close()
	}
	for _, m := range failed {
		if err := sendFD(ctlFD, m); err != nil {
			return err
		}
	}
	exit, err := reap(pid, exts)
	if err != nil {
		return err
	}
	if err := sendFD(ctlFD, message{Kind: msgExit, Exit: &exit}); err != nil {
		return err
	}
	// Extensions outlive the runtime, as on Lambda: they still get their
	// SHUTDOWN. The environment ends with the last of them, or when the
	// driver destroys it.
	for len(exts) > 0 {
		if _, err := reap(-1, exts); err != nil {
			return err
		}
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// listenRuntimeAPI opens the Runtime API listener in the environment's
// network namespace; the driver serves on it.
func listenRuntimeAPI() (int, error) {
	ap := netip.MustParseAddrPort(sandbox.RuntimeAPIAddr)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("runtime api socket: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind runtime api %s: %w", ap, err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen runtime api: %w", err)
	}
	return fd, nil
}

// spawnFunc forks and executes argv with env and out as stdout and stderr,
// as the function's identity, from the task root.
type spawnFunc func(argv, env []string, out *os.File) (int, error)

// lockDown drops every privilege the bootstrap and the extensions could
// inherit and installs the seccomp filter (on the init too: it needs
// nothing it refuses). It returns how to start them under the
// unprivileged identity of s, and /dev/null, their stdin, for the caller
// to close once they run.
func lockDown(s startMsg, filter *seccompFilter) (spawnFunc, *os.File, error) {
	if err := dropCapabilities(); err != nil {
		return nil, nil, err
	}
	if err := setRlimits(); err != nil {
		return nil, nil, err
	}
	if err := filter.install(); err != nil {
		return nil, nil, err
	}
	devnull, err := os.Open("/dev/null")
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/null: %w", err)
	}
	spawn := func(argv, env []string, out *os.File) (int, error) {
		return syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{
			Dir:   sandbox.TaskRoot,
			Env:   env,
			Files: []uintptr{devnull.Fd(), out.Fd(), out.Fd()},
			Sys: &syscall.SysProcAttr{
				Credential: &syscall.Credential{Uid: uint32(s.UID), Gid: uint32(s.GID), Groups: []uint32{}},
				Setsid:     true,
				Pdeathsig:  syscall.SIGKILL,
			},
		})
	}
	return spawn, devnull, nil
}

// setRlimits sets the resource limits of the function's processes on the
// init, whose children inherit them.
func setRlimits() error {
	for _, l := range []struct {
		res int
		val uint64
	}{{unix.RLIMIT_CORE, 0}, {unix.RLIMIT_NOFILE, 1024}} {
		if err := unix.Setrlimit(l.res, &unix.Rlimit{Cur: l.val, Max: l.val}); err != nil {
			return fmt.Errorf("set rlimit %d: %w", l.res, err)
		}
	}
	return nil
}

// startExtensions starts the extensions of s. It returns their names by
// pid, and an extexit message for each one that could not be executed.
func startExtensions(s startMsg, spawn spawnFunc, out *os.File) (exts map[int]string, failed []message) {
	exts = map[int]string{}
	for _, path := range s.Extensions {
		name := path[strings.LastIndexByte(path, '/')+1:]
		xpid, err := spawn([]string{path}, s.ExtEnv, out)
		if err != nil {
			m := errorMessage(&sandbox.ExecError{Path: path, Err: err})
			m.Kind, m.Ext, m.Exit = msgExtExit, name, &exitMsg{Code: 127}
			failed = append(failed, m)
			continue
		}
		exts[xpid] = name
	}
	return exts, failed
}

// awaitRelease waits for the driver's release message while it reaps and
// reports the extensions that exit meanwhile. It polls the control socket
// with a pidfd for each extension, so that an exit wakes it at once (and
// looks every 100 ms if the kernel has no pidfds).
func awaitRelease(exts map[int]string) error {
	pidfds := map[int]int{}
	defer func() {
		for _, fd := range pidfds {
			unix.Close(fd)
		}
	}()
	for pid := range exts {
		if fd, err := unix.PidfdOpen(pid, 0); err == nil {
			pidfds[pid] = fd
		}
	}
	for {
		fds := []unix.PollFd{{Fd: ctlFD, Events: unix.POLLIN}}
		for _, fd := range pidfds {
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
		timeout := -1
		if len(pidfds) < len(exts) {
			timeout = 100
		}
		if _, err := unix.Poll(fds, timeout); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("wait for release: %w", err)
		}
		if err := reapExited(exts, pidfds); err != nil {
			return err
		}
		if fds[0].Revents == 0 {
			continue
		}
		m, files, err := recvFD(ctlFD)
		closeAll(files)
		if err != nil {
			return err
		}
		if m.Kind != msgRelease {
			return fmt.Errorf("expected %s message, got %q", msgRelease, m.Kind)
		}
		return nil
	}
}

// reapExited reaps every child that has exited, without waiting, and
// reports the extensions among them.
func reapExited(exts map[int]string, pidfds map[int]int) error {
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ECHILD) || err == nil && wpid <= 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reap: %w", err)
		}
		name, ok := exts[wpid]
		if !ok {
			continue // an orphan
		}
		delete(exts, wpid)
		if fd, ok := pidfds[wpid]; ok {
			unix.Close(fd)
			delete(pidfds, wpid)
		}
		status := exitMsg{Code: ws.ExitStatus()}
		if ws.Signaled() {
			status = exitMsg{Code: -1, Signal: int(ws.Signal())}
		}
		if err := sendFD(ctlFD, message{Kind: msgExtExit, Ext: name, Exit: &status}); err != nil {
			return err
		}
	}
}

// dropCapabilities empties the bounding, ambient and inheritable sets of the
// calling thread. The bootstrap's setuid to a non-zero uid then clears its
// permitted and effective sets, and no file can give capabilities back.
func dropCapabilities() error {
	last := 40
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	for c := 0; c <= last; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clear inheritable capabilities: %w", err)
	}
	return nil
}

// reap waits for children, as pid 1 must, until the bootstrap exits (with
// pid -1: until no extension is left). It reports each extension's end as
// it happens.
func reap(pid int, exts map[int]string) (exitMsg, error) {
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return exitMsg{}, fmt.Errorf("wait for bootstrap: %w", err)
		}
		status := exitMsg{Code: ws.ExitStatus()}
		if ws.Signaled() {
			status = exitMsg{Code: -1, Signal: int(ws.Signal())}
		}
		if name, ok := exts[wpid]; ok {
			delete(exts, wpid)
			if err := sendFD(ctlFD, message{Kind: msgExtExit, Ext: name, Exit: &status}); err != nil {
				return exitMsg{}, err
			}
			if pid == -1 && len(exts) == 0 {
				return exitMsg{}, nil
			}
			continue
		}
		if wpid != pid {
			continue // an orphan
		}
		return status, nil
	}
}
