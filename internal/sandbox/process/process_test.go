package process_test

import (
	"log/slog"
	"testing"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/process"
	"hearth/internal/sandbox/sandboxtest"
)

func TestConformance(t *testing.T) {
	sandboxtest.Run(t, func(t *testing.T) sandbox.Driver {
		d, err := process.New(process.Config{Root: t.TempDir()}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	})
}
