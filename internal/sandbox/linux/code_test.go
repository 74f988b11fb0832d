//go:build linux

package linux_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hearth/internal/sandbox/linux"
)

// The environment's /proc/self/mountinfo names no host path of the code,
// the runtime client's directory, the driver's root or the test's
// directories: /var/task, /var/runtime and /opt are filesystems of their
// own, read-only, holding the code, the client and the layers. A second environment of the
// same code gets them the same way, and one prepared ahead
// (PrepareCode) too.
func TestCodeMountHidesHostPath(t *testing.T) {
	root := t.TempDir()
	d := newDriver(t, linux.Config{Root: root, PoolSize: -1})
	script := `cat /proc/self/mountinfo | sed 's/^/mi: /'
echo "code: $(cat /var/task/code.txt)"
echo "runtime: $(cat /var/runtime/client.txt)"
echo "opt: $(cat /opt/opt.txt)"
touch /opt/new 2>/dev/null && echo "opt write: ok" || echo "opt write: refused"
touch /var/task/new 2>/dev/null && echo "write: ok" || echo "write: refused"`
	spec := envSpec(t, script, map[string]string{"code.txt": "the code"})
	if err := os.WriteFile(filepath.Join(spec.RuntimeDir, "client.txt"), []byte("the client"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec.OptDir = t.TempDir()
	if err := os.WriteFile(filepath.Join(spec.OptDir, "opt.txt"), []byte("the layers"), 0o644); err != nil {
		t.Fatal(err)
	}
	testDir := filepath.Dir(spec.CodeDir)
	for i := range 3 {
		spec.ID = spec.ID + "x"
		if i == 2 {
			// A package prepared ahead, as activation does.
			spec.CodeDir = t.TempDir()
			if err := os.WriteFile(filepath.Join(spec.CodeDir, "code.txt"), []byte("the code"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := d.PrepareCode(t.Context(), spec.CodeDir, spec.RuntimeDir); err != nil {
				t.Fatalf("PrepareCode() = %v", err)
			}
			spec.OptDir = t.TempDir()
			if err := os.WriteFile(filepath.Join(spec.OptDir, "opt.txt"), []byte("the layers"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := d.PrepareCode(t.Context(), spec.OptDir, ""); err != nil { // as the worker does
				t.Fatalf("PrepareCode(opt) = %v", err)
			}
		}
		e := start(t, d, spec)
		waitExit(t, e)
		if got, want := lines(t, e, "code: "), []string{"the code"}; !equal(got, want) {
			t.Errorf("start %d: /var/task/code.txt reads %q; want %q", i, got, want)
		}
		if got, want := lines(t, e, "runtime: "), []string{"the client"}; !equal(got, want) {
			t.Errorf("start %d: /var/runtime/client.txt reads %q; want %q", i, got, want)
		}
		if got, want := lines(t, e, "write: "), []string{"refused"}; !equal(got, want) {
			t.Errorf("start %d: writing to /var/task: %q; want %q", i, got, want)
		}
		if got, want := lines(t, e, "opt: "), []string{"the layers"}; !equal(got, want) {
			t.Errorf("start %d: /opt/opt.txt reads %q; want %q", i, got, want)
		}
		if got, want := lines(t, e, "opt write: "), []string{"refused"}; !equal(got, want) {
			t.Errorf("start %d: writing to /opt: %q; want %q", i, got, want)
		}
		mountinfo := lines(t, e, "mi: ")
		var task []string
		for _, l := range mountinfo {
			for _, host := range []string{spec.CodeDir, spec.RuntimeDir, spec.OptDir, root, testDir} {
				if strings.Contains(l, host) {
					t.Errorf("start %d: mountinfo names the host path %s: %q", i, host, l)
				}
			}
			if f := strings.Fields(l); len(f) > 5 && (f[4] == "/var/task" || f[4] == "/var/runtime" || f[4] == "/opt") {
				task = append(task, l)
				if f[3] != "/" || !strings.HasPrefix(f[5], "ro,") {
					t.Errorf("start %d: %s mount %q; want root / and read-only", i, f[4], l)
				}
			}
		}
		if len(task) != 3 {
			t.Fatalf("start %d: want /var/task, /var/runtime and /opt in mountinfo:\n%s", i, strings.Join(mountinfo, "\n"))
		}
	}
}

func equal(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}
