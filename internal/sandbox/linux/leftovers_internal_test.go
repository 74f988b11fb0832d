//go:build linux

package linux

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/sandboxtest"
	"hearth/internal/sandbox/tmpdisk"
)

func requireRoot(t testing.TB) {
	t.Helper()
	err := Available()
	switch {
	case err == nil:
	case os.Geteuid() == 0:
		t.Fatalf("running as root, but the linux driver cannot run here: %v", err)
	default:
		t.Skipf("the linux driver cannot run here (it needs root, cgroups and namespaces): %v", err)
	}
}

func TestNothingLeftBehind(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	d, err := New(Config{Root: root, PoolSize: 2}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	var envs []sandbox.Env
	for i, script := range []string{"sleep 100", "(sleep 100 &) ; sleep 100", "exit 0"} {
		e := sandboxtest.Start(t, d, script)
		envs = append(envs, e.Env)
		if i == 1 {
			if err := e.Env.(sandbox.Freezer).Freeze(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, e := range envs[:2] {
		veth := e.(*env).b.veth.name
		if err := e.Destroy(t.Context()); err != nil {
			t.Fatalf("Destroy() = %v", err)
		}
		// The kernel removes the veth with the dead namespace, shortly.
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := netlink.LinkByName(veth); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("veth %s still exists 5s after Destroy", veth)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Each environment's /tmp went with it: its mount with the namespace,
	// the loop device with its last mount, the image with the loop device.
	// The prepared sandboxes of the pool hold one each, and the driver one
	// made ahead for the next environment of the size these used.
	for d.Prepared() < 2 {
		time.Sleep(time.Millisecond)
	}
	if left := waitLoops(filepath.Join(root, "tmpdisk"), 3); len(left) != 3 {
		t.Errorf("loop devices after Destroy, with 2 prepared sandboxes and a spare: %v; want 3", left)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "tmpdisk")); len(entries) > 0 {
		t.Errorf("image files left after Destroy: %v", entries)
	}
	// envs[2] is left for Close to destroy.
	if err := d.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	assertNothingLeft(t, root, d.cgroups)
}

// waitNoLoops waits up to 5 s for the loop devices backed by images under
// root to be detached, and returns those that are not.
func waitNoLoops(root string) []string { return waitLoops(root, 0) }

// waitLoops waits up to 5 s for at most n loop devices to be backed by
// images under root, and returns those that are.
func waitLoops(root string, n int) []string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := tmpdisk.BackedUnder(root)
		if len(left) <= n || time.Now().After(deadline) {
			return left
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// assertNothingLeft checks that no host object of the driver with root is
// left: cgroups, mounts, loop devices and images, veths, nftables table,
// init processes.
func assertNothingLeft(t *testing.T, root string, cg *cgroupTree) {
	t.Helper()
	tag := rootTag(root)
	if left := waitNoLoops(root); len(left) > 0 {
		t.Errorf("loop devices left: %v", left)
	}
	for _, dir := range []string{"tmpdisk", "codedisk"} {
		if _, err := os.Stat(filepath.Join(root, dir)); err == nil {
			t.Errorf("the image directory %s/%s is left", root, dir)
		}
	}
	for _, dir := range cg.dirs("") {
		if _, err := os.Stat(dir); err == nil {
			entries, _ := os.ReadDir(dir)
			t.Errorf("cgroup %s is left, holding %d entries", dir, len(entries))
		}
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mountinfo), root) {
		t.Errorf("a mount under %s is left:\n%s", root, mountinfo)
	}
	// The kernel removes a dead namespace's veth asynchronously; Close
	// waits for that, so there is no grace period here.
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Attrs().Alias == "hearth:"+tag {
			t.Errorf("veth %s is left", l.Attrs().Name)
		}
	}
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == tablePrefix+tag {
			t.Errorf("nftables table %s is left", tb.Name)
		}
	}
	if procs := initProcesses(t); len(procs) > 0 {
		t.Errorf("init processes are left: %v", procs)
	}
}

// initProcesses lists sandbox inits anywhere on the host whose cgroup is
// not another live driver's (those of this test binary are all closed).
func initProcesses(t *testing.T) []string {
	t.Helper()
	paths, _ := filepath.Glob("/proc/[0-9]*/comm")
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || strings.TrimSpace(string(b)) != "hearth-init" {
			continue
		}
		status, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "status"))
		if strings.Contains(string(status), fmt.Sprintf("PPid:\t%d\n", os.Getpid())) {
			cgs, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cgroup"))
			state, _, _ := strings.Cut(string(status[strings.Index(string(status), "State:"):]), "\n")
			out = append(out, fmt.Sprintf("%s (%s, %s)", filepath.Base(filepath.Dir(p)), state, strings.Fields(string(cgs))))
		}
	}
	return out
}

