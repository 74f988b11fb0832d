package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"hearth/internal/sandbox"
)

// Zygotes: a zygote is a Python interpreter that has started, imported
// what Hearth's runtime client needs and loaded the client's code, and
// then only forks (bootstrap.py --zygote). It never runs user code. A cold
// start that may use one (see zygoteKey) asks it over a SOCK_SEQPACKET
// socket to fork a bootstrap: the child makes a session of its own, is
// killed when the zygote dies, takes the environment's output as stdout
// and stderr, the task root as its cwd and exactly the environment's
// variables, and only then runs the client, which loads the handler as an
// ordinary start does. The zygote reaps its children and reports each exit
// status over the socket.
//
// A zygote is started with the interpreter settings of the first
// environment that asks for them (the variables the interpreter reads at
// start, zygoteVars), and serves only environments with the same ones.
// Every child of a zygote shares what the zygote had before the fork:
// its hash seed (PYTHONHASHSEED's random choice), the addresses of its
// memory (ASLR is per exec), its open files (none beyond the socket, which
// children close) and its mount namespace. On the process driver, which
// serves one account and isolates nothing, that is no loss.

// maxZygotes bounds the zygotes a driver keeps: one per interpreter and
// set of interpreter settings.
const maxZygotes = 4

// zygoteRestartDelay is how long after a zygote died (or failed to start)
// the next one for its key is started.
const zygoteRestartDelay = time.Second

// zygoteSpawnTimeout bounds how long a fork may take before the zygote is
// given up as wedged.
const zygoteSpawnTimeout = 5 * time.Second

// zygotes holds a driver's zygotes by key.
type zygotes struct {
	d   *Driver
	log *slog.Logger

	// empty is an empty directory outside the driver's root (which holds
	// environments only): where a zygote's LD_LIBRARY_PATH entries in the
	// task root and /opt lead.
	empty string

	mu     sync.Mutex
	byKey  map[string]*zygote // guarded by mu; ready or starting
	closed bool               // guarded by mu
}

// zygoteKey returns the key of the zygote that can start spec's bootstrap
// and the variables to start that zygote with, or ok false when spec must
// be started the ordinary way. argv is spec's expanded command line.
func (d *Driver) zygoteKey(spec *sandbox.Spec, argv []string) (key string, vars []string, ok bool) {
	if spec.Zygote != "python" || len(spec.Extensions) > 0 || spec.HoldBootstrap || spec.OptDir != "" ||
		spec.RuntimeDir == "" || len(argv) != 2 || argv[1] != filepath.Join(spec.RuntimeDir, "bootstrap.py") {
		return "", nil, false
	}
	var env sandbox.Environ
	env.Add(spec.Env...)
	for _, kv := range env.List() {
		name, val, _ := strings.Cut(kv, "=")
		if !sandbox.StartVar(name) {
			continue
		}
		val = strings.ReplaceAll(val, "$LAMBDA_RUNTIME_DIR", spec.RuntimeDir)
		if name != "LD_LIBRARY_PATH" && (strings.Contains(val, "$LAMBDA_TASK_ROOT") || strings.Contains(val, sandbox.OptRef)) {
			return "", nil, false
		}
		vars = append(vars, name+"="+val)
	}
	// The dynamic loader reads LD_LIBRARY_PATH once, when the zygote
	// starts: its entries in the task root and /opt lead to an empty
	// directory there. That is the same as the environment's only when
	// they hold nothing it could load: no layers (checked above), and no
	// lib directory or shared object at the top of the code.
	if !sandbox.NoLibraries(spec.CodeDir) {
		return "", nil, false
	}
	slices.Sort(vars)
	key = strings.Join(argv, "\x00") + "\x00\x00" + strings.Join(vars, "\x00")
	return key, vars, true
}

// get returns the ready zygote for key, or nil when there is none yet:
// then it starts one (in the background) for the next cold start, unless
// there are maxZygotes already.
func (zs *zygotes) get(key string, argv, vars []string) *zygote {
	zs.mu.Lock()
	defer zs.mu.Unlock()
	if zs.closed {
		return nil
	}
	if z, ok := zs.byKey[key]; ok {
		select {
		case <-z.ready:
			alive, diedAt := z.state()
			if alive {
				return z
			}
			if time.Since(diedAt) < zygoteRestartDelay {
				return nil // a zygote that cannot start is not retried at every cold start
			}
			delete(zs.byKey, key) // start another below
		default:
			return nil // starting
		}
	}
	if len(zs.byKey) >= maxZygotes {
		return nil
	}
	z := &zygote{
		key:      key,
		log:      zs.log,
		ready:    make(chan struct{}),
		exited:   make(chan struct{}),
		children: map[int]chan syscall.WaitStatus{},
	}
	zs.byKey[key] = z
	go z.start(zs.d, argv, vars)
	return nil
}

