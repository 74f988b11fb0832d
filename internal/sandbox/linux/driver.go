//go:build linux && !hearth_noinitbin

package linux

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/relay"
	"hearth/internal/sandbox/tmpdisk"
)

func (c Config) withDefaults() Config {
	if c.Root == "" {
		c.Root = "/run/hearth/linux"
	}
	if c.Network == "" {
		c.Network = NetworkNAT
	}
	if c.UIDBase == 0 {
		c.UIDBase = defaultUIDBase
	}
	if c.PoolSize == 0 {
		c.PoolSize = 2
		if c.PoolMax == 0 {
			c.PoolMax = defaultPoolMax
		}
	}
	c.PoolMax = max(c.PoolMax, c.PoolSize)
	if c.PrestartMax <= 0 {
		c.PrestartMax = defaultPrestartMax
	}
	if c.PidsLimit == 0 {
		c.PidsLimit = 1024
	}
	if c.CgroupParent == "" {
		c.CgroupParent = "/hearth"
	}
	return c
}

// Validate reports every invalid field of c, zero fields taking their
// defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Network != NetworkNAT && c.Network != NetworkNone {
		errs = append(errs, fmt.Errorf("network: want %q or %q, got %q", NetworkNAT, NetworkNone, c.Network))
	}
	if c.Subnet.IsValid() && (!c.Subnet.Addr().Is4() || c.Subnet.Bits() > 30) {
		errs = append(errs, fmt.Errorf("subnet: want an IPv4 prefix of /30 or wider, got %v", c.Subnet))
	}
	for _, p := range c.HostPorts {
		if p == 0 {
			errs = append(errs, errors.New("host_ports: port 0"))
		}
	}
	if c.UIDBase < 65536 || c.UIDBase > math.MaxInt32-uidBlocks*uidBlockSize+1 {
		errs = append(errs, fmt.Errorf("uid_base: want 65536 to %d, got %d", math.MaxInt32-uidBlocks*uidBlockSize+1, c.UIDBase))
	}
	if c.PidsLimit < 0 {
		errs = append(errs, fmt.Errorf("pids_limit: must not be negative, got %d", c.PidsLimit))
	}
	if !filepath.IsAbs(c.Root) {
		errs = append(errs, fmt.Errorf("root: want an absolute path, got %q", c.Root))
	}
	if !sandbox.ValidAccount(c.PoolAccount) {
		errs = append(errs, fmt.Errorf("pool_account: want 12 digits or none, got %q", c.PoolAccount))
	}
	if !strings.HasPrefix(c.CgroupParent, "/") || strings.Contains(c.CgroupParent, "..") {
		errs = append(errs, fmt.Errorf("cgroup_parent: want an absolute cgroup path, got %q", c.CgroupParent))
	}
	return errors.Join(errs...)
}

// Driver starts isolated environments. It is safe for concurrent use.
type Driver struct {
	cfg        Config
	log        *slog.Logger
	tag        string // names this driver's host objects
	mountPoint string
	lock       *os.File
	cgroups    *cgroupTree
	network    *network // nil with NetworkNone
	pool       *pool    // nil without a pool
	stems      *stems   // nil without Config.Prestart
	stopPool   context.CancelFunc
	poolDone   sync.WaitGroup
	releaseKey func() error
	reaper     *reaper
	init       *initProgram // what every environment's init executes
	uids       *uidPool
	tmp        *tmpdisk.Maker // nil when /tmp falls back to a tmpfs
	codeDisk   *tmpdisk.Maker // nil when code is bind-mounted
	code       *codeMounts    // nil when code is bind-mounted
	seq        atomic.Uint64

	waiters sync.WaitGroup // one env.wait per environment

	mu       sync.Mutex
	live     map[*env]struct{} // guarded by mu
	closed   bool              // guarded by mu
	starting sync.WaitGroup    // Add under mu while !closed

	closeOnce sync.Once
	closeErr  error
}

var (
	_ sandbox.Driver           = (*Driver)(nil)
	_ sandbox.Freezer          = (*env)(nil)
	_ sandbox.InitBooster      = (*env)(nil)
	_ sandbox.ExtensionWatcher = (*env)(nil)
	_ sandbox.Dialer           = (*env)(nil)
	_ sandbox.Terminator       = (*env)(nil)
	_ sandbox.BootstrapStarter = (*env)(nil)
)

