package server

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"hearth/internal/broker"
)

// The roles of a node (Config.Roles).
const (
	RoleAPI    = "api"
	RoleWorker = "worker"
	RolePoller = "poller"
)

// hasRole reports whether the node has role; no roles means all of them.
func (c Config) hasRole(role string) bool {
	return len(c.Roles) == 0 || slices.Contains(c.Roles, role)
}

// roles returns the node's roles, all three when none are given.
func (c Config) roles() []string {
	if len(c.Roles) == 0 {
		return []string{RoleAPI, RoleWorker, RolePoller}
	}
	return c.Roles
}

// clustered reports whether the node is part of a cluster: its NATS is
// external or clustered, and invocations go through placement.
func (c Config) clustered() bool { return c.NATSURL != "" || c.ClusterName != "" }

func (c Config) validateCluster() []error {
	var errs []error
	for _, r := range c.Roles {
		switch r {
		case RoleAPI, RoleWorker, RolePoller:
		default:
			errs = append(errs, fmt.Errorf("roles: %q is not one of api, worker, poller", r))
		}
	}
	all := c.hasRole(RoleAPI) && c.hasRole(RoleWorker) && c.hasRole(RolePoller)
	if !all && !c.clustered() {
		errs = append(errs, fmt.Errorf("roles: a node without all of api, worker, poller is part of a cluster; give --nats-url or --cluster-name"))
	}
	if c.NATSURL != "" && c.ClusterName != "" {
		errs = append(errs, fmt.Errorf("cluster-name: the embedded NATS server joins a cluster; with --nats-url there is none"))
	}
	if c.ClusterName != "" && c.ClusterListen == "" {
		errs = append(errs, fmt.Errorf("cluster-listen: required with --cluster-name (host:port where the other servers' routes connect)"))
	}
	if c.ClusterName == "" && (c.ClusterListen != "" || c.ClusterRoutes != "") {
		errs = append(errs, fmt.Errorf("cluster-listen, cluster-routes: need --cluster-name"))
	}
	if c.NATSURL == "" && (c.NATSCreds != "" || c.NATSCA != "" || c.NATSCert != "" || c.NATSKey != "") {
		errs = append(errs, fmt.Errorf("nats-creds, nats-ca, nats-cert, nats-key: need --nats-url"))
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas: must be 1 to 5 (0: 3 in a cluster), got %d", c.Replicas))
	} else if c.Replicas > 1 && !c.clustered() {
		errs = append(errs, fmt.Errorf("replicas: a single node keeps one copy; more need --nats-url or --cluster-name"))
	}
	if c.WorkerMemoryMB < 0 {
		errs = append(errs, fmt.Errorf("worker-memory: must not be negative, got %d", c.WorkerMemoryMB))
	}
	if c.WorkerAddr != "" {
		host, _, err := net.SplitHostPort(c.WorkerAddr)
		if ip := net.ParseIP(host); err != nil || host == "" || ip != nil && ip.IsUnspecified() {
			errs = append(errs, fmt.Errorf("worker-addr: %q must be host:port with the host api nodes reach (it is announced as is)", c.WorkerAddr))
		}
	}
	return errs
}

// startBroker connects to the external NATS of --nats-url, or starts the
// embedded server, clustered with --cluster-name.
func startBroker(cfg Config, log *slog.Logger) (*broker.Broker, error) {
	replicas := cfg.replicas()
	if cfg.NATSURL != "" {
		return broker.Connect(broker.RemoteConfig{URL: cfg.NATSURL, Creds: cfg.NATSCreds, RootCAs: cfg.NATSCA, ClientCert: cfg.NATSCert, ClientKey: cfg.NATSKey, Replicas: replicas}, log)
	}
	bc := broker.Config{Dir: filepath.Join(cfg.DataDir, "jetstream"), SyncAlways: cfg.Sync == "always", Replicas: replicas}
	if cfg.ClusterName != "" {
		host, _ := os.Hostname()
		bc.ClusterName, bc.ClusterListen, bc.ClusterRoutes = cfg.ClusterName, cfg.ClusterListen, cfg.ClusterRoutes
		// Stable across restarts (JetStream knows its peers by name) and
		// unique: one route listener per host and port.
		bc.ServerName = "hearth-" + strings.NewReplacer(":", "-", ".", "-", "[", "", "]", "").Replace(host+"-"+cfg.ClusterListen)
	}
	return broker.Start(bc, log)
}

// replicas is --replicas, with 0 meaning 3 in a cluster and 1 on a
// single node. Three, not "as many as --cluster-routes names": routes
// may name only a few seeds of a larger cluster, and the broker creates
// with one replica while the cluster has fewer JetStream servers than
// wanted and scales up when it has them, so a default of 3 costs a
// smaller cluster nothing.
func (c Config) replicas() int {
	if c.Replicas > 0 {
		return c.Replicas
	}
	if c.clustered() {
		return 3
	}
	return 1
}

// workerMemoryMB is the memory a worker announces: --worker-memory, else
// the host's.
func workerMemoryMB(cfg Config) int {
	if cfg.WorkerMemoryMB > 0 {
		return cfg.WorkerMemoryMB
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 4096
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			if kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB")); err == nil {
				return kb / 1024
			}
		}
	}
	return 4096
}
