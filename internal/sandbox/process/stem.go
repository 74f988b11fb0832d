package process

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/relay"
)

// Stems: a stem is a managed runtime's interpreter (python3 or node) that
// the driver started ahead of time with Hearth's runtime client, before it
// knew the function: it has loaded the client and waits for its start
// message on a pipe (the runtime side is in the clients, see
// sandbox.StemMessage). It is started with the ordinary command line, in
// a session of its own, with stdin /dev/null, stdout and stderr a pipe
// the driver holds, and only its start environment: the Spec's start
// variables (sandbox.StemStartEnv) and _HEARTH_STEM_FD. At Start the
// environment's scratch directory and listener are made as for an
// executed bootstrap, the stem is sent the bootstrap's whole environment
// and the task root, and from then on the driver relays what it writes to
// the environment's output. The stem replaces its environment, changes to
// the task root and goes on exactly as an executed bootstrap: it loads the
// function's code only now.
//
// Stems are keyed by Stem kind, command line and start environment: a stem
// serves only a Spec with the same key, and only one. The driver starts
// them on demand, for keys a Start used in the last stemIdle, at most
// stemsPerKey ready or starting per key and maxStems in all, some time
// after that Start (stemFillDelay: the interpreter's start must not
// compete with the function's init for the CPU); keys not used for
// stemIdle lose their stems, and Close kills every one.
//
// The relay keeps attribution exact: the Runtime API connections of an
// environment started from a stem drain the stem's output pipe into the
// environment's output each time they receive bytes, so that what the
// runtime wrote before posting a response is in the output before the
// server sees the post, as it is when the runtime writes to the output
// itself; and the environment's Done waits for the same drain.

// stemIdle is how long a key keeps its stems without a Start using one
// (a variable for tests).
var stemIdle = time.Minute

const (
	stemsPerKey   = 2
	maxStems      = 8
	stemFillDelay = 250 * time.Millisecond
	// stemMessageTimeout bounds the write of a start message: it fits in
	// the pipe, so only a wedged system makes it wait.
	stemMessageTimeout = 5 * time.Second
)

// stems holds a driver's stems by key.
type stems struct {
	d   *Driver
	log *slog.Logger
	// empty is an empty directory outside the driver's root: where a
	// stem's PATH and LD_LIBRARY_PATH entries in the task root and /opt
	// lead (as for zygotes).
	empty string
	stop  chan struct{} // closed by close: the janitor ends
	wg    sync.WaitGroup

	mu     sync.Mutex
	keys   map[string]*stemKey // guarded by mu
	count  int                 // guarded by mu: stems ready or starting, of every key
	closed bool                // guarded by mu
}

// stemKey is the stems of one key.
type stemKey struct {
	key      string
	argv     []string
	env      []string  // start environment, expanded, with _HEARTH_STEM_FD
	lastUsed time.Time // a Start wanted one
	ready    []*stem   // oldest first
	starting int
}

// stem is one pre-started runtime.
type stem struct {
	cmd  *exec.Cmd
	msg  *os.File      // write end of the start pipe
	out  *os.File      // read end of its stdout and stderr
	done chan struct{} // closed once reaped; exit is set then
	exit sandbox.Exit
}

func newStems(d *Driver) (*stems, error) {
	empty, err := os.MkdirTemp("", "hearth-stem-empty-")
	if err != nil {
		return nil, fmt.Errorf("stems: %w", err)
	}
	ss := &stems{d: d, log: d.log.With("stem", true), empty: empty, stop: make(chan struct{}), keys: map[string]*stemKey{}}
	ss.wg.Add(1)
	go ss.janitor()
	return ss, nil
}

