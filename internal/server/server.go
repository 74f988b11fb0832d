// Package server wires Hearth's subsystems from a Config: it starts them in
// order (broker, store, runtimes, logs, sandbox driver, worker, invoke, api,
// HTTP listener) and stops them in reverse, so that a stopped server leaves
// no process, goroutine or listener behind.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"hearth/internal/api"
	"hearth/internal/async"
	"hearth/internal/auth"
	"hearth/internal/broker"
	"hearth/internal/cluster"
	"hearth/internal/function"
	"hearth/internal/invoke"
	"hearth/internal/logs"
	"hearth/internal/metrics"
	"hearth/internal/runtimes"
	"hearth/internal/sandbox"
	"hearth/internal/sandbox/process"
	"hearth/internal/store"
	"hearth/internal/worker"
)

// DefaultLogsMaxGroups is the default of Config.LogsMaxGroups (the
// --logs-max-groups flag).
const DefaultLogsMaxGroups = logs.DefaultMaxCreatedGroups

// Config is everything `hearth server` can be told.
type Config struct {
	// Addr is the HTTP listen address. Zero means 127.0.0.1:9001.
	Addr string
	// DataDir holds all state. Required.
	DataDir string
	// IdleTimeout is how long idle environments stay warm. Zero means 10m.
	IdleTimeout time.Duration
	// Isolation picks the sandbox driver: "auto" (the default), "process"
	// or "linux".
	Isolation string
	// Concurrency is the server's concurrency limit, all accounts
	// together. Zero means 1000.
	Concurrency int
	// AccountConcurrency is each account's concurrency limit, so that one
	// account cannot take all of Concurrency. Zero means Concurrency.
	AccountConcurrency int
	Region             string // zero means us-east-1
	AccountID          string // zero means 000000000000
	// Runtimes names the interpreter of a managed runtime by runtime id
	// ("python3.12" → "/usr/local/bin/python3.12"), overriding the
	// search (runtimes.Search). It must be of exactly that version.
	Runtimes map[string]string
	// ShutdownTimeout bounds how long in-flight requests may take to
	// finish when the server stops. Zero means 30 s.
	ShutdownTimeout time.Duration
	// Network is the linux driver's network mode: "nat" (default) or
	// "none".
	Network string
	// Zygote is "on" to fork Python bootstraps from pre-initialized
	// interpreters where that is the same as starting them (the process
	// driver only, for now), "off" (the default, and empty) not to.
	Zygote string
	// Prestart is "on" (the default, and empty) to start Python and Node
	// interpreters ahead of time, waiting for the function they will run
	// ("stems"), where that is the same as starting them at a cold start;
	// "off" not to. Both drivers (see docs/architecture.md, "Pre-started
	// runtimes").
	Prestart string
	// NetworkLinkLocal lets environments reach link-local addresses
	// (169.254.0.0/16: a cloud's instance metadata and credentials).
	NetworkLinkLocal bool
	// NetworkDeny lists further IPv4 nets (CIDR) environments may not
	// reach.
	NetworkDeny []string
	// AllowedOrigins are the browser origins (Origin header) the API
	// serves; "*" allows any. Zero means none: requests a web page makes
	// are refused.
	AllowedOrigins []string
	// LogsMaxBytes bounds the function logs on disk together, those of
	// deleted functions included. Zero means 1 GiB.
	LogsMaxBytes int64
	// LogsMaxGroups bounds the log groups CreateLogGroup makes per
	// account; zero means logs.DefaultMaxCreatedGroups.
	LogsMaxGroups int
	// AsyncMaxBytes bounds the async event queue on disk. Zero means 1 GiB.
	AsyncMaxBytes int64
	// AsyncAccountMaxBytes bounds one account's events in the async
	// queue, so that one account cannot fill it for all. Zero means a
	// quarter of AsyncMaxBytes.
	AsyncAccountMaxBytes int64
	// QueueMaxBytes bounds the named queues on disk. Zero means 1 GiB.
	QueueMaxBytes int64
	// URLAddr, when set, serves function URLs there (api.URLHandler).
	// Off by default: a second fixed port would make two servers on one
	// host collide, and would open a port nobody asked for.
	URLAddr string
	// NoMetrics turns /metrics off, and with it the metrics' one call
	// per invocation.
	NoMetrics bool
	// MetricsAddr, when set, also serves /metrics there, without
	// authentication, for a Prometheus that cannot sign SigV4.
	MetricsAddr string
	// DebugAddr, when set, serves Go's profiler (/debug/pprof) there.
	DebugAddr string
	// AsyncRetryBase is the delay before an async event's second attempt
	// (the third waits twice as long). Zero means 1 minute, as Lambda.
	AsyncRetryBase time.Duration
	// AsyncConcurrency bounds the async events invoked at once. Zero
	// means 64.
	AsyncConcurrency int
	// HTTPIdleTimeout is how long a kept-alive connection may sit idle
	// between requests. Zero means 2 minutes.
	HTTPIdleTimeout time.Duration
	// BodyReadTimeout is how long a request body may take to deliver each
	// 64 KiB (and a shorter body to arrive whole): a client slower than
	// that (about 2 KB/s at the default) loses its connection. A large
	// upload on a slow link keeps going as long as it makes that much
	// progress. Zero means 30 s.
	BodyReadTimeout time.Duration
	// Sync makes the store fsync every write before acknowledging it
	// ("always"), instead of leaving it to the operating system
	// ("interval", the default): acknowledged state then survives a
	// power loss, not only a crash of the server.
	Sync string
	// Auth is how requests prove who sends them: "sigv4" (the default),
	// or "none", where every request acts as the default account's root.
	Auth string
	// AuthNoneOnNetwork lets Auth "none" listen on an address other than
	// loopback, where anyone who reaches the port can deploy and run code.
	AuthNoneOnNetwork bool

	// Roles are what this node does: "api" (the Lambda API and invoke
	// service), "worker" (runs environments) and "poller" (drains the
	// async queue). Empty means all three: the single-node server.
	// Anything else needs a cluster (NATSURL or ClusterName).
	Roles []string
	// NATSURL, when set, connects to an external NATS JetStream server or
	// cluster (nats:// URLs, comma-separated) instead of embedding one,
	// with NATSCreds (a credentials file), NATSCA (root CAs) and
	// NATSCert/NATSKey (a client certificate) when given.
	NATSURL   string
	NATSCreds string
	NATSCA    string
	NATSCert  string
	NATSKey   string
	// ClusterName makes the embedded NATS server join a NATS cluster of
	// that name, taking routes on ClusterListen and connecting to
	// ClusterRoutes (nats-route://host:port, comma-separated).
	ClusterName   string
	ClusterListen string
	ClusterRoutes string
	// Replicas is how many copies a cluster's JetStream keeps of every
	// stream, bucket and object store. Zero means 3 in a cluster (created
	// with one while the cluster has fewer than three JetStream servers,
	// scaled up once it has them; one on an external server that is not
	// clustered) and 1 on a single node.
	Replicas int
	// WorkerAddr is where a worker node in a cluster takes invocations
	// from api nodes (host:port, announced as is). Zero means
	// 127.0.0.1:0 (a free loopback port: every node on one host).
	WorkerAddr string
	// ClusterTLS is "off" for a plain HTTP worker listener; "" or "on"
	// means TLS with a certificate of the cluster CA (clustertls.go).
	ClusterTLS string
	// WorkerMemoryMB is a worker node's memory for environments, as it
	// announces it. Zero means the host's memory.
	WorkerMemoryMB int
	// WorkerLease is how long a worker node of a cluster serves before
	// it drains and exits 0 (lease.go). Zero means no lease; the flag's
	// default is 14 h.
	WorkerLease time.Duration
	// AsyncAckWait is how long an async event a poller took may go
	// without a sign of life before the stream gives it to another
	// poller (the poller died). Zero means 30 s.
	AsyncAckWait time.Duration

	// apiPort is the API's port, which environments may reach on the
	// linux driver's host address. Set by Run.
	apiPort uint16
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:9001"
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.Isolation == "" {
		c.Isolation = "auto"
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1000
	}
	if c.AccountConcurrency == 0 {
		c.AccountConcurrency = c.Concurrency
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Network == "" {
		c.Network = "nat"
	}
	if c.Sync == "" {
		c.Sync = "interval"
	}
	if c.Auth == "" {
		c.Auth = "sigv4"
	}
	if c.HTTPIdleTimeout == 0 {
		c.HTTPIdleTimeout = 2 * time.Minute
	}
	if c.BodyReadTimeout == 0 {
		c.BodyReadTimeout = 30 * time.Second
	}
	return c
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir: required"))
	}
	switch c.Isolation {
	case "auto", "process", "linux":
	default:
		errs = append(errs, fmt.Errorf("isolation: %q is not one of auto, process, linux", c.Isolation))
	}
	switch c.Zygote {
	case "", "on", "off":
	default:
		errs = append(errs, fmt.Errorf("zygote: %q is not one of on, off", c.Zygote))
	}
	switch c.Prestart {
	case "", "on", "off":
	default:
		errs = append(errs, fmt.Errorf("prestart: %q is not one of on, off", c.Prestart))
	}
	switch c.Network {
	case "nat", "none":
	default:
		errs = append(errs, fmt.Errorf("network: %q is not one of nat, none", c.Network))
	}
	switch c.Sync {
	case "always", "interval":
	default:
		errs = append(errs, fmt.Errorf("sync: %q is not one of always, interval", c.Sync))
	}
	switch c.Auth {
	case "sigv4":
	case "none":
		if !c.AuthNoneOnNetwork && !loopbackAddr(c.Addr) {
			errs = append(errs, fmt.Errorf("auth: --auth none on %s would let anyone who reaches it deploy and run code as this server; "+
				"listen on a loopback address (--addr 127.0.0.1:9001), keep --auth sigv4, or insist with --auth-none-on-network", c.Addr))
		}
		if c.URLAddr != "" && !c.AuthNoneOnNetwork && !loopbackAddr(c.URLAddr) {
			errs = append(errs, fmt.Errorf("auth: --auth none serves every function URL, AWS_IAM ones too, to anyone who reaches %s; "+
				"listen on a loopback address (--url-addr 127.0.0.1:9002), keep --auth sigv4, or insist with --auth-none-on-network", c.URLAddr))
		}
	default:
		errs = append(errs, fmt.Errorf("auth: %q is not one of sigv4, none", c.Auth))
	}
	if c.AsyncRetryBase < 0 {
		errs = append(errs, fmt.Errorf("async-retry-base: must not be negative, got %v", c.AsyncRetryBase))
	}
	if c.AsyncConcurrency < 0 {
		errs = append(errs, fmt.Errorf("async-concurrency: must not be negative, got %d", c.AsyncConcurrency))
	}
	if c.AccountConcurrency < 0 || c.AccountConcurrency > c.Concurrency {
		errs = append(errs, fmt.Errorf("account-concurrency: must be from 1 to concurrency (%d), got %d", c.Concurrency, c.AccountConcurrency))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency: must be positive, got %d", c.Concurrency))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("idle-timeout: must not be negative, got %v", c.IdleTimeout))
	}
	if len(c.AccountID) != 12 {
		errs = append(errs, fmt.Errorf("account-id: must be 12 digits, got %q", c.AccountID))
	}
	if _, err := c.denyNets(); err != nil {
		errs = append(errs, err)
	}
	if c.HTTPIdleTimeout < 0 || c.BodyReadTimeout < 0 {
		errs = append(errs, fmt.Errorf("http-idle-timeout, body-read-timeout: must not be negative"))
	}
	if c.AsyncMaxBytes < 0 || c.QueueMaxBytes < 0 || c.LogsMaxBytes < 0 || c.LogsMaxGroups < 0 {
		errs = append(errs, fmt.Errorf("async-max-bytes, queue-max-bytes, logs-max-bytes, logs-max-groups: must not be negative"))
	}
	if c.AsyncAccountMaxBytes < 0 || c.AsyncMaxBytes > 0 && c.AsyncAccountMaxBytes > c.AsyncMaxBytes {
		errs = append(errs, fmt.Errorf("async-account-max-bytes: must be from 0 (a quarter of async-max-bytes) to async-max-bytes (%d), got %d", c.AsyncMaxBytes, c.AsyncAccountMaxBytes))
	}
	errs = append(errs, c.validateCluster()...)
	errs = append(errs, c.validateLease()...)
	errs = append(errs, c.validateClusterTLS()...)
	return errors.Join(errs...)
}

