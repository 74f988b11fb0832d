//go:build linux

package linux

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cgroup removal with plain file operations, shared by the driver and its
// reaper. The reaper runs as the small init program, which links none of
// the driver's cgroup library (containerd's, with its protobuf and eBPF
// packages): it is told its directories rather than finding them.

// removeCgroupDirs removes each of dirs (a group's directory in each
// hierarchy) with everything below it. Processes still inside are killed
// and thawed everywhere first: a process frozen in the freezer hierarchy
// would keep its memory cgroup busy forever.
func removeCgroupDirs(ctx context.Context, dirs []string) error {
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				killCgroupProcs(p)
			}
			return nil
		})
	}
	var errs []error
	for _, dir := range dirs {
		if err := removeCgroupDir(ctx, dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeCgroupDir removes dir and its descendants, deepest first, after
// killing their processes and thawing them.
func removeCgroupDir(ctx context.Context, dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read cgroup %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroupDir(ctx, filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	delay := 100 * time.Microsecond
	for {
		killCgroupProcs(dir)
		err := os.Remove(dir)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		case <-time.After(delay):
			delay = min(2*delay, 20*time.Millisecond)
		}
	}
}

func killCgroupProcs(dir string) {
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0) // v1
	os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0)      // v2
}
