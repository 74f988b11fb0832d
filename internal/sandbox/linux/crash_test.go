//go:build linux

package linux_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/linux"
)

// crashEnv, set to a driver root, makes the test binary play a server that
// crashes: it starts a driver on that root, starts an environment, freezes
// it, prints "ready" and exits without closing anything.
const crashEnv = "HEARTH_LINUX_TEST_CRASH_ROOT"

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
		ID: "crash", Cmd: []string{"/bin/sleep", "1000"}, CodeDir: code, Output: devnull,
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
	fmt.Println("ready")
	return 0
}
