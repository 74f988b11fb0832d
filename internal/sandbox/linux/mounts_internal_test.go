//go:build linux

package linux

import "testing"

func TestCheckHostPath(t *testing.T) {
	const root = "/var/lib/hearth/sandbox"
	tests := []struct {
		path string
		ok   bool
	}{
		{"/root/.pyenv/versions/3.11.7", true},
		{"/usr/local/lib/node_modules", true},
		{"/usr", true}, // a system python3's prefix; visible anyway
		{"/opt2/runtime", true},
		{"/", false},
		{"/etc", false},
		{"/etc/shadow", false},
		{"/var", false},
		{"/var/lib", false},                    // holds the sandbox root
		{"/var/lib/hearth/sandbox/mnt", false}, // inside it
		{"/proc/1", false},
		{"/tmp/x", false},
		{"/var/task", false},
		{"/opt/layer", false},
		{"relative/path", false},
		{"/usr/../etc", false},
	}
	for _, tt := range tests {
		err := checkHostPath(tt.path, root)
		if (err == nil) != tt.ok {
			t.Errorf("checkHostPath(%q) = %v; want ok=%t", tt.path, err, tt.ok)
		}
	}
}