// New returns a driver configured by cfg. It removes what a crashed driver
// with the same Root left on the host, installs the firewall rules and, with
// a pool, starts the goroutine that prepares sandboxes; Close stops it.
func New(cfg Config, log *slog.Logger) (_ *Driver, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("linux sandbox config: %w", err)
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("linux sandbox root: %w", err)
	}
	cfg.Root = root
	d := &Driver{
		cfg:        cfg,
		tag:        rootTag(root),
		mountPoint: filepath.Join(root, "mnt"),
		live:       make(map[*env]struct{}),
	}
	d.log = log.With("component", "sandbox", "driver", "linux")

	var undo undoStack
	defer undo.runOnError(&err)
	if err := os.MkdirAll(d.mountPoint, 0o700); err != nil {
		return nil, fmt.Errorf("create sandbox root: %w", err)
	}
	if d.lock, err = lockRoot(root); err != nil {
		return nil, err
	}
	undo.push(d.lock.Close)

	if d.cgroups, err = newCgroupTree(cfg.CgroupParent + "/" + d.tag); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.removeDebris(ctx); err != nil {
		return nil, fmt.Errorf("remove debris of an earlier run: %w", err)
	}
	undo.push(func() error {
		ctx, cancel := cleanupContext()
		defer cancel()
		return d.cgroups.removeAll(ctx)
	})
	if d.uids, err = claimUIDs(cfg.UIDBase); err != nil {
		return nil, err
	}
	undo.push(d.uids.close)
	var initErr error
	if d.init, initErr = loadInit(); initErr != nil {
		d.log.Warn("the sandbox init is the server's own binary", "err", initErr)
	}
	undo.push(d.init.close)
	// The init program is the reaper too: it outlives the driver by as
	// little memory as it can.
	if d.reaper, err = startReaper(d.init.path, d.cgroups.dirs(""), d.lock, d.uids.claim); err != nil {
		return nil, err
	}
	undo.push(d.reaper.stop)
	// Images of a crashed run that it had not unlinked yet are removed
	// here; the kernel freed the rest with their environments.
	if !cfg.TmpfsTmp {
		tmp, err := tmpdisk.New(filepath.Join(root, "tmpdisk"))
		if err == nil && cfg.PoolSize < 0 {
			// mkfs.ext4 now rather than in the first cold start; the
			// pool's goroutine does it when there is a pool.
			if err = tmp.Warm(defaultTmpMB); err != nil {
				tmp.Close()
			}
		}
		if err != nil {
			d.log.Warn("/tmp falls back to a tmpfs charged to the function's memory", "err", err)
		} else {
			d.tmp = tmp
			undo.push(tmp.Close)
		}
	}
	// The code's own filesystems are detached mounts too: nothing of
	// them outlives the driver but images not yet unlinked, removed here.
	if codeDisk, err := tmpdisk.New(filepath.Join(root, "codedisk")); err != nil {
		d.log.Warn("code is bind-mounted: environments see its host path in /proc/self/mountinfo", "err", err)
	} else {
		d.codeDisk, d.code = codeDisk, newCodeMounts(codeDisk)
		undo.push(codeDisk.Close)
	}
	if !cfg.NoFreezerKey {
		if d.releaseKey, err = d.cgroups.keepFrozen(); err != nil {
			return nil, err
		}
		undo.push(d.releaseKey)
	}
	if cfg.Network == NetworkNAT {
		if d.network, err = newNetwork(cfg, d.tag); err != nil {
			return nil, err
		}
		undo.push(d.network.close)
	}
	poolCtx, stopPool := context.WithCancel(context.Background())
	d.stopPool = stopPool
	if cfg.PoolSize > 0 {
		d.pool = newPool(cfg.PoolSize, cfg.PoolMax, cfg.PoolAccount)
		d.poolDone.Go(func() { d.runPool(poolCtx, d.pool) })
	}
	if cfg.Prestart {
		d.stems = newStems(cfg.PrestartMax)
		d.poolDone.Go(func() { d.runStems(poolCtx, d.stems) })
	}
	subnet := "none"
	if d.network != nil {
		subnet = d.network.subnet.String()
	}
	d.log.Info("linux sandbox ready", "cgroup", cfg.CgroupParent+"/"+d.tag, "subnet", subnet,
		"uids", fmt.Sprintf("%d-%d", d.uids.first, d.uids.first+uidBlockSize-1), "pool", cfg.PoolSize, "pool_max", cfg.PoolMax,
		"prestart", cfg.Prestart, "tmp_on_disk", d.tmp != nil)
	return d, nil
}

