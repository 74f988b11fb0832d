//go:build linux && !hearth_noinitbin

package linux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// The cgroup v1 controllers an environment needs.
var v1Controllers = []cgroup1.Name{cgroup1.Memory, cgroup1.Cpu, cgroup1.Pids, cgroup1.Freezer}

const unifiedMount = "/sys/fs/cgroup"

// cgroupTree owns one driver's cgroups: <group>/<account>/<name> in every
// hierarchy it uses (v1) or in the unified hierarchy (v2). Each account's
// environments have a subtree of their own, which goes with its last
// environment.
type cgroupTree struct {
	group string // "/hearth/<tag>", relative to each hierarchy's root
	v2    bool
	subs  []cgroup1.Subsystem // v1: the controllers in v1Controllers
	roots map[cgroup1.Name]string

	mu   sync.Mutex
	refs map[string]int // guarded by mu; cgroups per account subtree
}

// accountDir names the subtree of account's environments: the 12-digit
// id, or "default".
func accountDir(account string) string {
	if account == "" {
		return "default"
	}
	return account
}

// createIn is create for the cgroup name in account's subtree.
func (t *cgroupTree) createIn(account, name string, pids int, idle bool) (*cgroup, error) {
	t.mu.Lock()
	if t.refs == nil {
		t.refs = make(map[string]int)
	}
	t.refs[account]++
	t.mu.Unlock()
	path := accountDir(account) + "/" + name
	c, err := t.create(path, pids, idle)
	if err != nil {
		// The last cgroup of the account may have gone just as this one
		// was made, and its subtree with it, between this create making
		// the subtree's directory and its own. No other can go now: this
		// one is counted.
		c, err = t.create(path, pids, idle)
	}
	if err != nil {
		t.leave(account)
		return nil, err
	}
	return c, nil
}

// deleteIn deletes c, made by createIn for account, and the account's
// subtree if c was its last cgroup.
func (t *cgroupTree) deleteIn(ctx context.Context, account string, c *cgroup) error {
	if err := c.delete(ctx); err != nil {
		return err
	}
	t.leave(account)
	return nil
}

// leave forgets one cgroup of account's subtree and removes the subtree
// once it holds none. A createIn that counted itself in meanwhile finds
// the directory gone, or keeps it from going (rmdir fails on a cgroup
// with children).
func (t *cgroupTree) leave(account string) {
	t.mu.Lock()
	t.refs[account]--
	last := t.refs[account] <= 0
	if last {
		delete(t.refs, account)
	}
	t.mu.Unlock()
	if last {
		for _, dir := range t.dirs(accountDir(account)) {
			os.Remove(dir)
		}
	}
}

// cgroupMode reports whether this host is usable with v1 or v2 controllers.
func cgroupMode() (v2 bool, err error) {
	switch cgroups.Mode() {
	case cgroups.Unified:
		return true, nil
	case cgroups.Legacy, cgroups.Hybrid:
		return false, nil
	}
	return false, errors.New("no cgroup hierarchy is mounted")
}

func newCgroupTree(group string) (*cgroupTree, error) {
	v2, err := cgroupMode()
	if err != nil {
		return nil, err
	}
	t := &cgroupTree{group: group, v2: v2}
	if v2 {
		b, err := os.ReadFile(filepath.Join(unifiedMount, "cgroup.controllers"))
		if err != nil {
			return nil, fmt.Errorf("read cgroup controllers: %w", err)
		}
		have := strings.Fields(string(b))
		for _, c := range []string{"memory", "cpu", "pids"} {
			if !slices.Contains(have, c) {
				return nil, fmt.Errorf("cgroup v2 controller %s is not available", c)
			}
		}
		return t, nil
	}
	all, err := cgroup1.Default()
	if err != nil {
		return nil, fmt.Errorf("find cgroup v1 hierarchies: %w", err)
	}
	t.roots = make(map[cgroup1.Name]string)
	for _, s := range all {
		if !slices.Contains(v1Controllers, s.Name()) {
			continue
		}
		p, ok := s.(interface{ Path(string) string })
		if !ok {
			continue
		}
		t.subs = append(t.subs, s)
		t.roots[s.Name()] = p.Path("/")
	}
	for _, n := range v1Controllers {
		if _, ok := t.roots[n]; !ok {
			return nil, fmt.Errorf("cgroup v1 controller %s is not mounted", n)
		}
	}
	return t, nil
}

// dirs lists the directories of path (relative to the group) in every
// hierarchy.
func (t *cgroupTree) dirs(path string) []string {
	if t.v2 {
		return []string{filepath.Join(unifiedMount, t.group, path)}
	}
	var out []string
	for _, n := range v1Controllers {
		out = append(out, filepath.Join(t.roots[n], t.group, path))
	}
	return out
}

