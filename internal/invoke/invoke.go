// Package invoke is the front of the invocation path: it resolves what a
// caller addressed to one function version, enforces Lambda's payload
// limits and the account's concurrency limit, and hands synchronous
// requests to a Runner (the local worker, or in a cluster a remote one).
// The async pollers call the same Service, so an event runs exactly the way
// a synchronous call does.
package invoke

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"hearth/internal/function"
	"hearth/internal/worker"
)

// Limits of the Invoke API, in bytes.
const (
	MaxPayload       = 6 * 1024 * 1024
	MaxClientContext = 3583
)

// Errors Invoke returns; package api turns them into AWS errors.
var (
	ErrNotFound       = errors.New("function not found")
	ErrInvalidPayload = errors.New("invalid request content")
	ErrTooLarge       = errors.New("request too large")
	ErrThrottled      = errors.New("concurrency limit exceeded")
	ErrNotReady       = errors.New("function not ready")
	ErrInvalidParam   = errors.New("invalid parameter")
	// ErrQueueFull reports that the asynchronous queue is at its limit;
	// the event was not accepted.
	ErrQueueFull = errors.New("queue full")
)

// Configs gives the current configuration of functions. *store.Store
// satisfies it.
type Configs interface {
	Function(name string) (function.Config, error)
	Changed() <-chan struct{}
}

// Runner runs an invocation in an execution environment. *worker.Worker
// satisfies it.
type Runner interface {
	Invoke(ctx context.Context, req *worker.Request) (*worker.Result, error)
}

// Config configures a Service.
type Config struct {
	Region  string
	Account string
	// Concurrency is the server's concurrency limit, all accounts
	// together. Zero means 1000.
	Concurrency int
	// AccountConcurrency is each account's concurrency limit. Zero means
	// Concurrency.
	AccountConcurrency int
	// ReadyWait bounds how long an invocation of a Pending function (or
	// one whose update is in progress) waits for it. Zero means 10 s.
	ReadyWait time.Duration
}

// Service runs invocations.
type Service struct {
	cfg      Config
	configs  Configs
	runner   Runner
	queue    Queue // nil until SetQueue
	inflight atomic.Int64
	// perAccount counts the invocations in flight of each account
	// (*atomic.Int64 by account id); an account's counter, once made,
	// stays.
	perAccount sync.Map
}

// New returns a Service.
func New(cfg Config, configs Configs, runner Runner) *Service {
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1000
	}
	if cfg.ReadyWait == 0 {
		cfg.ReadyWait = 10 * time.Second
	}
	if cfg.AccountConcurrency == 0 || cfg.AccountConcurrency > cfg.Concurrency {
		cfg.AccountConcurrency = cfg.Concurrency
	}
	return &Service{cfg: cfg, configs: configs, runner: runner}
}

// Request is an invocation as a caller made it.
type Request struct {
	// FunctionName is any form Lambda accepts (name, name:qualifier, ARN).
	FunctionName string
	Qualifier    string
	// RequestID is the invocation's id; generated when empty.
	RequestID string
	Payload   []byte
	// ClientContext is the X-Amz-Client-Context header: base64 JSON.
	ClientContext string
	// DryRun only checks that the invocation would be accepted.
	DryRun bool
}

// Target is the function version an invocation resolved to.
type Target struct {
	Config     function.Config
	InvokedARN string
}

