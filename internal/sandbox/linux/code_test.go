//go:build linux

package linux_test

import (
	"path/filepath"
	"strings"
	"testing"

	"hearth/internal/sandbox/linux"
)

// The environment's /proc/self/mountinfo names no host path of the code,
// the driver's root or the test's directories: /var/task is a filesystem
// of its own, read-only, holding the code. A second environment of the
// same code gets it the same way.
func TestCodeMountHidesHostPath(t *testing.T) {
	root := t.TempDir()
	d := newDriver(t, linux.Config{Root: root, PoolSize: -1})
	script := `cat /proc/self/mountinfo | sed 's/^/mi: /'
echo "code: $(cat /var/task/code.txt)"
touch /var/task/new 2>/dev/null && echo "write: ok" || echo "write: refused"`
	spec := envSpec(t, script, map[string]string{"code.txt": "the code"})
	spec.RuntimeDir = "" // its own host path is not this test's subject
	testDir := filepath.Dir(spec.CodeDir)
	for i := range 2 {
		spec.ID = spec.ID + "x"
		e := start(t, d, spec)
		waitExit(t, e)
		if got, want := lines(t, e, "code: "), []string{"the code"}; !equal(got, want) {
			t.Errorf("start %d: /var/task/code.txt reads %q; want %q", i, got, want)
		}
		if got, want := lines(t, e, "write: "), []string{"refused"}; !equal(got, want) {
			t.Errorf("start %d: writing to /var/task: %q; want %q", i, got, want)
		}
		mountinfo := lines(t, e, "mi: ")
		var task []string
		for _, l := range mountinfo {
			for _, host := range []string{spec.CodeDir, root, testDir} {
				if strings.Contains(l, host) {
					t.Errorf("start %d: mountinfo names the host path %s: %q", i, host, l)
				}
			}
			if f := strings.Fields(l); len(f) > 5 && f[4] == "/var/task" {
				task = f
			}
		}
		if len(task) == 0 {
			t.Fatalf("start %d: no /var/task in mountinfo:\n%s", i, strings.Join(mountinfo, "\n"))
		}
		if task[3] != "/" || !strings.HasPrefix(task[5], "ro,") {
			t.Errorf("start %d: /var/task mount %q; want root / and read-only", i, strings.Join(task, " "))
		}
	}
}

func equal(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}
