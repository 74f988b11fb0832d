package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"hearth/internal/function"
	"hearth/internal/logs"
	"hearth/internal/runtimeapi"
	"hearth/internal/runtimes"
	"hearth/internal/sandbox"
)

// Values of AWS_LAMBDA_INITIALIZATION_TYPE.
const (
	initOnDemand    = "on-demand"
	initProvisioned = "provisioned-concurrency"
)

// Phases of an init, as its records name them.
const (
	// phaseInit is an environment's init: ahead of traffic when
	// provisioned, as an on-demand cold start begins otherwise.
	phaseInit = "init"
	// phaseInvoke is the on-demand init that Lambda retries as part of
	// the first invocation, within its timeout, after the one of the init
	// phase failed or timed out.
	phaseInvoke = "invoke"
)

// initAttempt is one init of an environment: its type and phase, the log
// stream its lines go to, and its runtime, which its INIT_START names.
type initAttempt struct {
	logs.Init
	stream string
	rt     runtimes.Runtime // set by startEnvironment
}

// initStart renders the INIT_START line or platform.initStart record of
// in: the runtime's version and the RuntimeVersionArn that
// GetFunctionConfiguration reports.
func (w *Worker) initStart(p logs.Platform, in initAttempt) string {
	return p.InitStart(in.Init, in.rt.Version(), in.rt.VersionARN(w.cfg.Region))
}

// initFailure is an init that failed as the function's fault (an init
// error, a crash, a bootstrap that is missing or cannot be executed) or
// overran its time. Its lines, up to its INIT_REPORT, are logged; an
// invocation that reports it adds its own (see failedInit). Whoever gets
// one ends it with discardInit.
type initFailure struct {
	errorType string // "" when it timed out
	timedOut  bool
	// body is the error document an invocation that reports the failure
	// answers.
	body []byte
	// detail are the lines such an invocation logs after its START: the
	// runtime's exit and the error type, say.
	detail    []string
	dur       time.Duration
	maxMemory int64
	log       *initLog
	reason    string // why its environment goes
}

// initLog is where an init's lines go: its environment's output capture
// (and, for platform records, its telemetry subscribers) or, when no
// environment started, the log stream itself.
type initLog struct {
	e      *env // nil when no environment started
	fl     *logs.FunctionLog
	stream string
	pf     logs.Platform
	tail   []byte // without an environment, the lines logged
}

// platform logs a platform record.
func (l *initLog) platform(render func(logs.Platform) string) {
	if l.e != nil {
		l.e.platform(render)
		return
	}
	l.line(render(l.pf))
}

// line logs a line as it is stored: a rendered record (verbatim), or a
// line that is no platform record, such as the error of a runtime that
// exited, given as logs.TextLine makes it. An empty line (a record the
// system log level filtered out) is ignored.
func (l *initLog) line(s string) {
	switch {
	case l.e != nil:
		l.e.capture.Platform(s)
	case s != "":
		l.fl.Write(l.stream, s)
		l.tail = appendLine(l.tail, s)
	}
}

// takeTail returns what was logged since the last takeTail, for an
// invocation's tail.
func (l *initLog) takeTail() []byte {
	if l.e != nil {
		return l.e.capture.Tail()
	}
	t := l.tail
	l.tail = nil
	return t
}

// discardInit ends a failed init: its environment, if one started, is
// destroyed. It returns what the init logged since the last takeTail.
func (w *Worker) discardInit(f *initFailure) []byte {
	tail := f.log.takeTail()
	if f.log.e != nil {
		w.destroy(f.log.e, f.reason)
	}
	return tail
}

// drainInit ends a failed init whose log stream another init continues:
// its environment, if one started, is destroyed, and drainInit waits until
// everything the environment wrote on its way out (a runtime's SIGTERM
// handler, an extension's SHUTDOWN work) is logged, so that none of it
// lands among the next init's lines. It returns what the init logged since
// the last takeTail, those lines included.
func (w *Worker) drainInit(f *initFailure) []byte {
	if e := f.log.e; e != nil {
		w.destroy(e, f.reason)
		<-e.destroyed // the capture is flushed and closed
	}
	return f.log.takeTail()
}

