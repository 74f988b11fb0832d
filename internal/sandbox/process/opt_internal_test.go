package process

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/sandboxtest"
)

// Without a mount namespace (no root), OptRef leads to the host directory,
// or to an empty directory of the environment's when there is none.
func TestOptWithoutNamespace(t *testing.T) {
	d, err := New(Config{Root: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	d.optNS = false // as without root
	opt := t.TempDir()
	if err := os.WriteFile(opt+"/f.txt", []byte("layer"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, optDir, want string
	}{
		{"layers", opt, "opt=" + opt + "\ncontent=layer\n"},
		{"none", "", "entries=0\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := sandboxtest.StartSpec(t, d, &sandbox.Spec{
				ID:       sandboxtest.NewID(),
				Cmd:      []string{"/bin/bash", "-c", `echo "opt=$OPT"; echo "content=$(cat "$OPT/f.txt" 2>/dev/null)"; echo "entries=$(ls -A "$OPT" | wc -l)"`},
				Env:      []string{"PATH=/usr/bin:/bin", "OPT=" + sandbox.OptRef},
				CodeDir:  t.TempDir(),
				OptDir:   tt.optDir,
				MemoryMB: 128,
			})
			sandboxtest.WaitExit(t, e.Env, 10*time.Second)
			e.WaitEOF(t, 10*time.Second)
			got := e.Output(t)
			if !strings.Contains(got, tt.want) || strings.Contains(got, "opt=/opt\n") {
				t.Errorf("output %q; want it to contain %q and OptRef not to be /opt", got, tt.want)
			}
		})
	}
}