// cgroup is one environment's cgroup.
type cgroup struct {
	name string
	dirs []string // the cgroup's directory in every hierarchy
	v1   cgroup1.Cgroup
	v2   *cgroup2.Manager
	dir  *os.File // v2: the directory, for CLONE_INTO_CGROUP

	memDir     string
	freezeFile *os.File // v1 freezer.state, v2 cgroup.freeze
	eventsFile *os.File // v2 cgroup.events
	peakFile   *os.File // v1 memory.max_usage_in_bytes, v2 memory.peak: read with pread on every invocation
}

// create makes the cgroup <group>/name with a pids limit and, if idle, the
// smallest CPU weight. Memory and CPU limits depend on the function and are
// set by setLimits.
func (t *cgroupTree) create(name string, pids int, idle bool) (_ *cgroup, err error) {
	path := t.group + "/" + name
	c := &cgroup{name: name, dirs: t.dirs(name)}
	defer func() {
		if err != nil {
			c.closeFiles()
			ctx, cancel := cleanupContext()
			defer cancel()
			for _, dir := range t.dirs(name) {
				err = errors.Join(err, removeCgroupDir(ctx, dir))
			}
		}
	}()
	if t.v2 {
		cpu := &cgroup2.CPU{} // enables the controller along the path
		if idle {
			weight := uint64(1)
			cpu.Weight = &weight
		}
		c.v2, err = cgroup2.NewManager(unifiedMount, path, &cgroup2.Resources{
			Pids:   &cgroup2.Pids{Max: int64(pids)},
			Memory: &cgroup2.Memory{}, // enables the controller along the path
			CPU:    cpu,
		})
		if err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", path, err)
		}
		dir := filepath.Join(unifiedMount, path)
		c.memDir = dir
		if c.dir, err = os.Open(dir); err != nil {
			return nil, fmt.Errorf("open cgroup %s: %w", path, err)
		}
		if c.freezeFile, err = os.OpenFile(filepath.Join(dir, "cgroup.freeze"), os.O_RDWR, 0); err != nil {
			return nil, fmt.Errorf("open cgroup freezer: %w", err)
		}
		if c.eventsFile, err = os.Open(filepath.Join(dir, "cgroup.events")); err != nil {
			return nil, fmt.Errorf("open cgroup events: %w", err)
		}
		c.peakFile, _ = os.Open(filepath.Join(dir, "memory.peak")) // before Linux 5.19 there is none: no peak, as before
		return c, nil
	}
	limit := int64(pids)
	res := &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}
	if idle {
		shares := uint64(2)
		res.CPU = &specs.LinuxCPU{Shares: &shares}
	}
	c.v1, err = cgroup1.New(cgroup1.StaticPath(path), res,
		cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) { return t.subs, nil }))
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	c.memDir = filepath.Join(t.roots[cgroup1.Memory], path)
	c.freezeFile, err = os.OpenFile(filepath.Join(t.roots[cgroup1.Freezer], path, "freezer.state"), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup freezer: %w", err)
	}
	c.peakFile, _ = os.Open(filepath.Join(c.memDir, "memory.max_usage_in_bytes")) // without it, no peak, as before
	return c, nil
}

// cgroupFD is the descriptor for SysProcAttr.CgroupFD, or -1 on v1 where
// the process is added after it starts.
func (c *cgroup) cgroupFD() int {
	if c.dir == nil {
		return -1
	}
	return int(c.dir.Fd())
}

// addProc moves pid into the cgroup (v1; on v2 the process is cloned
// into it).
func (c *cgroup) addProc(pid int) error {
	if c.v1 == nil {
		return nil
	}
	if err := c.v1.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("add process to cgroup %s: %w", c.name, err)
	}
	return nil
}

const (
	mbPerCPU = 1769 // Lambda: 1,769 MB of memory is one vCPU
	// cfsPeriod is the kernel's default. A 20 ms period was measured too
	// (docs/BENCHMARKS.md): it shortens the worst stall of a function that
	// has used up its share from ~90 ms to ~20 ms but costs 15-25% of the
	// throughput a small function gets, and throttles bursts sooner.
	cfsPeriod = 100_000
	minQuota  = cfsPeriod / 20 // never below 5% of a CPU
)

// cpuQuota is the CFS quota, in µs per cfsPeriod, for memoryMB. During
// init an environment gets at least one whole CPU, as on Lambda, where
// init runs at full speed whatever the memory size; EndInit then applies
// the proportional quota.
func cpuQuota(memoryMB int, init bool) int64 {
	q := max(int64(cfsPeriod)*int64(memoryMB)/mbPerCPU, minQuota)
	if init {
		q = max(q, cfsPeriod)
	}
	return q
}

// setCPU applies the CPU quota for memoryMB, boosted during init.
func (c *cgroup) setCPU(memoryMB int, init bool) error {
	quota := cpuQuota(memoryMB, init)
	period := uint64(cfsPeriod)
	var err error
	if c.v2 != nil {
		err = c.v2.Update(&cgroup2.Resources{CPU: &cgroup2.CPU{Max: cgroup2.NewCPUMax(&quota, &period)}})
	} else {
		err = c.v1.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &quota, Period: &period}})
	}
	if err != nil {
		return fmt.Errorf("set cgroup %s cpu quota: %w", c.name, err)
	}
	return nil
}

