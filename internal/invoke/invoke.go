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
	// ErrReservedThrottled is ErrThrottled by the function's own reserved
	// concurrency (all of it busy, or none reserved: 0).
	ErrReservedThrottled = fmt.Errorf("%w: the function's reserved concurrency", ErrThrottled)
	ErrNotReady          = errors.New("function not ready")
	ErrInvalidParam      = errors.New("invalid parameter")
	// ErrQueueFull reports that the asynchronous queue is at its limit;
	// the event was not accepted.
	ErrQueueFull = errors.New("queue full")
)

// Configs gives the current configuration of functions. *store.Store
// satisfies it.
type Configs interface {
	Version(account, name, version string) (function.Config, error)
	Alias(account, name, alias string) (function.Alias, error)
	// Functions returns every account's functions at $LATEST.
	Functions() []function.Config
	Changed() <-chan struct{}
}

// Runner runs an invocation in an execution environment. *worker.Worker
// satisfies it.
type Runner interface {
	Invoke(ctx context.Context, req *worker.Request) (*worker.Result, error)
}

// Limiter shares concurrency limits among the nodes of a cluster
// (*grants.Holder). Acquire takes one of limit slots named key for an
// invocation that ends by until, or reports false: the limit is reached
// across the cluster, or other nodes hold what is free (throttling may be
// early, never late). The caller calls release once when the invocation
// ends.
type Limiter interface {
	Acquire(ctx context.Context, key string, limit int, until time.Time) (release func(), ok bool)
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
	cfg     Config
	configs Configs
	runner  Runner
	queue   Queue // nil until SetQueue
	// throttled, when set, is told of each invocation refused for want
	// of concurrency (SetThrottled).
	throttled func(account, name, version string)
	// limiter, when set (SetLimiter), holds account, reserved and
	// provisioned concurrency across the cluster.
	limiter Limiter

	mu sync.Mutex
	// total counts every invocation in flight; accounts each account's
	// (an account's entry stays once made).
	total    int                     // guarded by mu
	accounts map[string]*accountLoad // guarded by mu
	// reserved is the sum of each account's reservations and of the
	// provisioned concurrency of its functions without one, as of
	// reservedAt (Changed() when it was summed).
	reserved   map[string]int  // guarded by mu
	reservedAt <-chan struct{} // guarded by mu
	// provisioned is the provisioned concurrency of each function without
	// reserved concurrency, by "ACCOUNT/NAME": the first that many of its
	// invocations in flight are its own, and the others share what is
	// left of its account's limit.
	provisioned map[string]int // guarded by mu
}

// ProvisionedConfigs is what Service needs of Configs for provisioned
// concurrency; *store.Store satisfies it.
type ProvisionedConfigs interface {
	// ProvisionedTotals returns the provisioned concurrency of each
	// function, by "ACCOUNT/NAME".
	ProvisionedTotals() map[string]int
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
	// Account is the caller's account, which owns the function; empty
	// means the server's.
	Account string
	// FunctionName is any form Lambda accepts (name, name:qualifier, ARN).
	FunctionName string
	Qualifier    string
	// RequestID is the invocation's id; generated when empty.
	RequestID string
	Payload   []byte
	// ClientContext is the X-Amz-Client-Context header: base64 JSON.
	ClientContext string
	// TraceID is the caller's X-Amzn-Trace-Id header, if any (see
	// worker.Request.TraceID).
	TraceID string
	// DryRun only checks that the invocation would be accepted.
	DryRun bool
	// Stream, when set, receives the function's response as it is
	// written (InvokeWithResponseStream, function URLs in RESPONSE_STREAM
	// mode); see worker.Request.Stream.
	Stream worker.StreamSink
	// Resolved, when set, is called with the version the invocation
	// resolved to before it runs (and so before Stream is begun).
	Resolved func(*Target)
}