// stemKeyOf returns the key of the stems that may start spec's bootstrap
// and their start environment, or ok false when spec must be started the
// ordinary way. argv is spec's expanded command line.
func (d *Driver) stemKeyOf(spec *sandbox.Spec, argv []string) (key string, env []string, ok bool) {
	var client string
	switch spec.Stem {
	case "python":
		client = "bootstrap.py"
	case "node":
		client = "bootstrap.mjs"
	default:
		return "", nil, false
	}
	// Hearth's own client, launched unwrapped, with no layers or
	// extensions, and an environment JSON carries unchanged.
	if len(spec.Extensions) > 0 || spec.HoldBootstrap || spec.OptDir != "" || spec.RuntimeDir == "" ||
		len(argv) < 2 || argv[len(argv)-1] != filepath.Join(spec.RuntimeDir, client) {
		return "", nil, false
	}
	for _, kv := range spec.Env {
		if !utf8.ValidString(kv) {
			return "", nil, false
		}
	}
	opt := d.stems.empty
	if d.optNS {
		opt = sandbox.OptDir // an empty tmpfs in the stem's mount namespace
	}
	taskRef := false
	for _, kv := range sandbox.StemStartEnv(spec.Env) {
		name, val, _ := strings.Cut(kv, "=")
		val = strings.ReplaceAll(val, "$LAMBDA_RUNTIME_DIR", spec.RuntimeDir)
		if strings.Contains(val, "$LAMBDA_TASK_ROOT") || strings.Contains(val, sandbox.OptRef) {
			// The interpreter does not look at PATH (its path is
			// absolute); the dynamic loader reads LD_LIBRARY_PATH once,
			// as the stem starts: its entries in the task root and /opt
			// lead to an empty directory there, which is the same as the
			// environment's when they hold nothing it could load.
			if name != "PATH" && name != "LD_LIBRARY_PATH" {
				return "", nil, false
			}
			taskRef = taskRef || name == "LD_LIBRARY_PATH" && strings.Contains(val, "$LAMBDA_TASK_ROOT")
			val = strings.NewReplacer("$LAMBDA_TASK_ROOT", d.stems.empty, sandbox.OptRef, opt).Replace(val)
		}
		env = append(env, name+"="+val)
	}
	if taskRef && !sandbox.NoLibraries(spec.CodeDir) {
		return "", nil, false
	}
	env = append(env, sandbox.StemFDVar+"=3")
	key = spec.Stem + "\x00\x00" + strings.Join(argv, "\x00") + "\x00\x00" + strings.Join(env, "\x00")
	return key, env, true
}

// take returns a ready stem of key, or nil when there is none, and has
// the key's stems topped up.
func (ss *stems) take(key string, argv, env []string) *stem {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return nil
	}
	k := ss.keys[key]
	if k == nil {
		k = &stemKey{key: key, argv: argv, env: env}
		ss.keys[key] = k
	}
	k.lastUsed = time.Now()
	var s *stem
	for s == nil && len(k.ready) > 0 {
		s = k.ready[0]
		k.ready = k.ready[1:]
		ss.count--
		select {
		case <-s.done: // died waiting
			ss.log.Warn("a stem exited before it was used", "exit", s.exit.String())
			s.release()
			s = nil
		default:
		}
	}
	for len(k.ready)+k.starting < stemsPerKey && ss.count < maxStems {
		k.starting++
		ss.count++
		ss.wg.Add(1)
		time.AfterFunc(stemFillDelay, func() { ss.fill(k) })
	}
	return s
}

// fill starts one stem for k.
func (ss *stems) fill(k *stemKey) {
	defer ss.wg.Done()
	ss.mu.Lock()
	if ss.closed || ss.keys[k.key] != k {
		// Closing, or the key went idle meanwhile.
		k.starting--
		ss.count--
		ss.mu.Unlock()
		return
	}
	ss.mu.Unlock()
	s, err := ss.launch(k.argv, k.env)
	ss.mu.Lock()
	k.starting--
	keep := err == nil && !ss.closed && ss.keys[k.key] == k
	if keep {
		k.ready = append(k.ready, s)
	} else {
		ss.count--
	}
	ss.mu.Unlock()
	switch {
	case err != nil:
		ss.log.Warn("a stem did not start; cold starts run the bootstrap", "cmd", k.argv, "err", err)
	case !keep:
		s.kill()
		<-s.done
	}
}

