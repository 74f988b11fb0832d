package main

import (
	"context"
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
	env := envDefaults(fs)
	fs.StringVar(&cfg.Addr, "addr", env("addr", "127.0.0.1:9001"), "HTTP listen address")
	fs.StringVar(&cfg.DataDir, "data-dir", env("data-dir", defaultDataDir()), "directory for all state")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", envDuration(env, "idle-timeout", 10*time.Minute), "how long an idle environment stays warm")
	fs.StringVar(&cfg.Isolation, "isolation", env("isolation", "auto"), "sandbox driver: auto, process or linux")
	fs.IntVar(&cfg.Concurrency, "concurrency", envInt(env, "concurrency", 1000), "account concurrency limit")
	fs.StringVar(&cfg.Region, "region", env("region", "us-east-1"), "region in ARNs and AWS_REGION")
	fs.StringVar(&cfg.AccountID, "account-id", env("account-id", "000000000000"), "account id in ARNs")
	runtimeFlag(fs, &cfg, env)
	fs.StringVar(&cfg.Network, "network", env("network", "nat"), "linux isolation network: nat or none")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", envDuration(env, "shutdown-timeout", 30*time.Second), "how long in-flight requests may take when stopping")
	fs.DurationVar(&cfg.AsyncRetryBase, "async-retry-base", envDuration(env, "async-retry-base", time.Minute), "delay before an async event's second attempt (the third waits twice as long)")
	fs.IntVar(&cfg.AsyncConcurrency, "async-concurrency", envInt(env, "async-concurrency", 64), "async events invoked at once")
	fs.StringVar(&cfg.Sync, "sync", env("sync", "interval"), "always: fsync every stored write before acknowledging it; interval: leave it to the OS")
	fs.StringVar(&cfg.DebugAddr, "debug-addr", env("debug-addr", ""), "serve Go profiling (/debug/pprof) on this address")
	fs.StringVar(&logLevel, "log-level", env("log-level", "info"), "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("server: unexpected argument %q", fs.Arg(0))
	}
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
func runtimeFlag(fs *flag.FlagSet, cfg *server.Config, env func(string, string) string) {
	set := func(v string) error {
		id, path, ok := strings.Cut(v, "=")
		if !ok || id == "" || path == "" {
			return fmt.Errorf("want RUNTIME=PATH, such as python3.12=/usr/local/bin/python3.12; got %q", v)
		}
		if cfg.Runtimes == nil {
			cfg.Runtimes = map[string]string{}
		}
		cfg.Runtimes[id] = path
		return nil
	}
	for v := range strings.SplitSeq(env("runtime", ""), ",") {
		if v = strings.TrimSpace(v); v != "" {
			if err := set(v); err != nil {
				fmt.Fprintf(fs.Output(), "HEARTH_RUNTIME: %v (ignored)\n", err)
			}
		}
	}
	fs.Func("runtime", "RUNTIME=PATH: the interpreter of a managed runtime, such as nodejs22.x=/usr/local/bin/node22 (repeatable; default: searched, see `hearth runtimes`)", set)
}

// envDefaults returns a lookup of HEARTH_* defaults for fs's flags.
func envDefaults(fs *flag.FlagSet) func(name, def string) string {
	return func(name, def string) string {
		key := "HEARTH_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok {
			return v
		}
		return def
	}
}

func envDuration(env func(string, string) string, name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(env(name, def.String())); err == nil {
		return d
	}
	return def
}

func envInt(env func(string, string) string, name string, def int) int {
	var n int
	if _, err := fmt.Sscan(env(name, fmt.Sprint(def)), &n); err == nil {
		return n
	}
	return def
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
