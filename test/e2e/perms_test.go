package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// TestDataDirIsPrivate checks that the data directory, which holds every
// function's environment variables, code and logs, is private to the
// server's user: an existing one opened to others is closed at start (and
// the server says so), logs are written 0600, and functions still run
// (under the linux driver as root, whose environments run as another
// uid and see their code through a bind mount).
func TestDataDirIsPrivate(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "logs", "old.log")
	if err := os.WriteFile(old, []byte("2025-01-01T00:00:00.000Z secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dir)
	if !strings.Contains(s.Log(), "made it private") {
		t.Errorf("server did not say it made the data dir private; log:\n%s", tailString(s.Log(), 3000))
	}
	s.create(t, "secretive", fn{runtime: "provided.al2023", handler: "bootstrap", zip: goFnZip, env: map[string]string{"DB_PASSWORD": "hunter2"}})
	if res := s.invoke(t, "secretive", map[string]any{}); res.FunctionError != "" {
		t.Fatalf("invoke = %s %s", res.FunctionError, res.Payload)
	}
	if _, err := s.Client.DeleteFunction(t.Context(), &lambda.DeleteFunctionInput{FunctionName: aws.String("secretive")}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		want fs.FileMode
	}{
		{dir, 0o700},
		{filepath.Join(dir, "logs"), 0o700},
		{old, 0o600},
		{filepath.Join(dir, "logs", "secretive.log"), 0o600}, // kept after the delete, as on AWS
		{filepath.Join(dir, "lock"), 0o600},
		{filepath.Join(dir, "uploads"), 0o700},
	} {
		st, err := os.Stat(tt.path)
		if err != nil {
			t.Errorf("stat %s: %v", tt.path, err)
			continue
		}
		if got := st.Mode().Perm(); got != tt.want {
			t.Errorf("%s has mode %#o; want %#o", strings.TrimPrefix(tt.path, dir), got, tt.want)
		}
	}
}