// Target is the function version an invocation resolved to.
type Target struct {
	Config function.Config
	// InvokedARN is the ARN the caller addressed: unqualified, or
	// qualified by the version or alias.
	InvokedARN string
	// Qualifier is the qualifier the caller gave ("" for none).
	Qualifier string
}

// Resolve finds the version req addresses, waiting (up to ReadyWait) while
// it is Pending or being updated. An alias picks one of its versions by
// weight, afresh on every call. Qualified and unqualified invocations take
// this same path.
func (s *Service) Resolve(ctx context.Context, account, functionName, qualifier string) (*Target, error) {
	t, err := s.resolve(ctx, account, functionName, qualifier)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// resolve is Resolve returning the Target itself, which Invoke and Enqueue
// keep on their stack: a function's Config is most of what a DryRun or an
// enqueue would allocate otherwise.
func (s *Service) resolve(ctx context.Context, account, functionName, qualifier string) (Target, error) {
	if account == "" {
		account = s.cfg.Account
	}
	ref, err := function.ParseRef(functionName)
	if err != nil {
		return Target{}, fmt.Errorf("%w: %w", ErrInvalidParam, err)
	}
	if ref.Qualifier != "" && qualifier != "" && ref.Qualifier != qualifier {
		return Target{}, fmt.Errorf("%w: The derived qualifier from the function name does not match the specified qualifier.", ErrInvalidParam)
	}
	if qualifier == "" {
		qualifier = ref.Qualifier
	}
	if qualifier != "" && !function.ValidQualifier(qualifier) {
		return Target{}, fmt.Errorf("%w: invalid qualifier %q", ErrInvalidParam, qualifier)
	}
	arn := function.ARN(s.cfg.Region, account, ref.Name, qualifier)
	if (ref.Account != "" && ref.Account != account) || (ref.Region != "" && ref.Region != s.cfg.Region) {
		return Target{}, fmt.Errorf("%w: Function not found: %s", ErrNotFound, arn)
	}
	var deadline <-chan time.Time
	for {
		changed := s.configs.Changed()
		version := qualifier
		switch {
		case version == "":
			version = function.Latest
		case version != function.Latest && !function.IsVersionNumber(version):
			alias, err := s.configs.Alias(account, ref.Name, qualifier)
			if err != nil {
				return Target{}, fmt.Errorf("%w: Function not found: %s", ErrNotFound, arn)
			}
			version = alias.Pick(nil)
		}
		cfg, err := s.configs.Version(account, ref.Name, version)
		if err != nil {
			return Target{}, fmt.Errorf("%w: Function not found: %s", ErrNotFound, arn)
		}
		if cfg.Invocable() {
			return Target{Config: cfg, InvokedARN: arn, Qualifier: qualifier}, nil
		}
		if cfg.State == function.StateFailed {
			return Target{}, fmt.Errorf("%w: The function %s could not be activated: %s", ErrNotReady, ref.Name, cfg.StateReason)
		}
		if deadline == nil {
			t := time.NewTimer(s.cfg.ReadyWait)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-changed:
		case <-deadline:
			return Target{}, fmt.Errorf("%w: The operation cannot be performed at this time. The function is currently in the following state: %s", ErrNotReady, cfg.State)
		case <-ctx.Done():
			return Target{}, ctx.Err()
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
	t, err := s.resolve(ctx, req.Account, req.FunctionName, req.Qualifier)
	if err != nil {
		return nil, err
	}
	if req.DryRun {
		return nil, nil
	}
	release, err := s.acquire(ctx, &t.Config)
	if err != nil {
		if s.throttled != nil {
			s.throttled(s.accountOf(&t.Config), t.Config.Name, t.Config.Version)
		}
		return nil, err
	}
	defer release()
	if req.RequestID == "" {
		req.RequestID = NewRequestID()
	}
	if req.Resolved != nil {
		resolved := t // a copy for the callback, so that t stays on the stack
		req.Resolved(&resolved)
	}
	return s.runner.Invoke(ctx, &worker.Request{
		Function:      t.Config,
		RequestID:     req.RequestID,
		Payload:       payload,
		InvokedARN:    t.InvokedARN,
		ClientContext: clientContext,
		TraceID:       req.TraceID,
		Stream:        req.Stream,
	})
}

// SetLimiter has the account's, reserved and provisioned concurrency
// counted by l across the cluster instead of on this node alone. The
// server's Concurrency, all accounts together, stays this node's. Call it
// before invoking.
func (s *Service) SetLimiter(l Limiter) { s.limiter = l }

// SetThrottled has f told of each invocation refused for want of
// concurrency (the metrics' throttles). Call it before invoking.
func (s *Service) SetThrottled(f func(account, name, version string)) { s.throttled = f }

// MinUnreserved is the part of the account's concurrency that reservations
// must leave to functions without one: Lambda's 100 of its default 1,000,
// and a tenth of a smaller limit.
func MinUnreserved(concurrency int) int { return min(100, concurrency/10) }

// Concurrency returns the server's concurrency limit, all accounts
// together.
func (s *Service) Concurrency() int { return s.cfg.Concurrency }

// AccountConcurrency returns each account's concurrency limit.
func (s *Service) AccountConcurrency() int { return s.cfg.AccountConcurrency }

// accountLoad is what one account has in flight.
type accountLoad struct {
	unreserved int            // invocations of functions without a reservation
	reserved   map[string]int // by function name, those of functions with one
	provBusy   map[string]int // by function name, those within its provisioned concurrency
}

// acquire counts one more invocation of cfg in flight, or refuses it. A
// function with reserved concurrency N runs at most N at once and is never
// refused for want of the account's or the server's concurrency: that is
// what reserving means. The account's other functions share what its
// reservations leave of its limit (AccountConcurrency), and all accounts'
// unreserved invocations together stay within the server's Concurrency, so
// one account cannot starve another. The caller calls release when the
// invocation ends.
func (s *Service) acquire(ctx context.Context, cfg *function.Config) (release func(), err error) {
	// Reserved concurrency belongs to the function, whichever version
	// runs: a published version's record has none.
	account := s.accountOf(cfg)
	reserved := cfg.ReservedConcurrency
	if cfg.Version != function.Latest {
		reserved = nil
		if latest, err := s.configs.Version(cfg.Account, cfg.Name, function.Latest); err == nil {
			reserved = latest.ReservedConcurrency
		}
	}
	if s.limiter != nil {
		return s.acquireShared(ctx, cfg, account, reserved)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	load := s.accounts[account]
	if load == nil {
		if s.accounts == nil {
			s.accounts = make(map[string]*accountLoad)
		}
		load = &accountLoad{reserved: make(map[string]int)}
		s.accounts[account] = load
	}
	if r := reserved; r != nil {
		name := cfg.Name
		if load.reserved[name] >= *r {
			return nil, ErrReservedThrottled
		}
		load.reserved[name]++
		s.total++
		return func() {
			s.mu.Lock()
			if load.reserved[name]--; load.reserved[name] <= 0 {
				delete(load.reserved, name)
			}
			s.total--
			s.mu.Unlock()
		}, nil
	}
	shared := s.cfg.AccountConcurrency - s.reservedSum(account) // also sums s.provisioned
	if name := account + "/" + cfg.Name; load.provBusy[cfg.Name] < s.provisioned[name] {
		if load.provBusy == nil {
			load.provBusy = make(map[string]int)
		}
		fn := cfg.Name
		load.provBusy[fn]++
		s.total++
		return func() {
			s.mu.Lock()
			if load.provBusy[fn]--; load.provBusy[fn] <= 0 {
				delete(load.provBusy, fn)
			}
			s.total--
			s.mu.Unlock()
		}, nil
	}
	if load.unreserved >= shared || s.total >= s.cfg.Concurrency {
		return nil, ErrThrottled
	}
	load.unreserved++
	s.total++
	return func() {
		s.mu.Lock()
		load.unreserved--
		s.total--
		s.mu.Unlock()
	}, nil
}

// busySlack is what an invocation may take beyond its function's timeout
// before the worker ends it: placement (up to 3 s) and an init phase (up
// to 10 s) come first.
const busySlack = 15 * time.Second

// acquireShared is acquire in a cluster: the same rules, with the
// account's shared pool, each reserved function's and each provisioned
// function's concurrency counted by the limiter across the nodes (keys
// ACCOUNT.u, ACCOUNT.r.NAME, ACCOUNT.p.NAME). The server's Concurrency
// stays this node's.
func (s *Service) acquireShared(ctx context.Context, cfg *function.Config, account string, reserved *int) (release func(), err error) {
	until := time.Now().Add(cfg.TimeoutDuration() + busySlack)
	counted := func(rel func()) func() {
		return func() {
			s.mu.Lock()
			s.total--
			s.mu.Unlock()
			rel()
		}
	}
	if reserved != nil {
		rel, ok := s.limiter.Acquire(ctx, account+".r."+cfg.Name, *reserved, until)
		if !ok {
			return nil, ErrReservedThrottled
		}
		s.mu.Lock()
		s.total++
		s.mu.Unlock()
		return counted(rel), nil
	}
	s.mu.Lock()
	shared := s.cfg.AccountConcurrency - s.reservedSum(account) // also sums s.provisioned
	provisioned := s.provisioned[account+"/"+cfg.Name]
	s.mu.Unlock()
	if provisioned > 0 {
		if rel, ok := s.limiter.Acquire(ctx, account+".p."+cfg.Name, provisioned, until); ok {
			s.mu.Lock()
			s.total++
			s.mu.Unlock()
			return counted(rel), nil
		}
	}
	s.mu.Lock()
	if s.total >= s.cfg.Concurrency {
		s.mu.Unlock()
		return nil, ErrThrottled
	}
	s.total++
	s.mu.Unlock()
	rel, ok := s.limiter.Acquire(ctx, account+".u", shared, until)
	if !ok {
		s.mu.Lock()
		s.total--
		s.mu.Unlock()
		return nil, ErrThrottled
	}
	return counted(rel), nil
}

// reservedSum is the sum of account's reservations and of the provisioned
// concurrency of its functions without one, summed again only after a
// configuration changed. The caller holds s.mu.
func (s *Service) reservedSum(account string) int {
	fresh := s.reservedAt != nil
	if fresh {
		select {
		case <-s.reservedAt:
			fresh = false
		default:
		}
	}
	if !fresh {
		s.reservedAt = s.configs.Changed()
		s.reserved = make(map[string]int)
		s.provisioned = make(map[string]int)
		var totals map[string]int
		if pc, ok := s.configs.(ProvisionedConfigs); ok {
			totals = pc.ProvisionedTotals()
		}
		for _, f := range s.configs.Functions() {
			acct := s.accountOf(&f)
			if f.ReservedConcurrency != nil {
				s.reserved[acct] += *f.ReservedConcurrency
			} else if n := totals[f.Account+"/"+f.Name]; n > 0 {
				s.provisioned[acct+"/"+f.Name] = n
				s.reserved[acct] += n
			}
		}
	}
	return s.reserved[account]
}

// ReservedSum sums the reserved concurrency of fns, leaving out the
// function named except.
func ReservedSum(fns []function.Config, except string) int {
	n := 0
	for _, f := range fns {
		if f.ReservedConcurrency != nil && f.Name != except {
			n += *f.ReservedConcurrency
		}
	}
	return n
}

var emptyObject = []byte("{}")

// checkPayload enforces Lambda's rule that the payload is JSON. An empty
// payload becomes {}.
func checkPayload(p []byte) ([]byte, error) {
	if len(p) == 0 {
		return emptyObject, nil
	}
	if !validJSON(p) {
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

// accountOf is the account whose limits cfg's invocations count against.
func (s *Service) accountOf(cfg *function.Config) string {
	if cfg.Account != "" {
		return cfg.Account
	}
	return s.cfg.Account
}