// denyNets parses NetworkDeny.
func (c Config) denyNets() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.NetworkDeny {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return nil, fmt.Errorf("network-deny: %q is not an IPv4 net such as 10.0.0.0/8", s)
		}
		out = append(out, p)
	}
	return out, nil
}

// Run runs the server until ctx is done, then shuts it down. ready, if not
// nil, is called with the listen address once /healthz answers 200.
func Run(ctx context.Context, cfg Config, log *slog.Logger, ready func(addr net.Addr)) (err error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if n := closeInheritedOnExec(); n > 0 {
		log.Debug("inherited descriptors marked close-on-exec: no sandbox gets them", "count", n)
	}
	if err := privateDataDir(cfg.DataDir, log); err != nil {
		return err
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	uploadDir := filepath.Join(cfg.DataDir, "uploads")
	// Uploads are only ever in flight; a crash may leave some behind.
	if err := os.RemoveAll(uploadDir); err != nil {
		return fmt.Errorf("clear upload dir: %w", err)
	}
	if err := os.Mkdir(uploadDir, 0o700); err != nil {
		return fmt.Errorf("create upload dir: %w", err)
	}

	// Open every listener before starting anything, so that a bad or busy
	// address fails here and leaves nothing running.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close() // Serve closes it too; this covers the returns before Serve
	var urlLn net.Listener
	if cfg.URLAddr != "" {
		urlLn, err = net.Listen("tcp", cfg.URLAddr)
		if err != nil {
			return fmt.Errorf("listen for function URLs: %w", err)
		}
		defer urlLn.Close()
	}
	var dln net.Listener
	if cfg.DebugAddr != "" {
		dln, err = net.Listen("tcp", cfg.DebugAddr)
		if err != nil {
			return fmt.Errorf("listen for debug: %w", err)
		}
		defer dln.Close()
	}
	var mln net.Listener
	if cfg.MetricsAddr != "" {
		if cfg.NoMetrics {
			return errors.New("metrics-addr: the metrics are off (--metrics=false)")
		}
		mln, err = net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen for metrics: %w", err)
		}
		defer mln.Close()
	}

	var wln net.Listener
	if cfg.clustered() && cfg.hasRole(RoleWorker) {
		wln, err = net.Listen("tcp", cmp.Or(cfg.WorkerAddr, "127.0.0.1:0"))
		if err != nil {
			return fmt.Errorf("listen for invocations from api nodes: %w", err)
		}
		defer wln.Close()
	}

	b, err := startBroker(cfg, log)
	if err != nil {
		return err
	}
	defer b.Close()

	st, err := store.Open(ctx, b.JetStream(), cfg.AccountID, log)
	if err != nil {
		return err
	}
	keys, verifier, sessions, err := setupAuth(ctx, cfg, b, log)
	if err != nil {
		return err
	}
	began := time.Now()
	rts, err := runtimes.Setup(ctx, filepath.Join(cfg.DataDir, "runtimes"), runtimes.Config{Interpreters: cfg.Runtimes})
	if err != nil {
		return err
	}
	logRuntimes(log, rts.Statuses(), time.Since(began))
	ls, err := logs.NewStore(logs.Config{Dir: filepath.Join(cfg.DataDir, "logs"), MaxTotalBytes: cfg.LogsMaxBytes, MaxCreatedGroups: cfg.LogsMaxGroups}, log)
	if err != nil {
		return err
	}
	defer ls.Close()

	cfg.apiPort = uint16(ln.Addr().(*net.TCPAddr).Port)
	drv, err := nodeDriver(cfg, log)
	if err != nil {
		return err
	}
	defer drv.Close()
	log.Info("sandbox driver", "driver", drv.Name())
	var oneAccount string
	if _, isProcess := drv.(*process.Driver); isProcess {
		oneAccount = oneAccountReason
		if keys != nil {
			if n := len(keys.Accounts()); n > 1 {
				return fmt.Errorf("this data directory has %d accounts, but the process driver cannot keep accounts apart: %s", n, oneAccountHint)
			}
		}
	}
	// Under --auth none the API stays out of the environments' reach:
	// unauthenticated, it would give every function every other.
	var envLn net.Listener
	var endpoint string
	if verifier != nil {
		if envLn, endpoint, err = environmentListener(drv, ln); err != nil {
			return err
		}
	}
	if envLn != nil {
		defer envLn.Close()
	}
	var issue func(account, role, session string) ([]string, bool, func())
	if sessions != nil {
		issue = func(account, role, session string) ([]string, bool, func()) {
			// Credentials an operator attached to the role, for the
			// role's own account only: another account naming the role
			// gets Hearth's.
			if r, ok := keys.Role(role); ok && auth.RoleAccount(role) == account {
				return r.Env(), false, nil
			}
			c := sessions.Issue(account, role, session)
			return c.Env(), true, func() { sessions.Revoke(c.AccessKeyID) }
		}
	} else {
		// --auth none: the API is out of reach, but Lambda always puts
		// credentials in a function's environment and code reads them.
		issue = func(string, string, string) ([]string, bool, func()) {
			return auth.Unregistered().Env(), false, nil
		}
	}

	wk := worker.New(worker.Config{
		CodeDir:     filepath.Join(cfg.DataDir, "code"),
		IdleTimeout: cfg.IdleTimeout,
		// Invocations still running when the HTTP server has given up on
		// their callers get the same budget again, not a fixed 30 s.
		DrainTimeout: cfg.ShutdownTimeout,
		Region:       cfg.Region,
		Account:      cfg.AccountID,
		Credentials:  issue,
		Endpoint:     endpoint,
	}, drv, st, rts, ls, log)
	// Metrics count each invocation as it passes from invoke to the
	// worker (one call), and read the rest at scrape time.
	var runner invoke.Runner = wk
	// In a cluster the api role places every invocation on a worker,
	// this node's own worker role included.
	var remote *cluster.Runner
	var workerToken string
	var clusterCA *cluster.CA
	if cfg.clustered() {
		if workerToken, err = cluster.SharedToken(ctx, b.JetStream()); err != nil {
			return err
		}
		if clusterCA, err = cluster.ClusterCA(ctx, b.JetStream()); err != nil {
			return err
		}
		remote = cluster.NewRunner(wk, workerToken, clusterCA, log)
		runner = remote
	}
	var mx *metrics.Metrics
	if !cfg.NoMetrics {
		mx = metrics.New(0)
		runner = mx.Wrap(runner, cfg.AccountID)
		mx.CollectEnvironments(wk, cfg.AccountID)
	}
	inv := invoke.New(invoke.Config{Region: cfg.Region, Account: cfg.AccountID, Concurrency: cfg.Concurrency, AccountConcurrency: cfg.AccountConcurrency}, st, runner)
	if mx != nil {
		inv.SetThrottled(mx.Throttled)
	}
	// In a cluster, account and reserved concurrency hold across the
	// nodes (slot grants, see grants.go), renewed until the server
	// returns: every invocation has ended by then.
	if cfg.clustered() {
		grantsCtx, stopGrants := context.WithCancel(context.WithoutCancel(ctx))
		grantsDone, err := startGrants(ctx, grantsCtx, b, inv, log)
		if err != nil {
			stopGrants()
			return err
		}
		defer func() { stopGrants(); <-grantsDone }()
	}
	apiWorkers, prov := provisionedWorkers(cfg, wk, log) // xnode.go
	a := api.New(api.Config{Region: cfg.Region, Account: cfg.AccountID, Concurrency: cfg.AccountConcurrency, OneAccount: oneAccount, UploadDir: uploadDir,
		FunctionURL: functionURLs(cfg.Region, urlLn)}, st, inv, apiWorkers, rts, ls, log)
	aq, err := async.Open(ctx, b.JetStream(), async.Config{
		RetryBase:       cfg.AsyncRetryBase,
		Concurrency:     cfg.AsyncConcurrency,
		MaxBytes:        cfg.AsyncMaxBytes,
		AccountMaxBytes: cfg.AsyncAccountMaxBytes,
		MaxQueueBytes:   cfg.QueueMaxBytes,
		Region:          cfg.Region,
		Account:         cfg.AccountID,
		Recover:         !cfg.clustered(), // the single-node server is the only poller
		AckWait:         cfg.AsyncAckWait,
	}, inv, st, log)
	if err != nil {
		return err
	}
	if cfg.clustered() {
		// Events one node stores, another's pollers settle: the nodes
		// share what their ledgers count.
		shareCtx, stopShare := context.WithCancel(context.WithoutCancel(ctx))
		shared, err := aq.Share(shareCtx, b.Conn())
		if err != nil {
			stopShare()
			return err
		}
		defer func() { stopShare(); <-shared }()
	}
	inv.SetQueue(aq)
	a.SetAsync(aq)
	if mx != nil {
		mx.CollectAsync(aq)
		a.SetMetrics(mx.Handler())
	}
	if cfg.NATSURL == "" {
		a.SetStorage(b) // the remote servers' disks are theirs
	}
	if verifier != nil {
		a.SetAuth(verifier, keys)
	}

	// No ReadTimeout or WriteTimeout: an upload on a slow link may take
	// minutes, and so may a synchronous invocation or a log follow. A
	// client that stalls is cut off by the header timeout, the body's
	// progress deadline (BodyTimeout) or the idle timeout instead.
	srv := &http.Server{
		Handler: api.WithRequestID(api.BodyTimeout(cfg.BodyReadTimeout, api.Guard(api.GuardConfig{
			AllowedOrigins: cfg.AllowedOrigins,
			LoopbackOnly:   isLoopback(ln.Addr()),
		}, a.Handler()))),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       cfg.HTTPIdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}

	// Background components run until stopCtx ends; each stops in Run.
	stopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	var g errgroup.Group
	g.Go(func() error { return st.Run(stopCtx) })
	if keys != nil && cfg.clustered() {
		// Other api nodes create and delete accounts and keys too.
		g.Go(func() error { return keys.Run(stopCtx) })
	}
	g.Go(func() error { return ls.Run(stopCtx) })
	if mx != nil {
		// Deleted functions and versions free their metrics series.
		g.Go(func() error { mx.FollowConfigs(stopCtx, st, cfg.AccountID); return nil })
	}
	g.Go(func() error { aq.ReportEvery(stopCtx, time.Minute); return nil })
	asyncCtx, stopAsync := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAsync()
	asyncDone := make(chan error, 1)
	if cfg.hasRole(RolePoller) {
		go func() { asyncDone <- aq.Run(asyncCtx) }()
	} else {
		asyncDone <- nil
	}
	if remote != nil && cfg.hasRole(RoleAPI) {
		a.SetCluster(remote.Workers)
		a.SetDrain(remote.Drain)
	}
	// Pollers place the events they take as api nodes place invocations.
	if remote != nil && (cfg.hasRole(RoleAPI) || cfg.hasRole(RolePoller)) {
		g.Go(func() error { return remote.Run(stopCtx, b.Conn()) })
	}
	var wsrv *http.Server
	wsrvDone := make(chan struct{})
	var announceStop context.CancelFunc = func() {}
	announceDone := make(chan struct{})
	var wn *cluster.WorkerNode
	var drained <-chan struct{} // closed once a worker node has drained (lease.go)
	if wln != nil {
		wcfg := workerConfig(cfg, wln.Addr().String(), workerToken)
		if wln, err = workerListener(cfg, clusterCA, wln, wcfg.Addr); err != nil {
			return err
		}
		wn = cluster.NewWorkerNode(wcfg, wk, b.Conn(), log)
		drained = wn.Drained()
	}
	// Logs and the environments listing across nodes (xnode.go).
	startXnode(stopCtx, &g, cfg, b.Conn(), remote, a, wn, wk, ls, prov, log)
	if wln != nil {
		wsrv = &http.Server{Handler: wn.Handler(), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: cfg.HTTPIdleTimeout,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
		go func() { defer close(wsrvDone); wsrv.Serve(wln) }()
		var actx context.Context
		actx, announceStop = context.WithCancel(context.WithoutCancel(ctx))
		go func() { defer close(announceDone); wn.Run(actx) }()
	} else {
		close(wsrvDone)
		close(announceDone)
	}
	// Every node of a cluster beats on cluster.NodeSubject; api nodes
	// list the nodes they hear (hearth cluster). A worker node is known by
	// its worker's id, so the two lists join.
	nodeStop := func() {}
	if cfg.clustered() {
		beat := cluster.NodeBeat{ID: cluster.NewNodeID(), Roles: cfg.roles(), Addr: ln.Addr().String(), Started: time.Now().UTC()}
		if wn != nil {
			beat.ID = wn.ID()
		}
		if cfg.hasRole(RoleAPI) {
			nodes := cluster.NewNodes(nil)
			a.SetClusterNodes(nodes.List)
			g.Go(func() error { return nodes.Run(stopCtx, b.Conn()) })
		}
		nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		nodeDone := make(chan struct{})
		go func() { defer close(nodeDone); cluster.RunNodeHeartbeat(nctx, b.Conn(), beat, log) }()
		nodeStop = func() { cancel(); <-nodeDone }
	}
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorker()
	workerDone := make(chan error, 1)
	go func() { workerDone <- wk.Run(workerCtx) }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()
	// Environments reach the API on an address of their own, which is
	// not loopback: the same handler without the loopback Host check.
	var envSrv *http.Server
	envDone := make(chan struct{})
	if envLn != nil {
		envSrv = &http.Server{
			Handler:           api.WithRequestID(api.BodyTimeout(cfg.BodyReadTimeout, api.Guard(api.GuardConfig{}, a.Handler()))),
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       cfg.HTTPIdleTimeout,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		go func() { defer close(envDone); envSrv.Serve(envLn) }()
		log.Info("environments reach the API", "endpoint", endpoint)
	} else {
		close(envDone)
	}

	var urlSrv *http.Server
	urlDone := make(chan struct{})
	if urlLn != nil {
		urlSrv = &http.Server{
			Handler:           api.BodyTimeout(cfg.BodyReadTimeout, a.URLHandler()),
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       cfg.HTTPIdleTimeout,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		go func() { defer close(urlDone); urlSrv.Serve(urlLn) }()
		log.Info("function URLs", "addr", urlLn.Addr().String(), "example", a.FunctionURL(strings.Repeat("x", function.URLIDLen)))
	} else {
		close(urlDone)
	}
	if dln != nil {
		dsrv := &http.Server{Handler: debugHandler(), ReadHeaderTimeout: 30 * time.Second}
		debugDone := make(chan struct{})
		go func() { defer close(debugDone); dsrv.Serve(dln) }()
		defer func() { dsrv.Close(); <-debugDone }()
		log.Info("debug endpoint", "addr", dln.Addr().String())
	}
	if mln != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", mx.Handler())
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
		metricsDone := make(chan struct{})
		go func() { defer close(metricsDone); msrv.Serve(mln) }()
		defer func() { msrv.Close(); <-metricsDone }()
		log.Info("metrics endpoint", "addr", mln.Addr().String())
	}
	a.ResumeActivations()
	// Provisioned environments are started again (IN_PROGRESS until
	// ready) and kept in line with the stored configurations. In a
	// cluster each worker provisions its share (cluster.ProvisionedWorkers,
	// xnode.go); api nodes follow the targets for their status.
	provDone := make(chan struct{})
	if cfg.hasRole(RoleAPI) || (prov != nil && wn != nil) {
		go func() { defer close(provDone); a.RunProvisioning(stopCtx) }()
	} else {
		close(provDone)
	}
	sweepDone := make(chan struct{})
	go func() { defer close(sweepDone); sweepCode(stopCtx, st, wk, log) }()
	a.SetReady()
	if cfg.clustered() {
		attrs := []any{"roles", strings.Join(cfg.roles(), ",")}
		if wln != nil {
			attrs = append(attrs, "worker_addr", wln.Addr().String())
		}
		log.Info("cluster node", attrs...)
	}
	log.Info("hearth ready", "addr", ln.Addr().String(), "data_dir", cfg.DataDir)
	if ready != nil {
		ready(ln.Addr())
	}

	served := false
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case <-drained:
		log.Info("worker drained; shutting down (exit 0)")
	case err = <-serveDone:
		err = fmt.Errorf("serve: %w", err)
		served = true
	}
	// Stop accepting, end log follows, let in-flight requests finish.
	a.StopFollowing()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	if serr := srv.Shutdown(sctx); serr != nil {
		log.Warn("in-flight requests cut short", "err", serr)
		srv.Close()
	}
	if envSrv != nil {
		if serr := envSrv.Shutdown(sctx); serr != nil {
			envSrv.Close()
		}
	}
	<-envDone
	if urlSrv != nil {
		if serr := urlSrv.Shutdown(sctx); serr != nil {
			urlSrv.Close()
		}
	}
	<-urlDone
	cancel()
	if !served {
		<-serveDone // ErrServerClosed
	}
	// A worker node says it leaves, then lets the invocations api nodes
	// sent it finish.
	announceStop()
	<-announceDone
	nodeStop()
	if wsrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		if serr := wsrv.Shutdown(sctx); serr != nil {
			wsrv.Close()
		}
		cancel()
	}
	<-wsrvDone
	a.Close()
	// Stop pulling events and let those in flight settle, then tear every
	// environment down, then the rest. An event whose invocation the
	// shutdown cut short goes back to the queue.
	stopAsync()
	select {
	case aerr := <-asyncDone:
		if aerr != nil && err == nil {
			err = aerr
		}
	case <-time.After(cfg.ShutdownTimeout):
		// Events still running past the budget end with the worker; the
		// stream gives them back on the next start.
		log.Warn("async events still running; stopping them")
		stopWorker()
		<-asyncDone
	}
	stopWorker()
	<-workerDone
	stop()
	<-sweepDone
	<-provDone
	if gerr := g.Wait(); gerr != nil && err == nil {
		err = gerr
	}
	log.Info("hearth stopped")
	return err
}

