package process_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

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