func TestNewRemovesDebris(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()

	// A server that crashed: a frozen environment, a prepared sandbox, its
	// firewall table and cgroups, all left behind.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	crash(t, ctx, root, true)
	tag := rootTag(root)
	cg, err := newCgroupTree("/hearth/" + tag)
	if err != nil {
		t.Fatal(err)
	}
	frozenLeft := 0
	for _, dir := range cg.dirs("") {
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("the crash left no cgroup %s; the test proves nothing", dir)
		}
		if strings.Contains(dir, "freezer") {
			boxes, _ := filepath.Glob(filepath.Join(dir, "123456789012", "b*"))
			for _, b := range boxes {
				frozenLeft += countProcs(b)
			}
		}
	}
	if frozenLeft == 0 {
		t.Logf("no frozen process survived the crash (cgroup v2 or the kernel killed them)")
	}
	// And a veth of that run, as if its namespace had been pinned.
	alias := "hearth:" + tag
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "hthdebris"}, PeerName: "hthdebris-p"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName("hthdebris"); err == nil {
			netlink.LinkDel(l)
		}
	})
	if l, err := netlink.LinkByName("hthdebris"); err != nil {
		t.Fatal(err)
	} else if err := netlink.LinkSetAlias(l, alias); err != nil {
		t.Fatal(err)
	}

	if left := tmpdisk.BackedUnder(root); len(left) == 0 {
		t.Errorf("the crashed run's frozen environment holds no loop device; want its /tmp's")
	}
	// And an image it had not unlinked yet.
	debris := filepath.Join(root, "tmpdisk", "tmp-debris.img")
	if err := os.WriteFile(debris, []byte("image"), 0o600); err != nil {
		t.Fatal(err)
	}

	d, err := New(Config{Root: root, PoolSize: -1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New() after a crash = %v", err)
	}
	if _, err := os.Stat(debris); err == nil {
		t.Error("the crashed run's image file survived New")
	}
	if left := waitNoLoops(root); len(left) > 0 {
		t.Errorf("the crashed run's loop devices survived New: %v", left)
	}
	// New removed every environment cgroup of the crashed run; only the
	// keep-frozen cgroup of the new driver may exist.
	for _, dir := range cg.dirs("") {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() && e.Name() != "keepfrozen" {
				t.Errorf("cgroup %s/%s survived New", dir, e.Name())
			}
		}
	}
	if _, err := netlink.LinkByName("hthdebris"); err == nil {
		t.Error("the crashed run's veth survived New")
	}
	// The new driver works.
	e := sandboxtest.Start(t, d, "echo works")
	sandboxtest.WaitExit(t, e.Env, 10*time.Second)
	if err := e.Env.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	assertNothingLeft(t, root, cg)
}

