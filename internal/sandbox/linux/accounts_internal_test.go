//go:build linux

package linux

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/sandboxtest"
)

// TestAccountsHaveCgroupSubtrees: each account's environments run in
// <group>/<account>/..., which goes with the account's last environment;
// the default account's is <group>/default.
func TestAccountsHaveCgroupSubtrees(t *testing.T) {
	requireRoot(t)
	const a, b = "111111111111", "222222222222"
	d, err := New(Config{Root: t.TempDir(), PoolSize: -1, Network: NetworkNone}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	defer d.Close()
	startIn := func(account string) *env {
		spec := &sandbox.Spec{ID: sandboxtest.NewID(), Function: "accounts", Account: account,
			Cmd: []string{"/bin/sleep", "100"}, CodeDir: t.TempDir()}
		return sandboxtest.StartSpec(t, d, spec).Env.(*env)
	}
	a1, a2, b1, def := startIn(a), startIn(a), startIn(b), startIn("")
	for _, tt := range []struct {
		e       *env
		account string
	}{{a1, a}, {a2, a}, {b1, b}, {def, "default"}} {
		// The kernel's view of where the init runs, in every hierarchy.
		got, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(tt.e.b.cmd.Process.Pid), "cgroup"))
		if err != nil {
			t.Fatal(err)
		}
		want := ":" + d.cgroups.group + "/" + tt.account + "/" + tt.e.b.name + "\n"
		checked := 0
		for line := range strings.Lines(string(got)) {
			if d.cgroups.v2 && strings.HasPrefix(line, "0::") || !d.cgroups.v2 && (strings.Contains(line, ":pids:") || strings.Contains(line, ":memory:")) {
				checked++
				if !strings.HasSuffix(line, want) {
					t.Errorf("environment of %s runs in cgroup %q; want ...%s", tt.account, strings.TrimSpace(line), strings.TrimSpace(want))
				}
			}
		}
		if checked == 0 {
			t.Errorf("/proc/<init>/cgroup names no hierarchy the driver uses:\n%s", got)
		}
	}
	exists := func(account string) bool {
		n := 0
		for _, dir := range d.cgroups.dirs(account) {
			if _, err := os.Stat(dir); err == nil {
				n++
			}
		}
		if n != 0 && n != len(d.cgroups.dirs(account)) {
			t.Errorf("account %s's cgroup is in %d hierarchies of %d", account, n, len(d.cgroups.dirs(account)))
		}
		return n > 0
	}
	if !exists(a) || !exists(b) {
		t.Fatalf("the cgroups of accounts a and b do not exist: %v, %v", exists(a), exists(b))
	}
	for i, e := range []*env{a1, a2} {
		if err := e.Destroy(t.Context()); err != nil {
			t.Fatal(err)
		}
		if want := i == 0; exists(a) != want {
			t.Errorf("after destroying %d of a's 2 environments, its cgroup exists: %v; want %v", i+1, exists(a), want)
		}
	}
	if !exists(b) {
		t.Error("b's cgroup went with a's environments")
	}
	// a's subtree comes back with its next environment.
	again := startIn(a)
	if !exists(a) {
		t.Error("a's cgroup does not exist with a new environment of a")
	}
	for _, e := range []*env{again, b1, def} {
		if err := e.Destroy(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if exists(a) || exists(b) || exists("default") {
		t.Errorf("with no environment left, cgroups exist: a's %v, b's %v, the default account's %v", exists(a), exists(b), exists("default"))
	}
}

// TestPoolServesTheAccountsOfRecentStarts: a pooled sandbox goes only to
// its account's environments, and the pool turns to the account of the
// latest Starts.
func TestPoolServesTheAccountsOfRecentStarts(t *testing.T) {
	requireRoot(t)
	const a, b = "111111111111", "222222222222"
	d, err := New(Config{Root: t.TempDir(), PoolSize: 1, PoolAccount: a, Network: NetworkNone}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	defer d.Close()
	// waitPrepared waits until the pool holds a box of account.
	waitPrepared := func(account string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			d.pool.mu.Lock()
			ok := len(d.pool.ready) == 1 && d.pool.ready[0].account == account
			d.pool.mu.Unlock()
			if ok {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("the pool holds no box of %q after 30 s", account)
	}
	startIn := func(account string) bool {
		spec := &sandbox.Spec{ID: sandboxtest.NewID(), Function: "pool", Account: account,
			Cmd: []string{"/bin/true"}, CodeDir: t.TempDir()}
		e := sandboxtest.StartSpec(t, d, spec).Env.(*env)
		if want := accountDir(account); !strings.Contains(e.b.cg.name, want+"/") {
			t.Errorf("environment of %s in cgroup %s", account, e.b.cg.name)
		}
		return e.Timings().Pooled
	}
	var got []bool
	waitPrepared(a)
	got = append(got, startIn(b)) // a's box is not for b
	waitPrepared(b)               // the pool turns to b
	got = append(got, startIn(b))
	waitPrepared(b)
	got = append(got, startIn(a))
	if want := []bool{false, true, false}; !slices.Equal(got, want) {
		t.Errorf("pooled starts of b, b, a = %v; want %v", got, want)
	}
}
