package server

import (
	"strings"
	"testing"
)

// The cluster's settings are refused where they make no sense; without
// any of them the single-node server's configuration stays valid.
func TestValidateCluster(t *testing.T) {
	base := Config{DataDir: "/tmp/x"}.withDefaults()
	for _, tt := range []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" for valid
	}{
		{"single node", func(c *Config) {}, ""},
		{"all roles named", func(c *Config) { c.Roles = []string{"api", "worker", "poller"} }, ""},
		{"worker without cluster", func(c *Config) { c.Roles = []string{"worker"} }, "part of a cluster"},
		{"unknown role", func(c *Config) { c.Roles = []string{"api", "cook"}; c.NATSURL = "nats://x" }, `"cook"`},
		{"worker with nats", func(c *Config) { c.Roles = []string{"worker"}; c.NATSURL = "nats://x" }, ""},
		{"both engines", func(c *Config) { c.NATSURL = "nats://x"; c.ClusterName = "c"; c.ClusterListen = "127.0.0.1:6222" }, "cluster-name"},
		{"cluster without listen", func(c *Config) { c.ClusterName = "c" }, "cluster-listen"},
		{"routes without cluster", func(c *Config) { c.ClusterRoutes = "nats-route://x:1" }, "need --cluster-name"},
		{"creds without url", func(c *Config) { c.NATSCreds = "f" }, "need --nats-url"},
		{"replicas on a single node", func(c *Config) { c.Replicas = 3 }, "replicas"},
		{"replicas out of range", func(c *Config) { c.NATSURL = "nats://x"; c.Replicas = 7 }, "replicas"},
		{"replicas in a cluster", func(c *Config) { c.NATSURL = "nats://x"; c.Replicas = 5 }, ""},
		{"unspecified worker addr", func(c *Config) { c.NATSURL = "nats://x"; c.WorkerAddr = "0.0.0.0:7000" }, "worker-addr"},
	} {
		c := base
		tt.mod(&c)
		err := c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: Validate() = %v, want an error with %q", tt.name, err, tt.want)
		}
	}
	// Three copies in a cluster unless told otherwise; one on a single node.
	for _, tt := range []struct {
		mod  func(*Config)
		want int
	}{
		{func(c *Config) {}, 1},
		{func(c *Config) { c.NATSURL = "nats://x" }, 3},
		{func(c *Config) { c.ClusterName = "c" }, 3},
		{func(c *Config) { c.ClusterName = "c"; c.Replicas = 1 }, 1},
	} {
		c := base
		tt.mod(&c)
		if got := c.replicas(); got != tt.want {
			t.Errorf("replicas() of %+v = %d, want %d", c.Replicas, got, tt.want)
		}
	}
}
