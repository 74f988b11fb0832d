// Package sandboxtest holds the conformance suite that every sandbox driver
// runs from its own tests. The suite uses /bin/bash inside the environment,
// so drivers must make it available.
package sandboxtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hearth/internal/sandbox"
)

// Run checks that the driver built by newDriver meets the sandbox contract.
func Run(t *testing.T, newDriver func(t *testing.T) sandbox.Driver) {
	t.Run("Extensions", func(t *testing.T) { runExtensions(t, newDriver(t)) })
	t.Run("Dial", func(t *testing.T) { runDial(t, newDriver(t)) })
	t.Run("HoldBootstrap", func(t *testing.T) { runHoldBootstrap(t, newDriver) })
	t.Run("ExtensionOutput", func(t *testing.T) {
		opt := t.TempDir()
		os.Chmod(opt, 0o755)
		os.Mkdir(opt+"/extensions", 0o755)
		os.WriteFile(opt+"/extensions/talk", []byte("#!/bin/bash\necho from ext\necho err from ext >&2\n"), 0o755)
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		spec := optSpec(t, "echo from boot; sleep 30")
		spec.OptDir = opt
		spec.Extensions = []string{sandbox.OptRef + "/extensions/talk"}
		spec.ExtensionOutput = w
		e := StartSpec(t, newDriver(t), spec)
		w.Close()
		r.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(r) // until the extension has exited
		if string(b) != "from ext\nerr from ext\n" {
			t.Errorf("extension output %q; want its stdout and stderr", b)
		}
		e.WaitFor(t, "from boot")
		if out := e.Output(t); strings.Contains(out, "ext") {
			t.Errorf("bootstrap output %q has the extension's lines", out)
		}
	})
	t.Run("ExtensionsOutliveBootstrap", func(t *testing.T) {
		// As on Lambda, extensions live on when the runtime exits: they
		// still get their SHUTDOWN. Destroy ends them.
		opt := t.TempDir()
		os.Chmod(opt, 0o755)
		os.Mkdir(opt+"/extensions", 0o755)
		os.WriteFile(opt+"/extensions/late", []byte("#!/bin/bash\nsleep 0.5\necho ext still here\nsleep 30\n"), 0o755)
		spec := optSpec(t, "exit 0")
		spec.OptDir = opt
		spec.Extensions = []string{sandbox.OptRef + "/extensions/late"}
		spec.ExtensionEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
		e := StartSpec(t, newDriver(t), spec)
		WaitExit(t, e.Env, 10*time.Second)
		e.WaitFor(t, "ext still here")
	})
	t.Run("Terminate", func(t *testing.T) {
		e := Start(t, newDriver(t), `trap 'echo got TERM; exit 7' TERM; echo ready; sleep 30 & wait $!`)
		e.WaitFor(t, "ready")
		tr, ok := e.Env.(sandbox.Terminator)
		if !ok {
			t.Fatalf("%T does not implement sandbox.Terminator", e.Env)
		}
		if err := tr.Terminate(); err != nil {
			t.Fatalf("Terminate() = %v", err)
		}
		if exit := WaitExit(t, e.Env, 10*time.Second); exit.Code != 7 {
			t.Errorf("Exit() = %+v; want the bootstrap's own exit 7 after its TERM trap", exit)
		}
		e.WaitFor(t, "got TERM")
	})
	t.Run("ReportsExitCode", func(t *testing.T) {
		e := Start(t, newDriver(t), "exit 3")
		exit := WaitExit(t, e.Env, 10*time.Second)
		if exit.Code != 3 || exit.Signal != 0 {
			t.Fatalf("Exit() = %+v; want code 3", exit)
		}
		if got := exit.String(); got != "exit status 3" {
			t.Errorf("Exit().String() = %q; want %q", got, "exit status 3")
		}
	})

	t.Run("ReportsSignal", func(t *testing.T) {
		e := Start(t, newDriver(t), "kill -SEGV $$")
		exit := WaitExit(t, e.Env, 10*time.Second)
		if exit.Signal != syscall.SIGSEGV || exit.Code != -1 {
			t.Fatalf("Exit() = %+v; want SIGSEGV, code -1", exit)
		}
	})

	t.Run("CapturesOutput", func(t *testing.T) {
		e := Start(t, newDriver(t), "echo out; echo err >&2")
		WaitExit(t, e.Env, 10*time.Second)
		e.WaitEOF(t, 10*time.Second)
		got := e.Output(t)
		if !strings.Contains(got, "out\n") || !strings.Contains(got, "err\n") {
			t.Errorf("output = %q; want both stdout and stderr lines", got)
		}
	})

	t.Run("SetsLayoutVariables", func(t *testing.T) {
		e := Start(t, newDriver(t), `echo "task=$LAMBDA_TASK_ROOT"; echo "pwd=$PWD"; echo "api=$AWS_LAMBDA_RUNTIME_API"; `+
			`echo "tmp=$TMPDIR"; echo "rt=$LAMBDA_RUNTIME_DIR"; echo "user=$USER_VAR"; echo "leak=$HEARTH_SANDBOXTEST_LEAK"; cat "$LAMBDA_TASK_ROOT/code.txt"`)
		WaitExit(t, e.Env, 10*time.Second)
		e.WaitEOF(t, 10*time.Second)
		got := e.Output(t)
		vars := map[string]string{}
		for line := range strings.Lines(got) {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
				vars[k] = v
			}
		}
		if vars["task"] == "" || vars["pwd"] != vars["task"] {
			t.Errorf("LAMBDA_TASK_ROOT = %q, working directory %q; want equal and non-empty", vars["task"], vars["pwd"])
		}
		if vars["api"] == "" || vars["tmp"] == "" || vars["rt"] == "" {
			t.Errorf("AWS_LAMBDA_RUNTIME_API=%q TMPDIR=%q LAMBDA_RUNTIME_DIR=%q; want all set", vars["api"], vars["tmp"], vars["rt"])
		}
		if vars["user"] != "yes" {
			t.Errorf("USER_VAR = %q; want the spec's value %q", vars["user"], "yes")
		}
		if vars["leak"] != "" {
			t.Errorf("host variable leaked into the environment: %q", vars["leak"])
		}
		if !strings.Contains(got, "the code\n") {
			t.Errorf("output %q lacks the content of code.txt", got)
		}
	})

	t.Run("EnvironmentHasEachNameOnce", func(t *testing.T) {
		// The worker may list a name twice (a runtime default, then the
		// function's value); programs disagree on which of duplicates
		// counts, so the process must get each name once, the last value,
		// and never a spec value for a layout variable.
		e := StartEnv(t, newDriver(t), `tr '\0' '\n' < /proc/$$/environ | grep -E '^(DUP|PATH|TMPDIR|LAMBDA_TASK_ROOT)=' | sort`,
			"PATH=/usr/local/bin:/usr/bin:/bin", "DUP=first", "DUP=second", "PATH=/usr/bin:/bin", "TMPDIR=/spec", "LAMBDA_TASK_ROOT=/spec")
		WaitExit(t, e.Env, 10*time.Second)
		e.WaitEOF(t, 10*time.Second)
		got := map[string][]string{}
		for line := range strings.Lines(e.Output(t)) {
			k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
			got[k] = append(got[k], v)
		}
		for _, k := range []string{"DUP", "PATH", "TMPDIR", "LAMBDA_TASK_ROOT"} {
			if len(got[k]) != 1 {
				t.Errorf("the process environment has %s %d times: %q; want once", k, len(got[k]), got[k])
			}
		}
		if v := got["DUP"]; len(v) == 0 || v[len(v)-1] != "second" {
			t.Errorf("DUP = %q; want the spec's last value %q", v, "second")
		}
		if v := got["PATH"]; len(v) == 0 || v[len(v)-1] != "/usr/bin:/bin" {
			t.Errorf("PATH = %q; want the spec's last value %q", v, "/usr/bin:/bin")
		}
		for _, k := range []string{"TMPDIR", "LAMBDA_TASK_ROOT"} {
			for _, v := range got[k] {
				if v == "/spec" {
					t.Errorf("%s = %q: the spec overrode a variable the driver sets", k, v)
				}
			}
		}
	})

	t.Run("OptDirReadOnlyAtOpt", func(t *testing.T) {
		opt := t.TempDir()
		if err := os.MkdirAll(opt+"/bin", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(opt+"/bin/layer.sh", []byte("#!/bin/bash\necho from the layer\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		spec := optSpec(t, `echo "opt=$OPT"; cat /proc/self/mountinfo >/dev/null; "$OPT/bin/layer.sh"; `+
			`PATH="$PATH:$OPT/bin" layer.sh; if touch "$OPT/new" 2>/dev/null; then echo writable; else echo readonly; fi`)
		spec.OptDir = opt
		e := StartSpec(t, newDriver(t), spec)
		WaitExit(t, e.Env, 10*time.Second)
		e.WaitEOF(t, 10*time.Second)
		got := e.Output(t)
		if n := strings.Count(got, "from the layer\n"); n != 2 {
			t.Errorf("output %q: the layer's program ran %d times; want 2 (by path, through PATH)", got, n)
		}
		wantOpt(t, got)
		if strings.Contains(got, "opt=/opt\n") && !strings.Contains(got, "readonly\n") {
			t.Errorf("output %q: /opt is writable; want read-only", got)
		}
		if _, err := os.Stat(opt + "/new"); err == nil {
			t.Errorf("the environment created a file in the host's OptDir")
		}
	})

	t.Run("NoOptDirIsEmptyOpt", func(t *testing.T) {
		e := StartSpec(t, newDriver(t), optSpec(t, `echo "opt=$OPT"; echo "entries=$(ls -A "$OPT" | wc -l)"`))
		WaitExit(t, e.Env, 10*time.Second)
		e.WaitEOF(t, 10*time.Second)
		got := e.Output(t)
		wantOpt(t, got)
		if !strings.Contains(got, "entries=0\n") {
			t.Errorf("output %q; want an empty /opt", got)
		}
	})

	t.Run("TmpIsWritable", func(t *testing.T) {
		e := Start(t, newDriver(t), `echo hi > "$TMPDIR/f" && cat "$TMPDIR/f"`)
		exit := WaitExit(t, e.Env, 10*time.Second)
		e.WaitEOF(t, 10*time.Second)
		if exit.Code != 0 || !strings.Contains(e.Output(t), "hi") {
			t.Errorf("writing to TMPDIR: exit %v, output %q", exit, e.Output(t))
		}
	})

	t.Run("RuntimeListenerServesOnlyTheEnvironment", func(t *testing.T) {
		// This test's process is outside the environment: whatever it
		// reaches at the listener's address must not be the environment's
		// Runtime API, which must still serve the environment's own
		// processes.
		e := Start(t, newDriver(t), `exec 3<>"/dev/tcp/${AWS_LAMBDA_RUNTIME_API%:*}/${AWS_LAMBDA_RUNTIME_API#*:}" && echo ping >&3 && read -r line <&3 && echo "got $line"; exec sleep 100`)
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
					if line, err := bufio.NewReader(c).ReadString('\n'); err == nil && line == "ping\n" {
						io.WriteString(c, "pong\n")
					}
				}()
			}
		}()
		if c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second); err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "ping\n")
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if line == "pong\n" {
				t.Errorf("a process outside the environment (%s) was served on its runtime listener", c.LocalAddr())
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Errorf("a connection from outside the environment was left open, neither served nor closed")
			}
		}
		e.WaitFor(t, "got pong\n")
	})

	t.Run("RuntimeListenerReachableInside", func(t *testing.T) {
		e := Start(t, newDriver(t), `exec 3<>"/dev/tcp/${AWS_LAMBDA_RUNTIME_API%:*}/${AWS_LAMBDA_RUNTIME_API#*:}" && echo ping >&3 && read -r line <&3 && echo "got $line"`)
		ln := e.Env.RuntimeListener()
		accepted := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				accepted <- err
				return
			}
			defer c.Close()
			line, err := bufio.NewReader(c).ReadString('\n')
			if err == nil && line == "ping\n" {
				_, err = io.WriteString(c, "pong\n")
			} else if err == nil {
				err = fmt.Errorf("read %q; want ping", line)
			}
			accepted <- err
		}()
		select {
		case err := <-accepted:
			if err != nil {
				t.Fatalf("serve runtime listener: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the environment never connected to its runtime listener")
		}
		WaitExit(t, e.Env, 10*time.Second)
		e.WaitEOF(t, 10*time.Second)
		if got := e.Output(t); !strings.Contains(got, "got pong") {
			t.Errorf("output = %q; want %q", got, "got pong")
		}
	})

	t.Run("DestroyKillsEveryProcess", func(t *testing.T) {
		// A background child keeps the output open; Output only reaches
		// EOF once every process holding it is dead.
		e := Start(t, newDriver(t), `(while true; do sleep 0.05; done) & echo started; wait`)
		e.WaitFor(t, "started")
		if err := e.Env.Destroy(t.Context()); err != nil {
			t.Fatalf("Destroy() = %v", err)
		}
		select {
		case <-e.Env.Done():
		default:
			t.Fatal("Destroy returned before Done was closed")
		}
		e.WaitEOF(t, 10*time.Second)
	})

	t.Run("DestroyIsIdempotent", func(t *testing.T) {
		e := Start(t, newDriver(t), "sleep 100")
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				if err := e.Env.Destroy(t.Context()); err != nil {
					t.Errorf("Destroy() = %v", err)
				}
			})
		}
		wg.Wait()
		if err := e.Env.Destroy(t.Context()); err != nil {
			t.Errorf("Destroy() after Destroy = %v", err)
		}
	})

	t.Run("MaxMemoryIsMeasured", func(t *testing.T) {
		e := Start(t, newDriver(t), "echo ready; sleep 100")
		e.WaitFor(t, "ready")
		if got := e.Env.MaxMemory(); got <= 0 {
			t.Errorf("MaxMemory() = %d; want > 0", got)
		}
	})

	t.Run("FreezeStopsProgress", func(t *testing.T) {
		e := Start(t, newDriver(t), `i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.01; done`)
		fz, ok := e.Env.(sandbox.Freezer)
		if !ok {
			t.Skip("driver does not implement sandbox.Freezer")
		}
		e.WaitFor(t, "tick 3")
		if err := fz.Freeze(t.Context()); err != nil {
			t.Fatalf("Freeze() = %v", err)
		}
		if err := fz.Freeze(t.Context()); err != nil {
			t.Fatalf("second Freeze() = %v", err)
		}
		time.Sleep(50 * time.Millisecond) // let output written before the freeze arrive
		before := e.Output(t)
		time.Sleep(300 * time.Millisecond)
		if after := e.Output(t); after != before {
			t.Fatalf("output grew while frozen: %d bytes -> %d bytes", len(before), len(after))
		}
		if err := fz.Thaw(t.Context()); err != nil {
			t.Fatalf("Thaw() = %v", err)
		}
		n := strings.Count(before, "tick")
		e.WaitFor(t, fmt.Sprintf("tick %d\n", n+3))
	})

	t.Run("DestroyFrozen", func(t *testing.T) {
		e := Start(t, newDriver(t), "echo ready; sleep 100")
		fz, ok := e.Env.(sandbox.Freezer)
		if !ok {
			t.Skip("driver does not implement sandbox.Freezer")
		}
		e.WaitFor(t, "ready")
		if err := fz.Freeze(t.Context()); err != nil {
			t.Fatalf("Freeze() = %v", err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := e.Env.Destroy(ctx); err != nil {
			t.Fatalf("Destroy() of a frozen env = %v", err)
		}
	})

	// Every driver runs environments of any account (isolating drivers
	// keep them apart; see the package doc of sandbox) and refuses an
	// account that is not a 12-digit id before doing anything.
	t.Run("Accounts", func(t *testing.T) {
		drv := newDriver(t)
		for _, account := range []string{"", "111111111111", "222222222222"} {
			code := t.TempDir()
			if err := os.WriteFile(code+"/code.txt", []byte("the code\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			e := StartSpec(t, drv, &sandbox.Spec{
				ID:       NewID(),
				Function: "sandboxtest",
				Account:  account,
				Cmd:      []string{"/bin/bash", "-c", `cat "$LAMBDA_TASK_ROOT/code.txt"`},
				Env:      []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
				CodeDir:  code,
			})
			if exit := WaitExit(t, e.Env, 10*time.Second); exit.Code != 0 {
				t.Errorf("account %q: Exit() = %+v; want code 0", account, exit)
			}
			e.WaitEOF(t, 10*time.Second)
			if got := e.Output(t); got != "the code\n" {
				t.Errorf("account %q: output = %q; want %q", account, got, "the code\n")
			}
		}
		for _, bad := range []string{"12345", "1111111111111", "11111111111a", "../111111111"} {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			env, err := drv.Start(t.Context(), &sandbox.Spec{
				ID: NewID(), Function: "sandboxtest", Account: bad,
				Cmd: []string{"/bin/true"}, CodeDir: t.TempDir(), Output: w,
			})
			w.Close()
			r.Close()
			if err == nil {
				env.Destroy(context.Background())
				t.Errorf("Start() with account %q = nil error; want it refused", bad)
			} else if !strings.Contains(err.Error(), "invalid account") {
				t.Errorf("Start() with account %q = %v; want an invalid account error", bad, err)
			}
		}
	})

	// A bootstrap the kernel refuses to execute fails Start with an
	// ExecError naming the exec's errno, and leaves nothing behind.
	t.Run("UnexecutableBootstrap", func(t *testing.T) {
		tests := []struct {
			name string
			data []byte
			want syscall.Errno
		}{
			{"missing interpreter", []byte("#!/nonexistent/interp\necho never\n"), syscall.ENOENT},
			{"foreign architecture", ForeignELF(), syscall.ENOEXEC},
		}
		drv := newDriver(t)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code := t.TempDir()
				if err := os.WriteFile(code+"/bootstrap", tt.data, 0o755); err != nil {
					t.Fatal(err)
				}
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				env, err := drv.Start(t.Context(), &sandbox.Spec{
					ID:       NewID(),
					Function: "sandboxtest",
					Cmd:      []string{"$LAMBDA_TASK_ROOT/bootstrap"},
					CodeDir:  code,
					Output:   w,
				})
				w.Close()
				if err == nil {
					env.Destroy(context.Background())
					t.Fatal("Start() = nil error; want an ExecError")
				}
				var xe *sandbox.ExecError
				if !errors.As(err, &xe) {
					t.Fatalf("Start() = %v (%T); want an *sandbox.ExecError", err, err)
				}
				if !errors.Is(err, tt.want) || !strings.HasSuffix(xe.Path, "/bootstrap") {
					t.Errorf("Start() = %v; want fork/exec .../bootstrap: %v", err, tt.want)
				}
				// Every process holding the output is gone.
				done := make(chan struct{})
				go func() { io.Copy(io.Discard, r); close(done) }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Error("output still open 10s after a failed Start: a process survived")
				}
			})
		}
	})
}