// close stops every zygote and waits until they have exited. Their
// children die with them.
func (zs *zygotes) close() {
	zs.mu.Lock()
	zs.closed = true
	all := make([]*zygote, 0, len(zs.byKey))
	for _, z := range zs.byKey {
		all = append(all, z)
	}
	zs.byKey = nil
	zs.mu.Unlock()
	for _, z := range all {
		<-z.ready
		z.closing.Store(true)
		z.kill()
		<-z.exited
	}
	os.Remove(zs.empty)
}

// zygote is one zygote process.
type zygote struct {
	key    string
	log    *slog.Logger
	ready  chan struct{} // closed once started (or failed to start)
	exited chan struct{} // closed once the process is reaped (or never started)
	// Set before ready is closed; conn and cmd are nil when the start failed.
	conn *net.UnixConn
	cmd  *exec.Cmd

	spawnMu sync.Mutex  // one fork at a time: replies come in order
	closing atomic.Bool // the driver is closing: its exit is expected

	mu       sync.Mutex
	dead     bool                            // guarded by mu: the socket is closed
	diedAt   time.Time                       // guarded by mu: when dead was set
	pending  *spawnReq                       // guarded by mu: the fork awaiting its pid
	children map[int]chan syscall.WaitStatus // guarded by mu: live children's exit
}

type spawnReq struct {
	reply chan spawnResult // cap 1
	exit  chan syscall.WaitStatus
}

type spawnResult struct {
	pid int
	err error
}

func (z *zygote) state() (alive bool, diedAt time.Time) {
	z.mu.Lock()
	defer z.mu.Unlock()
	return !z.dead, z.diedAt
}

func (z *zygote) kill() {
	if z.cmd != nil && z.cmd.Process != nil {
		z.cmd.Process.Kill()
	}
}

// start starts the zygote process and then reads its reports until the
// socket closes.
func (z *zygote) start(d *Driver, argv, vars []string) {
	err := z.launch(d, argv, vars)
	if err != nil {
		z.log.Warn("zygote did not start; cold starts run the bootstrap", "cmd", argv, "err", err)
		z.mu.Lock()
		z.dead, z.diedAt = true, time.Now()
		z.mu.Unlock()
		close(z.ready)
		close(z.exited)
		return
	}
	close(z.ready)
	z.read()
}

// launch starts the process with one end of a socket pair on fd 3.
func (z *zygote) launch(d *Driver, argv, vars []string) error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("zygote socket: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "zygote"), os.NewFile(uintptr(fds[1]), "zygote-child")
	defer theirs.Close()
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return fmt.Errorf("zygote socket: %w", err)
	}
	conn := fc.(*net.UnixConn)
	empty := d.zyg.empty
	opt := empty
	if d.optNS {
		opt = sandbox.OptDir // an empty tmpfs in the zygote's mount namespace
	}
	env := make([]string, len(vars))
	for i, kv := range vars {
		env[i] = strings.NewReplacer("$LAMBDA_TASK_ROOT", empty, sandbox.OptRef, opt).Replace(kv)
	}
	cmd := &exec.Cmd{
		Path:       argv[0],
		Args:       []string{argv[0], argv[1], "--zygote", "3"},
		Dir:        "/",
		Env:        env,
		ExtraFiles: []*os.File{theirs},
		Stderr:     &logWriter{log: z.log},
		SysProcAttr: &syscall.SysProcAttr{
			Setsid:    true,
			Pdeathsig: syscall.SIGKILL, // its children die with it
		},
	}
	cmd.Stdout = cmd.Stderr
	z.cmd = cmd
	if d.optNS {
		started := make(chan error, 1)
		onSpareThread(func() {
			// The thread that forks the zygote lives as long as it
			// does: Pdeathsig follows the thread.
			if err := enterOptNamespace(""); err != nil {
				started <- err
				close(z.exited)
				return
			}
			err := cmd.Start()
			started <- err
			if err == nil {
				cmd.Wait()
			}
			close(z.exited)
		})
		err = <-started
	} else if err = cmd.Start(); err == nil {
		go func() {
			cmd.Wait()
			close(z.exited)
		}()
	}
	if err != nil {
		conn.Close()
		z.cmd = nil
		return err
	}
	z.conn = conn
	return nil
}

