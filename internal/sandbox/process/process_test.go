package process_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/process"
	"hearth/internal/sandbox/sandboxtest"
	"hearth/internal/sandbox/tmpdisk"
)

func TestConformance(t *testing.T) {
	for _, c := range []struct{ zygote, prestart bool }{{false, false}, {true, false}, {false, true}} {
		t.Run(fmt.Sprintf("zygote=%v,prestart=%v", c.zygote, c.prestart), func(t *testing.T) {
			sandboxtest.Run(t, func(t *testing.T) sandbox.Driver {
				d, err := process.New(process.Config{Root: t.TempDir(), Zygote: c.zygote, Prestart: c.prestart}, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				return d
			})
		})
	}
}

// TestRuntimeAPIRefusesOtherProcesses: another local user's process, in a
// process group of its own, asking the environment's Runtime API for the
// next event is closed on unanswered, while the environment's own runtime
// is served.
func TestRuntimeAPIRefusesOtherProcesses(t *testing.T) {
	d, err := process.New(process.Config{Root: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	e := sandboxtest.Start(t, d, `exec 3<>"/dev/tcp/${AWS_LAMBDA_RUNTIME_API%:*}/${AWS_LAMBDA_RUNTIME_API#*:}" && printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.0\r\n\r\n' >&3 && read -r line <&3 && echo "got $line"; exec sleep 100`)
	ln := e.Env.RuntimeListener()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Destroy
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
					io.WriteString(c, "the-event\n")
				}
			}()
		}
	}()
	e.WaitFor(t, "got the-event\n")

	host, port, _ := net.SplitHostPort(ln.Addr().String())
	cmd := exec.Command("/bin/bash", "-c", fmt.Sprintf(`exec 3<>/dev/tcp/%s/%s || exit 9
printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.0\r\n\r\n' >&3
cat <&3`, host, port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if os.Geteuid() == 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534} // nobody: another local user
	}
	timer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "the-event") {
		t.Errorf("another process got the environment's event: %q", out)
	}
	if !timer.Stop() {
		t.Errorf("another process's connection stayed open 10 s; want it closed at once")
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 9 {
		t.Errorf("another process could not connect at all (%q); want it accepted and closed, so the test shows the check", out)
	}
}

// As root, the scratch directory holds exactly TmpMB megabytes, on an
// image that goes with the environment.
func TestScratchIsCapped(t *testing.T) {
	if err := tmpdisk.Available(); err != nil {
		if os.Geteuid() == 0 {
			t.Fatalf("running as root, but tmpdisk cannot run here: %v", err)
		}
		t.Skip(err)
	}
	root := t.TempDir()
	d, err := process.New(process.Config{Root: root}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	e := sandboxtest.StartSpec(t, d, &sandbox.Spec{
		ID: sandboxtest.NewID(),
		Cmd: []string{"/bin/bash", "-c", `dd if=/dev/zero of=$TMPDIR/a bs=1M count=16 conv=fsync 2>/dev/null; echo "fits=$?"
dd if=/dev/zero of=$TMPDIR/b bs=1M count=1 conv=fsync 2>&1; echo "more=$?"`},
		Env:     []string{"PATH=/usr/bin:/bin"},
		CodeDir: t.TempDir(),
		TmpMB:   16,
	})
	sandboxtest.WaitExit(t, e.Env, 30*time.Second)
	e.WaitEOF(t, 10*time.Second)
	out := e.Output(t)
	if !strings.Contains(out, "fits=0") || !strings.Contains(out, "No space left on device") || !strings.Contains(out, "more=1") {
		t.Errorf("writing 16 MB, then one more, to a 16 MB scratch directory:\n%s\nwant the first to fit and the second to fail with ENOSPC", out)
	}
	if err := e.Env.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), root) {
		t.Errorf("a mount under %s is left after Destroy:\n%s", root, mounts)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(tmpdisk.BackedUnder(root)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if left := tmpdisk.BackedUnder(root); len(left) > 0 {
		t.Errorf("loop devices left: %v", left)
	}
	if entries, _ := os.ReadDir(root); len(entries) > 0 {
		t.Errorf("%s still holds %v", root, entries)
	}
}

// A crashed run leaves its capped scratch directories mounted; the next
// New on the same root unmounts them, which frees their images.
func TestNewRemovesMountedScratch(t *testing.T) {
	if err := tmpdisk.Available(); err != nil {
		t.Skip(err)
	}
	root := t.TempDir()
	m, err := tmpdisk.New(filepath.Join(root, ".tmpdisk"))
	if err != nil {
		t.Fatal(err)
	}
	mnt, err := m.Make(8)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(root, "crashed", "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	err = tmpdisk.MountAt(mnt, tmp)
	mnt.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tmpdisk.Unmount(tmp) })
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	d, err := process.New(process.Config{Root: root}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New() over a crashed run's root = %v", err)
	}
	defer d.Close()
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), tmp) {
		t.Errorf("the crashed run's scratch mount survived New")
	}
	if _, err := os.Stat(filepath.Join(root, "crashed")); err == nil {
		t.Errorf("the crashed run's scratch directory survived New")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(tmpdisk.BackedUnder(root)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if left := tmpdisk.BackedUnder(root); len(left) > 0 {
		t.Errorf("loop devices left: %v", left)
	}
}
