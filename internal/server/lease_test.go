package server

import (
	"strings"
	"testing"
	"time"
)

// A negative lease or AckWait is refused; zero (no lease, the default
// AckWait) and positive ones are valid.
func TestValidateLease(t *testing.T) {
	base := Config{DataDir: "/tmp/x", NATSURL: "nats://x", Roles: []string{"worker"}}.withDefaults()
	for _, tt := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no lease", func(c *Config) {}, ""},
		{"lease", func(c *Config) { c.WorkerLease = 14 * time.Hour; c.AsyncAckWait = 3 * time.Second }, ""},
		{"negative lease", func(c *Config) { c.WorkerLease = -time.Second }, "worker-lease"},
		{"negative ack wait", func(c *Config) { c.AsyncAckWait = -time.Second }, "async-ack-wait"},
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
}