// launch starts a stem.
func (ss *stems) launch(argv, env []string) (_ *stem, err error) {
	mr, mw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stem pipe: %w", err)
	}
	defer mr.Close()
	or, ow, err := os.Pipe()
	if err != nil {
		mw.Close()
		return nil, fmt.Errorf("stem pipe: %w", err)
	}
	defer ow.Close()
	defer func() {
		if err != nil {
			mw.Close()
			or.Close()
		}
	}()
	s := &stem{
		cmd: &exec.Cmd{
			Path:       argv[0],
			Args:       argv,
			Dir:        "/",
			Env:        env,
			Stdout:     ow,
			Stderr:     ow,
			ExtraFiles: []*os.File{mr}, // fd 3
			SysProcAttr: &syscall.SysProcAttr{
				// As an executed bootstrap: the leader of a session of
				// its own, killed if the server dies.
				Setsid:    true,
				Pdeathsig: syscall.SIGKILL,
			},
		},
		msg:  mw,
		out:  or,
		done: make(chan struct{}),
	}
	wait := func() {
		s.cmd.Wait()
		s.exit = waitExit(s.cmd.ProcessState.Sys().(syscall.WaitStatus))
		close(s.done)
	}
	if ss.d.optNS {
		started := make(chan error, 1)
		onSpareThread(func() {
			// The forking thread lives as long as the stem: Pdeathsig
			// follows the thread.
			if err := enterOptNamespace(""); err != nil {
				started <- err
				return
			}
			err := s.cmd.Start()
			started <- err
			if err == nil {
				wait()
			}
		})
		err = <-started
	} else if err = s.cmd.Start(); err == nil {
		go wait()
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// release lets an unused stem go: it exits at the end of its pipe.
func (s *stem) release() {
	s.msg.Close()
	s.out.Close()
}

// kill kills the stem's whole group, unless it is reaped already (its
// pid may be another's then), and releases it.
func (s *stem) kill() {
	select {
	case <-s.done:
	default:
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
	s.release()
}

// janitor drops the stems of keys no Start used for stemIdle, and dead
// ones, until close.
func (ss *stems) janitor() {
	defer ss.wg.Done()
	t := time.NewTicker(stemIdle / 6)
	defer t.Stop()
	for {
		select {
		case <-ss.stop:
			return
		case <-t.C:
		}
		var drop []*stem
		ss.mu.Lock()
		for key, k := range ss.keys {
			if time.Since(k.lastUsed) >= stemIdle {
				drop = append(drop, k.ready...)
				ss.count -= len(k.ready)
				delete(ss.keys, key) // stems still starting see it gone
				continue
			}
			live := k.ready[:0]
			for _, s := range k.ready {
				select {
				case <-s.done: // died waiting
					drop = append(drop, s)
					ss.count--
				default:
					live = append(live, s)
				}
			}
			k.ready = live
		}
		ss.mu.Unlock()
		for _, s := range drop {
			s.kill()
		}
	}
}

// close kills every stem and waits until they are reaped.
func (ss *stems) close() {
	ss.mu.Lock()
	ss.closed = true
	var all []*stem
	for _, k := range ss.keys {
		all = append(all, k.ready...)
	}
	ss.keys = nil
	ss.mu.Unlock()
	close(ss.stop)
	for _, s := range all {
		s.kill()
		<-s.done
	}
	ss.wg.Wait() // stems starting now are killed by fill
	os.Remove(ss.empty)
}

// startFromStem makes s the bootstrap of e: it sends s its start message
// (the task root and e.cmd's whole environment) and relays its output to
// out. On error s is killed and e is untouched.
func (e *env) startFromStem(s *stem, out *os.File) error {
	msg, err := json.Marshal(sandbox.StemMessage{Cwd: e.cmd.Dir, Env: e.cmd.Env})
	if err != nil {
		s.kill()
		return err
	}
	r, err := relay.New(s.out, out) // takes s.out over, closed on error
	if err != nil {
		s.kill()
		return err
	}
	s.msg.SetWriteDeadline(time.Now().Add(stemMessageTimeout))
	_, err = s.msg.Write(msg)
	if cerr := s.msg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		r.Close()
		return fmt.Errorf("stem start message: %w", err)
	}
	go r.Run()
	e.cmd = s.cmd
	e.pid = s.cmd.Process.Pid
	e.relay = r
	go func() {
		<-s.done
		// Everything the bootstrap wrote is in the pipe: into the
		// output before Done, as an executed bootstrap's would be.
		r.Drain()
		e.exit = s.exit
		close(e.done)
	}()
	return nil
}
