package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"hearth/internal/server"
)

func runServer(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg server.Config
	var logLevel string
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:9001", "HTTP listen address")
	fs.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(), "directory for all state")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 10*time.Minute, "how long an idle environment stays warm")
	fs.StringVar(&cfg.Isolation, "isolation", "auto", "sandbox driver: auto, process or linux")
	fs.IntVar(&cfg.Concurrency, "concurrency", 1000, "the server's concurrency limit, all accounts together")
	fs.IntVar(&cfg.AccountConcurrency, "account-concurrency", 0, "each account's concurrency limit (GetAccountSettings); 0: the same as --concurrency")
	fs.StringVar(&cfg.Region, "region", "us-east-1", "region in ARNs and AWS_REGION")
	fs.StringVar(&cfg.AccountID, "account-id", "000000000000", "account id in ARNs")
	runtimeFlag(fs, &cfg)
	fs.StringVar(&cfg.Network, "network", "nat", "linux isolation network: nat or none")
	fs.StringVar(&cfg.Prestart, "prestart", "on", "on: start Python and Node interpreters ahead of time, waiting for the function a cold start binds them to; off: start each one at its cold start")
	fs.StringVar(&cfg.Zygote, "zygote", "off", "on: fork Python bootstraps from pre-initialized interpreters (process isolation only, for now); off: start each one")
	fs.BoolVar(&cfg.NetworkLinkLocal, "network-link-local", false, "linux isolation: let environments reach link-local addresses (169.254.0.0/16, where clouds serve instance metadata and credentials)")
	listFlag(fs, "network-deny", "linux isolation: further IPv4 nets environments may not reach, comma-separated (such as 10.0.0.0/8,192.168.0.0/16)", &cfg.NetworkDeny)
	listFlag(fs, "allowed-origins", "browser origins (Origin header) the API serves, comma-separated; * for any (default: none)", &cfg.AllowedOrigins)
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may take when stopping")
	fs.DurationVar(&cfg.AsyncRetryBase, "async-retry-base", time.Minute, "delay before an async event's second attempt (the third waits twice as long)")
	fs.IntVar(&cfg.AsyncConcurrency, "async-concurrency", 64, "async events invoked at once")
	fs.Int64Var(&cfg.AsyncMaxBytes, "async-max-bytes", 1<<30, "bytes the async event queue may hold on disk; new events get 429 past nine-tenths of it")
	fs.Int64Var(&cfg.AsyncAccountMaxBytes, "async-account-max-bytes", 0, "bytes one account's async events may hold in the queue; past it that account's new events get 429 while others' are taken (0: a quarter of --async-max-bytes)")
	fs.Int64Var(&cfg.QueueMaxBytes, "queue-max-bytes", 1<<30, "bytes the named queues (destinations, dead-letter queues) may hold on disk together")
	fs.IntVar(&cfg.LogsMaxGroups, "logs-max-groups", server.DefaultLogsMaxGroups, "log groups CreateLogGroup may make per account (each is kept in one metadata file)")
	fs.Int64Var(&cfg.LogsMaxBytes, "logs-max-bytes", 1<<30, "bytes all function logs may hold on disk together (8 MiB each at most); the least recently written go first")
	fs.StringVar(&cfg.Sync, "sync", "interval", "always: fsync every stored write before acknowledging it; interval: leave it to the OS")
	fs.DurationVar(&cfg.HTTPIdleTimeout, "http-idle-timeout", 2*time.Minute, "how long a kept-alive HTTP connection may sit idle")
	fs.DurationVar(&cfg.BodyReadTimeout, "body-read-timeout", 30*time.Second, "how long a request body may take for each 64 KiB; a slower client is disconnected")
	fs.StringVar(&cfg.URLAddr, "url-addr", "", "serve function URLs on this address, such as 127.0.0.1:9002 (default: off); loopback ones are named http://<url-id>.lambda-url.<region>.localhost:<port>/")
	fs.StringVar(&cfg.DebugAddr, "debug-addr", "", "serve Go profiling (/debug/pprof) on this address")
	fs.StringVar(&cfg.Auth, "auth", "sigv4", "sigv4: every request must be signed (AWS Signature Version 4) with a Hearth key; none: no authentication, every request acts as the default account's root (loopback addresses only)")
	fs.BoolVar(&cfg.AuthNoneOnNetwork, "auth-none-on-network", false, "allow --auth none on an address other than loopback, where anyone who reaches the port can deploy and run code")
	metricsOn := fs.Bool("metrics", true, "serve Prometheus metrics on GET /metrics (root key only); false also spares invocations the counting")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "also serve GET /metrics on this address, without authentication (for a Prometheus that cannot sign)")
	listFlag(fs, "roles", "what this node does, comma-separated: api, worker, poller (default: all three, the single-node server); other sets need --nats-url or --cluster-name", &cfg.Roles)
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "connect to this external NATS JetStream server or cluster (nats:// URLs, comma-separated) instead of embedding one; makes the node part of a cluster")
	fs.StringVar(&cfg.NATSCreds, "nats-creds", "", "with --nats-url: a NATS credentials file (JWT and NKey seed)")
	fs.StringVar(&cfg.NATSCA, "nats-ca", "", "with --nats-url: PEM file of the root CAs that sign the NATS servers' certificates")
	fs.StringVar(&cfg.NATSCert, "nats-cert", "", "with --nats-url: PEM client certificate for NATS (with --nats-key)")
	fs.StringVar(&cfg.NATSKey, "nats-key", "", "with --nats-url: PEM key of --nats-cert")
	fs.StringVar(&cfg.ClusterName, "cluster-name", "", "the embedded NATS server joins the NATS cluster of this name (with --cluster-listen, --cluster-routes); makes the node part of a cluster")
	fs.StringVar(&cfg.ClusterListen, "cluster-listen", "", "with --cluster-name: host:port where other servers' routes connect")
	fs.StringVar(&cfg.ClusterRoutes, "cluster-routes", "", "with --cluster-name: the other servers' routes, nats-route://host:port, comma-separated")
	fs.IntVar(&cfg.Replicas, "replicas", 0, "in a cluster: copies JetStream keeps of every stream, bucket and object store (default 3; created with 1 while the cluster has fewer JetStream servers, scaled up when it has them)")
	fs.StringVar(&cfg.WorkerAddr, "worker-addr", "", "in a cluster, with the worker role: host:port where api nodes send invocations, announced as is (default 127.0.0.1:0)")
	fs.StringVar(&cfg.ClusterTLS, "cluster-tls", "on", "in a cluster: on serves the worker listener with TLS 1.3 and a certificate of the cluster CA (made once, kept in JetStream); off serves it as plain HTTP, for nodes whose network encrypts already")
	fs.IntVar(&cfg.WorkerMemoryMB, "worker-memory", 0, "in a cluster, with the worker role: MB of memory for environments (default: the host's)")
	fs.DurationVar(&cfg.WorkerLease, "worker-lease", 14*time.Hour, "in a cluster, with the worker role: serve this long, then drain (finish the invocations in flight, take no new ones) and exit 0, for a supervisor to restart; 0: no lease")
	fs.DurationVar(&cfg.AsyncAckWait, "async-ack-wait", 30*time.Second, "how long an async event a poller took may go without a sign of life (the poller died) before another poller takes it")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("server: unexpected argument %q", fs.Arg(0))
	}
	cfg.NoMetrics = !*metricsOn
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return server.Run(ctx, cfg, log, nil)
}

