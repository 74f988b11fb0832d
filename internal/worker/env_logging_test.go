package worker

import (
	"slices"
	"strings"
	"testing"

	"hearth/internal/function"
	"hearth/internal/runtimes"
)

// TestEnvironLogging checks that LoggingConfig reaches the runtime as
// AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL (lambda-api.md §6.3).
func TestEnvironLogging(t *testing.T) {
	rt, ok := runtimes.Lookup("python3.12")
	if !ok {
		t.Fatal("python3.12 is not in the catalogue")
	}
	tests := []struct {
		format, app string
		want        []string // the AWS_LAMBDA_LOG_* variables
	}{
		{"Text", "", nil},
		{"JSON", "", []string{"AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=INFO"}},
		{"JSON", "DEBUG", []string{"AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=DEBUG"}},
	}
	for _, tt := range tests {
		cfg := &function.Config{Name: "f", Version: function.Latest, Handler: "app.h", MemorySize: 128, LogFormat: tt.format, ApplicationLogLevel: tt.app}
		var got []string
		for _, kv := range environ(cfg, rt, runtimes.Launch{}, "stream", "us-east-1") {
			if strings.HasPrefix(kv, "AWS_LAMBDA_LOG_FORMAT=") || strings.HasPrefix(kv, "AWS_LAMBDA_LOG_LEVEL=") {
				got = append(got, kv)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("LogFormat %s, ApplicationLogLevel %q: environment has %q; want %q", tt.format, tt.app, got, tt.want)
		}
	}
}

// TestEnvironLogGroup checks that AWS_LAMBDA_LOG_GROUP_NAME names the
// configured log group, or Lambda's default.
func TestEnvironLogGroup(t *testing.T) {
	rt, _ := runtimes.Lookup("python3.12")
	for _, tt := range []struct{ group, want string }{
		{"", "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/f"},
		{"/shared/app", "AWS_LAMBDA_LOG_GROUP_NAME=/shared/app"},
	} {
		cfg := &function.Config{Name: "f", Version: function.Latest, Handler: "app.h", MemorySize: 128, LogFormat: "Text", LogGroup: tt.group}
		if env := environ(cfg, rt, runtimes.Launch{}, "stream", "us-east-1"); !slices.Contains(env, tt.want) {
			t.Errorf("LogGroup %q: environment %q lacks %q", tt.group, env, tt.want)
		}
	}
}