// rootTag derives a short name from the driver's root.
func rootTag(root string) string {
	h := fnv.New32a()
	h.Write([]byte(root))
	return fmt.Sprintf("%08x", h.Sum32())
}

// rootLockWait bounds how long New waits for another holder of its root's
// lock: a dead driver's reaper cleaning up.
const rootLockWait = 35 * time.Second

// lockRoot takes an exclusive lock on root for the driver's lifetime.
func lockRoot(root string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(root, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sandbox root lock: %w", err)
	}
	// The reaper of a driver that died holds the lock while it cleans up
	// (at most 30 s); wait for it rather than race it.
	deadline := time.Now().Add(rootLockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("sandbox root %s is in use by another driver: %w", root, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f, nil
}

// removeDebris removes the host objects a crashed driver with the same root
// left: cgroups (and any process still in them), veths, the nftables table
// and mounts under the root.
func (d *Driver) removeDebris(ctx context.Context) error {
	return errors.Join(
		d.cgroups.removeAll(ctx),
		removeDebrisLinks("hearth:"+d.tag),
		deleteTable(tablePrefix+d.tag),
		restoreForwarding(),
		// A correct run never leaves anything mounted there.
		tmpdisk.UnmountUnder(d.cfg.Root),
	)
}

// Prepared reports how many prepared sandboxes the pool holds, for metrics
// and tests.
func (d *Driver) Prepared() int {
	if d.pool == nil {
		return 0
	}
	return d.pool.len()
}

// takeLive takes a prepared box from the pool, discarding any whose init
// died while it waited there (killed by an operator or the OOM killer).
func (d *Driver) takeLive(account string) *box {
	for b := d.pool.take(account); b != nil; b = d.pool.take(account) {
		if b.alive() {
			return b
		}
		d.log.Warn("prepared sandbox died in the pool; discarding it", "cgroup", b.name)
		if err := d.discard(b); err != nil {
			d.log.Warn("discard sandbox", "err", err)
		}
	}
	return nil
}

// Name implements sandbox.Driver.
func (d *Driver) Name() string { return "linux" }

// Default sizes when the spec leaves them zero.
const (
	defaultMemoryMB = 128
	defaultTmpMB    = 512
	// defaultPoolMax is Config.PoolMax when neither it nor PoolSize is
	// given: a burst of 50 on two cores then finds 16 of its sandboxes
	// prepared, for about 16 × 1.5 MB of anonymous memory in their
	// inits (measured by BenchmarkEnvMemory in test/e2e).
	defaultPoolMax = 16
)

// Start implements sandbox.Driver. It takes a prepared sandbox from the pool
// (or prepares one), applies the spec's limits, hands the init the function's
// files and waits until the bootstrap has been executed.
func (d *Driver) Start(ctx context.Context, spec *sandbox.Spec) (sandbox.Env, error) {
	var pooledGone bool
	env, err := d.start(ctx, spec, true, &pooledGone)
	if err != nil && pooledGone {
		// The prepared sandbox's init died as it was taken (killed, or
		// out of memory in the pool) before the bootstrap started, so
		// nothing of the function ran: start it in a sandbox prepared
		// now, since whatever killed that one may have killed the pool.
		d.log.Warn("prepared sandbox died as it was taken; starting another", "err", err)
		env, err = d.start(ctx, spec, false, new(bool))
	}
	return env, err
}

// start is Start, taking a sandbox from the pool if usePool. It sets
// *pooledGone when it fails because a sandbox from the pool turned out to
// have lost its init before the bootstrap started.
func (d *Driver) start(ctx context.Context, spec *sandbox.Spec, usePool bool, pooledGone *bool) (_ sandbox.Env, err error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	argv := sandbox.ExpandOpt(sandbox.Expand(spec.Cmd, sandbox.TaskRoot, sandbox.RuntimeDir), sandbox.OptDir)
	if !filepath.IsAbs(argv[0]) {
		return nil, fmt.Errorf("bootstrap path %q is not absolute", argv[0])
	}
	for _, p := range spec.HostPaths {
		if err := checkHostPath(p, d.cfg.Root); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !d.enter() {
		return nil, ErrClosed
	}
	defer d.starting.Done()
	ctx, cancel := withDefaultTimeout(ctx, prepareTimeout)
	defer cancel()

	began := time.Now()
	var undo undoStack
	defer undo.runOnError(&err)

	var b *box
	var t Timings
	if usePool {
		d.pool.started(spec.Account)
		if k, ok := d.stemKeyOf(spec, argv); ok {
			d.stems.started(k)
			b = d.takeStem(k)
			t.Stem = b != nil
		}
		if b == nil {
			b = d.takeLive(spec.Account)
		}
	}
	defer d.pool.kick()
	defer d.stems.kick() // also after a Start that kept the refill waiting
	if b != nil {
		t.Pooled = true
	} else {
		b, err = d.prepare(ctx, false, spec.Account)
		if usePool {
			d.pool.prepared()
		}
		if err != nil {
			return nil, err
		}
	}
	undo.push(func() error { return d.discard(b) })
	if !t.Stem {
		// A stem runs as the uid it was started as already.
		if b.uid, err = d.uids.get(spec.Account); err != nil {
			return nil, err
		}
	}
	t.Prepare = time.Since(began)

	startAt := time.Now()
	tmpMB := positiveOr(spec.TmpMB, defaultTmpMB)
	var waitTmp func() (*os.File, error)
	if d.tmp != nil && b.tmpMB != tmpMB {
		// Not the size the sandbox was prepared with: make this one
		// while the limits are applied.
		waitTmp = d.makeTmp(min(tmpMB, tmpdisk.MaxMB))
		defer func() {
			if tmp, _ := waitTmp(); tmp != nil {
				tmp.Close() // the init holds its own once sent
			}
		}()
	}
	memoryMB := positiveOr(spec.MemoryMB, defaultMemoryMB)
	if err := b.cg.setLimits(memoryMB); err != nil {
		return nil, err
	}
	parts := treesAll
	if t.Stem {
		parts = treesFunction // the stem has the rest
	}
	trees, mounts, code, err := d.openTrees(spec, parts)
	defer closeAll(trees)
	if err != nil {
		return nil, err
	}
	undo.push(func() error { d.code.release(code...); return nil })
	fds := trees
	if waitTmp != nil {
		tmp, err := waitTmp()
		if err != nil {
			return nil, err
		}
		fds = append(slices.Clip(trees), tmp)
		mounts = append(mounts, treeMount{Target: "/tmp"})
	}
	if spec.ExtensionOutput != nil && len(spec.Extensions) > 0 {
		fds = append(slices.Clip(fds), spec.ExtensionOutput)
	}
	msg := message{Kind: msgStart, Start: &startMsg{
		Argv: argv,
		Env: sandbox.BootstrapEnv(sandbox.ExpandOpt(sandbox.Expand(spec.Env, sandbox.TaskRoot, sandbox.RuntimeDir), sandbox.OptDir),
			sandbox.TaskRoot, sandbox.RuntimeDir, "/tmp", sandbox.RuntimeAPIAddr),
		Hostname:   spec.ID,
		UID:        b.uid,
		GID:        b.uid,
		TmpMB:      tmpMB,
		Trees:      mounts,
		Extensions: sandbox.ExpandOpt(spec.Extensions, sandbox.OptDir),
		ExtOutput:  spec.ExtensionOutput != nil && len(spec.Extensions) > 0,
		ExtEnv: sandbox.ExtensionEnv(sandbox.ExpandOpt(sandbox.Expand(spec.ExtensionEnv, sandbox.TaskRoot, sandbox.RuntimeDir), sandbox.OptDir),
			"/tmp", sandbox.RuntimeAPIAddr),
		Hold: spec.HoldBootstrap,
	}}
	if err := d.sendStart(ctx, b, msg, spec.Output, fds); err != nil {
		*pooledGone = t.Pooled && initGone(err)
		return nil, err
	}
	m, files, err := b.recv(ctx)
	closeAll(files)
	if err != nil {
		*pooledGone = t.Pooled && initGone(err)
		return nil, err
	}
	if m.Kind != msgStarted {
		return nil, fmt.Errorf("sandbox init: expected %s, got %q", msgStarted, m.Kind)
	}
	t.Start = time.Since(startAt)
	t.Total = time.Since(began)

	e := newEnv(d, b, spec.ID, t)
	if t.Stem {
		// What the stem writes, from before its start on, goes to the
		// output as the Runtime API connections receive bytes.
		r, err := relay.New(b.stemOut, spec.Output)
		b.stemOut = nil // the relay's, closed on error too
		if err != nil {
			return nil, err
		}
		e.relay = r
		e.ln = relay.Listener(b.ln, r)
		d.waiters.Go(r.Run) // ends once every process of the environment has exited
	}
	e.nsPid.Store(int64(m.Pid))
	e.held = spec.HoldBootstrap
	e.extExits = make(chan sandbox.ExtensionExit, len(spec.Extensions))
	e.memoryMB = memoryMB
	e.code = append(code, b.code...)
	b.code = nil
	d.mu.Lock()
	d.live[e] = struct{}{}
	d.mu.Unlock()
	d.waiters.Go(e.wait) // ends when the init exits, which Destroy forces
	e.log.Debug("sandbox ready", "dur", t.Prepare)
	if t.Stem {
		e.log.Debug("bootstrap started from a stem", "pid", m.Pid)
	}
	if e.held {
		e.log.Debug("extensions started, bootstrap held", "dur", t.Start)
	} else {
		e.log.Debug("bootstrap started", "dur", t.Start)
	}
	return e, nil
}

// initGone reports an error talking to an init that has died: its end of
// the control socket is closed.
func initGone(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, errPeerClosed)
}

// makeTmp gets a disk-backed /tmp of mb megabytes in the background (made
// ahead by tmpdisk.Maker.Take after the first of that size). The
// returned function waits for it; the caller must call it and close the
// mount it returns.
func (d *Driver) makeTmp(mb int) (wait func() (*os.File, error)) {
	done := make(chan struct{})
	var tmp *os.File
	var err error
	go func() {
		defer close(done)
		tmp, err = d.tmp.Take(mb)
	}()
	return func() (*os.File, error) {
		<-done
		return tmp, err
	}
}

func positiveOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// enter registers a Start in progress unless the driver is closed.
func (d *Driver) enter() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.starting.Add(1)
	return true
}

func (d *Driver) untrack(e *env) {
	d.mu.Lock()
	delete(d.live, e)
	d.mu.Unlock()
	d.code.release(e.code...)
	e.code = nil
}

// openTrees makes detached read-only mounts of the spec's code, runtime,
// /opt and host paths. The unprivileged user must be able to enter the code and
// runtime directories; temporary directories are often 0700, so Start adds
// o+rx to those two directories (not to what they hold). The code comes
// from its own filesystem when the driver can make one; the caller
// releases the returned entry (nil otherwise) when the environment ends.
func (d *Driver) openTrees(spec *sandbox.Spec, parts treeParts) (_ []*os.File, _ []treeMount, uses []*codeMount, err error) {
	files, mounts, err := d.openTreesCode(spec, parts, &uses)
	if err != nil {
		d.code.release(uses...)
		return files, nil, nil, err
	}
	return files, mounts, uses, nil
}

func (d *Driver) openTreesCode(spec *sandbox.Spec, parts treeParts, uses *[]*codeMount) ([]*os.File, []treeMount, error) {
	type src struct {
		host, target string
		searchable   bool
	}
	var srcs []src
	if parts != treesRuntime {
		srcs = append(srcs, src{spec.CodeDir, sandbox.TaskRoot, true})
	}
	if spec.RuntimeDir != "" && parts != treesFunction {
		srcs = append(srcs, src{spec.RuntimeDir, sandbox.RuntimeDir, true})
	}
	if spec.OptDir != "" && parts != treesRuntime {
		// Without it /opt is the root's empty, read-only directory.
		srcs = append(srcs, src{spec.OptDir, sandbox.OptDir, true})
	}
	for _, p := range spec.HostPaths {
		if !visibleAlready(p) && parts != treesFunction {
			srcs = append(srcs, src{host: p, target: p})
		}
	}
	var files []*os.File
	var mounts []treeMount
	for _, s := range srcs {
		fi, err := os.Stat(s.host)
		if err != nil {
			return files, nil, fmt.Errorf("inspect %s: %w", s.host, err)
		}
		if s.searchable && fi.IsDir() && fi.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(s.host, fi.Mode().Perm()|0o005); err != nil {
				return files, nil, fmt.Errorf("make %s readable by the function: %w", s.host, err)
			}
		}
		var f *os.File
		if (s.target == sandbox.TaskRoot || s.target == sandbox.OptDir) && fi.IsDir() && d.code != nil {
			var cm *codeMount
			f, cm, err = d.code.clone(s.host)
			if err != nil {
				d.log.Warn("bind-mounting "+s.target+": no filesystem of its own", "dir", s.host, "err", err)
			} else {
				*uses = append(*uses, cm)
			}
		}
		if s.target == sandbox.RuntimeDir && fi.IsDir() && d.code != nil {
			// The runtime clients' directory lies in the data directory
			// too; keyed by its contents, since it grows a code cache.
			var rt *codeMount
			key, kerr := treeKey(s.host)
			if kerr == nil {
				f, rt, kerr = d.code.cloneKeyed(key, s.host)
			}
			if kerr != nil {
				d.log.Warn("bind-mounting the runtime: no filesystem of its own", "runtime", s.host, "err", kerr)
			} else {
				*uses = append(*uses, rt)
			}
		}
		if f == nil {
			if f, err = openTree(s.host); err != nil {
				return files, nil, err
			}
		}
		files = append(files, f)
		mounts = append(mounts, treeMount{Target: s.target, File: !fi.IsDir()})
	}
	return files, mounts, nil
}

