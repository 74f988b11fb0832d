//go:build linux

package linux_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/linux"
)

// crashEnv, set to a driver root, makes the test binary play a server that
// crashes: it starts a driver on that root, starts an environment, freezes
// it, prints "ready" and exits without closing anything. With
// crashReaperEnv set it kills the driver's reaper first, as if the whole
// machine had gone down around it, so that only New can clean up.
const (
	crashEnv       = "HEARTH_LINUX_TEST_CRASH_ROOT"
	crashReaperEnv = "HEARTH_LINUX_TEST_CRASH_KILL_REAPER"
)

func crashAfterStart(root string) int {
	d, err := linux.New(linux.Config{Root: root, PoolSize: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Println("new:", err)
		return 1
	}
	code, err := os.MkdirTemp("", "crash-code")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(code)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env, err := d.Start(ctx, &sandbox.Spec{
		ID: "crash", Account: "123456789012", Cmd: []string{"/bin/sleep", "1000"}, CodeDir: code, Output: devnull,
	})
	if err != nil {
		fmt.Println("start:", err)
		return 1
	}
	if err := env.(sandbox.Freezer).Freeze(ctx); err != nil {
		fmt.Println("freeze:", err)
		return 1
	}
	for d.Prepared() < 1 && ctx.Err() == nil {
		time.Sleep(time.Millisecond) // leave a prepared sandbox behind too
	}
	if os.Getenv(crashReaperEnv) != "" {
		if err := killChildren("hearth-reaper"); err != nil {
			fmt.Println("kill reaper:", err)
			return 1
		}
	}
	fmt.Println("ready")
	return 0
}

// killChildren kills this process's children whose command name is comm
// and waits for them.
func killChildren(comm string) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	self := strconv.Itoa(os.Getpid())
	killed := 0
	for _, e := range entries {
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		open, close := strings.IndexByte(string(stat), '('), strings.LastIndexByte(string(stat), ')')
		if open < 0 || close < open {
			continue
		}
		fields := strings.Fields(string(stat[close+1:]))
		if string(stat[open+1:close]) != comm || len(fields) < 2 || fields[1] != self {
			continue
		}
		pid, _ := strconv.Atoi(e.Name())
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return err
		}
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
		killed++
	}
	if killed == 0 {
		return fmt.Errorf("no %s child found", comm)
	}
	return nil
}
