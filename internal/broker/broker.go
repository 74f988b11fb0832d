// Package broker owns Hearth's NATS connection and, in the embedded default,
// the NATS server with JetStream itself. It is the only package that imports
// nats-server. Everything else receives a jetstream.JetStream from it and
// cannot tell an embedded server from a remote cluster.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures the embedded NATS server.
type Config struct {
	// Dir is where JetStream keeps its state. Required.
	Dir string
	// Listen, when set, is a host:port where the server accepts remote
	// NATS clients. Empty keeps the server in-process only.
	Listen string
	// SyncAlways makes JetStream fsync every write before acknowledging
	// it, so that acknowledged state survives a power loss and not only a
	// crash of the process. It costs a disk flush per write.
	SyncAlways bool
	// ClusterName, when set, makes the embedded server join a NATS cluster
	// of that name: it accepts routes on ClusterListen and connects to
	// ClusterRoutes (nats-route://host:port URLs, comma-separated).
	// ServerName must then be unique in the cluster.
	ClusterName   string
	ClusterListen string
	ClusterRoutes string
	ServerName    string
	// Replicas is how many copies of every stream, bucket and object store
	// created without a count JetStream keeps (3 or 5; zero or 1 means
	// one). While the cluster has fewer JetStream servers, they are
	// created with one, and the meta leader's node scales them (and any
	// older stream with fewer) up once it has them: see replicas.go.
	Replicas int
}

// RemoteConfig says how to reach an external NATS JetStream server or
// cluster instead of embedding one.
type RemoteConfig struct {
	// URL is one or more nats:// URLs, comma-separated.
	URL string
	// Creds is a NATS credentials file (JWT and NKey seed); empty for none.
	Creds string
	// RootCAs and the client certificate, for TLS; empty for none.
	RootCAs        string
	ClientCert     string
	ClientKey      string
	ConnectTimeout time.Duration
	// Replicas: as Config.Replicas; every node tries to scale up the
	// streams it opened. A server that is not clustered keeps one.
	Replicas int
}

// Connect connects to an external NATS JetStream server or cluster. The
// Broker it returns has no server of its own: Close closes the connection,
// and the storage checks report nothing (the remote servers own their
// disks).
func Connect(cfg RemoteConfig, log *slog.Logger) (*Broker, error) {
	if cfg.URL == "" {
		return nil, errors.New("broker: no NATS URL")
	}
	opts := []nats.Option{nats.Name("hearth"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(false)}
	if cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	}
	if cfg.RootCAs != "" {
		opts = append(opts, nats.RootCAs(cfg.RootCAs))
	}
	if cfg.ClientCert != "" || cfg.ClientKey != "" {
		opts = append(opts, nats.ClientCert(cfg.ClientCert, cfg.ClientKey))
	}
	if cfg.ConnectTimeout > 0 {
		opts = append(opts, nats.Timeout(cfg.ConnectTimeout))
	}
	l := log.With("component", "broker")
	opts = append(opts,
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { l.Warn("disconnected from NATS", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { l.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted()) }))
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", cfg.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := waitJetStream(js, 2*time.Minute, log); err != nil {
		nc.Close()
		return nil, err
	}
	l.Info("connected to NATS", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName())
	want := cfg.Replicas
	if want > 1 && nc.ConnectedClusterName() == "" {
		l.Warn("the NATS server is not clustered: streams and buckets keep one replica", "replicas", want)
		want = 1
	}
	b := &Broker{nc: nc, log: l, stop: make(chan struct{}), watcherDone: make(chan struct{})}
	var r *replication
	b.js, r = withReplicas(js, want, l)
	if r == nil {
		close(b.watcherDone)
		return b, nil
	}
	go func() {
		defer close(b.watcherDone)
		r.reconcile(b.stop, func() (bool, bool) { return false, true })
	}()
	return b, nil
}

// Broker is a running embedded NATS server and a connection to it, or
// (Connect) a connection to an external one.
type Broker struct {
	srv      *server.Server // nil when the server is external
	nc       *nats.Conn
	js       jetstream.JetStream
	dir      string
	jsConfig server.JetStreamConfig // how to start JetStream again
	log      *slog.Logger

	stop           chan struct{} // closed by Close: ends watchStorage and the replicas' reconciler
	watcherDone    chan struct{} // closed when watchStorage (Connect: the reconciler) has returned
	reconcilerDone chan struct{} // Start: closed when the replicas' reconciler has returned
	closeOnce      sync.Once

	mu         sync.Mutex
	storageErr error // guarded by mu; see StorageErr
	recovering bool  // guarded by mu; a failure was seen and JetStream not restarted since
}