// failInit logs the end of init in, which failed as f says: what the init
// wrote, then lines (an extension's EXTENSION line, say), the
// platform.initRuntimeDone record if the runtime had started, and
// INIT_REPORT. The environment, if any, stays for the caller to discard,
// so that its telemetry subscribers get the invocation's records too.
func (w *Worker) failInit(in initAttempt, l *initLog, f *initFailure, runtimeStarted bool, lines ...string) *initFailure {
	f.log = l
	if l.e != nil {
		l.e.capture.Flush()
		f.maxMemory = l.e.sb.MaxMemory()
	}
	for _, s := range lines {
		l.line(s)
	}
	status, typ := "error", cmp.Or(f.errorType, "Runtime.Unknown")
	switch {
	case f.timedOut && in.Phase == phaseInvoke:
		// The retry ran into the function's timeout: Lambda reports an
		// error of no known type (the invocation then times out).
		f.errorType = ""
	case f.timedOut:
		status, typ = "timeout", ""
	default:
		f.errorType = typ
	}
	if runtimeStarted {
		l.platform(func(p logs.Platform) string { return p.InitRuntimeDone(in.Init, status, typ) })
	}
	l.platform(func(p logs.Platform) string { return p.InitReport(in.Init, f.dur, status, typ) })
	return f
}

// noEnvLog is the log of an init that failed before an environment
// started: it begins with the init's INIT_START, which an environment's
// log has had since it started.
func (w *Worker) noEnvLog(cfg *function.Config, in initAttempt) *initLog {
	l := &initLog{fl: w.logs.Log(cfg.LogKey(w.cfg.Account), cfg.LogGroup), stream: in.stream, pf: platformLog(cfg)}
	l.platform(func(p logs.Platform) string { return w.initStart(p, in) })
	return l
}

