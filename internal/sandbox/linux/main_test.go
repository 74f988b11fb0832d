//go:build linux

package linux_test

import (
	"log/slog"
	"os"
	"testing"

	"hearth/internal/sandbox/linux"
)

func TestMain(m *testing.M) {
	linux.RunInitIfRequested()
	if root := os.Getenv(crashEnv); root != "" {
		os.Exit(crashAfterStart(root))
	}
	os.Exit(m.Run())
}

// requireDriver skips the test unless this host can run the driver. As
// root (CI runs as root) the driver must be available: a host that should
// run it but cannot is a failure, not a reason to skip the suite.
func requireDriver(t testing.TB) {
	t.Helper()
	err := linux.Available()
	switch {
	case err == nil:
	case os.Geteuid() == 0:
		t.Fatalf("running as root, but the linux driver cannot run here: %v", err)
	default:
		t.Skipf("the linux driver cannot run here (it needs root, cgroups and namespaces): %v", err)
	}
}

// newDriver returns a driver whose Root is a temporary directory; t.Cleanup
// closes it.
func newDriver(t testing.TB, cfg linux.Config) *linux.Driver {
	t.Helper()
	requireDriver(t)
	if cfg.Root == "" {
		cfg.Root = t.TempDir()
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() && os.Getenv("HEARTH_LINUX_DEBUG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := linux.New(cfg, log)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return d
}