// Start runs an embedded NATS server with JetStream stored in cfg.Dir and
// connects to it in-process.
func Start(cfg Config, log *slog.Logger) (*Broker, error) {
	if cfg.Dir == "" {
		return nil, errors.New("broker: no data directory")
	}
	name := cfg.ServerName
	if name == "" {
		name = "hearth"
	}
	opts := &server.Options{
		ServerName: name,
		JetStream:  true,
		StoreDir:   cfg.Dir,
		NoSigs:     true, // signals belong to cmd/hearth
		NoLog:      false,
		// DontListen binds no port at all, routes included.
		DontListen: cfg.Listen == "" && cfg.ClusterName == "",
		SyncAlways: cfg.SyncAlways,
		// Async events carry up to 1 MB of payload plus headers, and
		// destination records more.
		MaxPayload: 8 << 20,
		// Size limits are the host's disk. Not zero or negative: that
		// asks for a limit of 75% of the space free at start, which a
		// server started on a nearly full disk would keep forever.
		JetStreamMaxStore:  maxStore,
		JetStreamMaxMemory: maxMemory,
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("broker listen address: %w", err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("broker listen port: %w", err)
		}
		opts.Host, opts.Port = host, p
	}
	if cfg.ClusterName != "" {
		if cfg.ClusterListen == "" {
			return nil, errors.New("broker: a cluster needs a listen address for routes")
		}
		host, port, err := net.SplitHostPort(cfg.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("broker cluster listen address: %w", err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("broker cluster listen port: %w", err)
		}
		opts.Cluster = server.ClusterOpts{Name: cfg.ClusterName, Host: host, Port: p}
		if cfg.Listen == "" {
			// Listening is needed for routes; clients stay on loopback.
			opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
		}
		if cfg.ClusterRoutes != "" {
			opts.Routes = server.RoutesFromStr(cfg.ClusterRoutes)
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configure nats: %w", err)
	}
	srv.SetLoggerV2(natsLogger{log.With("component", "nats")}, false, false, false)
	srv.Start() // does not block
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, errors.New("nats: not ready after 30s")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("hearth"), nats.MaxReconnects(-1))
	if err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("connect in-process: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if cfg.ClusterName != "" {
		// The cluster's JetStream answers once its servers have elected a
		// meta leader, which takes seconds after they find each other.
		if err := waitJetStream(js, 2*time.Minute, log); err != nil {
			nc.Close()
			srv.Shutdown()
			srv.WaitForShutdown()
			return nil, err
		}
	}
	b := &Broker{srv: srv, nc: nc, dir: cfg.Dir, log: log.With("component", "broker"),
		jsConfig: server.JetStreamConfig{
			StoreDir:   cfg.Dir,
			MaxStore:   maxStore,
			MaxMemory:  maxMemory,
			SyncAlways: cfg.SyncAlways,
			Strict:     true,
			CompressOK: true,
		},
		stop: make(chan struct{}), watcherDone: make(chan struct{}), reconcilerDone: make(chan struct{})}
	var r *replication
	b.js, r = withReplicas(js, cfg.Replicas, b.log)
	if r != nil {
		go func() {
			defer close(b.reconcilerDone)
			r.reconcile(b.stop, func() (bool, bool) {
				return true, srv.JetStreamIsLeader() && len(srv.JetStreamClusterPeers()) >= r.want
			})
		}()
	} else {
		close(b.reconcilerDone)
	}
	go func() { defer close(b.watcherDone); b.watchStorage(b.stop) }()
	return b, nil
}

// waitJetStream waits until JetStream answers, at most max.
func waitJetStream(js jetstream.JetStream, max time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(max)
	for logged := false; ; {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("JetStream not available after %v: %w", max, err)
		}
		if !logged {
			log.Info("waiting for JetStream (a cluster elects its leader once enough of its servers are up)", "err", err)
			logged = true
		}
		time.Sleep(200 * time.Millisecond)
	}
}

const (
	maxStore  = 1 << 50 // in effect unlimited
	maxMemory = 256 << 20
)

// JetStream returns the JetStream context every other package uses.
func (b *Broker) JetStream() jetstream.JetStream { return b.js }

// Conn returns the NATS connection.
func (b *Broker) Conn() *nats.Conn { return b.nc }

// Close drains the connection, stops the server and waits until it has
// fully shut down, with its store flushed to disk.
// It is idempotent.
func (b *Broker) Close() {
	b.closeOnce.Do(func() {
		close(b.stop)
		<-b.watcherDone
		if b.reconcilerDone != nil {
			<-b.reconcilerDone
		}
		b.nc.Close()
		if b.srv == nil {
			return // an external server
		}
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	})
}

// natsLogger adapts nats-server's printf Logger to slog. It is the one
// place in Hearth that formats a log message.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(format string, v ...any)  {}
