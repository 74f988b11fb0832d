package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"hearth/internal/logs"
	"hearth/internal/runtimeapi"
	"hearth/internal/sandbox"
)

// errExtensionCrash is the cause of an environment's context once one of
// its external extensions has exited outside of a shutdown.
var errExtensionCrash = errors.New("extension crashed")

// Shutdown budgets (lambda-api.md §5): external extensions get 2 s in all
// after SHUTDOWN, an environment with internal extensions only 500 ms.
const (
	shutdownExternal = 2 * time.Second
	shutdownInternal = 500 * time.Millisecond
	// shutdownRuntime is the runtime's share of the external budget
	// after SIGTERM.
	shutdownRuntime = 300 * time.Millisecond
)

// telemetry renders platform events for Telemetry API subscribers: every
// record, whatever the function's log format and level.
var telemetry = logs.NewPlatform("JSON", "DEBUG")

// discoverExtensions lists the external extensions of an environment
// whose /opt is optDir: the executable files in its extensions directory,
// by name, as Lambda starts them.
func discoverExtensions(optDir string) ([]string, error) {
	if optDir == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(filepath.Join(optDir, "extensions"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list extensions: %w", err)
	}
	var names []string
	for _, de := range ents {
		fi, err := os.Stat(filepath.Join(optDir, "extensions", de.Name()))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			continue
		}
		names = append(names, de.Name())
	}
	return names, nil
}

// hiddenFromExtensions are the runtime's variables Lambda does not give
// extensions (lambda-api.md §5).
var hiddenFromExtensions = []string{
	"AWS_EXECUTION_ENV", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
	"AWS_XRAY_CONTEXT_MISSING", "AWS_XRAY_DAEMON_ADDRESS", "LAMBDA_RUNTIME_DIR",
	"LAMBDA_TASK_ROOT", "_AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_PORT", "_HANDLER",
}

// extensionEnviron is the extensions' environment: the runtime's without
// what Lambda hides from them.
func extensionEnviron(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(hiddenFromExtensions, k)
	})
}

// platform logs a platform record in the function's format and hands it,
// in the Telemetry API's, to subscribed extensions.
func (e *env) platform(render func(logs.Platform) string) {
	e.capture.Platform(render(e.pf))
	e.toSubscribers(render)
}

// toSubscribers hands a platform record to subscribed extensions only.
func (e *env) toSubscribers(render func(logs.Platform) string) {
	if e.rapi.Subscribed() {
		e.rapi.Telemetry(runtimeapi.StreamPlatform, []byte(render(telemetry)))
	}
}

// watchExtensions follows the external extensions' processes: one that
// exits outside of a shutdown has crashed, which fails the environment
// (an invocation in flight sees errExtensionCrash; an idle environment is
// dropped).
func (w *Worker) watchExtensions(e *env, xw sandbox.ExtensionWatcher) {
	for range len(e.extNames) {
		var x sandbox.ExtensionExit
		select {
		case x = <-xw.ExtensionExits():
		case <-e.destroyed:
			return
		}
		e.extMu.Lock()
		e.extGone = append(e.extGone, x.Name)
		shutting := e.shuttingDown
		if !shutting && e.extCrash == nil {
			e.extCrash = &x
		}
		e.extMu.Unlock()
		select {
		case e.extExited <- struct{}{}:
		default:
		}
		if shutting {
			continue
		}
		e.log.Debug("extension exited", "extension", x.Name, "exit", x.Exit.String(), "err", x.Err)
		e.cancel(errExtensionCrash)
		if e.pool.removeIdle(e) {
			w.destroy(e, "extension crashed")
		}
	}
}

// crashed returns the extension exit that failed e, or nil.
func (e *env) crashed() *sandbox.ExtensionExit {
	e.extMu.Lock()
	defer e.extMu.Unlock()
	return e.extCrash
}

// extensionFailure is the error type, message and log line of a crashed
// extension.
func (e *env) extensionFailure(requestID string, x *sandbox.ExtensionExit) (typ, msg, line string) {
	typ = "Extension.Crash"
	detail := x.Exit.String()
	state := "Crashed"
	if x.Err != nil {
		typ, state, detail = "Extension.LaunchError", "LaunchError", x.Err.Error()
	}
	msg = "RequestId: " + requestID + " Error: extension " + x.Name + " exited: " + detail
	var events []string
	for _, info := range e.rapi.Extensions() {
		if info.Name == x.Name {
			events = info.Events
		}
	}
	return typ, msg, e.pf.Extension(x.Name, state, events, typ)
}

