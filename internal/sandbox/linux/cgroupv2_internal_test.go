//go:build linux

package linux

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	"golang.org/x/sys/unix"
)

// TestCgroupV2Freezer exercises the cgroup v2 freeze, kill and delete paths.
// On a cgroup v1 host with an (empty) unified hierarchy, as this project's
// CI has, it uses that hierarchy: it has no memory or CPU controllers, but
// freezing and killing are part of cgroup v2's core.
func TestCgroupV2Freezer(t *testing.T) {
	requireRoot(t)
	mnt := unifiedMount
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		mnt = filepath.Join(unifiedMount, "unified")
		if err := unix.Statfs(mnt, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			t.Skip("no cgroup v2 hierarchy is mounted")
		}
	}
	group := fmt.Sprintf("/hearth-v2test-%d", os.Getpid())
	mgr, err := cgroup2.NewManager(mnt, group, &cgroup2.Resources{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, group)
	c := &cgroup{name: "v2test", dirs: []string{dir}, v2: mgr, memDir: dir}
	t.Cleanup(func() {
		if _, err := os.Stat(dir); err == nil { // the test failed half-way
			c.kill()
			c.delete(context.Background())
		}
	})
	if c.freezeFile, err = os.OpenFile(filepath.Join(dir, "cgroup.freeze"), os.O_RDWR, 0); err != nil {
		t.Fatal(err)
	}
	if c.eventsFile, err = os.Open(filepath.Join(dir, "cgroup.events")); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := mgr.AddProc(uint64(cmd.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const n = 100
	var freeze, thaw time.Duration
	for range n {
		t0 := time.Now()
		if err := c.freeze(ctx); err != nil {
			t.Fatalf("freeze() = %v", err)
		}
		t1 := time.Now()
		if err := c.thaw(ctx); err != nil {
			t.Fatalf("thaw() = %v", err)
		}
		freeze += t1.Sub(t0)
		thaw += time.Since(t1)
	}
	t.Logf("cgroup v2: freeze %v, thaw %v (mean of %d)", freeze/n, thaw/n, n)

	if err := c.freeze(ctx); err != nil {
		t.Fatal(err)
	}
	before := cpuTime(t, cmd.Process.Pid)
	time.Sleep(200 * time.Millisecond)
	if after := cpuTime(t, cmd.Process.Pid); after != before {
		t.Errorf("a frozen busy loop used CPU: %d -> %d ticks", before, after)
	}
	if err := c.kill(); err != nil { // frozen: cgroup.kill must still work
		t.Fatalf("kill() = %v", err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Errorf("after kill(): %v; want killed by SIGKILL", err)
	}
	if err := c.delete(ctx); err != nil {
		t.Fatalf("delete() = %v", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("cgroup %s still exists after delete()", dir)
	}
}

// cpuTime is the user+system time of pid in clock ticks.
func cpuTime(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	rest := string(b[bytesLastIndex(b, ')')+2:])
	var state string
	var f [12]int64
	fmt.Sscan(rest, &state, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10], &f[11])
	return f[10] + f[11] // utime, stime (fields 14 and 15)
}

func bytesLastIndex(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// BenchmarkCgroupDelete compares removing an emptied environment cgroup
// the way delete does (rmdir per hierarchy) with containerd's Delete,
// which walks every hierarchy's processes first (issue 13, bursts).
func BenchmarkCgroupDelete(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	if v2, err := cgroupMode(); err != nil {
		b.Skip(err)
	} else if v2 {
		b.Skip("the comparison is for cgroup v1 hosts")
	}
	tree, err := newCgroupTree(fmt.Sprintf("/hearth/bench-%d", os.Getpid()))
	if err != nil {
		b.Skip(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tree.removeAll(ctx)
		tree.removeParent()
	})
	for _, mode := range []string{"rmdir", "containerd"} {
		b.Run(mode, func(b *testing.B) {
			var n int
			for b.Loop() {
				b.StopTimer()
				n++
				c, err := tree.create(fmt.Sprintf("c%d", n), 64, false)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if mode == "rmdir" {
					err = c.delete(b.Context())
				} else {
					c.closeFiles()
					err = c.v1.Delete()
				}
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				for _, dir := range c.dirs {
					if _, err := os.Stat(dir); err == nil {
						b.Fatalf("%s: %s is still there", mode, dir)
					}
				}
				b.StartTimer()
			}
		})
	}
}
