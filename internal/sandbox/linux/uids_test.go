//go:build linux

package linux_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"hearth/internal/sandbox/linux"
)

// inotifyPy opens inotify instances until the kernel refuses one (or
// $WANT succeed) and keeps them open, printing its uid first.
const inotifyPy = `
import ctypes, errno, os, time
libc = ctypes.CDLL(None, use_errno=True)
print("uid", os.getuid(), os.getgid(), flush=True)
want = int(os.environ["WANT"])
fds = []
while len(fds) < want:
    fd = libc.inotify_init1(0)
    if fd < 0:
        print("refused", len(fds), errno.errorcode.get(ctypes.get_errno(), "?"), flush=True)
        break
    fds.append(fd)
print("held", len(fds), flush=True)
time.sleep(100)
`

// TestEnvironmentsDoNotShareUserLimits: the kernel counts some objects per
// uid (inotify instances, fs.inotify.max_user_instances, 128 by default).
// An environment that holds all it may must not leave another without any.
func TestEnvironmentsDoNotShareUserLimits(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_user_instances")
	if err != nil {
		t.Skipf("no inotify: %v", err)
	}
	limit, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || limit > 900 {
		t.Skipf("max_user_instances = %q: more than one environment (1024 descriptors) can hold", b)
	}
	d := newDriver(t, linux.Config{})

	specA := pythonSpec(t, inotifyPy)
	specA.Env = append(specA.Env, "WANT=100000")
	a := start(t, d, specA)
	a.WaitFor(t, "held ")
	if got := lines(t, a, "refused "); len(got) != 1 || !strings.HasSuffix(got[0], " EMFILE") {
		t.Fatalf("environment a: refused %q; want it to reach its per-user limit (EMFILE)\n%s", got, a.Output(t))
	}

	specB := pythonSpec(t, inotifyPy)
	specB.Env = append(specB.Env, "WANT=1")
	bEnv := start(t, d, specB)
	bEnv.WaitFor(t, "held ")
	if got := lines(t, bEnv, "held "); len(got) != 1 || got[0] != "1" {
		t.Errorf("environment b held %q inotify instances while a holds %d; want 1\n%s", got, limit, bEnv.Output(t))
	}

	idA, idB := lines(t, a, "uid "), lines(t, bEnv, "uid ")
	if len(idA) != 1 || len(idB) != 1 || idA[0] == idB[0] {
		t.Errorf("uid and gid of a = %q, of b = %q; want one each, different", idA, idB)
	}
	for _, id := range append(idA, idB...) {
		for f := range strings.FieldsSeq(id) {
			if n, _ := strconv.Atoi(f); n < 65536 {
				t.Errorf("environment runs as uid/gid %s; want one from the driver's range, above 65535", f)
			}
		}
	}
}