// runExtensions checks Spec.Extensions: each starts with the bootstrap,
// in its environment, with ExtensionEnv and without the runtime's layout
// variables, and its end (or failure to execute) is reported.
func runExtensions(t *testing.T, drv sandbox.Driver) {
	opt := t.TempDir()
	os.Chmod(opt, 0o755)
	os.Mkdir(opt+"/extensions", 0o755)
	os.WriteFile(opt+"/extensions/ok", []byte("#!/bin/bash\necho \"ext ok x=$X task=$LAMBDA_TASK_ROOT api=${AWS_LAMBDA_RUNTIME_API:+set} handler=$_HANDLER\"\n"+
		"echo \"ext identity $(id -u):$(id -g) $(readlink /proc/self/ns/net) $(readlink /proc/self/ns/pid) $(grep -E 'memory|pids' /proc/self/cgroup | sort | tr '\\n' ' ')\"\nsleep 0.2\nexit 5\n"), 0o755)
	os.WriteFile(opt+"/extensions/bad", ForeignELF(), 0o755)
	spec := optSpec(t, `echo "boot identity $(id -u):$(id -g) $(readlink /proc/self/ns/net) $(readlink /proc/self/ns/pid) $(grep -E 'memory|pids' /proc/self/cgroup | sort | tr '\n' ' ')"; sleep 30`)
	spec.OptDir = opt
	spec.Env = append(spec.Env, "_HANDLER=h")
	spec.Extensions = []string{sandbox.OptRef + "/extensions/ok", sandbox.OptRef + "/extensions/bad"}
	spec.ExtensionEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "X=1"}
	e := StartSpec(t, drv, spec)
	xw, ok := e.Env.(sandbox.ExtensionWatcher)
	if !ok {
		t.Fatalf("%T does not implement sandbox.ExtensionWatcher", e.Env)
	}
	got := map[string]sandbox.ExtensionExit{}
	for range 2 {
		select {
		case x := <-xw.ExtensionExits():
			got[x.Name] = x
		case <-time.After(10 * time.Second):
			t.Fatalf("extension exits so far %+v; want both", got)
		}
	}
	if x := got["ok"]; x.Exit.Code != 5 || x.Err != nil {
		t.Errorf("ok's exit = %+v; want exit status 5", x)
	}
	var xe *sandbox.ExecError
	if x := got["bad"]; !errors.As(x.Err, &xe) || !errors.Is(x.Err, syscall.ENOEXEC) {
		t.Errorf("bad's exit = %+v; want an ExecError with ENOEXEC", x)
	}
	e.WaitFor(t, "boot")
	if out := e.Output(t); !strings.Contains(out, "ext ok x=1 task= api=set handler=\n") {
		t.Errorf("output %q; want the extension's line with X, the Runtime API and no task root or handler", out)
	}
	// The same identity, network, pid namespace and cgroups as the
	// runtime: an extension can do nothing the runtime cannot.
	ident := map[string]string{}
	for line := range strings.Lines(e.Output(t)) {
		if who, rest, ok := strings.Cut(strings.TrimSpace(line), " identity "); ok {
			ident[who] = rest
		}
	}
	if ident["boot"] == "" || ident["ext"] != ident["boot"] {
		t.Errorf("extension's identity %q; want the bootstrap's %q", ident["ext"], ident["boot"])
	}
	select {
	case <-e.Env.Done():
		t.Errorf("the bootstrap ended with its extensions: %+v", e.Env.Exit())
	default:
	}
}