// read dispatches the zygote's reports until its socket closes, then
// reports every child still alive as killed: they die with the zygote.
func (z *zygote) read() {
	buf := make([]byte, 256)
	for {
		n, err := z.conn.Read(buf)
		if err != nil || n == 0 {
			break
		}
		f := strings.Fields(string(buf[:n]))
		switch {
		case len(f) == 2 && f[0] == "pid":
			pid, _ := strconv.Atoi(f[1])
			z.mu.Lock()
			p := z.pending
			z.pending = nil
			if p != nil && pid > 0 {
				z.children[pid] = p.exit
			}
			z.mu.Unlock()
			if p != nil {
				p.reply <- spawnResult{pid: pid}
			}
		case len(f) == 3 && f[0] == "exit":
			pid, _ := strconv.Atoi(f[1])
			st, _ := strconv.Atoi(f[2])
			z.mu.Lock()
			ch := z.children[pid]
			delete(z.children, pid)
			z.mu.Unlock()
			if ch != nil {
				ch <- syscall.WaitStatus(st)
			}
		default:
			z.mu.Lock()
			p := z.pending
			z.pending = nil
			z.mu.Unlock()
			if p != nil {
				p.reply <- spawnResult{err: fmt.Errorf("zygote: %s", bytes.TrimSpace(buf[:n]))}
			}
		}
	}
	z.conn.Close()
	z.kill()
	z.mu.Lock()
	z.dead, z.diedAt = true, time.Now()
	p := z.pending
	z.pending = nil
	kids := z.children
	z.children = nil
	z.mu.Unlock()
	if p != nil {
		p.reply <- spawnResult{err: errors.New("zygote exited")}
	}
	<-z.exited
	for pid, ch := range kids {
		// Pdeathsig has killed them; their groups may hold more.
		syscall.Kill(-pid, syscall.SIGKILL)
		ch <- syscall.WaitStatus(syscall.SIGKILL) // as wait reports a kill
	}
	if !z.closing.Load() {
		z.log.Warn("zygote exited; cold starts run the bootstrap until another has started")
	}
}

// spawn forks a bootstrap that starts in cwd with exactly env, writing to
// out. It returns the child's pid and the channel its wait status arrives
// on. The child makes a session of its own (pgid = pid) first thing, and
// before it can connect to the Runtime API.
func (z *zygote) spawn(ctx context.Context, cwd string, env []string, out *os.File) (int, <-chan syscall.WaitStatus, error) {
	z.spawnMu.Lock()
	defer z.spawnMu.Unlock()
	msg := []byte("spawn\x00" + cwd)
	for _, kv := range env {
		if strings.IndexByte(kv, 0) >= 0 {
			return 0, nil, errors.New("zygote: NUL in an environment variable")
		}
		msg = append(append(msg, 0), kv...)
	}
	req := &spawnReq{reply: make(chan spawnResult, 1), exit: make(chan syscall.WaitStatus, 1)}
	z.mu.Lock()
	if z.dead {
		z.mu.Unlock()
		return 0, nil, errors.New("zygote exited")
	}
	z.pending = req
	z.mu.Unlock()
	if _, _, err := z.conn.WriteMsgUnix(msg, unix.UnixRights(int(out.Fd())), nil); err != nil {
		z.mu.Lock()
		if z.pending == req {
			z.pending = nil
		}
		z.mu.Unlock()
		return 0, nil, fmt.Errorf("zygote: %w", err)
	}
	t := time.NewTimer(zygoteSpawnTimeout)
	defer t.Stop()
	select {
	case r := <-req.reply:
		return r.pid, req.exit, r.err
	case <-t.C:
	case <-ctx.Done():
	}
	// A fork that does not answer leaves the zygote's state unknown:
	// give it up (read reports the child, if any, as killed).
	z.kill()
	r := <-req.reply
	if r.err == nil {
		return r.pid, req.exit, nil
	}
	return 0, nil, r.err
}

// logWriter logs what a zygote writes, line by line.
type logWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte // guarded by mu
}

func (w *logWriter) Write(p []byte) (int, error) {
	var lines []string
	w.mu.Lock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	w.mu.Unlock()
	for _, l := range lines {
		w.log.Warn("zygote output", "line", l)
	}
	return len(p), nil
}
