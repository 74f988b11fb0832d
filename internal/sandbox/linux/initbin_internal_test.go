//go:build linux

package linux

import (
	"bufio"
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/sandboxtest"
)

// TestEmbeddedInitIsCurrent: the embedded init program is what the
// sources build (go generate ./internal/sandbox/linux/ makes it so), or
// environments would run an init older than the driver talking to it.
func TestEmbeddedInitIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the init program for every architecture")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	out, err := exec.Command("go", "run", "./mkinit", "-check").CombinedOutput()
	if err != nil && bytes.Contains(out, []byte("cannot be compared")) {
		t.Skipf("%s", out) // another Go release than the one that built them
	}
	if err != nil {
		t.Fatalf("go run ./mkinit -check: %v\n%s", err, out)
	}
}

// TestInitIsTheSmallProgram: an environment's init is the embedded init
// program, not the driver's binary, and once the bootstrap runs it keeps
// less than 2 MiB of anonymous memory (the whole Hearth binary re-executed
// kept 3.7 MB, 1.8 MB of it allocated by its packages' initialization).
// The program's own pages are the memfd's, one copy for all environments.
// The driver's reaper executes it too.
func TestInitIsTheSmallProgram(t *testing.T) {
	requireRoot(t)
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("no init program is embedded for " + runtime.GOARCH)
	}
	d, err := New(Config{Root: t.TempDir(), PoolSize: -1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	defer d.Close()
	spec := &sandbox.Spec{ID: sandboxtest.NewID(), Function: "init",
		Cmd: []string{"/bin/sleep", "100"}, CodeDir: t.TempDir()}
	e := sandboxtest.StartSpec(t, d, spec).Env.(*env)
	pid := strconv.Itoa(e.b.cmd.Process.Pid)
	exe, err := os.Readlink("/proc/" + pid + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	if want := "/memfd:" + initArg0; !strings.HasPrefix(exe, want) {
		t.Errorf("the init executes %q; want the embedded program, %q", exe, want)
	}
	// So does the driver's reaper, which lives as long as the driver.
	reaper := strconv.Itoa(d.reaper.cmd.Process.Pid)
	if exe, err := os.Readlink("/proc/" + reaper + "/exe"); err != nil || !strings.HasPrefix(exe, "/memfd:"+initArg0) {
		t.Errorf("the reaper executes %q (%v); want the embedded program", exe, err)
	}
	t.Logf("the reaper's anonymous memory: %d KiB", anonKiB(t, reaper))
	const limit = 2 << 10 // KiB
	var anon int
	for deadline := time.Now().Add(5 * time.Second); ; {
		anon = anonKiB(t, pid) // settles once the init waits for the bootstrap
		if anon < limit || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the init's anonymous memory: %d KiB", anon)
	if anon >= limit {
		t.Errorf("the init keeps %d KiB of anonymous memory; want less than %d", anon, limit)
	}
}

// anonKiB is the anonymous memory of process pid.
func anonKiB(t *testing.T, pid string) int {
	t.Helper()
	f, err := os.Open("/proc/" + pid + "/smaps_rollup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == "Anonymous:" {
			n, _ := strconv.Atoi(fields[1])
			total += n
		}
	}
	return total
}