// crash runs a server that crashes on root (see crash_test.go), with its
// reaper killed too when killReaper.
func crash(t *testing.T, ctx context.Context, root string, killReaper bool) {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HEARTH_LINUX_TEST_CRASH_ROOT="+root)
	if killReaper {
		cmd.Env = append(cmd.Env, "HEARTH_LINUX_TEST_CRASH_KILL_REAPER=1")
	}
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "ready") {
		t.Fatalf("crashing server: %v, output %q", err, out)
	}
}

// When a server dies without closing its driver, its reaper kills and
// removes every environment within seconds, frozen ones and prepared
// sandboxes included, without waiting for the next start.
func TestReaperCleansUpAfterCrash(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	crash(t, ctx, root, false)
	cg, err := newCgroupTree("/hearth/" + rootTag(root))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		for _, dir := range cg.dirs("") {
			if _, err := os.Stat(dir); err == nil {
				left = append(left, dir)
			}
		}
		procs := processesInCgroup(rootTag(root))
		if len(left) == 0 && len(procs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after the crash: cgroups %v and init processes %v are left", left, procs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if left := waitNoLoops(root); len(left) > 0 {
		t.Errorf("loop devices left after the reaper's cleanup: %v", left)
	}
	// The reaper has let go of the root: a new driver starts at once.
	start := time.Now()
	d, err := New(Config{Root: root, PoolSize: -1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New() after the reaper's cleanup = %v", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("New() waited %v for the root", waited)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

// processesInCgroup lists the processes in any cgroup whose path contains
// tag, wherever they were reparented.
func processesInCgroup(tag string) []string {
	paths, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	var out []string
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "/"+tag+"/") {
			comm, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "comm"))
			out = append(out, filepath.Base(filepath.Dir(p))+":"+strings.TrimSpace(string(comm)))
		}
	}
	return out
}

func countProcs(dir string) int {
	f, err := os.Open(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		n++
	}
	return n
}

// A driver that died without removing its table leaves rules scoped to
// its subnet; the next driver to claim that subnet removes them, or they
// would refuse what it allows (its host ports, say).
func TestStaleTableForClaimedSubnetIsRemoved(t *testing.T) {
	requireRoot(t)
	log := slog.New(slog.DiscardHandler)
	d1, err := New(Config{Root: t.TempDir(), PoolSize: -1}, log)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	subnet := d1.network.subnet
	stale := &network{subnet: subnet, table: tablePrefix + "deadbeef"}
	if err := stale.installRules(false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteTable(stale.table) })
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}
	d2, err := New(Config{Root: t.TempDir(), PoolSize: -1}, log)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	defer d2.Close()
	if d2.network.subnet != subnet {
		t.Skipf("another driver claimed %s meanwhile", subnet)
	}
	got, err := tablesForSubnet(subnet)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{d2.network.table}; !slices.Equal(got, want) {
		t.Errorf("tables for %s = %v; want only the new driver's %v", subnet, got, want)
	}
}

// An environment with a /tmp of another size than the prepared one
// releases the prepared one once its bootstrap runs: while it runs, the
// loop devices are its own /tmp, the refilled pool's and the spare of its
// size, and not the one it replaced.
func TestReplacedTmpIsReleased(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	d, err := New(Config{Root: root, PoolSize: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	defer d.Close()
	for d.Prepared() < 1 {
		time.Sleep(time.Millisecond)
	}
	e := sandboxtest.Start(t, d, `stat -f -c "avail %a %S" /tmp; echo started; exec sleep 100`) // TmpMB 64
	e.WaitFor(t, "started")
	if out := e.Output(t); !strings.Contains(out, "avail 16") {
		t.Errorf("/tmp of a 64 MB environment: %s; want 16,4xx blocks of 4096 available", out)
	}
	for d.Prepared() < 1 {
		time.Sleep(time.Millisecond)
	}
	if left := waitLoops(filepath.Join(root, "tmpdisk"), 3); len(left) != 3 {
		t.Errorf("loop devices with one environment, one prepared sandbox and a spare: %v; want 3", left)
	}
	if err := e.Env.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
}
