package server

import (
	"crypto/tls"
	"fmt"
	"net"

	"hearth/internal/cluster"
)

// Traffic between the nodes of a cluster (api node → worker) is TLS 1.3
// by default: the cluster CA (cluster.ClusterCA, kept in JetStream next to
// the worker token) signs each worker's certificate for the host it
// announces, and api nodes trust only that CA. The certificate proves
// the worker, the bearer token the caller. --cluster-tls=off serves the
// worker listener as plain HTTP, for a cluster whose nodes talk over a
// network that is encrypted already (a WireGuard mesh, a service mesh
// sidecar terminating mTLS) where a second layer only costs CPU; api
// nodes follow what each worker announces.

// validateClusterTLS checks --cluster-tls.
func (c Config) validateClusterTLS() []error {
	switch c.ClusterTLS {
	case "", "on", "off":
		return nil
	}
	return []error{fmt.Errorf("cluster-tls: %q is not on or off", c.ClusterTLS)}
}

// clusterTLSOff reports whether the worker listener is plain HTTP.
func (c Config) clusterTLSOff() bool { return c.ClusterTLS == "off" }

// workerListener wraps the worker listener wln in TLS with a certificate
// of the cluster CA for addr, the address the worker announces, unless
// --cluster-tls=off.
func workerListener(cfg Config, ca *cluster.CA, wln net.Listener, addr string) (net.Listener, error) {
	if cfg.clusterTLSOff() {
		return wln, nil
	}
	tc, err := ca.ServerConfig(addr)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(wln, tc), nil
}