// logExtensions writes an EXTENSION line for each registered extension, as
// Lambda does at the end of init.
func (e *env) logExtensions() {
	for _, info := range e.rapi.Extensions() {
		e.platform(func(p logs.Platform) string { return p.Extension(info.Name, "Ready", info.Events, "") })
	}
}

// shutdownReason maps why an environment is destroyed to SHUTDOWN's
// reason.
func shutdownReason(why string) string {
	switch {
	case strings.Contains(why, "Sandbox.Timedout"), strings.Contains(why, "timeout"):
		return runtimeapi.ShutdownTimeout
	case strings.Contains(why, "failed"), strings.Contains(why, "exited"), strings.Contains(why, "crash"), strings.Contains(why, "error"):
		return runtimeapi.ShutdownFailure
	}
	return runtimeapi.ShutdownSpindown
}

// shutdownExtensions gives e's extensions their SHUTDOWN before the
// environment is killed: thawed, the telemetry still buffered delivered,
// then SHUTDOWN with a deadline of 2 s (500 ms with internal extensions
// only) and SIGTERM to the runtime, as Lambda does when an extension has
// registered. It waits until each extension that asked for SHUTDOWN has
// come back to event/next or exited, and the runtime has exited or had
// its share (300 ms, 500 ms with internal extensions only), or the
// deadline.
func (w *Worker) shutdownExtensions(e *env, why string) {
	exts := e.rapi.Extensions()
	if len(exts) == 0 {
		return
	}
	e.extMu.Lock()
	e.shuttingDown = true
	e.extMu.Unlock()
	budget, runtimeShare := shutdownInternal, shutdownInternal
	var waitFor []string // external extensions that asked for SHUTDOWN
	for _, x := range exts {
		if x.External {
			budget, runtimeShare = shutdownExternal, shutdownRuntime
			if slices.Contains(x.Events, "SHUTDOWN") {
				waitFor = append(waitFor, x.Name)
			}
		}
	}
	deadline := time.Now().Add(budget)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if e.fz != nil {
		if err := e.fz.Thaw(ctx); err != nil {
			e.log.Warn("thaw for shutdown", "err", err)
			return
		}
	}
	fctx, fcancel := context.WithTimeout(ctx, budget/2)
	e.rapi.FlushTelemetry(fctx)
	fcancel()
	done := e.rapi.Shutdown(shutdownReason(why), deadline)
	runtimeDone := e.sb.Done()
	if t, ok := e.sb.(sandbox.Terminator); ok {
		if err := t.Terminate(); err != nil {
			e.log.Debug("terminate runtime", "err", err)
		}
	} else {
		runtimeDone = nil // nothing to wait for
	}
	if e.held.Load() {
		runtimeDone = nil // never started
	}
	share := time.NewTimer(runtimeShare)
	defer share.Stop()
	extsDone := e.allExited(waitFor)
	for !extsDone || runtimeDone != nil {
		select {
		case <-done:
			extsDone = true
		case <-e.extExited:
			extsDone = extsDone || e.allExited(waitFor)
		case <-runtimeDone:
			runtimeDone = nil
		case <-share.C:
			runtimeDone = nil // its share is over; it is killed with the rest
		case <-ctx.Done():
			e.log.Debug("extensions overran their shutdown")
			return
		}
	}
}

// allExited reports whether every extension in names has exited.
func (e *env) allExited(names []string) bool {
	e.extMu.Lock()
	defer e.extMu.Unlock()
	for _, n := range names {
		if !slices.Contains(e.extGone, n) {
			return false
		}
	}
	return true
}

// wrapperCmd puts AWS_LAMBDA_EXEC_WRAPPER, if the function sets it, in
// front of a managed runtime's command. A wrapper under /opt or /var/task
// is written with sandbox.OptRef or $LAMBDA_TASK_ROOT, which the driver
// resolves wherever it puts them.
func wrapperCmd(env map[string]string, managed bool, cmd []string) ([]string, bool) {
	wrapper := env["AWS_LAMBDA_EXEC_WRAPPER"]
	if !managed || wrapper == "" {
		return cmd, false
	}
	if rest, ok := strings.CutPrefix(wrapper, sandbox.OptDir+"/"); ok {
		wrapper = sandbox.OptRef + "/" + rest
	} else if rest, ok := strings.CutPrefix(wrapper, sandbox.TaskRoot+"/"); ok {
		wrapper = "$LAMBDA_TASK_ROOT/" + rest
	}
	return append([]string{wrapper}, cmd...), true
}