// functionURLs returns how the API names the function URL of an id, given
// the URL listener: the host form on localhost when the listener takes
// loopback connections (names under .localhost resolve to loopback with
// no DNS set up), else the path form on the listener's address; nil
// (the API's default) without a listener.
func functionURLs(region string, ln net.Listener) func(id string) string {
	if ln == nil {
		return nil
	}
	addr := ln.Addr().(*net.TCPAddr)
	port := strconv.Itoa(addr.Port)
	if addr.IP.IsLoopback() || addr.IP.IsUnspecified() {
		return func(id string) string { return "http://" + id + ".lambda-url." + region + ".localhost:" + port + "/" }
	}
	hp := net.JoinHostPort(addr.IP.String(), port)
	return func(id string) string { return "http://" + hp + api.URLPathPrefix + id + "/" }
}

// setupAuth opens the accounts and keys under --auth sigv4, creates the
// default account's root key on first start and writes it to the data
// directory. It returns nils under --auth none.
func setupAuth(ctx context.Context, cfg Config, b *broker.Broker, log *slog.Logger) (*auth.Keys, *auth.Verifier, *auth.Sessions, error) {
	if cfg.Auth != "sigv4" {
		log.Warn("authentication is off (--auth none): every request acts as the root of account "+cfg.AccountID, "addr", cfg.Addr)
		return nil, nil, nil, nil
	}
	keys, err := auth.OpenKeys(ctx, b.JetStream())
	if err != nil {
		return nil, nil, nil, err
	}
	root, created, err := keys.Bootstrap(ctx, cfg.AccountID)
	// Nodes of a cluster that start together race to create the account;
	// the loser loads the bucket again (the watch, Keys.Run, starts
	// later) and finds it.
	for try := 0; err != nil && cfg.clustered() && try < 20; try++ {
		log.Info("creating the root key raced with another node; loading the keys again", "err", err)
		time.Sleep(250 * time.Millisecond)
		if keys, err = auth.OpenKeys(ctx, b.JetStream()); err != nil {
			return nil, nil, nil, err
		}
		root, created, err = keys.Bootstrap(ctx, cfg.AccountID)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create root key: %w", err)
	}
	path, err := auth.WriteFile(cfg.DataDir, auth.FileCredentials{AccessKeyID: root.ID, SecretAccessKey: root.Secret, Region: cfg.Region, Account: cfg.AccountID})
	if err != nil {
		return nil, nil, nil, err
	}
	if created {
		log.Info("created the root access key of account "+cfg.AccountID+`; eval "$(hearth credentials)" exports it`, "file", path, "access_key_id", root.ID)
	} else {
		log.Info("root credentials", "file", path, "access_key_id", root.ID)
	}
	sessions := auth.NewSessions()
	return keys, auth.NewVerifier(cfg.Region, keys, sessions), sessions, nil
}