// treeParts selects the trees openTrees opens.
type treeParts int

const (
	treesAll      treeParts = iota
	treesRuntime            // the runtime and host paths: what a stem starts with
	treesFunction           // the code and /opt: what a stem's Start adds
)

// sendStart sends the start message with the output and the trees. The
// output's descriptor is borrowed without switching it to blocking mode.
func (d *Driver) sendStart(ctx context.Context, b *box, m message, out *os.File, trees []*os.File) error {
	rc, err := out.SyscallConn()
	if err != nil {
		return fmt.Errorf("output file: %w", err)
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		fds := []int{int(fd)}
		for _, t := range trees {
			fds = append(fds, int(t.Fd()))
		}
		serr = b.send(ctx, m, fds...)
	})
	return errors.Join(err, serr)
}

// Close implements sandbox.Driver: it stops the pool, destroys what it held
// and any environment still alive, and removes the driver's cgroups,
// firewall table and lock. It is idempotent.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() { d.closeErr = d.close() })
	return d.closeErr
}

func (d *Driver) close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.starting.Wait()

	var errs []error
	d.stopPool()
	d.poolDone.Wait()
	if d.pool != nil {
		errs = append(errs, d.drain(d.pool))
	}
	if d.stems != nil {
		for _, b := range d.stems.drain() {
			errs = append(errs, d.discard(b))
		}
	}
	d.mu.Lock()
	var live []*env
	for e := range d.live {
		live = append(live, e)
	}
	d.mu.Unlock()
	for _, e := range live {
		d.log.Warn("destroy environment left at close", "env", e.id)
		ctx, cancel := cleanupContext()
		errs = append(errs, e.Destroy(ctx))
		cancel()
	}
	d.waiters.Wait()
	if d.releaseKey != nil {
		errs = append(errs, d.releaseKey())
	}
	if d.network != nil {
		errs = append(errs, d.network.close())
	}
	ctx, cancel := cleanupContext()
	defer cancel()
	errs = append(errs, d.cgroups.removeAll(ctx))
	errs = append(errs, d.reaper.stop())
	errs = append(errs, d.init.close())
	errs = append(errs, d.uids.close())
	if d.tmp != nil {
		errs = append(errs, d.tmp.Close())
	}
	if d.code != nil {
		d.code.close()
		errs = append(errs, d.codeDisk.Close())
	}
	d.cgroups.removeParent()
	if err := os.Remove(d.mountPoint); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove mount point: %w", err))
	}
	errs = append(errs, d.lock.Close())
	return errors.Join(errs...)
}