// startEnvironment starts an environment for req's version in p and waits
// at most initTimeout for its init, in. It returns the environment ready,
// for the caller to record in p (p.started, p.addProvisioned); or the
// init's failure, logged up to its INIT_REPORT, for the caller to end with
// discardInit; or an error when the platform failed. It leaves p's count
// of starts to the caller.
func (w *Worker) startEnvironment(p *pool, req *Request, initTimeout time.Duration, in initAttempt) (_ *env, _ *initFailure, err error) {
	cfg := &req.Function
	rt, found := runtimes.Lookup(cfg.Runtime)
	if !found {
		return nil, nil, fmt.Errorf("%w: %s", runtimes.ErrUnavailable, cfg.Runtime)
	}
	in.rt = rt
	launch, err := w.rts.Launch(rt)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	codeDir, err := w.code.dir(ctx, cfg.CodeSha256)
	if err != nil {
		return nil, nil, err
	}
	optDir, err := w.code.optDir(ctx, cfg.Layers)
	if err != nil {
		return nil, nil, err
	}
	if err := runtimes.CheckCode(rt, codeDir); err != nil {
		if optDir == "" || runtimes.CheckCode(rt, optDir) != nil {
			const typ = "Runtime.InvalidEntrypoint"
			msg := "RequestId: " + req.RequestID + " Error: " + errorMessage(err)
			f := &initFailure{errorType: typ, body: errorDocument(typ, msg), detail: []string{msg, typ}}
			return nil, w.failInit(in, w.noEnvLog(cfg, in), f, false), nil
		}
		// A custom runtime delivered as a layer: /opt/bootstrap.
		launch.Cmd = []string{sandbox.OptRef + "/" + runtimes.Bootstrap}
	}

	fnLog := w.logs.Log(cfg.LogKey(w.cfg.Account), cfg.LogGroup)
	capture, out, err := logs.NewCapture(fnLog, in.stream)
	if err != nil {
		return nil, nil, err
	}
	id := newID("e-")
	log := w.log.With("function", cfg.Name, "version", cfg.Version, "env", id)
	cmd, wrapped := wrapperCmd(cfg.Environment, rt.ExecutionEnv() != "", launch.Cmd)
	vars, revoke := w.credentials(cfg)
	defer func() {
		if err != nil && revoke != nil {
			revoke()
		}
	}()
	spec := &sandbox.Spec{
		ID:         id,
		Function:   cfg.Name,
		Account:    cfg.Account,
		Cmd:        cmd,
		Env:        append(withInitType(environ(cfg, rt, launch, in.stream, w.cfg.Region), in.Type), vars...),
		CodeDir:    codeDir,
		RuntimeDir: launch.RuntimeDir,
		// The layers' merge, or a directory a test hands in.
		OptDir:    cmp.Or(req.OptDir, optDir),
		HostPaths: launch.HostPaths,
		Zygote:    zygoteOf(rt, wrapped, cfg.Environment),
		Stem:      stemOf(rt, wrapped, cfg.Environment),
		MemoryMB:  cfg.MemorySize,
		TmpMB:     cfg.Ephemeral,
		Output:    out,
	}
	extNames, err := discoverExtensions(spec.OptDir)
	if err != nil {
		capture.Close()
		return nil, nil, err
	}
	for _, n := range extNames {
		spec.Extensions = append(spec.Extensions, sandbox.OptRef+"/extensions/"+n)
	}
	// Lambda starts the runtime once every external extension has
	// registered, so that the function's init finds their services up:
	// the driver holds the bootstrap until then. Without extensions it
	// starts at once.
	spec.HoldBootstrap = len(extNames) > 0
	var extCapture *logs.Capture
	if len(extNames) > 0 {
		spec.ExtensionEnv = extensionEnviron(spec.Env)
		// The extensions' output has a pipe of its own, so that their
		// lines go to telemetry subscribers as the extension stream;
		// they join the function's log in order with its own lines.
		var extOut *os.File
		if extCapture, extOut, err = logs.NewCapture(nil, ""); err != nil {
			capture.Close()
			return nil, nil, err
		}
		spec.ExtensionOutput = extOut
	}
	began := time.Now()
	sb, err := w.drv.Start(ctx, spec)
	out.Close()
	if spec.ExtensionOutput != nil {
		spec.ExtensionOutput.Close()
	}
	if err != nil {
		capture.Close()
		if extCapture != nil {
			extCapture.Close()
		}
		if revoke != nil {
			revoke()
			revoke = nil
		}
		var xe *sandbox.ExecError
		if errors.As(err, &xe) {
			log.Debug("bootstrap not executable", "err", err)
			f := w.notExecutable(req, xe, launch.Cmd, wrapped)
			f.dur = time.Since(began)
			return nil, w.failInit(in, w.noEnvLog(cfg, in), f, true), nil
		}
		return nil, nil, fmt.Errorf("start environment: %w", err)
	}
	// Init Duration, as on Lambda, is the init phase as the function
	// sees it: from the bootstrap's exec (Start returns once it has
	// happened) or, with extensions, from theirs to the first GET /next
	// of the runtime and every extension. The sandbox's setup is logged
	// apart.
	t0 := time.Now()
	setup := t0.Sub(began)
	fz, _ := sb.(sandbox.Freezer)
	rcfg := runtimeapi.Config{
		// Each extension holds a connection or two (its event/next and
		// its other calls) besides the runtime's.
		MaxConns: 16 + 2*len(extNames),
		Function: runtimeapi.Function{Name: cfg.Name, Version: cfg.Version, Handler: cfg.Handler, Account: cmp.Or(cfg.Account, w.cfg.Account)},
		External: extNames,
		// HEARTH_RUNTIMEAPI_NETHTTP=1 serves the Runtime API with
		// net/http alone, for comparing the fast path with it.
		NetHTTPOnly: netHTTPOnly,
	}
	if d, ok := sb.(sandbox.Dialer); ok {
		rcfg.Dial = d.Dial
	}
	e := &env{
		created:  time.Now(),
		id:       id,
		stream:   in.stream,
		pool:     p,
		sb:       sb,
		fz:       fz,
		rapi:     runtimeapi.NewServer(sb.RuntimeListener(), rcfg, log.With("component", "runtimeapi")),
		capture:  capture,
		pf:       platformLog(cfg),
		log:      log,
		extNames: extNames,
		extLog:   extCapture,
		revoke:   revoke,
	}
	revoke = nil // e's now: destroy revokes
	el := &initLog{e: e}
	// INIT_START (platform.initStart in JSON) begins the init's log, as on
	// Lambda: nothing reads what the environment writes before startEnv
	// starts the capture, so its first line comes after this one.
	capture.Platform(w.initStart(e.pf, in))
	// A held bootstrap starts once the extensions have registered.
	var registered <-chan struct{}
	bs, _ := sb.(sandbox.BootstrapStarter)
	if spec.HoldBootstrap && bs != nil {
		e.held.Store(true)
		registered = e.rapi.ExternalsRegistered()
	}
	w.startEnv(e)
	log.Debug("sandbox started", "dur", setup)

	timer := time.NewTimer(initTimeout)
	defer timer.Stop()
	for initDone := false; !initDone; {
		initDone = true
		select {
		case <-registered:
			registered, initDone = nil, false
			sctx, scancel := context.WithDeadline(ctx, t0.Add(initTimeout))
			err := bs.StartBootstrap(sctx)
			scancel()
			if err == nil {
				e.held.Store(false)
				log.Debug("extensions registered; bootstrap started", "dur", time.Since(t0))
				continue
			}
			var xe *sandbox.ExecError
			if errors.As(err, &xe) {
				log.Debug("bootstrap not executable", "err", err)
				f := w.notExecutable(req, xe, launch.Cmd, wrapped)
				f.dur, f.reason = time.Since(t0), "bootstrap not executable"
				return nil, w.failInit(in, el, f, true), nil
			}
			// The environment ended as the bootstrap was released (an
			// extension crashed, or the sandbox died), or the release
			// overran init: the cases below report it.
			log.Debug("start bootstrap", "err", err)
		case res := <-e.rapi.Init():
			initDur := time.Since(t0)
			if x := res.Extension; x != nil {
				// An extension reported that its init failed.
				const typ = "Extension.InitError"
				msg := "RequestId: " + req.RequestID + " Error: extension " + x.Name + " failed to initialize: " + x.Type
				var events []string
				for _, info := range e.rapi.Extensions() {
					if info.Name == x.Name {
						events = info.Events
					}
				}
				f := &initFailure{errorType: typ, body: errorDocument(typ, msg), dur: initDur, reason: "extension init error"}
				return nil, w.failInit(in, el, f, !e.held.Load(), e.pf.Extension(x.Name, "InitError", events, x.Type)), nil
			}
			if res.Err != nil {
				// The runtime reported the failure and exits.
				f := &initFailure{errorType: res.Err.ErrorType, body: append([]byte(nil), res.Err.Body...), dur: initDur, reason: "init error"}
				res.Err.Release()
				return nil, w.failInit(in, el, f, true), nil
			}
			e.initDuration = initDur
			// On Lambda the first invocation's REPORT has the Init Duration
			// of an init phase that went well, not of a retry within it.
			e.reportInit = in.Phase == phaseInit
			if b, ok := sb.(sandbox.InitBooster); ok {
				if err := b.EndInit(ctx); err != nil {
					w.destroy(e, "end init")
					return nil, nil, fmt.Errorf("end init boost: %w", err)
				}
			}
			// What the init wrote comes before the EXTENSION lines and
			// the first START.
			e.capture.Flush()
			e.logExtensions()
			// The log has had INIT_START since the environment started;
			// subscribers, now that they are there, get its record.
			e.toSubscribers(func(p logs.Platform) string { return w.initStart(p, in) })
			e.platform(func(p logs.Platform) string { return p.InitRuntimeDone(in.Init, "success", "") })
			// A successful init's report: Lambda writes platform.initReport
			// in JSON (captured: "status":"success","metrics":{"durationMs":
			// 173.778} after initRuntimeDone) and sends it to subscribers,
			// but no INIT_REPORT line in Text, where the REPORT carries the
			// Init Duration.
			e.platform(func(p logs.Platform) string {
				if !p.JSON() {
					return ""
				}
				return p.InitReport(in.Init, initDur, "success", "")
			})
			log.Debug("env initialised", "dur", initDur)
		case <-e.ctx.Done():
			if x := e.crashed(); x != nil {
				// An extension exited before init completed.
				e.capture.Flush()
				typ, msg, line := e.extensionFailure(req.RequestID, x)
				f := &initFailure{errorType: typ, body: errorDocument(typ, msg), detail: []string{msg}, dur: time.Since(t0), reason: "extension crashed during init"}
				return nil, w.failInit(in, el, f, !e.held.Load(), line), nil
			}
			return nil, w.exitedDuringInit(e, req, in, t0), nil
		case <-e.sb.Done():
			return nil, w.exitedDuringInit(e, req, in, t0), nil
		case <-timer.C:
			if missing := e.rapi.Unregistered(); len(missing) > 0 {
				log.Debug("init timed out before every extension registered", "unregistered", missing)
			}
			f := &initFailure{timedOut: true, dur: initTimeout, reason: "init timeout"}
			return nil, w.failInit(in, el, f, !e.held.Load()), nil
		case <-w.quit:
			w.destroy(e, "shutdown")
			return nil, nil, ErrClosed
		}
	}
	return e, nil, nil
}

