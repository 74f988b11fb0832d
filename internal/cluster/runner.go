package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"hearth/internal/invoke"
	"hearth/internal/placement"
	"hearth/internal/worker"
)

// ErrWorkerLost says the worker running an invocation went away (its
// connection broke) before answering. The API answers it as a
// ServiceException (500).
var ErrWorkerLost = errors.New("the worker running the invocation was lost")

// placeWait bounds how long an invocation waits for a worker with room
// (one that joins, or a heartbeat that shows room again) before it is
// throttled.
const placeWait = 3 * time.Second

// Runner is the api role's invoke.Runner: it places each invocation on a
// worker of the cluster and sends it there; streamed ones
// (Request.Stream) too, chunk by chunk (remote_stream.go).
type Runner struct {
	reg    *placement.Registry
	local  invoke.Runner
	client *http.Client
	token  string // presented to workers (SharedToken)
	log    *slog.Logger

	self listing // this node's own environments (listing.go)
}

// NewRunner returns a Runner; local runs what cannot go remote, token is
// what workers require of it (SharedToken).
func NewRunner(local invoke.Runner, token string, log *slog.Logger) *Runner {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Runner{
		reg:    placement.New(placement.Config{}),
		local:  local,
		client: &http.Client{Transport: tr},
		token:  token,
		log:    log.With("component", "cluster"),
	}
}

// Workers lists the workers the runner knows.
func (r *Runner) Workers() []placement.WorkerState { return r.reg.Workers() }

// Run feeds the registry from the workers' announcements on nc and sweeps
// it every second until ctx is done.
func (r *Runner) Run(ctx context.Context, nc *nats.Conn) error {
	sub, err := nc.Subscribe(Subject, func(m *nats.Msg) {
		a, err := placement.DecodeAnnounce(m.Data)
		if err != nil {
			r.log.Warn("worker announcement refused", "err", err)
			return
		}
		r.reg.Apply(a)
	})
	if err != nil {
		return fmt.Errorf("subscribe to worker announcements: %w", err)
	}
	defer sub.Unsubscribe()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.client.CloseIdleConnections()
			return nil
		case <-t.C:
			r.reg.Sweep()
		}
	}
}

// Invoke places req on a worker and runs it there.
func (r *Runner) Invoke(ctx context.Context, req *worker.Request) (*worker.Result, error) {
	if req.Stream != nil {
		return r.invokeStream(ctx, req)
	}
	fn := req.Function
	key := Key(fn.Account, fn.Name, fn.Version)
	t, err := r.place(ctx, key, fn.MemorySize)
	if err != nil {
		return nil, err
	}
	var body bytes.Buffer
	body.Grow(len(req.Payload) + 4096)
	if err := writeFrame(&body, invokeMeta{
		Function:        fn,
		RequestID:       req.RequestID,
		InvokedARN:      req.InvokedARN,
		ClientContext:   req.ClientContext,
		CognitoIdentity: req.CognitoIdentity,
		TraceID:         req.TraceID,
	}, req.Payload); err != nil {
		r.reg.Done(t, false)
		return nil, err
	}
	// The worker enforces the function's timeout; this only bounds a
	// worker that is cut off without its connection breaking.
	cctx, cancel := context.WithTimeout(ctx, time.Duration(fn.Timeout)*time.Second+30*time.Second)
	defer cancel()
	hreq, err := http.NewRequestWithContext(cctx, http.MethodPost, "http://"+t.Addr+invokePath, &body)
	if err != nil {
		r.reg.Done(t, false)
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/octet-stream")
	hreq.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := r.client.Do(hreq)
	if err != nil {
		return nil, r.lost(ctx, t, req.RequestID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.reg.Done(t, false)
		return nil, fmt.Errorf("worker %s answered %s", t.Worker, resp.Status)
	}
	var m resultMeta
	payload, err := readFrame(resp.Body, &m, maxFrame)
	if err != nil {
		return nil, r.lost(ctx, t, req.RequestID, err)
	}
	if m.Err != "" {
		r.reg.Done(t, false)
		if m.Closed {
			return nil, fmt.Errorf("worker %s: %w", t.Worker, worker.ErrClosed)
		}
		return nil, fmt.Errorf("worker %s: %s", t.Worker, m.Err)
	}
	// A crash or timeout destroys the environment; anything else leaves
	// it warm.
	r.reg.Done(t, !strings.HasPrefix(m.ErrorType, "Sandbox.") && !strings.HasPrefix(m.ErrorType, "Runtime."))
	r.log.Debug("invoked on worker", "request_id", req.RequestID, "worker", t.Worker, "warm", t.Warm, "cached", t.Cached, "cold_start", m.ColdStart)
	return &worker.Result{
		Payload:         payload,
		FunctionError:   m.FunctionError,
		ErrorType:       m.ErrorType,
		ExecutedVersion: m.ExecutedVersion,
		Log:             m.Log,
		Duration:        m.Duration,
		InitDuration:    m.InitDuration,
		ColdStart:       m.ColdStart,
	}, nil
}

// place places key, waiting up to placeWait for room.
func (r *Runner) place(ctx context.Context, key string, memMB int) (placement.Ticket, error) {
	deadline := time.Now().Add(placeWait)
	for {
		t, err := r.reg.Place(key, memMB)
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, placement.ErrNoCapacity) || time.Now().After(deadline) {
			return placement.Ticket{}, fmt.Errorf("%w: no worker of the cluster has room (%v)", invoke.ErrThrottled, err)
		}
		select {
		case <-ctx.Done():
			return placement.Ticket{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lost handles a broken connection to a worker: unless the caller gave
// up, the worker is out of placement until it announces itself again, and
// the invocation fails at once.
func (r *Runner) lost(ctx context.Context, t placement.Ticket, requestID string, err error) error {
	if ctx.Err() != nil {
		r.reg.Done(t, false)
		return ctx.Err()
	}
	r.reg.Done(t, false)
	r.reg.Refused(t) // full until its next heartbeat, which a dead worker never sends
	r.log.Warn("worker lost mid-invocation", "request_id", requestID, "worker", t.Worker, "addr", t.Addr, "err", err)
	return fmt.Errorf("%w: worker %s: %v", ErrWorkerLost, t.Worker, err)
}
