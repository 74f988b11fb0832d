package sandbox_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/sandbox"
)

func TestEnvironLastWinsInPlace(t *testing.T) {
	var e sandbox.Environ
	e.Add("PATH=/usr/bin", "A=1", "PATH=/x:/usr/bin", "broken", "=empty", "B=")
	e.Set("A", "2")
	want := []string{"PATH=/x:/usr/bin", "A=2", "B="}
	if diff := cmp.Diff(want, e.List()); diff != "" {
		t.Errorf("List() (-want +got):\n%s", diff)
	}
}

func TestBootstrapEnvLayoutWins(t *testing.T) {
	got := sandbox.BootstrapEnv([]string{"X=1", "TMPDIR=/mine", "X=2", "AWS_LAMBDA_RUNTIME_API=evil:1"}, "/var/task", "/var/runtime", "/tmp", "127.0.0.1:9001")
	want := []string{"X=2", "TMPDIR=/tmp", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001", "LAMBDA_TASK_ROOT=/var/task", "LAMBDA_RUNTIME_DIR=/var/runtime"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BootstrapEnv (-want +got):\n%s", diff)
	}
}

func TestStartVar(t *testing.T) {
	for name, want := range map[string]bool{
		"PYTHONPATH": true, "NODE_OPTIONS": true, "NODE_EXTRA_CA_CERTS": true, "UV_THREADPOOL_SIZE": true,
		"OPENSSL_CONF": true, "LD_PRELOAD": true, "LC_ALL": true, "LANG": true, "TZ": true, "HOME": true,
		"NODE_PATH": false, "PATH": false, "AWS_REGION": false, "NODE": false, "_HANDLER": false,
	} {
		if got := sandbox.StartVar(name); got != want {
			t.Errorf("StartVar(%q) = %v; want %v", name, got, want)
		}
	}
}

func TestStemStartEnv(t *testing.T) {
	got := sandbox.StemStartEnv([]string{
		"TZ=:UTC", "PATH=/usr/bin", "_HANDLER=x.y", "NODE_PATH=/opt/nodejs", "UV_THREADPOOL_SIZE=2",
		"LANG=C", "TZ=:Europe/Paris", "NODE_OPTIONS=--enable-source-maps", "USER_VAR=secret", "broken",
	})
	want := []string{"LANG=C", "NODE_OPTIONS=--enable-source-maps", "PATH=/usr/bin", "TZ=:Europe/Paris", "UV_THREADPOOL_SIZE=2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("StemStartEnv (-want +got):\n%s", diff)
	}
}
