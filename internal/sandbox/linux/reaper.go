//go:build linux

package linux

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// reaperArg0 is the argv[0] with which the driver executes its init
// program (or its own binary) as its reaper.
const reaperArg0 = "hearth-sandbox-reaper"

// reaper is a process that outlives the driver to tear its environments
// down if the driver dies without doing so (kill -9, a crash). Pdeathsig
// kills an environment's init when the driver dies, but not while its
// cgroup is frozen, and idle environments are frozen: without the reaper
// they would live on until the next start with the same root. The reaper
// is in no environment's cgroup, so it is never frozen; it waits for the
// driver's end of a pipe to close, which the kernel does however the
// driver ends, then kills, thaws and removes every cgroup of the driver.
//
// It also holds the driver's root lock and uid claim (inherited
// descriptors of the same open files), so a new driver on the same root
// waits for the cleanup to finish rather than race it, and no driver runs
// environments as the uids of processes not yet killed.
type reaper struct {
	cmd  *exec.Cmd
	pipe *os.File // the driver's end; closing it starts the cleanup
}

// startReaper starts the reaper of the driver's cgroup directories dirs
// (its group in every hierarchy), executing path (the init program or the
// driver's own binary).
func startReaper(path string, dirs []string, lock, uids *os.File) (*reaper, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create reaper pipe: %w", err)
	}
	defer r.Close()
	cmd := &exec.Cmd{
		Path:       path,
		Args:       append([]string{reaperArg0}, dirs...),
		Env:        []string{"GOMAXPROCS=1", "GORACE=atexit_sleep_ms=0"},
		Dir:        "/",
		ExtraFiles: []*os.File{r, lock, uids}, // fd 3: the pipe, 4: the root lock, 5: the uid claim
		// Its own session: a terminal's ^C for the server reaches the
		// server, whose death the reaper then handles.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start sandbox reaper: %w", err)
	}
	return &reaper{cmd: cmd, pipe: w}, nil
}

// stop makes the reaper clean up (nothing is left when the driver closed
// properly) and waits for it to exit.
func (r *reaper) stop() error {
	r.pipe.Close()
	if err := r.cmd.Wait(); err != nil {
		return fmt.Errorf("sandbox reaper: %w", err)
	}
	return nil
}

// runReaperIfRequested runs the reaper when the driver started this
// process as one, and then exits.
func runReaperIfRequested() {
	if len(os.Args) < 2 || os.Args[0] != reaperArg0 {
		return
	}
	if !isPipe(3) {
		return // not started by the driver, whatever argv[0] says
	}
	pipe := os.NewFile(3, "reaper-pipe")
	os.WriteFile("/proc/self/comm", []byte("hearth-reaper"), 0) // best effort
	io.Copy(io.Discard, pipe)                                   // returns when every writer is gone
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := removeCgroupDirs(ctx, os.Args[1:]); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

func isPipe(fd int) bool {
	var st syscall.Stat_t
	return syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFIFO
}