// Resolve finds the version req addresses, waiting (up to ReadyWait) while
// it is Pending or being updated.
func (s *Service) Resolve(ctx context.Context, functionName, qualifier string) (*Target, error) {
	ref, err := function.ParseRef(functionName)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidParam, err)
	}
	if ref.Qualifier != "" && qualifier != "" && ref.Qualifier != qualifier {
		return nil, fmt.Errorf("%w: The derived qualifier from the function name does not match the specified qualifier.", ErrInvalidParam)
	}
	if qualifier == "" {
		qualifier = ref.Qualifier
	}
	if qualifier != "" && !function.ValidQualifier(qualifier) {
		return nil, fmt.Errorf("%w: invalid qualifier %q", ErrInvalidParam, qualifier)
	}
	arn := function.ARN(s.cfg.Region, s.cfg.Account, ref.Name, qualifier)
	if qualifier != "" && qualifier != function.Latest {
		// Versions and aliases arrive with their own issue.
		return nil, fmt.Errorf("%w: Function not found: %s", ErrNotFound, arn)
	}
	if (ref.Account != "" && ref.Account != s.cfg.Account) || (ref.Region != "" && ref.Region != s.cfg.Region) {
		return nil, fmt.Errorf("%w: Function not found: %s", ErrNotFound, arn)
	}
	var deadline <-chan time.Time
	for {
		changed := s.configs.Changed()
		cfg, err := s.configs.Function(ref.Name)
		if err != nil {
			return nil, fmt.Errorf("%w: Function not found: %s", ErrNotFound, arn)
		}
		if cfg.Invocable() {
			return &Target{Config: cfg, InvokedARN: arn}, nil
		}
		if cfg.State == function.StateFailed {
			return nil, fmt.Errorf("%w: The function %s could not be activated: %s", ErrNotReady, ref.Name, cfg.StateReason)
		}
		if deadline == nil {
			t := time.NewTimer(s.cfg.ReadyWait)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-changed:
		case <-deadline:
			return nil, fmt.Errorf("%w: The operation cannot be performed at this time. The function is currently in the following state: %s", ErrNotReady, cfg.State)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Invoke runs req synchronously. A nil Result with a nil error means a
// successful DryRun.
func (s *Service) Invoke(ctx context.Context, req *Request) (*worker.Result, error) {
	if len(req.Payload) > MaxPayload {
		return nil, fmt.Errorf("%w: %d byte payload is too large for the RequestResponse invocation type (limit %d bytes)", ErrTooLarge, len(req.Payload), MaxPayload)
	}
	clientContext, err := decodeClientContext(req.ClientContext)
	if err != nil {
		return nil, err
	}
	payload, err := checkPayload(req.Payload)
	if err != nil {
		return nil, err
	}
	t, err := s.Resolve(ctx, req.FunctionName, req.Qualifier)
	if err != nil {
		return nil, err
	}
	if req.DryRun {
		return nil, nil
	}
	if n := s.inflight.Add(1); n > int64(s.cfg.Concurrency) {
		s.inflight.Add(-1)
		return nil, ErrThrottled
	}
	defer s.inflight.Add(-1)
	account := s.accountOf(&t.Config)
	if !s.acquireAccount(account) {
		return nil, ErrThrottled
	}
	defer s.releaseAccount(account)
	if req.RequestID == "" {
		req.RequestID = NewRequestID()
	}
	return s.runner.Invoke(ctx, &worker.Request{
		Function:      t.Config,
		RequestID:     req.RequestID,
		Payload:       payload,
		InvokedARN:    t.InvokedARN,
		ClientContext: clientContext,
	})
}

var emptyObject = []byte("{}")

// checkPayload enforces Lambda's rule that the payload is JSON. An empty
// payload becomes {}.
func checkPayload(p []byte) ([]byte, error) {
	if len(p) == 0 {
		return emptyObject, nil
	}
	if !json.Valid(p) {
		return nil, fmt.Errorf("%w: Could not parse request body into json: Could not parse payload into json: Unexpected character: was expecting a JSON value", ErrInvalidPayload)
	}
	return p, nil
}

func decodeClientContext(h string) (string, error) {
	if h == "" {
		return "", nil
	}
	if len(h) > MaxClientContext {
		return "", fmt.Errorf("%w: Client context must be less than or equal to %d bytes", ErrInvalidParam, MaxClientContext)
	}
	b, err := base64.StdEncoding.DecodeString(h)
	if err != nil || !json.Valid(b) {
		return "", fmt.Errorf("%w: Client context must be a valid Base64-encoded JSON object.", ErrInvalidPayload)
	}
	return string(b), nil
}

// NewRequestID returns a random UUID (version 4), Lambda's request id form.
// Request ids need to be unique, not secret: the runtime's generator
// (seeded from the system's) is enough and costs no system call.
func NewRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 36)
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hex[c>>4], hex[c&0xf]
		j += 2
	}
	return string(out)
}
