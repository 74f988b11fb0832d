package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func TestIdleTeardown(t *testing.T) {
	s := startServer(t, "", "--idle-timeout", "1s")
	s.create(t, "idle", goFn())
	r := s.invoke(t, "idle", map[string]any{"op": "tmp"})
	env := str(t, r.decode(t), "env_id")
	if got := s.environments(t); len(got) != 1 || got[0]["log_stream"] != env {
		t.Fatalf("live environments = %v; want the one that ran", got)
	}
	// Warm reuse keeps /tmp.
	if got, _ := s.invoke(t, "idle", map[string]any{"op": "tmp"}).decode(t)["tmp"].(string); got != "x" {
		t.Errorf("/tmp state on warm reuse = %q; want x", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(s.environments(t)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("environment still live 10s after a 1s idle timeout: %v", s.environments(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if left := s.functionPids(); len(left) > 0 {
		t.Errorf("processes left after idle teardown: %v", left)
	}
	if envs, _ := os.ReadDir(filepath.Join(s.DataDir, "envs")); len(envs) != 0 {
		t.Errorf("process driver scratch directories left after idle teardown: %d", len(envs))
	}
	// The next invocation cold-starts with a fresh /tmp.
	r = s.invoke(t, "idle", map[string]any{"op": "tmp"})
	m := r.decode(t)
	if tmp, _ := m["tmp"].(string); str(t, m, "env_id") == env || tmp != "" || !strings.Contains(r.Log, "Init Duration") {
		t.Errorf("after idle teardown: %s; want a new environment, an empty /tmp and a cold start", r.Payload)
	}
}

func TestThrottling(t *testing.T) {
	s := startServer(t, "", "--concurrency", "1")
	s.create(t, "slow", goFn())
	done := make(chan error, 1)
	go func() {
		_, err := s.tryInvoke(context.Background(), s.Client, "slow", map[string]any{"op": "sleep", "ms": 1500})
		done <- err
	}()
	eventually(t, 10*time.Second, "the first invocation is running", func() bool { return s.hasEnv(t, "slow", "busy") })
	_, err := s.tryInvoke(t.Context(), s.NoRetry, "slow", map[string]any{"op": "echo"})
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonConcurrentInvocationLimitExceeded {
		t.Errorf("second concurrent invoke at concurrency 1 = %v; want TooManyRequestsException (ConcurrentInvocationLimitExceeded)", err)
	}
	if err := <-done; err != nil {
		t.Errorf("first invoke = %v", err)
	}
	// The SDK's default retries get through once the slot is free.
	if r := s.invoke(t, "slow", map[string]any{"op": "echo"}); r.FunctionError != "" {
		t.Errorf("invoke after the slot freed = %s", r.Payload)
	}
}

func TestRestartKeepsFunctions(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.create(t, "persist", goFn())
	f := pythonFn(t)
	s.create(t, "persist-py", f)
	first := s.invoke(t, "persist", map[string]any{"op": "echo"})
	s.Stop()

	s = startServer(t, dir)
	got, err := s.Client.GetFunction(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String("persist")})
	if err != nil || got.Configuration.State != types.StateActive {
		t.Fatalf("GetFunction() after restart = %v, %v", got, err)
	}
	r := s.invoke(t, "persist", map[string]any{"op": "echo"})
	if r.FunctionError != "" || num(t, r.decode(t), "counter") != 1 || str(t, r.decode(t), "env_id") == str(t, first.decode(t), "env_id") {
		t.Errorf("invoke after restart = %s; want a fresh environment answering", r.Payload)
	}
	needRuntime(t, f.runtime)
	if r := s.invoke(t, "persist-py", map[string]any{"op": "echo"}); r.FunctionError != "" {
		t.Errorf("python invoke after restart = %s", r.Payload)
	}
}

// TestCrashRecovery: after SIGKILL the next server on the same directory
// serves the functions, and the environments of the killed one are gone.
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.create(t, "crashy", goFn())
	s.invoke(t, "crashy", map[string]any{"op": "echo"})
	pids := s.functionPids()
	if len(pids) == 0 {
		t.Fatal("found no process of the warm environment")
	}
	s.Kill()
	s = startServer(t, dir)
	// The kernel kills the children of a dead server (Pdeathsig); a frozen
	// environment is killed by the next start, which cleans up debris.
	for _, p := range pids {
		pid, _ := strconv.Atoi(strings.SplitN(p, ":", 2)[0])
		waitGone(t, pid)
	}
	if r := s.invoke(t, "crashy", map[string]any{"op": "echo"}); r.FunctionError != "" {
		t.Errorf("invoke after a crash = %s", r.Payload)
	}
}

// TestShutdownLetsInFlightFinish: SIGTERM waits for a running invocation,
// then removes every environment (Stop checks no process is left).
func TestShutdownLetsInFlightFinish(t *testing.T) {
	s := startServer(t, "")
	s.create(t, "inflight", goFn())
	for _, rc := range runtimeCases[1:] {
		f := rc.fn(t)
		if !hostRuntimes(t)[f.runtime].Available {
			continue
		}
		s.create(t, "warm-"+rc.name, f)
		s.invoke(t, "warm-"+rc.name, map[string]any{"op": "echo"})
	}
	s.invoke(t, "inflight", map[string]any{"op": "echo"}) // warm
	// Once the warm environment is idle, its turning busy again means the
	// next invocation has it.
	eventually(t, 10*time.Second, "the warm environment is idle", func() bool { return s.hasEnv(t, "inflight", "idle") })
	done := make(chan *invoked, 1)
	go func() {
		r, err := s.tryInvoke(context.Background(), s.NoRetry, "inflight", map[string]any{"op": "sleep", "ms": 1000})
		if err != nil {
			t.Errorf("in-flight invoke = %v", err)
		}
		done <- r
	}()
	eventually(t, 10*time.Second, "the invocation is in flight", func() bool { return s.hasEnv(t, "inflight", "busy") })
	s.Stop()
	if r := <-done; r == nil || r.FunctionError != "" {
		t.Errorf("in-flight invocation during shutdown = %+v; want it to finish", r)
	}
	if envs, _ := os.ReadDir(filepath.Join(s.DataDir, "envs")); len(envs) != 0 {
		t.Errorf("process driver scratch directories left after shutdown: %d", len(envs))
	}
}

func TestLogsCommand(t *testing.T) {
	s := startServer(t, "")
	s.create(t, "logged", goFn())
	r := s.invoke(t, "logged", map[string]any{"op": "print", "text": "hello-log", "n": 2})
	out, err := s.cli(t.Context(), "logs", "logged").CombinedOutput()
	if err != nil {
		t.Fatalf("hearth logs: %v\n%s", err, out)
	}
	for _, want := range []string{"gofn init", "START RequestId:", "hello-log 0", "hello-log 1", "END RequestId:", "REPORT RequestId:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("hearth logs output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(r.Log, "hello-log 1") {
		t.Errorf("Tail log lacks the function's output:\n%s", r.Log)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := s.cli(ctx, "logs", "logged", "--follow", "--tail", "1")
	pipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	// The follower prints the stored tail first, after it has subscribed,
	// so that line shows the follow is live before the new invocation.
	var mu sync.Mutex
	var acc strings.Builder
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 64<<10)
		for {
			n, err := pipe.Read(buf)
			mu.Lock()
			acc.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return acc.String()
	}
	eventually(t, 10*time.Second, "hearth logs --follow printed the stored tail", func() bool { return strings.Contains(output(), "REPORT RequestId:") })
	s.invoke(t, "logged", map[string]any{"op": "print", "text": "followed-line"})
	eventually(t, 10*time.Second, "hearth logs --follow showed the new line", func() bool { return strings.Contains(output(), "followed-line 0") })
	cancel()
	<-readDone

	// A deleted function's log stays readable, as its log group does on
	// AWS; a name that never had one is not found.
	if _, err := s.Client.DeleteFunction(t.Context(), &lambda.DeleteFunctionInput{FunctionName: aws.String("logged")}); err != nil {
		t.Fatal(err)
	}
	out, err = s.cli(t.Context(), "logs", "logged").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "followed-line 0") {
		t.Errorf("hearth logs of a deleted function: %v\n%s\nwant its log", err, out)
	}
	if out, err := s.cli(t.Context(), "logs", "never-was").CombinedOutput(); err == nil {
		t.Errorf("hearth logs of a function that never existed succeeded:\n%s", out)
	}
}

// TestInitRetryStaysInService: an init that overruns Lambda's 10 s is
// retried within the invocation; the retried environment then serves the
// next invocation warm, is listed, goes with DeleteFunction, and does not
// hold up shutdown.
func TestInitRetryStaysInService(t *testing.T) {
	s := startServer(t, "", "--shutdown-timeout", "5s")
	f := goFn()
	f.timeout = 30
	f.zip = zipFiles(map[string]zipFile{
		"bootstrap": {data: []byte("#!/bin/sh\nsleep 10.5\nexec \"$LAMBDA_TASK_ROOT/fn\"\n"), mode: 0o755},
		"fn":        {data: goFnBin, mode: 0o755},
	})
	s.create(t, "slowinit", f)

	began := time.Now()
	first := s.invoke(t, "slowinit", map[string]any{"op": "echo"})
	if first.FunctionError != "" || time.Since(began) < 10*time.Second {
		t.Fatalf("first invoke = %s %s after %v; want success after the init retry", first.FunctionError, first.Payload, time.Since(began))
	}
	env := str(t, first.decode(t), "env_id")
	if got := s.environments(t); len(got) != 1 || got[0]["log_stream"] != env {
		t.Errorf("environments after the retried init = %v; want the one that ran (%s)", got, env)
	}

	began = time.Now()
	second := s.invoke(t, "slowinit", map[string]any{"op": "echo"})
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("second invoke took %v; want it warm", d)
	}
	if second.FunctionError != "" || str(t, second.decode(t), "env_id") != env {
		t.Errorf("second invoke = %s %s; want the retried environment %s, warm", second.FunctionError, second.Payload, env)
	}

	if _, err := s.Client.DeleteFunction(t.Context(), &lambda.DeleteFunctionInput{FunctionName: aws.String("slowinit")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(s.environments(t)) > 0 || len(s.functionPids()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("10s after DeleteFunction: environments %v, processes %v; want none", s.environments(t), s.functionPids())
		}
		time.Sleep(20 * time.Millisecond)
	}
	began = time.Now()
	s.Stop()
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("shutdown took %v; want it within --shutdown-timeout 5s", d)
	}
}

// TestShutdownTimeoutBoundsInvocations: an invocation that runs past
// --shutdown-timeout does not hold up SIGTERM much beyond it.
func TestShutdownTimeoutBoundsInvocations(t *testing.T) {
	s := startServer(t, "", "--shutdown-timeout", "2s")
	f := goFn()
	f.timeout = 60
	s.create(t, "long", f)
	s.invoke(t, "long", map[string]any{"op": "echo"}) // warm
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.tryInvoke(context.Background(), s.NoRetry, "long", map[string]any{"op": "sleep", "ms": 30000})
	}()
	time.Sleep(500 * time.Millisecond)
	began := time.Now()
	s.Stop()
	// The HTTP server's budget, then the worker's drain: two timeouts.
	if d := time.Since(began); d > 8*time.Second {
		t.Errorf("shutdown with a 30 s invocation in flight took %v; want about 2 × --shutdown-timeout 2s", d)
	}
	<-done
}
