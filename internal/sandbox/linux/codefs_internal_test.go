//go:build linux

package linux

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/sandboxtest"
)

// The driver keeps at most maxCodeMounts code filesystems taking at most
// maxCodeBytes, dropping the least recently used ones no environment uses;
// Close leaves nothing.
func TestCodeMountsEvictIdle(t *testing.T) {
	defer func(n int, b int64) { maxCodeMounts, maxCodeBytes = n, b }(maxCodeMounts, maxCodeBytes)
	maxCodeMounts = 1
	root := t.TempDir()
	d, err := New(Config{Root: root, PoolSize: -1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	if d.code == nil {
		t.Fatal("the driver makes no code filesystems")
	}
	codedisk := filepath.Join(root, "codedisk")
	codes := map[string]string{}
	startCode := func(name, script string) *sandboxtest.Started {
		t.Helper()
		dir, ok := codes[name]
		if !ok {
			dir = t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "code.txt"), []byte(name+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			codes[name] = dir
		}
		e := sandboxtest.StartSpec(t, d, &sandbox.Spec{
			ID: sandboxtest.NewID(), Function: "codefs", Cmd: []string{"/bin/bash", "-c", script},
			CodeDir: dir, MemoryMB: 128, TmpMB: 64,
		})
		e.WaitFor(t, name)
		return e
	}
	cached := func() []string {
		d.code.mu.Lock()
		defer d.code.mu.Unlock()
		var out []string
		for dir := range d.code.entries {
			for name, cd := range codes {
				if cd == dir {
					out = append(out, name)
				}
			}
		}
		slices.Sort(out)
		return out
	}

	a := startCode("a", "cat /var/task/code.txt; sleep 100")
	b := startCode("b", "cat /var/task/code.txt")
	if err := b.Env.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	// In use or not, nothing is dropped until the next package comes.
	if diff := cmp.Diff([]string{"a", "b"}, cached()); diff != "" {
		t.Errorf("cached after b (-want +got):\n%s", diff)
	}
	c := startCode("c", "cat /var/task/code.txt")
	if diff := cmp.Diff([]string{"a", "c"}, cached()); diff != "" {
		t.Errorf("cached after c: b, idle and oldest, should be gone (-want +got):\n%s", diff)
	}
	if err := c.Env.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	if left := waitLoops(codedisk, 2); len(left) != 2 {
		t.Errorf("loop devices of code filesystems: %v; want a's and c's", left)
	}
	// a again: the same filesystem, still readable by the first.
	a2 := startCode("a", "cat /var/task/code.txt; echo again")
	a2.WaitFor(t, "again")
	if diff := cmp.Diff([]string{"a"}, cached()); diff != "" {
		t.Errorf("cached after a again: c, idle, should be gone (-want +got):\n%s", diff)
	}
	if left := waitLoops(codedisk, 1); len(left) != 1 {
		t.Errorf("loop devices of code filesystems: %v; want a's", left)
	}
	if err := a.Env.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}

	// By size: every filesystem takes more than a byte.
	maxCodeMounts, maxCodeBytes = 32, 1
	dd := startCode("d", "cat /var/task/code.txt")
	if err := dd.Env.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "d"}, cached()); diff != "" {
		t.Errorf("cached after d (-want +got):\n%s", diff)
	}
	startCode("e", "cat /var/task/code.txt; sleep 100")
	if diff := cmp.Diff([]string{"a", "e"}, cached()); diff != "" {
		t.Errorf("cached after e: d, idle, should be gone (-want +got):\n%s", diff)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	assertNothingLeft(t, root, d.cgroups)
}