// runtimeFlag defines --runtime ID=PATH (repeatable; HEARTH_RUNTIME holds
// a comma-separated list), which names the interpreter of a managed
// runtime.
func runtimeFlag(fs *flag.FlagSet, cfg *server.Config) {
	fs.Func("runtime", "RUNTIME=PATH: the interpreter of a managed runtime, such as nodejs22.x=/usr/local/bin/node22 (repeatable, or comma-separated; default: searched, see `hearth runtimes`)", func(v string) error {
		for item := range strings.SplitSeq(v, ",") {
			id, path, ok := strings.Cut(strings.TrimSpace(item), "=")
			if !ok || id == "" || path == "" {
				return fmt.Errorf("want RUNTIME=PATH, such as python3.12=/usr/local/bin/python3.12; got %q", item)
			}
			if cfg.Runtimes == nil {
				cfg.Runtimes = map[string]string{}
			}
			cfg.Runtimes[id] = path
		}
		return nil
	})
}

// listFlag defines a flag holding a comma-separated list.
func listFlag(fs *flag.FlagSet, name, usage string, dst *[]string) {
	fs.Func(name, usage, func(v string) error {
		*dst = nil
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				*dst = append(*dst, item)
			}
		}
		return nil
	})
}

// envName is the environment variable that sets the flag name.
func envName(name string) string {
	return "HEARTH_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applyEnv sets every flag of fs that the command line did not set from its
// HEARTH_* variable, when that is set, parsing it as the flag would. A
// value the flag cannot parse is an error that names the variable.
func applyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		key := envName(f.Name)
		v, ok := lookup(key)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", key, v, err))
		}
	})
	return errors.Join(errs...)
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "hearth")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "hearth")
	}
	return filepath.Join(os.TempDir(), "hearth")
}