// runHoldBootstrap checks Spec.HoldBootstrap and sandbox.BootstrapStarter:
// the extensions run and the bootstrap does not until StartBootstrap; a
// bootstrap that cannot be executed fails StartBootstrap with an
// ExecError; StartBootstrap after Destroy starts nothing.
func runHoldBootstrap(t *testing.T, newDriver func(t *testing.T) sandbox.Driver) {
	opt := t.TempDir()
	os.Chmod(opt, 0o755)
	os.Mkdir(opt+"/extensions", 0o755)
	// The extension leaves a file for the bootstrap, looks for the one
	// the bootstrap leaves, and says what it found.
	os.WriteFile(opt+"/extensions/first", []byte(`#!/bin/bash
echo ext-was-first > "$TMPDIR/from-ext"
echo ext up
sleep 0.5
if [ -e "$TMPDIR/from-boot" ]; then echo ext saw the bootstrap; else echo ext saw no bootstrap; fi
sleep 30
`), 0o755)
	os.WriteFile(opt+"/extensions/quitter", []byte("#!/bin/bash\nexit 3\n"), 0o755)
	held := func(t *testing.T, script string) *sandbox.Spec {
		spec := optSpec(t, script)
		spec.OptDir = opt
		spec.Extensions = []string{sandbox.OptRef + "/extensions/first"}
		spec.ExtensionEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
		spec.HoldBootstrap = true
		return spec
	}
	starter := func(t *testing.T, env sandbox.Env) sandbox.BootstrapStarter {
		t.Helper()
		bs, ok := env.(sandbox.BootstrapStarter)
		if !ok {
			t.Fatalf("%T does not implement sandbox.BootstrapStarter", env)
		}
		return bs
	}

	t.Run("Release", func(t *testing.T) {
		spec := held(t, `touch "$TMPDIR/from-boot"; echo "boot ran, found $(cat "$TMPDIR/from-ext")"; sleep 30`)
		spec.Extensions = append(spec.Extensions, sandbox.OptRef+"/extensions/quitter")
		e := StartSpec(t, newDriver(t), spec)
		bs := starter(t, e.Env)
		e.WaitFor(t, "ext saw no bootstrap")
		// An extension's end is reported while the bootstrap is held.
		select {
		case x := <-e.Env.(sandbox.ExtensionWatcher).ExtensionExits():
			if x.Name != "quitter" || x.Exit.Code != 3 {
				t.Errorf("extension exit %+v; want quitter's exit status 3", x)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("no extension exit reported while the bootstrap is held")
		}
		if out := e.Output(t); strings.Contains(out, "boot ran") {
			t.Fatalf("output %q; the bootstrap ran before its release", out)
		}
		select {
		case <-e.Env.Done():
			t.Fatalf("Done closed while the bootstrap is held: %+v", e.Env.Exit())
		default:
		}
		if tr, ok := e.Env.(sandbox.Terminator); ok {
			if err := tr.Terminate(); err != nil {
				t.Errorf("Terminate() of a held bootstrap = %v; want nil", err)
			}
		}
		if err := bs.StartBootstrap(t.Context()); err != nil {
			t.Fatalf("StartBootstrap() = %v", err)
		}
		e.WaitFor(t, "boot ran, found ext-was-first")
		if err := bs.StartBootstrap(t.Context()); err != nil {
			t.Errorf("second StartBootstrap() = %v; want nil, doing nothing", err)
		}
		// It is the bootstrap as Start would have run it: its exit is
		// reported.
		if tr, ok := e.Env.(sandbox.Terminator); ok {
			if err := tr.Terminate(); err != nil {
				t.Fatalf("Terminate() = %v", err)
			}
			if exit := WaitExit(t, e.Env, 10*time.Second); exit.Signal != syscall.SIGTERM {
				t.Errorf("Exit() = %+v; want SIGTERM", exit)
			}
		}
		if strings.Count(e.Output(t), "boot ran") != 1 {
			t.Errorf("output %q; want the bootstrap to have run once", e.Output(t))
		}
	})

	t.Run("NotHeld", func(t *testing.T) {
		// Without HoldBootstrap the bootstrap starts at once, and
		// StartBootstrap does nothing.
		spec := held(t, "echo boot ran; sleep 30")
		spec.HoldBootstrap = false
		e := StartSpec(t, newDriver(t), spec)
		e.WaitFor(t, "boot ran")
		if bs, ok := e.Env.(sandbox.BootstrapStarter); ok {
			if err := bs.StartBootstrap(t.Context()); err != nil {
				t.Errorf("StartBootstrap() = %v; want nil", err)
			}
		}
		time.Sleep(100 * time.Millisecond)
		if n := strings.Count(e.Output(t), "boot ran"); n != 1 {
			t.Errorf("output %q; want the bootstrap to have run once", e.Output(t))
		}
	})

	t.Run("NotExecutable", func(t *testing.T) {
		spec := held(t, "")
		os.WriteFile(spec.CodeDir+"/bootstrap", ForeignELF(), 0o755)
		spec.Cmd = []string{"$LAMBDA_TASK_ROOT/bootstrap"}
		e := StartSpec(t, newDriver(t), spec)
		e.WaitFor(t, "ext up")
		err := starter(t, e.Env).StartBootstrap(t.Context())
		var xe *sandbox.ExecError
		if !errors.As(err, &xe) || !errors.Is(err, syscall.ENOEXEC) {
			t.Fatalf("StartBootstrap() = %v; want an ExecError with ENOEXEC", err)
		}
		WaitExit(t, e.Env, 10*time.Second)
	})

	t.Run("AfterDestroy", func(t *testing.T) {
		e := StartSpec(t, newDriver(t), held(t, "echo boot ran; sleep 30"))
		e.WaitFor(t, "ext up")
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := e.Env.Destroy(ctx); err != nil {
			t.Fatalf("Destroy() = %v", err)
		}
		WaitExit(t, e.Env, time.Second)
		if err := starter(t, e.Env).StartBootstrap(ctx); err == nil {
			t.Errorf("StartBootstrap() after Destroy = nil; want an error")
		}
		e.WaitEOF(t, 10*time.Second)
		if out := e.Output(t); strings.Contains(out, "boot ran") {
			t.Errorf("output %q; the bootstrap ran after Destroy", out)
		}
	})
}

// runDial checks sandbox.Dialer: the server reaches a listener on the
// environment's loopback.
func runDial(t *testing.T, drv sandbox.Driver) {
	// A system interpreter: an isolated root has the system directories,
	// not a version manager's shims.
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("needs /usr/bin/python3")
	}
	e := StartEnv(t, drv, py+` -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));s.listen();print("port",s.getsockname()[1],flush=True);c,_=s.accept();c.sendall(b"hello from inside");c.close()'`,
		"PATH=/usr/local/bin:/usr/bin:/bin")
	e.WaitFor(t, "\n")
	var port int
	if _, err := fmt.Sscanf(e.Output(t), "port %d", &port); err != nil {
		t.Fatalf("output %q: %v", e.Output(t), err)
	}
	d, ok := e.Env.(sandbox.Dialer)
	if !ok {
		t.Fatalf("%T does not implement sandbox.Dialer", e.Env)
	}
	c, err := d.Dial(t.Context(), fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("Dial() = %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	if string(b) != "hello from inside" {
		t.Errorf("read %q; want the environment's greeting", b)
	}
}

// ForeignELF returns the header of an executable for an architecture other
// than the host's (arm64 on other hosts, x86-64 on arm64): the kernel
// refuses to execute it with ENOEXEC, "exec format error", as it does a Go
// binary built with another GOARCH.
func ForeignELF() []byte {
	machine := uint16(183) // EM_AARCH64
	if runtime.GOARCH == "arm64" {
		machine = 62 // EM_X86_64
	}
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1               // 64-bit, little-endian, version 1
	binary.LittleEndian.PutUint16(h[16:], 2) // ET_EXEC
	binary.LittleEndian.PutUint16(h[18:], machine)
	binary.LittleEndian.PutUint32(h[20:], 1)  // EV_CURRENT
	binary.LittleEndian.PutUint16(h[52:], 64) // e_ehsize
	binary.LittleEndian.PutUint16(h[54:], 56) // e_phentsize
	return h
}

// Started is an environment under test with its captured output.
type Started struct {
	Env sandbox.Env

	mu  sync.Mutex
	out bytes.Buffer // guarded by mu
	eof chan struct{}
}

var idSeq struct {
	sync.Mutex
	n int
}

// optSpec is a spec running script with OPT set to sandbox.OptRef.
func optSpec(t *testing.T, script string) *sandbox.Spec {
	return &sandbox.Spec{
		ID:       NewID(),
		Function: "sandboxtest",
		Cmd:      []string{"/bin/bash", "-c", script},
		Env:      []string{"PATH=/usr/local/bin:/usr/bin:/bin", "OPT=" + sandbox.OptRef},
		CodeDir:  t.TempDir(),
		MemoryMB: 128,
		TmpMB:    64,
	}
}

// wantOpt checks that, as root on Linux, where every driver can, the
// environment saw OptRef as /opt.
func wantOpt(t *testing.T, out string) {
	t.Helper()
	if runtime.GOOS == "linux" && os.Geteuid() == 0 && !strings.Contains(out, "opt=/opt\n") {
		t.Errorf("output %q; want OptRef expanded to /opt as root on Linux", out)
	}
}

// NewID returns an environment id unique within the test binary.
func NewID() string {
	idSeq.Lock()
	defer idSeq.Unlock()
	idSeq.n++
	return fmt.Sprintf("st-%d-%d", os.Getpid(), idSeq.n)
}

// Start runs script with /bin/bash in a new environment of drv whose code
// directory holds code.txt. t.Cleanup destroys the environment.
func Start(t *testing.T, drv sandbox.Driver, script string) *Started {
	t.Helper()
	return StartEnv(t, drv, script, "USER_VAR=yes", "PATH=/usr/local/bin:/usr/bin:/bin")
}

// StartEnv is Start with env as the spec's Env.
func StartEnv(t *testing.T, drv sandbox.Driver, script string, env ...string) *Started {
	t.Helper()
	code := t.TempDir()
	if err := os.WriteFile(code+"/code.txt", []byte("the code\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Setenv("HEARTH_SANDBOXTEST_LEAK", "leaked")
	t.Cleanup(func() { os.Unsetenv("HEARTH_SANDBOXTEST_LEAK") })
	return StartSpec(t, drv, &sandbox.Spec{
		ID:         NewID(),
		Function:   "sandboxtest",
		Cmd:        []string{"/bin/bash", "-c", script},
		Env:        env,
		CodeDir:    code,
		RuntimeDir: t.TempDir(),
		MemoryMB:   128,
		TmpMB:      64,
	})
}

// StartSpec starts spec (whose Output it sets) on drv. t.Cleanup destroys
// the environment.
func StartSpec(t *testing.T, drv sandbox.Driver, spec *sandbox.Spec) *Started {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	spec.Output = w
	env, err := drv.Start(t.Context(), spec)
	w.Close()
	if err != nil {
		r.Close()
		t.Fatalf("Start() = %v", err)
	}
	s := &Started{Env: env, eof: make(chan struct{})}
	go func() {
		defer close(s.eof)
		defer r.Close()
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := env.Destroy(ctx); err != nil {
			t.Errorf("cleanup Destroy() = %v", err)
		}
		select {
		case <-s.eof:
		case <-time.After(10 * time.Second):
			t.Errorf("environment output still open 10s after Destroy: a process survived")
		}
	})
	return s
}

// Output returns what the environment has written so far.
func (s *Started) Output(t *testing.T) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// WaitFor waits up to 10 s until the output contains substr.
func (s *Started) WaitFor(t *testing.T, substr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.Output(t), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("output %q never contained %q", s.Output(t), substr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitEOF waits until every process holding the output has gone.
func (s *Started) WaitEOF(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-s.eof:
	case <-time.After(d):
		t.Fatalf("output still open after %v: a process survived", d)
	}
}

// WaitExit waits for the bootstrap to end and returns its exit.
func WaitExit(t *testing.T, env sandbox.Env, d time.Duration) sandbox.Exit {
	t.Helper()
	select {
	case <-env.Done():
		return env.Exit()
	case <-time.After(d):
		t.Fatalf("bootstrap still running after %v", d)
		return sandbox.Exit{}
	}
}