// environmentListener opens the listener environments reach the API on,
// and returns the endpoint URL they use. Under the linux driver they have
// their own network and reach the host at the driver's host address (on
// the API's port, which the driver lets through); under the process
// driver they are the host's processes and use the API's own address.
func environmentListener(drv sandbox.Driver, ln net.Listener) (net.Listener, string, error) {
	addr := ln.Addr().(*net.TCPAddr)
	ha, ok := drv.(interface{ HostAddress() (netip.Addr, bool) })
	if ok {
		if host, ok := ha.HostAddress(); ok {
			hp := net.JoinHostPort(host.String(), strconv.Itoa(addr.Port))
			if addr.IP.IsUnspecified() {
				return nil, "http://" + hp, nil // the API listens there already
			}
			eln, err := net.Listen("tcp", hp)
			if err != nil {
				return nil, "", fmt.Errorf("listen for environments: %w", err)
			}
			return eln, "http://" + hp, nil
		}
		if _, isProcess := drv.(*process.Driver); !isProcess {
			return nil, "", nil // no network: nothing to reach
		}
	}
	ip := addr.IP
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return nil, "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(addr.Port)), nil
}

// The process driver runs every environment as the server's user, on the
// host's file system and network: environments of two accounts could
// reach each other. A server on it serves one account.
const (
	oneAccountHint   = "start the server with --isolation linux (as root, on Linux) to serve more than one account"
	oneAccountReason = "This server runs functions with the process driver, which cannot keep accounts apart; " + oneAccountHint + "."
)