// notExecutable is the failure of a bootstrap the kernel refused to
// execute: the function's fault.
func (w *Worker) notExecutable(req *Request, xe *sandbox.ExecError, cmd []string, wrapped bool) *initFailure {
	if wrapped {
		// Lambda runs the wrapper through a shell: one that does not
		// exist ends the runtime with status 127.
		typ, msg := exitError(req.RequestID, sandbox.Exit{Code: 127})
		return &initFailure{errorType: typ, body: errorDocument(typ, msg), detail: []string{msg, typ}}
	}
	// Lambda reports it as Runtime.InvalidEntrypoint, naming the path as
	// the function sees it.
	path := sandbox.ExpandOpt(sandbox.Expand(cmd[:1], sandbox.TaskRoot, sandbox.RuntimeDir), sandbox.OptDir)[0]
	msg := "RequestId: " + req.RequestID + " Error: " + (&sandbox.ExecError{Path: path, Err: xe.Err}).Error()
	const typ = "Runtime.InvalidEntrypoint"
	return &initFailure{errorType: typ, body: errorDocument(typ, msg), detail: []string{msg, typ}}
}

// exitedDuringInit is the failure of a runtime that exited before init
// completed.
func (w *Worker) exitedDuringInit(e *env, req *Request, in initAttempt, t0 time.Time) *initFailure {
	<-e.sb.Done()
	typ, msg := exitError(req.RequestID, e.sb.Exit())
	f := &initFailure{errorType: typ, body: errorDocument(typ, msg), detail: []string{msg, typ}, dur: time.Since(t0), reason: "exited during init"}
	return w.failInit(in, &initLog{e: e}, f, !e.held.Load())
}

