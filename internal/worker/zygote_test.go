package worker

import (
	"testing"

	"hearth/internal/runtimes"
)

// TestZygoteOf: only an unwrapped Python function that sets none of the
// variables an interpreter reads at start may be forked from a zygote.
func TestZygoteOf(t *testing.T) {
	py, _ := runtimes.Lookup("python3.12")
	node, _ := runtimes.Lookup("nodejs22.x")
	custom, _ := runtimes.Lookup("provided.al2023")
	for _, tc := range []struct {
		name    string
		rt      runtimes.Runtime
		wrapped bool
		vars    map[string]string
		want    string
	}{
		{"python", py, false, map[string]string{"MINE": "1", "PATH": "/x"}, "python"},
		{"wrapped", py, true, nil, ""},
		{"PYTHONPATH", py, false, map[string]string{"PYTHONPATH": "/x"}, ""},
		{"PYTHONHASHSEED", py, false, map[string]string{"PYTHONHASHSEED": "0"}, ""},
		{"LANG", py, false, map[string]string{"LANG": "C"}, ""},
		{"LD_PRELOAD", py, false, map[string]string{"LD_PRELOAD": "/x.so"}, ""},
		{"TZ", py, false, map[string]string{"TZ": "Europe/Paris"}, ""},
		{"node", node, false, nil, ""},
		{"custom", custom, false, nil, ""},
	} {
		if got := zygoteOf(tc.rt, tc.wrapped, tc.vars); got != tc.want {
			t.Errorf("%s: zygoteOf = %q; want %q", tc.name, got, tc.want)
		}
	}
}

// TestStemOf: an unwrapped Python or Node function that sets none of the
// variables its interpreter reads at start may use a pre-started runtime.
func TestStemOf(t *testing.T) {
	py, _ := runtimes.Lookup("python3.12")
	node, _ := runtimes.Lookup("nodejs22.x")
	custom, _ := runtimes.Lookup("provided.al2023")
	for _, tc := range []struct {
		name    string
		rt      runtimes.Runtime
		wrapped bool
		vars    map[string]string
		want    string
	}{
		{"python", py, false, map[string]string{"MINE": "1", "PATH": "/x"}, "python"},
		{"node", node, false, map[string]string{"MINE": "1", "NODE_PATH": "/x"}, "node"},
		{"python wrapped", py, true, nil, ""},
		{"node wrapped", node, true, nil, ""},
		{"PYTHONPATH", py, false, map[string]string{"PYTHONPATH": "/x"}, ""},
		{"NODE_OPTIONS", node, false, map[string]string{"NODE_OPTIONS": "--enable-source-maps"}, ""},
		{"NODE_EXTRA_CA_CERTS", node, false, map[string]string{"NODE_EXTRA_CA_CERTS": "/ca.pem"}, ""},
		{"UV_THREADPOOL_SIZE", node, false, map[string]string{"UV_THREADPOOL_SIZE": "8"}, ""},
		{"TZ", node, false, map[string]string{"TZ": "Europe/Paris"}, ""},
		{"LD_PRELOAD", py, false, map[string]string{"LD_PRELOAD": "/x.so"}, ""},
		{"custom", custom, false, nil, ""},
	} {
		if got := stemOf(tc.rt, tc.wrapped, tc.vars); got != tc.want {
			t.Errorf("%s: stemOf = %q; want %q", tc.name, got, tc.want)
		}
	}
}
