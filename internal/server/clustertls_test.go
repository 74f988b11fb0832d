package server

import (
	"strings"
	"testing"
)

// --cluster-tls takes on (the default, also "") or off, nothing else; off
// is announced by the worker so that api nodes dial it with http.
func TestValidateClusterTLS(t *testing.T) {
	base := Config{DataDir: "/tmp/x", NATSURL: "nats://x", Roles: []string{"worker"}}.withDefaults()
	for _, tt := range []struct {
		value, want string
		plain       bool
	}{
		{"", "", false},
		{"on", "", false},
		{"off", "", true},
		{"false", "cluster-tls", false},
	} {
		c := base
		c.ClusterTLS = tt.value
		err := c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: Validate() = %v, want nil", tt.value, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: Validate() = %v, want an error with %q", tt.value, err, tt.want)
		}
		if got := workerConfig(c, "127.0.0.1:1", "t").PlainHTTP; tt.want == "" && got != tt.plain {
			t.Errorf("%q: the worker announces PlainHTTP=%v, want %v", tt.value, got, tt.plain)
		}
	}
}