// zygoteOf is the zygote that may start a runtime's bootstrap: Python's,
// unless AWS_LAMBDA_EXEC_WRAPPER runs something else first or the
// function sets a variable the interpreter reads as it starts (such as
// PYTHONPATH or LANG): no value of a function's ever reaches a zygote.
// The driver checks the rest (the command is the runtime's own, no layers
// or extensions).
func zygoteOf(rt runtimes.Runtime, wrapped bool, vars map[string]string) string {
	if stem := stemOf(rt, wrapped, vars); stem == "python" {
		return stem
	}
	return ""
}

// stemOf is the managed runtime whose interpreter a driver may have
// started ahead of time for a runtime's bootstrap (sandbox.Spec.Stem):
// Python's or Node's, under the rules of zygoteOf (no exec wrapper, no
// variable of the function's that the interpreter reads as it starts: no
// value of a function's ever reaches a stem before its start message).
func stemOf(rt runtimes.Runtime, wrapped bool, vars map[string]string) string {
	if wrapped {
		return ""
	}
	var stem string
	switch rt.Kind {
	case runtimes.Python:
		stem = "python"
	case runtimes.Node:
		stem = "node"
	default:
		return ""
	}
	for k := range vars {
		if sandbox.StartVar(k) {
			return ""
		}
	}
	return stem
}

// errorMessage strips the sentinel prefix from err's text.
func errorMessage(err error) string {
	msg := err.Error()
	if i := len(runtimes.ErrInvalidEntrypoint.Error()) + 2; len(msg) > i && errors.Is(err, runtimes.ErrInvalidEntrypoint) {
		return msg[i:]
	}
	return msg
}

// logStreamName is Lambda's YYYY/MM/DD/[VERSION]<32 hex>.
func logStreamName(t time.Time, version string) string {
	return t.UTC().Format("2006/01/02") + "/[" + version + "]" + newID("") + newID("")
}

