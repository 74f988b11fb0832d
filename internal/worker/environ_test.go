package worker

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/function"
	"hearth/internal/runtimes"
)

// TestEnvironPrecedence checks Lambda's rules: the function's variables
// replace the defaults that are not reserved, never the reserved ones, and
// every name is listed once.
func TestEnvironPrecedence(t *testing.T) {
	cfg := &function.Config{
		Name: "f", Version: function.Latest, Handler: "app.handler", MemorySize: 256, LogFormat: "JSON",
		Environment: map[string]string{
			"PATH":       "/var/task/bin:/usr/bin:/bin",
			"PYTHONPATH": "/var/task/vendor",
			"TZ":         "Europe/Paris",
			"MY_VAR":     "mine",
			"AWS_REGION": "eu-west-1", // reserved: stored before it was refused
		},
	}
	rt, _ := runtimes.Lookup("python3.12")
	launch := runtimes.Launch{Env: []string{"PYTHONPATH=$LAMBDA_RUNTIME_DIR", "SHLVL=0"}}
	list := environ(cfg, rt, launch, "stream", "us-east-1")

	got := map[string][]string{}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = append(got[k], v)
	}
	want := map[string][]string{
		"PATH":                  {"/var/task/bin:/usr/bin:/bin"},
		"PYTHONPATH":            {"/var/task/vendor"},
		"SHLVL":                 {"0"},
		"TZ":                    {"Europe/Paris"},
		"MY_VAR":                {"mine"},
		"AWS_REGION":            {"us-east-1"},
		"AWS_EXECUTION_ENV":     {"AWS_Lambda_python3.12"},
		"AWS_LAMBDA_LOG_FORMAT": {"JSON"},
		"LANG":                  {"en_US.UTF-8"},
		"_HANDLER":              {"app.handler"},
	}
	for k, w := range want {
		if diff := cmp.Diff(w, got[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	for k, v := range got {
		if len(v) != 1 {
			t.Errorf("%s is listed %d times: %q", k, len(v), v)
		}
	}
}
