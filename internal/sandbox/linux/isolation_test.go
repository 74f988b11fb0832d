//go:build linux

package linux_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"hearth/internal/sandbox/linux"
)

func TestSeesOnlyItsOwnProcesses(t *testing.T) {
	d := newDriver(t, linux.Config{})
	e := start(t, d, envSpec(t, `sleep 100 & for p in /proc/[0-9]*; do echo "proc ${p#/proc/} $(cat $p/comm)"; done; echo done`, nil))
	e.WaitFor(t, "done\n")
	procs := lines(t, e, "proc ")
	// init, bash, the background sleep and maybe a subshell of the loop.
	if len(procs) == 0 || len(procs) > 6 {
		t.Fatalf("processes visible inside = %q; want only the environment's own", procs)
	}
	if !slices.Contains(procs, "1 hearth-init") || !slices.ContainsFunc(procs, func(p string) bool { return strings.HasSuffix(p, " bash") }) {
		t.Errorf("processes visible inside = %q; want pid 1 hearth-init and bash", procs)
	}
	if pid := fmt.Sprint(os.Getpid()); slices.ContainsFunc(procs, func(p string) bool { return strings.HasPrefix(p, pid+" ") && strings.Contains(p, "linux.test") }) {
		t.Errorf("the test process (pid %s) is visible inside: %q", pid, procs)
	}
}

func TestRunsUnprivileged(t *testing.T) {
	d := newDriver(t, linux.Config{})
	e := start(t, d, envSpec(t, `echo "id $(id -u) $(id -g) $(id -G)"; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; echo "host $(hostname)"; ls -ld /tmp /var/task; ls -l /proc/$$/fd/ | sed 's/^/fd /'`, nil))
	waitExit(t, e)
	out := e.Output(t)
	// Each environment has a uid of its own (uids_test.go), its gid the
	// same number and no supplementary groups.
	if id := lines(t, e, "id "); len(id) != 1 || !regexp.MustCompile(`^(\d{6,}) (\d+) (\d+)$`).MatchString(id[0]) ||
		strings.Fields(id[0])[0] != strings.Fields(id[0])[1] || strings.Fields(id[0])[1] != strings.Fields(id[0])[2] {
		t.Errorf("id -u, -g, -G = %q; want one unprivileged uid, the same gid, no other group", id)
	}
	for _, want := range []string{
		"CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000",
		"CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000",
		"NoNewPrivs:\t1", "Seccomp:\t2",
		"host " + e.Env.ID() + "\n",
		"drwxrwxrwt", // /tmp: writable by the function
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, fd := range lines(t, e, "fd ") {
		if strings.Contains(fd, "socket:") {
			t.Errorf("the bootstrap inherited a socket (the init's control socket?): %s", fd)
		}
	}
}

func TestHostFilesAreHidden(t *testing.T) {
	root := t.TempDir() // the driver's state, like hearth's data directory
	d := newDriver(t, linux.Config{Root: root})
	secretDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(secretDir, "secret"), []byte("s3cr3t"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`
for p in /etc/shadow /etc/gshadow %s %s/secret %s /root /home /var/lib /sys/fs/cgroup; do
	if [ -e "$p" ]; then echo "visible $p"; else echo "absent $p"; fi
done
cat /etc/passwd
ls /etc`, root, secretDir, filepath.Dir(secretDir))
	e := start(t, d, envSpec(t, script, nil))
	waitExit(t, e)
	out := e.Output(t)
	if v := lines(t, e, "visible "); len(v) > 0 {
		t.Errorf("host paths visible inside: %q\n%s", v, out)
	}
	if strings.Contains(out, "s3cr3t") || !regexp.MustCompile(`\nsbx_user1051:x:[1-9]\d*:[1-9]\d*:`).MatchString(out) {
		t.Errorf("unexpected /etc/passwd or secret inside:\n%s", out)
	}
	if hostPasswd, err := os.ReadFile("/etc/passwd"); err == nil {
		for l := range strings.Lines(string(hostPasswd)) {
			if user, _, _ := strings.Cut(l, ":"); user != "root" && strings.Contains(out, user+":x:") {
				t.Errorf("host user %q is in the environment's /etc/passwd", user)
			}
		}
	}
}

func TestOnlyTmpIsWritable(t *testing.T) {
	d := newDriver(t, linux.Config{})
	script := `
for p in /x /etc/x /usr/x /bin/x /var/task/x /var/runtime/x /opt/x /dev/x /var/x; do
	if touch "$p" 2>/dev/null; then echo "writable $p"; else echo "refused $p"; fi
done
echo ok > /tmp/x && echo "tmp $(cat /tmp/x)"
cat /proc/self/mountinfo | while read -r id parent dev root mnt opts rest; do echo "mount $mnt $opts"; done`
	e := start(t, d, envSpec(t, script, nil))
	waitExit(t, e)
	if w := lines(t, e, "writable "); len(w) > 0 {
		t.Errorf("writable outside /tmp: %q", w)
	}
	if got := lines(t, e, "tmp "); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("/tmp write read back %q; want ok", got)
	}
	mounts := map[string]string{}
	for _, l := range lines(t, e, "mount ") {
		mnt, opts, _ := strings.Cut(l, " ")
		mounts[mnt] = opts // the last mount at a path is the visible one
	}
	for _, p := range []string{"/", "/usr", "/var/task", "/var/runtime", "/etc/resolv.conf", "/proc/sys"} {
		opts, ok := mounts[p]
		if !ok && p == "/etc/resolv.conf" {
			continue // the host may have none
		}
		if !slices.Contains(strings.Split(opts, ","), "ro") {
			t.Errorf("mount %s options %q; want read-only", p, opts)
		}
	}
	if opts := mounts["/tmp"]; !slices.Contains(strings.Split(opts, ","), "rw") {
		t.Errorf("mount /tmp options %q; want read-write", opts)
	}
}

