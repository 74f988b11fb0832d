//go:build linux

package linux_test

import (
	"os"
	"strings"
	"testing"

	"hearth/internal/sandbox/linux"
)

// TestBinShIsBash checks that /bin/sh is bash inside, as on Amazon Linux:
// AWS's custom-runtime tutorial starts with #!/bin/sh and set -euo pipefail,
// which dash (Debian's /bin/sh) refuses.
func TestBinShIsBash(t *testing.T) {
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Skipf("the host has no bash: %v", err)
	}
	d := newDriver(t, linux.Config{})
	// The tutorial's bootstrap, reduced to what does not need the network.
	spec := envSpec(t, "", map[string]string{"bootstrap": "#!/bin/sh\nset -euo pipefail\necho \"pipefail ok bash=${BASH_VERSION:-none}\" | cat\n"})
	if err := os.Chmod(spec.CodeDir+"/bootstrap", 0o755); err != nil {
		t.Fatal(err)
	}
	spec.Cmd = []string{"$LAMBDA_TASK_ROOT/bootstrap"}
	e := start(t, d, spec)
	if exit := waitExit(t, e); exit.Code != 0 {
		t.Errorf("bootstrap exit = %v; want 0 (output %q)", exit, e.Output(t))
	}
	if out := e.Output(t); !strings.Contains(out, "pipefail ok bash=") || strings.Contains(out, "bash=none") {
		t.Errorf("output = %q; want the tutorial's shell options accepted by bash", out)
	}

	// The shell /bin/sh pointed to on the host keeps its own name, and
	// /bin/sh -c works as well as a #! line.
	e = start(t, d, envSpec(t, `/bin/sh -c 'set -o pipefail; echo ok'; ls /bin/dash >/dev/null 2>&1 && /bin/dash -c 'echo dash=${BASH_VERSION:-none}'; true`, nil))
	waitExit(t, e)
	out := e.Output(t)
	if !strings.Contains(out, "ok\n") {
		t.Errorf("/bin/sh -c 'set -o pipefail' output = %q; want ok", out)
	}
	if _, err := os.Stat("/bin/dash"); err == nil && !strings.Contains(out, "dash=none\n") {
		t.Errorf("/bin/dash output = %q; want dash itself still there", out)
	}
}