// setLimits applies memory (without swap) and a CPU share in proportion to
// it, as Lambda does; the CPU quota is the init phase's until EndInit.
func (c *cgroup) setLimits(memoryMB int) error {
	mem := int64(memoryMB) << 20
	quota := cpuQuota(memoryMB, true)
	period := uint64(cfsPeriod)
	shares := uint64(max(1024*memoryMB/mbPerCPU, 2))
	var err error
	if c.v2 != nil {
		memory := &cgroup2.Memory{Max: &mem}
		if _, serr := os.Stat(filepath.Join(c.memDir, "memory.swap.max")); serr == nil {
			swap := int64(0)
			memory.Swap = &swap
		}
		weight := cgroup2.ConvertCPUSharesToCgroupV2Value(shares)
		err = c.v2.Update(&cgroup2.Resources{
			Memory: memory,
			CPU:    &cgroup2.CPU{Max: cgroup2.NewCPUMax(&quota, &period), Weight: &weight},
		})
	} else {
		swappiness := uint64(0)
		memory := &specs.LinuxMemory{Limit: &mem, Swappiness: &swappiness}
		if _, serr := os.Stat(filepath.Join(c.memDir, "memory.memsw.limit_in_bytes")); serr == nil {
			memory.Swap = &mem // memory+swap = memory: no swap
		}
		err = c.v1.Update(&specs.LinuxResources{
			Memory: memory,
			CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares},
		})
	}
	if err != nil {
		return fmt.Errorf("set cgroup %s limits: %w", c.name, err)
	}
	return nil
}

// kill sends SIGKILL to every process in the cgroup and thaws it, so that
// frozen processes (v1) can die.
func (c *cgroup) kill() error {
	var err error
	if c.v2 != nil {
		err = c.v2.Kill()
	} else {
		var procs []cgroup1.Process
		procs, err = c.v1.Processes(cgroup1.Freezer, true)
		for _, p := range procs {
			if kerr := syscall.Kill(p.Pid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
				err = errors.Join(err, kerr)
			}
		}
	}
	if terr := c.writeFreeze(false); terr != nil {
		err = errors.Join(err, terr)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("kill cgroup %s: %w", c.name, err)
	}
	return nil
}

// delete removes the cgroup once its processes are gone, retrying while the
// kernel finishes tearing them down. Once its init is reaped the cgroup is
// usually empty already, so it tries a plain rmdir per hierarchy first
// (containerd's Delete walks every hierarchy's processes, ≈1 ms of CPU per
// environment, issue 13) and falls back to removeCgroupDir, which kills what
// is left, descends and retries, only for a directory that is still busy.
func (c *cgroup) delete(ctx context.Context) error {
	c.closeFiles()
	if c.v1 == nil && c.v2 == nil {
		return nil
	}
	var errs []error
	for _, dir := range c.dirs {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := removeCgroupDir(ctx, dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete cgroup %s: %w", c.name, err)
	}
	return nil
}

func (c *cgroup) closeFiles() {
	for _, f := range []*os.File{c.dir, c.freezeFile, c.eventsFile, c.peakFile} {
		if f != nil {
			f.Close()
		}
	}
}

// peakMemory is the highest memory use the kernel recorded, in bytes, or
// 0 once the cgroup is deleted. It runs on every invocation: one pread of
// a file kept open, where opening the file by its path each time cost
// ~115 µs (issue 13), and no allocation.
func (c *cgroup) peakMemory() int64 {
	if c.peakFile == nil {
		return 0
	}
	var buf [32]byte
	n, err := c.peakFile.ReadAt(buf[:], 0)
	if n == 0 || err != nil && !errors.Is(err, io.EOF) {
		return 0
	}
	var v int64
	for _, b := range buf[:n] {
		if b < '0' || b > '9' {
			break
		}
		v = v*10 + int64(b-'0')
	}
	return v
}

// oomKills counts processes the kernel killed for exceeding the limit.
func (c *cgroup) oomKills() int64 {
	name := "memory.oom_control" // v1: "oom_kill N" since Linux 4.13
	if c.v2 != nil {
		name = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(c.memDir, name))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// removeAll removes the driver's whole group in every hierarchy: debris of
// an earlier run, or whatever Close finds. Processes still inside are killed.
func (t *cgroupTree) removeAll(ctx context.Context) error {
	return removeCgroupDirs(ctx, t.dirs(""))
}

// removeParent removes the shared parent (e.g. /hearth) if no other driver
// uses it.
func (t *cgroupTree) removeParent() {
	for _, dir := range t.dirs("") {
		os.Remove(filepath.Dir(dir)) // fails while another driver's group is there
	}
}