func TestTmpIsPrivate(t *testing.T) {
	d := newDriver(t, linux.Config{})
	a := start(t, d, envSpec(t, `echo secret > /tmp/from-a; echo written; exec sleep 100`, nil))
	a.WaitFor(t, "written")
	b := start(t, d, envSpec(t, `ls -A /tmp; echo "procs $(ls -d /proc/[0-9]* | wc -l)"; echo done`, nil))
	b.WaitFor(t, "done")
	if out := b.Output(t); strings.Contains(out, "from-a") {
		t.Errorf("environment b sees a's /tmp:\n%s", out)
	}
}

func TestTmpFullGivesENOSPC(t *testing.T) {
	d := newDriver(t, linux.Config{})
	spec := envSpec(t, `dd if=/dev/zero of=/tmp/big bs=1M count=32 2>&1; echo "dd=$?"; rm /tmp/big; echo small > /tmp/small && echo "alive $(cat /tmp/small)"`, nil)
	spec.TmpMB = 8
	e := start(t, d, spec)
	exit := waitExit(t, e)
	out := e.Output(t)
	if !strings.Contains(out, "No space left on device") || !strings.Contains(out, "dd=1") {
		t.Errorf("writing 32 MB to an 8 MB /tmp:\n%s\nwant ENOSPC", out)
	}
	if !strings.Contains(out, "alive small") || exit.Code != 0 || exit.OOM {
		t.Errorf("after ENOSPC: exit %+v, output:\n%s\nwant the environment alive", exit, out)
	}
}