func newDriver(cfg Config, log *slog.Logger) (sandbox.Driver, error) {
	switch cfg.Isolation {
	case "linux":
		return newLinuxDriver(cfg, log)
	case "auto":
		if why := linuxUnavailable(); why != nil {
			log.Warn("linux isolation unavailable; environments run as plain processes", "err", why)
			break
		}
		return newLinuxDriver(cfg, log)
	}
	return process.New(process.Config{
		Root:     filepath.Join(cfg.DataDir, "envs"),
		Zygote:   cfg.Zygote == "on",
		Prestart: cfg.Prestart != "off",
	}, log)
}

// tombstoneAge is how long the store keeps the marker of a deleted
// function: long enough for every watcher to have seen it.
const tombstoneAge = 30 * time.Minute

// sweepCode deletes unreferenced packages from the store, unpacked
// packages no function or environment uses from the worker's cache, and
// the store's markers of functions deleted more than tombstoneAge ago,
// every ten minutes.
func sweepCode(ctx context.Context, st *store.Store, wk *worker.Worker, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := st.SweepCode(ctx, time.Hour); err != nil {
				log.Warn("sweep code", "err", err)
			} else if n > 0 {
				log.Info("swept unused code", "count", n)
			}
			var keep []string
			for _, cfg := range st.AllVersions() { // published versions keep their code
				keep = append(keep, cfg.CodeSha256)
				for _, l := range cfg.Layers {
					keep = append(keep, l.CodeSha256)
				}
			}
			if n := wk.SweepCode(keep, 10*time.Minute); n > 0 {
				log.Info("swept unused unpacked code", "count", n)
			}
			if n, err := st.PurgeTombstones(ctx, tombstoneAge); err != nil {
				log.Warn("purge tombstones of deleted functions", "err", err)
			} else if n > 0 {
				log.Info("purged tombstones of deleted functions", "count", n)
			}
		}
	}
}