// credentials returns the variables that give an environment of cfg its
// temporary credentials and Hearth's endpoint, and the func that revokes
// the credentials (nil when there are none).
func (w *Worker) credentials(cfg *function.Config) ([]string, func()) {
	var vars []string
	var revoke func()
	hearth := true
	if w.cfg.Credentials != nil {
		vars, hearth, revoke = w.cfg.Credentials(w.accountOf(cfg), cfg.Role, cfg.Name)
	}
	// With an AWS account's credentials the function calls AWS itself.
	if w.cfg.Endpoint != "" && hearth {
		for _, k := range []string{"AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_LOGS"} {
			if _, own := cfg.Environment[k]; !own {
				vars = append(vars, k+"="+w.cfg.Endpoint)
			}
		}
	}
	return vars, revoke
}

// accountOf is the account cfg belongs to; configurations stored before
// accounts belong to the default one.
func (w *Worker) accountOf(cfg *function.Config) string {
	if cfg.Account != "" {
		return cfg.Account
	}
	return w.cfg.Account
}

// environ builds the runtime's environment variables (lambda-api.md §6.3)
// with Lambda's precedence: the function's variables replace the defaults
// that are not reserved (on Lambda a function that sets PATH, PYTHONPATH or
// NODE_PATH gets its value, not an extension of the default), and never
// Lambda's reserved ones (the API refuses them; a configuration stored
// before a name became reserved does not override either).
func environ(cfg *function.Config, rt runtimes.Runtime, launch runtimes.Launch, stream, region string) []string {
	var env sandbox.Environ
	// Defaults the function may replace.
	env.Add(
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		// /opt is sandbox.OptRef, which the driver replaces with where
		// the layers are: /opt, unless it cannot show them there.
		"PATH=/usr/local/bin:/usr/bin/:/bin:"+sandbox.OptRef+"/bin",
		"LD_LIBRARY_PATH=/lib64:/usr/lib64:$LAMBDA_RUNTIME_DIR:$LAMBDA_RUNTIME_DIR/lib:$LAMBDA_TASK_ROOT:$LAMBDA_TASK_ROOT/lib:"+sandbox.OptRef+"/lib",
		// The runtime starts in the task root, and says so.
		"PWD=$LAMBDA_TASK_ROOT",
		// Present even without tracing: X-Ray SDKs read them (Appendix E).
		"AWS_XRAY_CONTEXT_MISSING=LOG_ERROR",
		"AWS_XRAY_DAEMON_ADDRESS=169.254.79.129:2000",
		"_AWS_XRAY_DAEMON_ADDRESS=169.254.79.129",
		"_AWS_XRAY_DAEMON_PORT=2000",
	)
	env.Add(launch.Env...)
	// The function's own, in a stable order.
	for _, k := range slices.Sorted(maps.Keys(cfg.Environment)) {
		if !slices.Contains(function.ReservedEnv, k) {
			env.Set(k, cfg.Environment[k])
		}
	}
	// Lambda's reserved variables, which nothing overrides.
	env.Add(
		"_HANDLER="+cfg.Handler,
		"AWS_LAMBDA_FUNCTION_NAME="+cfg.Name,
		"AWS_LAMBDA_FUNCTION_VERSION="+cfg.Version,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(cfg.MemorySize),
		"AWS_LAMBDA_LOG_GROUP_NAME="+cfg.LogGroupName(),
		"AWS_LAMBDA_LOG_STREAM_NAME="+stream,
		"AWS_LAMBDA_INITIALIZATION_TYPE="+initOnDemand,
		"AWS_REGION="+region,
		"AWS_DEFAULT_REGION="+region,
	)
	if x := rt.ExecutionEnv(); x != "" {
		env.Set("AWS_EXECUTION_ENV", x)
	}
	if app, _ := cfg.LogLevels(); cfg.LogFormat == "JSON" {
		env.Set("AWS_LAMBDA_LOG_FORMAT", "JSON")
		env.Set("AWS_LAMBDA_LOG_LEVEL", app)
	}
	return env.List()
}

// withInitType sets AWS_LAMBDA_INITIALIZATION_TYPE in env (environ's
// list) to initType.
func withInitType(env []string, initType string) []string {
	const k = "AWS_LAMBDA_INITIALIZATION_TYPE="
	for i, kv := range env {
		if strings.HasPrefix(kv, k) {
			env[i] = k + initType
		}
	}
	return env
}

var netHTTPOnly = os.Getenv("HEARTH_RUNTIMEAPI_NETHTTP") == "1"