// /tmp is disk, not memory: a 128 MB function writes 400 MB to its 512 MB
// /tmp and lives on, as on Lambda. A tmpfs /tmp would be charged to the
// memory limit, without swap to go to, and the function OOM-killed.
func TestTmpIsNotMemory(t *testing.T) {
	d := newDriver(t, linux.Config{})
	spec := envSpec(t, `stat -f -c "fs %T" /tmp; dd if=/dev/zero of=/tmp/big bs=1M count=400 2>&1; echo "dd=$?"; echo "size $(stat -c %s /tmp/big)"`, nil)
	spec.MemoryMB = 128
	spec.TmpMB = 512
	e := start(t, d, spec)
	exit := waitExit(t, e)
	out := e.Output(t)
	if exit.OOM || exit.Code != 0 || !strings.Contains(out, "dd=0") || !strings.Contains(out, "size 419430400\n") {
		t.Errorf("a 128 MB function writing 400 MB to /tmp: exit %+v, output:\n%s\nwant it to succeed", exit, out)
	}
	if got := lines(t, e, "fs "); !slices.Equal(got, []string{"ext2/ext3"}) {
		t.Errorf("/tmp filesystem %q; want ext4 (stat says ext2/ext3)", got)
	}
}

// /tmp holds exactly TmpMB megabytes: that many fit, one more does not.
func TestTmpHoldsTmpMB(t *testing.T) {
	d := newDriver(t, linux.Config{})
	spec := envSpec(t, `
dd if=/dev/zero of=/tmp/a bs=1M count=24 conv=fsync 2>/dev/null; echo "fits=$?"
dd if=/dev/zero of=/tmp/b bs=1M count=1 conv=fsync 2>&1; echo "more=$?"
ls -A /tmp | tr '\n' ' ' | sed 's/^/ls /'; echo`, nil)
	spec.TmpMB = 24
	e := start(t, d, spec)
	waitExit(t, e)
	out := e.Output(t)
	if !strings.Contains(out, "fits=0") {
		t.Errorf("writing 24 MB to a 24 MB /tmp failed:\n%s", out)
	}
	if !strings.Contains(out, "No space left on device") || !strings.Contains(out, "more=1") {
		t.Errorf("writing a 25th MB to a 24 MB /tmp:\n%s\nwant ENOSPC", out)
	}
	if got := lines(t, e, "ls "); !slices.Equal(got, []string{"a b "}) {
		t.Errorf("/tmp holds %q; want only the test's files (no lost+found)", got)
	}
}

func TestPrivilegedSyscallsAreRefused(t *testing.T) {
	d := newDriver(t, linux.Config{})
	e := start(t, d, pythonSpec(t, `
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def call(name, f):
    r = f()
    print(name, "ok" if r == 0 else errno.errorcode.get(ctypes.get_errno(), "?"))
call("mount", lambda: libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None))
call("umount2", lambda: libc.umount2(b"/tmp", 2))
call("ptrace", lambda: libc.ptrace(0, 0, None, None))        # PTRACE_TRACEME
call("unshare-user", lambda: libc.unshare(0x10000000))        # CLONE_NEWUSER
call("unshare-net", lambda: libc.unshare(0x40000000))         # CLONE_NEWNET
call("setuid", lambda: libc.setuid(0))
call("keyctl", lambda: libc.syscall(250, 0, 0, 0, 0))        # keyctl(GET_KEYRING_ID)
call("bpf", lambda: libc.syscall(321, 0, 0, 0))
call("clone3", lambda: libc.syscall(435, 0, 0))
# System calls outside the allow list, newer ones included, are ENOSYS
# (without the filter these give EFAULT or EINVAL for their NULL arguments).
call("listmount", lambda: libc.syscall(458, 0, 0, 0, 0))
call("open_tree_attr", lambda: libc.syscall(467, -1, 0, 0, 0, 0))
call("statmount", lambda: libc.syscall(457, 0, 0, 0, 0))
# What runtimes need still works: threads, fork and exec, sockets.
import threading, subprocess, socket
t = threading.Thread(target=lambda: None); t.start(); t.join(); print("thread ok")
pid = os.fork()
if pid == 0:
    os._exit(7)
print("fork", "ok" if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7 else "failed")
print("exec", subprocess.run(["/bin/sh", "-c", "echo ok"], capture_output=True, text=True).stdout.strip())
a, b = socket.socketpair(); a.send(b"x"); print("socketpair", "ok" if b.recv(1) == b"x" else "failed")
print("done")
`))
	waitExit(t, e)
	want := map[string]string{
		"mount": "EPERM", "umount2": "EPERM", "ptrace": "EPERM", "unshare-user": "EPERM",
		"unshare-net": "EPERM", "setuid": "EPERM", "keyctl": "EPERM", "bpf": "EPERM", "clone3": "ENOSYS",
		"listmount": "ENOSYS", "open_tree_attr": "ENOSYS", "statmount": "ENOSYS",
		"thread": "ok", "fork": "ok", "exec": "ok", "socketpair": "ok",
	}
	out := e.Output(t)
	for name, errno := range want {
		if !strings.Contains(out, name+" "+errno+"\n") {
			t.Errorf("%s: want %s; output:\n%s", name, errno, out)
		}
	}
}