// loopbackAddr reports whether the listen address addr (host:port) is on
// loopback only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// isLoopback reports whether addr is a loopback address.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// privateDataDir creates the data directory, or makes an existing one,
// private to the server's user: it holds every function's environment
// variables (secrets), code and logs.
func privateDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("make data dir private: %w", err)
		}
		log.Warn("data directory was open to other users; made it private to the server's user", "dir", dir, "was", fmt.Sprintf("%#o", mode), "now", "0700")
	}
	return nil
}

// lockDataDir takes an exclusive lock so that two servers never share a
// data directory.
func lockDataDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another hearth server", dir)
	}
	return func() { f.Close() }, nil
}

// logRuntimes logs which interpreter serves each managed runtime, and
// which runtimes this host cannot run (`hearth runtimes` says why).
func logRuntimes(log *slog.Logger, sts []runtimes.Status, took time.Duration) {
	var served, missing []string
	for _, st := range sts {
		switch {
		case !st.Available:
			missing = append(missing, st.Runtime)
		case st.Interpreter != "":
			served = append(served, st.Runtime+"="+st.Version)
			log.Debug("runtime", "runtime", st.Runtime, "interpreter", st.Interpreter, "version", st.Version)
		}
	}
	log.Info("runtimes resolved", "served", strings.Join(served, " "), "dur", took.Round(time.Millisecond))
	if len(missing) > 0 {
		log.Info("runtimes without an interpreter on this host (see `hearth runtimes`)", "runtimes", strings.Join(missing, " "))
	}
}

// RuntimeStatus is how the host serves one runtime id.
type RuntimeStatus = runtimes.Status

// ResolveRuntimes reports how a server started with cfg would serve each
// runtime, without starting one: `hearth runtimes --local`.
func ResolveRuntimes(ctx context.Context, cfg Config) ([]RuntimeStatus, error) {
	return runtimes.Resolve(ctx, runtimes.Config{Interpreters: cfg.Runtimes})
}

// RootCredentials are the default account's root key as the server writes
// it to its data directory.
type RootCredentials = auth.FileCredentials

// CredentialsFile is where a server with data directory dataDir keeps its
// root credentials.
func CredentialsFile(dataDir string) string { return filepath.Join(dataDir, auth.FileName) }

// ReadCredentials reads a credentials file the server wrote.
func ReadCredentials(path string) (RootCredentials, error) { return auth.ReadFile(path) }
