//go:build linux && !hearth_noinitbin

package linux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
)

// The cgroup library's Freeze and Thaw poll the state with 1 ms sleeps,
// which would dominate a freeze that takes 50–120 µs. The environment's
// freezer files stay open and the state is polled with a short back-off.

// freeze stops every process in the cgroup and returns once the kernel
// reports them all frozen. It is idempotent.
func (c *cgroup) freeze(ctx context.Context) error {
	if err := c.writeFreeze(true); err != nil {
		return fmt.Errorf("freeze cgroup %s: %w", c.name, err)
	}
	return c.waitFrozen(ctx, true)
}

// thaw resumes every process in the cgroup. It is idempotent.
func (c *cgroup) thaw(ctx context.Context) error {
	if err := c.writeFreeze(false); err != nil {
		return fmt.Errorf("thaw cgroup %s: %w", c.name, err)
	}
	return c.waitFrozen(ctx, false)
}

func (c *cgroup) writeFreeze(frozen bool) error {
	if c.freezeFile == nil {
		return nil
	}
	var v string
	switch {
	case c.v2 != nil && frozen:
		v = "1"
	case c.v2 != nil:
		v = "0"
	case frozen:
		v = "FROZEN"
	default:
		v = "THAWED"
	}
	_, err := c.freezeFile.WriteAt([]byte(v), 0)
	if errors.Is(err, os.ErrClosed) {
		return fs.ErrNotExist
	}
	return err
}

// frozen reads the state the kernel reports: v1 freezer.state is FROZEN only
// once every task is frozen (FREEZING until then); v2 cgroup.events carries
// "frozen 1".
func (c *cgroup) frozen() (bool, error) {
	var buf [256]byte
	f := c.freezeFile
	if c.v2 != nil {
		f = c.eventsFile
	}
	n, err := f.ReadAt(buf[:], 0)
	if n == 0 && err != nil {
		return false, err
	}
	s := buf[:n]
	if c.v2 != nil {
		return bytes.Contains(s, []byte("frozen 1")), nil
	}
	return bytes.HasPrefix(s, []byte("FROZEN")), nil
}

func (c *cgroup) waitFrozen(ctx context.Context, want bool) error {
	what := "thaw"
	if want {
		what = "freeze"
	}
	delay := 20 * time.Microsecond
	for i := 0; ; i++ {
		got, err := c.frozen()
		if err != nil {
			return fmt.Errorf("%s cgroup %s: read state: %w", what, c.name, err)
		}
		if got == want {
			return nil
		}
		switch {
		case i < 20:
			runtime.Gosched() // most tasks freeze within microseconds
			continue
		case i%50 == 0:
			// Ask again: the kernel re-signals tasks that have not
			// reached the refrigerator yet.
			if err := c.writeFreeze(want); err != nil {
				return fmt.Errorf("%s cgroup %s: %w", what, c.name, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s cgroup %s: %w", what, c.name, context.Cause(ctx))
		case <-time.After(delay):
			delay = min(2*delay, time.Millisecond)
		}
	}
}

// keepFrozen creates <group>/keepfrozen in the v1 freezer hierarchy and
// freezes it for the driver's lifetime. It stays empty.
//
// The v1 freezer turns a kernel static key on while any cgroup is freezing
// and off when none is. Toggling that key patches kernel text on every CPU,
// which made each freeze or thaw cost ≈1.3 ms on this project's hosts; with
// one cgroup permanently frozen the key stays on and a freeze costs
// 50–120 µs. cgroup v2 has no such key, so on v2 this does nothing.
func (t *cgroupTree) keepFrozen() (release func() error, err error) {
	if t.v2 {
		return func() error { return nil }, nil
	}
	dir := filepath.Join(t.roots[cgroup1.Freezer], t.group, "keepfrozen")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create keep-frozen cgroup: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("FROZEN"), 0); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("freeze keep-frozen cgroup: %w", err)
	}
	return func() error {
		os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0)
		if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove keep-frozen cgroup: %w", err)
		}
		return nil
	}, nil
}
