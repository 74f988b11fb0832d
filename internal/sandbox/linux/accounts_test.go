//go:build linux

package linux_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"hearth/internal/sandbox/linux"
)

// victimPy is an environment another tries to reach: it keeps a child
// process whose command line carries $MARKER, writes a secret to its /tmp
// and serves TCP on port 8080, checking it can reach each itself.
const victimPy = `
import os, socket, subprocess, threading
exec(open(os.environ["LAMBDA_TASK_ROOT"] + "/probe.py").read())
child = subprocess.Popen(["sleep", os.environ["MARKER"]])
with open("/tmp/secret", "w") as f:
    f.write("secret of the victim")
s = socket.socket()
s.bind(("0.0.0.0", 8080))
s.listen()
def serve():
    while True:
        c, _ = s.accept()
        c.sendall(b"from-victim\n")
        c.close()
threading.Thread(target=serve, daemon=True).start()
me = my_addr()
print("self", probe(me + ":8080"))
print("addr", me, flush=True)
threading.Event().wait()
`

// attackerPy probes the victim (host pid $VICTIM_PID, the process whose
// command line is sleep $VICTIM_MARKER, its /tmp, its address $VICTIM_ADDR)
// and, as a control that each probe works, the same on its own child.
const attackerPy = `
import ctypes, errno, os, signal, subprocess, sys
exec(open(os.environ["LAMBDA_TASK_ROOT"] + "/probe.py").read())
libc = ctypes.CDLL(None, use_errno=True)
def res(f):
    try:
        r = f()
        return "ok" if r is None else "ok " + str(r)
    except OSError as e:
        return "err " + errno.errorcode.get(e.errno, str(e.errno))
def ptrace_attach(pid):
    if libc.ptrace(16, pid, 0, 0) != 0:  # PTRACE_ATTACH
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
def read_mem(pid):
    # What a debugger reads through: the kernel's ptrace access check.
    with open("/proc/%d/maps" % pid) as f:
        start = int(f.readline().split("-")[0], 16)
    with open("/proc/%d/mem" % pid, "rb") as f:
        f.seek(start)
        return len(f.read(4))
def signal_pidfd(pid):
    fd = os.pidfd_open(pid)
    try:
        signal.pidfd_send_signal(fd, 0)
    finally:
        os.close(fd)
def visible(marker):
    n = 0
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    n += f.read() == b"sleep\0" + marker.encode() + b"\0"
            except OSError:
                pass
    return n
def read(path):
    with open(path) as f:
        return f.read()
def write_read(path):
    with open(path, "w") as f:
        f.write("mine")
    return read(path)

own = subprocess.Popen(["sleep", os.environ["MARKER"]])
victim = int(os.environ["VICTIM_PID"])
checks = [
    ("kill", lambda p: os.kill(p, signal.SIGKILL if p == victim else 0)),
    ("pidfd", signal_pidfd),
    ("ptrace", ptrace_attach),
    ("mem", read_mem),
]
for name, f in checks:
    print("own", name, res(lambda: f(own.pid)))
    print("victim", name, res(lambda: f(victim)))
print("own proc", visible(os.environ["MARKER"]))
print("victim proc", visible(os.environ["VICTIM_MARKER"]))
print("own tmp", res(lambda: write_read("/tmp/mine")))
print("victim tmp", res(lambda: read("/tmp/secret")))
print("victim roottmp", res(lambda: read("/proc/%d/root/tmp/secret" % victim)))
print("victim net", probe(os.environ["VICTIM_ADDR"] + ":8080"))
print("own addr", my_addr())
print("uid", os.getuid())
print("done", flush=True)
`

