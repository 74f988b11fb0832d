package worker

import (
	"os"
	"testing"

	"hearth/internal/sandbox/linux"
)

func TestMain(m *testing.M) {
	// The linux driver re-executes the test binary as each environment's
	// init.
	linux.RunInitIfRequested()
	os.Exit(m.Run())
}