func TestOutOfMemoryIsReported(t *testing.T) {
	d := newDriver(t, linux.Config{})
	spec := pythonSpec(t, `
chunks = []
print("allocating", flush=True)
while True:
    chunks.append(bytearray(8 << 20))
`)
	spec.MemoryMB = 128
	e := start(t, d, spec)
	exit := waitExit(t, e)
	if !exit.OOM || exit.Signal != syscall.SIGKILL {
		t.Errorf("Exit() = %+v; want OOM and SIGKILL; output:\n%s", exit, e.Output(t))
	}
	if peak := e.Env.MaxMemory(); peak < 100<<20 || peak > 130<<20 {
		t.Errorf("MaxMemory() = %d MB; want about the 128 MB limit", peak>>20)
	}
}

func TestRuntimesRun(t *testing.T) {
	d := newDriver(t, linux.Config{})
	t.Run("python3", func(t *testing.T) {
		e := start(t, d, pythonSpec(t, `
import json, os, ssl, socket, sys, tempfile
ctx = ssl.create_default_context()
print("certs", ctx.cert_store_stats()["x509_ca"] > 0)
print("tmp", tempfile.gettempdir())
print("cwd", os.getcwd())
print("python ok")
`))
		if exit := waitExit(t, e); exit.Code != 0 {
			t.Fatalf("python3: %v\n%s", exit, e.Output(t))
		}
		for _, want := range []string{"certs True", "tmp /tmp", "cwd /var/task", "python ok"} {
			if !strings.Contains(e.Output(t), want) {
				t.Errorf("python3 output lacks %q:\n%s", want, e.Output(t))
			}
		}
	})
	t.Run("system-prefix", func(t *testing.T) {
		// A system interpreter's prefix is /usr, which every root shows.
		spec := envSpec(t, "echo usr ok", nil)
		spec.HostPaths = []string{"/usr", "/usr/lib"}
		e := start(t, d, spec)
		if exit := waitExit(t, e); exit.Code != 0 || !strings.Contains(e.Output(t), "usr ok") {
			t.Errorf("HostPaths under /usr: %v\n%s", exit, e.Output(t))
		}
	})
	t.Run("node", func(t *testing.T) {
		node, err := exec.LookPath("node")
		if err != nil {
			t.Skip("node is not installed")
		}
		node, _ = filepath.EvalSymlinks(node)
		spec := envSpec(t, "", map[string]string{"index.js": `
const os = require("os"), tls = require("tls");
console.log("cas", tls.rootCertificates.length > 0, "tmp", os.tmpdir(), "node ok");
`})
		spec.Cmd = []string{node, "$LAMBDA_TASK_ROOT/index.js"}
		e := start(t, d, spec)
		if exit := waitExit(t, e); exit.Code != 0 || !strings.Contains(e.Output(t), "cas true tmp /tmp node ok") {
			t.Errorf("node: %v\n%s", exit, e.Output(t))
		}
	})
}