// TestAccountsAreIsolated: an environment can neither signal, trace, see,
// read the /tmp of nor connect to another environment, of another account
// or of its own, while each probe works on its own processes and files.
func TestAccountsAreIsolated(t *testing.T) {
	const a, b = "111111111111", "222222222222"
	d := newDriver(t, linux.Config{})
	for _, tt := range []struct{ name, victim string }{
		{"other account", b},
		{"same account", a},
	} {
		t.Run(tt.name, func(t *testing.T) {
			marker := fmt.Sprintf("%d.%d", 1000+os.Getpid()%1000, time.Now().UnixNano()%1_000_000)
			vspec := pythonSpec(t, victimPy)
			vspec.Account = tt.victim
			vspec.Env = append(vspec.Env, "MARKER="+marker)
			victim := start(t, d, vspec)
			victim.WaitFor(t, "addr ")
			if self := lines(t, victim, "self "); len(self) != 1 || self[0] != "ok from-victim" {
				t.Fatalf("the victim cannot reach its own listener: %q\n%s", self, victim.Output(t))
			}
			addr := lines(t, victim, "addr ")[0]
			vpid, vuid := findProcess(t, "sleep\x00"+marker)

			aspec := pythonSpec(t, attackerPy)
			aspec.Account = a
			aspec.Env = append(aspec.Env, "MARKER="+marker+"1", "VICTIM_MARKER="+marker,
				"VICTIM_PID="+strconv.Itoa(vpid), "VICTIM_ADDR="+addr)
			attacker := start(t, d, aspec)
			waitExit(t, attacker)
			got := map[string]string{}
			for _, who := range []string{"own", "victim"} {
				for _, l := range lines(t, attacker, who+" ") {
					k, v, _ := strings.Cut(l, " ")
					got[who+" "+k] = v
				}
			}
			t.Logf("victim host pid %d uid %d; probes: %v", vpid, vuid, got)
			for k, want := range map[string]string{
				// Controls: each probe works where it may.
				"own kill":  "ok",
				"own pidfd": "ok",
				"own mem":   "ok 4",
				"own proc":  "1",
				"own tmp":   "ok mine",
				// The victim is out of reach: its pid does not exist in
				// the attacker's pid namespace, its processes are not in
				// its /proc, its /tmp is another file system.
				"victim kill":    "err ESRCH",
				"victim pidfd":   "err ESRCH",
				"victim mem":     "err ENOENT",
				"victim proc":    "0",
				"victim tmp":     "err ENOENT",
				"victim roottmp": "err ENOENT",
			} {
				if got[k] != want {
					t.Errorf("%s: %q; want %q", k, got[k], want)
				}
			}
			// seccomp refuses ptrace to every environment, even on its own
			// children ("mem" above goes through the same access check, and
			// works on them); were it allowed, the victim's pid would still
			// not exist here.
			if r := got["victim ptrace"]; r != "err EPERM" && r != "err ESRCH" {
				t.Errorf("victim ptrace: %q; want EPERM (seccomp) or ESRCH", r)
			}
			if r := got["victim net"]; !strings.HasPrefix(r, "err ") || r == "err timeout" {
				t.Errorf("connect to the victim's %s:8080: %q; want refused at once", addr, r)
			}
			// Each account's addresses come from a range of its own.
			own, err := netip.ParseAddr(got["own addr"])
			if err != nil {
				t.Fatalf("attacker's address %q: %v", got["own addr"], err)
			}
			vaddr := netip.MustParseAddr(addr)
			if same := netip.PrefixFrom(own, 27).Masked().Contains(vaddr); same != (tt.victim == a) {
				t.Errorf("attacker at %s, victim at %s: in one /27 %v; want %v (the same account)", own, vaddr, same, tt.victim == a)
			}
			if uid := lines(t, attacker, "uid "); len(uid) != 1 || uid[0] == strconv.Itoa(vuid) {
				t.Errorf("attacker runs as uid %q, the victim as %d; want different uids", uid, vuid)
			}
			// The victim's child survived the SIGKILL the attacker aimed at it.
			if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(vpid))); err != nil {
				t.Errorf("the victim's process %d is gone: %v", vpid, err)
			}
			select {
			case <-victim.Env.Done():
				t.Errorf("the victim exited: %v\n%s", victim.Env.Exit(), victim.Output(t))
			default:
			}
		})
	}
}

// findProcess returns the host pid and uid of the one process whose
// command line contains cmdline.
func findProcess(t *testing.T, cmdline string) (pid, uid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		var found []int
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err == nil && strings.Contains(string(b), cmdline) {
				n, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
				found = append(found, n)
			}
		}
		if len(found) == 1 {
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join("/proc", strconv.Itoa(found[0])), &st); err != nil {
				t.Fatal(err)
			}
			return found[0], int(st.Uid)
		}
		if len(found) > 1 {
			t.Fatalf("processes %v all run %q", found, cmdline)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no process runs %q", cmdline)
	return 0, 0
}
