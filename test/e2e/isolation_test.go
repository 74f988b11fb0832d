package e2e

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// linuxServer starts a server and skips the test unless it runs
// environments with the linux driver (root on Linux).
func linuxServer(t *testing.T, flags ...string) *server {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the linux isolation driver needs root; these escape tests run in CI, which is root")
	}
	s := startServer(t, "", append([]string{"--isolation", "linux"}, flags...)...)
	if s.cgroupPath() == "" {
		t.Fatalf("server with --isolation linux did not start the linux driver:\n%s", s.Log())
	}
	return s
}

func escapeFn(t *testing.T) fn {
	f := fn{runtime: "python3.12", handler: "app.handler", zip: zipDir(t, "escape"), timeout: 10}
	needRuntime(t, f.runtime)
	return f
}

func (s *server) probe(t *testing.T, name string, event map[string]any) map[string]any {
	t.Helper()
	r := s.invoke(t, name, event)
	if r.FunctionError != "" {
		t.Fatalf("%s %v: function error %s", name, event["op"], r.Payload)
	}
	return r.decode(t)
}

func TestIsolationEscapes(t *testing.T) {
	s := linuxServer(t)
	s.create(t, "esc", escapeFn(t))
	s.create(t, "other", escapeFn(t))

	t.Run("Identity", func(t *testing.T) {
		m := s.probe(t, "esc", map[string]any{"op": "whoami"})
		if m["uid"].(float64) == 0 || m["gid"].(float64) == 0 {
			t.Errorf("function runs as uid %v gid %v; want unprivileged", m["uid"], m["gid"])
		}
		if m["cap_eff"] != "0000000000000000" || m["no_new_privs"] != "1" || m["seccomp"] != "2" {
			t.Errorf("capabilities %v, no_new_privs %v, seccomp %v; want none, 1, 2 (filter)", m["cap_eff"], m["no_new_privs"], m["seccomp"])
		}
	})

	t.Run("SeesOnlyItsOwnProcesses", func(t *testing.T) {
		procs, _ := s.probe(t, "esc", map[string]any{"op": "processes"})["processes"].([]any)
		for _, p := range procs {
			cmd := p.(string)
			if !strings.Contains(cmd, "hearth-sandbox-init") && !strings.Contains(cmd, "/var/runtime/bootstrap.py") {
				t.Errorf("the function sees a process that is not its own: %q", cmd)
			}
		}
		if len(procs) == 0 || len(procs) > 3 {
			t.Errorf("the function sees %d processes: %v", len(procs), procs)
		}
	})

	t.Run("HostFilesAreAbsent", func(t *testing.T) {
		// A secret beside the interpreter the sandbox mounts from /root.
		secret := fmt.Sprintf("/root/hearth-e2e-secret-%d", os.Getpid())
		if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(secret)
		paths := []string{"/etc/shadow", s.DataDir + "/lock", s.DataDir, secret, hearthBin}
		m := s.probe(t, "esc", map[string]any{"op": "read", "paths": paths})
		for _, p := range paths {
			if m[p] != "ENOENT" {
				t.Errorf("reading %s from a function: %v; want ENOENT (absent)", p, m[p])
			}
		}
	})

	t.Run("MountTableHidesTheDataDir", func(t *testing.T) {
		m := s.probe(t, "esc", map[string]any{"op": "cat", "path": "/proc/self/mountinfo"})
		text, _ := m["text"].(string)
		if !strings.Contains(text, " /var/task ") || !strings.Contains(text, " /var/runtime ") {
			t.Fatalf("mountinfo lacks /var/task or /var/runtime:\n%s", text)
		}
		if strings.Contains(text, s.DataDir) {
			t.Errorf("mountinfo names the data directory %s:\n%s", s.DataDir, text)
		}
	})

	t.Run("OnlyTmpIsWritable", func(t *testing.T) {
		paths := []string{"/var/task/x", "/var/runtime/x", "/etc/passwd", "/usr/bin/x", "/x", "/opt/x", "/tmp/x"}
		m := s.probe(t, "esc", map[string]any{"op": "write", "paths": paths})
		for _, p := range paths[:len(paths)-1] {
			if m[p] != "EROFS" && m[p] != "EACCES" {
				t.Errorf("writing %s: %v; want EROFS or EACCES", p, m[p])
			}
		}
		if m["/tmp/x"] != "ok" {
			t.Errorf("writing /tmp/x: %v; want ok", m["/tmp/x"])
		}
	})

	t.Run("AnotherEnvironmentsTmpIsInvisible", func(t *testing.T) {
		secret := fmt.Sprintf("secret-%d", time.Now().UnixNano())
		s.probe(t, "esc", map[string]any{"op": "tmp-put", "name": secret})
		listing, _ := s.probe(t, "other", map[string]any{"op": "tmp-list"})["listing"].([]any)
		for _, f := range listing {
			if f == secret {
				t.Errorf("another function's environment sees %s in its /tmp", secret)
			}
		}
	})

	t.Run("PrivilegedSyscallsFail", func(t *testing.T) {
		m := s.probe(t, "esc", map[string]any{"op": "syscalls"})
		for _, call := range []string{"mount", "ptrace", "unshare_user"} {
			if m[call] != "EPERM" {
				t.Errorf("%s from a function: %v; want EPERM", call, m[call])
			}
		}
	})

	t.Run("FrozenBetweenInvocations", func(t *testing.T) {
		first := num(t, s.probe(t, "esc", map[string]any{"op": "ticks"}), "ticks")
		time.Sleep(time.Second) // a running thread would tick ~100 times
		second := num(t, s.probe(t, "esc", map[string]any{"op": "ticks"}), "ticks")
		if d := second - first; d > 10 {
			t.Errorf("a background thread ticked %d times (every 10 ms) in the 1 s between invocations; want it frozen", d)
		}
	})

	t.Run("Network", func(t *testing.T) {
		ip, _ := s.probe(t, "esc", map[string]any{"op": "listen"})["ip"].(string)
		if ip == "" {
			t.Fatal("the function has no address")
		}
		u, _ := url.Parse(s.URL)
		_, port, _ := net.SplitHostPort(u.Host)
		hostIP := hostAddress(t)
		targets := []string{
			ip + ":8080",               // another environment
			"127.0.0.1:" + port,        // loopback is the environment's own
			hostIP + ":" + port,        // the host's address, Hearth's port
			gatewayOf(ip) + ":" + port, // the host side of the veth
		}
		m := s.probe(t, "other", map[string]any{"op": "connect", "targets": targets})
		for _, target := range targets {
			if r := m[target]; r == "ok" || r == "ETIMEDOUT" || r == nil {
				t.Errorf("connect from another function to %s: %v; want refused or unreachable", target, r)
			}
		}
	})

	t.Run("OutOfMemory", func(t *testing.T) {
		r := s.invoke(t, "esc", map[string]any{"op": "alloc", "mb": 400})
		typ, _ := errorDoc(t, r)
		if typ != "Runtime.OutOfMemory" {
			t.Errorf("allocating 400 MB in 128 MB: errorType %s; want Runtime.OutOfMemory (%s)", typ, r.Payload)
		}
		if !strings.Contains(r.Log, "Max Memory Used: 128 MB") {
			t.Errorf("REPORT after OOM should show Max Memory Used = Memory Size:\n%s", r.Log)
		}
		if next := s.invoke(t, "esc", map[string]any{"op": "whoami"}); next.FunctionError != "" {
			t.Errorf("invoke after OOM = %s; want a fresh environment to answer", next.Payload)
		}
	})

	// As on Lambda, /tmp is disk: a 128 MB function (the default) fills
	// most of its 512 MB /tmp and lives on; a tmpfs /tmp was charged to
	// its memory and got it OOM-killed after ~120 MB. Beyond
	// EphemeralStorage, writes fail with ENOSPC.
	t.Run("TmpIsNotMemory", func(t *testing.T) {
		r := s.invoke(t, "esc", map[string]any{"op": "tmp-fill", "mb": 400})
		if r.FunctionError != "" {
			t.Fatalf("a 128 MB function writing 400 MB to /tmp: %s %s; want it to succeed", r.FunctionError, r.Payload)
		}
		if m := r.decode(t); m["written_mb"] != 400.0 || m["error"] != nil {
			t.Errorf("writing 400 MB to /tmp: %v; want all written", m)
		}
		m := s.probe(t, "esc", map[string]any{"op": "tmp-fill", "mb": 600})
		if w, _ := m["written_mb"].(float64); m["error"] != "ENOSPC" || w < 511 || w > 512 {
			t.Errorf("writing 600 MB to a 512 MB /tmp: %v; want ENOSPC after 511 or 512 MB", m)
		}
	})

	t.Run("ForkBombIsContained", func(t *testing.T) {
		// Enough memory that the pids limit, not memory, stops the bomb.
		f := escapeFn(t)
		f.memory, f.timeout = 1024, 60
		s.create(t, "bomb", f)
		var wg sync.WaitGroup
		var bomb map[string]any
		wg.Go(func() { bomb = s.probe(t, "bomb", map[string]any{"op": "forkbomb"}) })
		// Meanwhile the server and other functions keep serving.
		for range 5 {
			if r := s.invoke(t, "other", map[string]any{"op": "whoami"}); r.FunctionError != "" {
				t.Errorf("another function during a fork bomb: %s", r.Payload)
			}
			time.Sleep(50 * time.Millisecond)
		}
		wg.Wait()
		if bomb["error"] != "EAGAIN" || bomb["children"].(float64) > 1100 {
			t.Errorf("fork bomb: %v; want stopped by the pids limit with EAGAIN", bomb)
		}
		if r := s.invoke(t, "other", map[string]any{"op": "whoami"}); r.FunctionError != "" {
			t.Errorf("another function after a fork bomb: %s", r.Payload)
		}
	})
}

func TestIsolationNetworkNone(t *testing.T) {
	s := linuxServer(t, "--network", "none")
	s.create(t, "offline", escapeFn(t))
	hostIP := hostAddress(t)
	u, _ := url.Parse(s.URL)
	_, port, _ := net.SplitHostPort(u.Host)
	ip, _ := s.probe(t, "offline", map[string]any{"op": "ip"})["ip"].(string)
	if ip != "" {
		t.Errorf("a function with --network none has address %s; want none", ip)
	}
	m := s.probe(t, "offline", map[string]any{"op": "connect", "targets": []string{hostIP + ":" + port, "10.208.0.1:" + port}})
	for target, r := range m {
		if r == "ok" {
			t.Errorf("connect to %s with --network none succeeded", target)
		}
	}
}

// hostAddress is one of this machine's non-loopback IPv4 addresses.
func hostAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !strings.HasPrefix(n.IP.String(), "10.208.") {
			return n.IP.String()
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address")
	return ""
}

// gatewayOf returns the host side of an environment's /30.
func gatewayOf(ip string) string {
	a := net.ParseIP(ip).To4()
	a[3] = a[3]&^3 | 1
	return a.String()
}
