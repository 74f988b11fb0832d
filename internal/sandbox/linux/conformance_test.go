//go:build linux

package linux_test

import (
	"testing"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/linux"
	"hearth/internal/sandbox/sandboxtest"
)

func TestConformance(t *testing.T) {
	// One driver serves every subtest: its pool stays warm between them.
	d := newDriver(t, linux.Config{})
	sandboxtest.Run(t, func(t *testing.T) sandbox.Driver { return d })
}
