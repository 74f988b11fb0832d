package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"hearth/internal/logs"
	"hearth/internal/runtimeapi"
	"hearth/internal/sandbox"
)

// errExited is the cause of an environment's context once its bootstrap
// has exited.
var errExited = errors.New("runtime exited")

// env is one execution environment and what serves it.
type env struct {
	id      string
	created time.Time
	stream  string // log stream name
	pool    *pool
	sb      sandbox.Env
	fz      sandbox.Freezer // nil when the driver cannot freeze
	rapi    *runtimeapi.Server
	capture *logs.Capture
	pf      logs.Platform // the function's log format and system level
	log     *slog.Logger
	revoke  func() // ends the environment's credentials; nil if none
	// ctx is canceled with errExited when the bootstrap exits; an
	// invocation's context derives from it, so a crash ends the wait.
	ctx    context.Context
	cancel context.CancelCauseFunc
	tasks  sync.WaitGroup // Serve, capture and exit watcher

	// Owned by whoever holds the env busy.
	frozen bool
	// initDuration is the init's, for the first invocation's Result (a
	// provisioned environment's first invocation is no cold start: 0).
	initDuration time.Duration
	// reportInit: that invocation's REPORT shows it as Init Duration (not
	// after an init retried as part of the invocation).
	reportInit bool

	lastUsed time.Time // guarded by pool.mu
	// provisioned marks an environment of the version's provisioned
	// concurrency: started ahead of traffic, never reaped for idleness.
	provisioned bool // guarded by pool.mu

	// deadline of the invocation in flight or just answered: extensions
	// may work on after the answer, until then. Owned like frozen.
	deadline time.Time

	extNames     []string      // external extensions started with the runtime
	held         atomic.Bool   // the sandbox holds the bootstrap until they register
	extLog       *logs.Capture // the extensions' output; nil without extensions
	extExited    chan struct{} // cap 1; an extension process ended
	extMu        sync.Mutex
	extGone      []string               // guarded by extMu; extensions whose process ended
	extCrash     *sandbox.ExtensionExit // guarded by extMu; the one that failed the environment
	shuttingDown bool                   // guarded by extMu; SHUTDOWN sent, exits are expected

	destroyOnce sync.Once
	destroyed   chan struct{} // closed when teardown is complete
}

// start launches the goroutines that serve the environment. w.envs counts
// the environment until its teardown completes.
func (w *Worker) startEnv(e *env) {
	w.envs.Add(1)
	e.destroyed = make(chan struct{})
	e.ctx, e.cancel = context.WithCancelCause(context.Background())
	e.tasks.Go(func() {
		if err := e.rapi.Serve(); err != nil {
			e.log.Warn("runtime api stopped", "err", err)
		}
	})
	if xw, ok := e.sb.(sandbox.ExtensionWatcher); ok && len(e.extNames) > 0 {
		e.extExited = make(chan struct{}, 1)
		e.tasks.Go(func() { w.watchExtensions(e, xw) })
	}
	e.capture.OnLine(func(line []byte) {
		if e.rapi.Subscribed() {
			e.rapi.Telemetry(runtimeapi.StreamFunction, runtimeapi.FunctionRecord(runtimeapi.StreamFunction, time.Now(), line))
		}
	})
	e.tasks.Go(e.capture.Run)
	if e.extLog != nil {
		e.extLog.OnLine(func(line []byte) {
			e.capture.Platform(string(line))
			if e.rapi.Subscribed() {
				e.rapi.Telemetry(runtimeapi.StreamExtension, runtimeapi.FunctionRecord(runtimeapi.StreamExtension, time.Now(), line))
			}
		})
		e.tasks.Go(e.extLog.Run)
	}
	e.tasks.Go(func() {
		select {
		case <-e.sb.Done():
			e.cancel(errExited)
			// An idle (frozen) environment that dies is simply dropped;
			// a busy one is handled by the invocation that sees errExited.
			if e.pool.removeIdle(e) {
				e.log.Debug("idle env exited", "exit", e.sb.Exit().String())
				w.destroy(e, "exited")
			}
		case <-e.destroyed:
		}
	})
}

// destroy tears e down in the background: it stops the Runtime API, kills
// every process, releases the sandbox and closes the output. It is
// idempotent.
func (w *Worker) destroy(e *env, reason string) {
	e.destroyOnce.Do(func() {
		e.log.Debug("destroying env", "reason", reason)
		e.pool.dies(e)
		go func() {
			defer w.envs.Done()
			w.shutdownExtensions(e, reason)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			e.rapi.Close()
			if err := e.sb.Destroy(ctx); err != nil {
				e.log.Warn("destroy env", "err", err)
			}
			e.cancel(errExited)
			if e.revoke != nil {
				e.revoke()
			}
			// Every process is gone: what they wrote last (a runtime's
			// SIGTERM handler, an extension's SHUTDOWN work) is still in
			// the pipes, which Run reads only every batchDelay. Log it
			// before closing them, the extensions' first, whose lines go
			// through the environment's capture.
			if e.extLog != nil {
				e.extLog.Flush()
			}
			e.capture.Flush()
			e.capture.Close()
			if e.extLog != nil {
				e.extLog.Close()
			}
			close(e.destroyed)
			e.tasks.Wait()
			e.pool.remove(e, false)
			w.dropIfEmpty(e.pool)
		}()
	})
}

// exited reports that e's bootstrap has exited.
func (e *env) exited() bool {
	select {
	case <-e.sb.Done():
		return true
	default:
		return false
	}
}

// freeze pauses e after an invocation if the driver can. It reports false
// if e is no longer usable.
func (e *env) freeze() bool {
	return e.freezeUnless(nil)
}

// errWanted cancels a freeze that a caller should not wait for.
var errWanted = errors.New("wanted by a caller")

// freezeUnless is freeze, given up if wanted is closed (or receives)
// before the driver reports every process of e stopped: e is then thawed
// again and stays usable, not frozen. Under load a freeze waits until
// every thread of the runtime has had a CPU to stop on, tens of
// milliseconds and more; a caller who needs e meanwhile would wait all of
// that and the thaw.
func (e *env) freezeUnless(wanted <-chan struct{}) bool {
	if e.fz == nil || e.frozen {
		return true
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	ctx, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	if wanted != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-wanted:
				cancel(errWanted)
			case <-done:
			}
		}()
	}
	err := e.fz.Freeze(ctx)
	if err == nil {
		e.frozen = true
		return true
	}
	if !errors.Is(context.Cause(ctx), errWanted) {
		e.log.Warn("freeze env", "err", err)
		return false
	}
	// Given up for a caller: undo what froze.
	tctx, tcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer tcancel()
	if err := e.fz.Thaw(tctx); err != nil {
		e.log.Warn("thaw env after a freeze given up", "err", err)
		return false
	}
	return true
}

// thaw resumes e before an invocation. It reports false if e is no longer
// usable.
func (e *env) thaw() bool {
	if e.fz == nil || !e.frozen {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.fz.Thaw(ctx); err != nil {
		e.log.Warn("thaw env", "err", err)
		return false
	}
	e.frozen = false
	return true
}
