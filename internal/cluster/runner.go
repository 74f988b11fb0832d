package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
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

	mu sync.Mutex
	// plain holds the addresses of workers that announced a listener
	// without TLS (--cluster-tls=off), with when they last did; every
	// other worker is dialled with https.
	plain map[string]time.Time // guarded by mu

	self listing // this node's own environments (listing.go)
}

// NewRunner returns a Runner; local runs what cannot go remote, token is
// what workers require of it (SharedToken), ca what their certificates
// are checked against (ClusterCA).
func NewRunner(local invoke.Runner, token string, ca *CA, log *slog.Logger) *Runner {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		TLSClientConfig:     ca.ClientConfig(),
		TLSHandshakeTimeout: 5 * time.Second,
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
		plain:  map[string]time.Time{},
	}
}

// url is the URL of path on the worker at addr: https unless the worker
// announced a plain listener.
func (r *Runner) url(addr, path string) string {
	r.mu.Lock()
	_, plain := r.plain[addr]
	r.mu.Unlock()
	if plain {
		return "http://" + addr + path
	}
	return "https://" + addr + path
}

// noteScheme records how the worker of a reaches its listener.
func (r *Runner) noteScheme(a placement.Announce, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.PlainHTTP {
		r.plain[a.Addr] = now
	} else {
		delete(r.plain, a.Addr)
	}
	// Forget plain workers silent for long (gone, or a new one since).
	for addr, seen := range r.plain {
		if now.Sub(seen) > time.Minute {
			delete(r.plain, addr)
		}
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
		r.noteScheme(a, time.Now())
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

// maxRefusals bounds how many workers may turn one invocation down (no
// room, draining, unreachable) before it is throttled.
const maxRefusals = 4

// Invoke places req on a worker and runs it there. A worker that refuses
// it (fuller than this node's view, or draining) or cannot be reached
// has run nothing of it: the invocation is placed again, on another
// worker, up to maxRefusals times. A streamed invocation (req.Stream) is
// sent to the worker's stream endpoint (sendStream).
func (r *Runner) Invoke(ctx context.Context, req *worker.Request) (*worker.Result, error) {
	send := r.send
	if req.Stream != nil {
		send = r.sendStream
	}
	fn := req.Function
	key := Key(fn.Account, fn.Name, fn.Version)
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
		return nil, err
	}
	deadline := time.Now().Add(placeWait)
	var except []string
	for {
		t, err := r.place(ctx, key, fn.MemorySize, deadline, except)
		if err != nil {
			return nil, err
		}
		res, err := send(ctx, t, req, body.Bytes())
		var ref *refusal
		if !errors.As(err, &ref) {
			return res, err
		}
		except = append(except, t.Worker)
		if len(except) > maxRefusals {
			return nil, fmt.Errorf("%w: %d workers turned the invocation down, the last: %v", invoke.ErrThrottled, len(except), err)
		}
		r.log.Debug("placing the invocation again", "request_id", req.RequestID, "refused_by", t.Worker, "why", ref.why)
	}
}

// refusal says that a worker ran nothing of an invocation: it refused it
// (no room, draining) or could not be reached.
type refusal struct {
	worker, why string
}

func (e *refusal) Error() string { return "worker " + e.worker + " refused the invocation: " + e.why }

// send runs the invocation framed in body on the worker of t, and settles
// t. It returns a *refusal when nothing of it ran there.
func (r *Runner) send(ctx context.Context, t placement.Ticket, req *worker.Request, body []byte) (*worker.Result, error) {
	fn := &req.Function
	// The worker enforces the function's timeout; this only bounds a
	// worker that is cut off without its connection breaking.
	cctx, cancel := context.WithTimeout(ctx, time.Duration(fn.Timeout)*time.Second+30*time.Second)
	defer cancel()
	resp, err := r.post(ctx, cctx, t, invokePath, req.RequestID, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
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
	return m.result(payload), nil
}

// post sends an invocation framed in body to path on the worker of t,
// bounded by cctx (ctx is the caller's). Unless it returns a response
// with status 200, it has settled t, and the error is a *refusal when
// nothing reached the worker or the worker ran nothing, ErrWorkerLost
// when the connection broke.
func (r *Runner) post(ctx, cctx context.Context, t placement.Ticket, path, requestID string, body []byte) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(cctx, http.MethodPost, r.url(t.Addr, path), bytes.NewReader(body))
	if err != nil {
		r.reg.Done(t, false)
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/octet-stream")
	hreq.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := r.client.Do(hreq)
	if err != nil {
		if ctx.Err() == nil && neverSent(err) {
			// Nothing reached the worker: it is gone (or not yet
			// listening). Full until its next heartbeat, which a dead
			// worker never sends.
			r.reg.Done(t, false)
			r.reg.Refused(t)
			r.log.Warn("worker unreachable; placing the invocation elsewhere", "request_id", requestID, "worker", t.Worker, "addr", t.Addr, "err", err)
			return nil, &refusal{worker: t.Worker, why: "unreachable: " + err.Error()}
		}
		return nil, r.lost(ctx, t, requestID, err)
	}
	if ref := r.refusedBy(t, resp); ref != nil {
		resp.Body.Close()
		return nil, ref
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		r.reg.Done(t, false)
		return nil, fmt.Errorf("worker %s answered %s", t.Worker, resp.Status)
	}
	return resp, nil
}

// refusedBy settles t and returns the refusal when the worker's answer
// resp says it ran nothing (no room, draining); else nil.
func (r *Runner) refusedBy(t placement.Ticket, resp *http.Response) *refusal {
	why := resp.Header.Get(refusedHeader)
	if resp.StatusCode != http.StatusServiceUnavailable || why == "" {
		return nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	r.reg.Done(t, false)
	if why == refusedDraining {
		r.reg.Draining(t)
	} else {
		r.reg.Refused(t)
	}
	return &refusal{worker: t.Worker, why: why}
}

// neverSent reports whether err says the request never left: the
// connection to the worker could not be made.
func neverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	// The worker's certificate did not verify, or it does not speak TLS:
	// the request was not sent.
	var verr *tls.CertificateVerificationError
	var rerr tls.RecordHeaderError
	return errors.As(err, &verr) || errors.As(err, &rerr)
}

// place places key, waiting until deadline for room. The workers in except
// turned this invocation down already; when nobody else has room, they
// count again as this node's view has them (Refused marks a full one full
// until its next heartbeat, Draining takes a draining one out).
func (r *Runner) place(ctx context.Context, key string, memMB int, deadline time.Time, except []string) (placement.Ticket, error) {
	for {
		t, err := r.reg.PlaceExcept(key, memMB, except)
		if errors.Is(err, placement.ErrNoCapacity) && len(except) > 0 {
			t, err = r.reg.Place(key, memMB)
		}
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

// Drain asks the worker id (as this node's registry knows it) to drain:
// it refuses new invocations, finishes those in flight, tears its
// environments down and exits. It returns how many invocations the worker
// had in flight.
func (r *Runner) Drain(ctx context.Context, id string) (inFlight int, err error) {
	var addr string
	for _, w := range r.reg.Workers() {
		if w.ID == id {
			addr = w.Addr
		}
	}
	if addr == "" {
		return 0, fmt.Errorf("%w: %s", placement.ErrUnknownWorker, id)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url(addr, drainPath), nil)
	if err != nil {
		return 0, err
	}
	hreq.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := r.client.Do(hreq)
	if err != nil {
		return 0, fmt.Errorf("drain worker %s at %s: %w", id, addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("drain worker %s at %s: it answered %s", id, addr, resp.Status)
	}
	var a drainAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&a); err != nil {
		return 0, fmt.Errorf("drain worker %s: %w", id, err)
	}
	r.log.Info("worker asked to drain", "worker", id, "addr", addr, "in_flight", a.InFlight, "already", a.Already)
	return a.InFlight, nil
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
