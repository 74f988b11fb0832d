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

	"golang.org/x/sys/unix"

	"hearth/internal/sandbox/sandboxtest"
)

func TestUIDPoolHandsOutRoundRobin(t *testing.T) {
	p := newUIDPool(1000, nil, 3)
	var got []int
	for range 3 {
		uid, err := p.get("")
		if err != nil {
			t.Fatalf("get() = %v with free uids", err)
		}
		got = append(got, uid)
	}
	if want := []int{1000, 1001, 1002}; !slices.Equal(got, want) {
		t.Fatalf("get() ×3 = %v; want %v", got, want)
	}
	if uid, err := p.get(""); err == nil {
		t.Fatalf("get() with every uid in use = %d; want an error", uid)
	}
	p.put(1001)
	if uid, err := p.get(""); err != nil || uid != 1001 {
		t.Fatalf("get() with only 1001 free = %d, %v; want 1001", uid, err)
	}
	// The search goes on from the last uid handed out (1001), so a uid
	// just returned comes back only after the rest of the block.
	p.put(1000)
	p.put(1002)
	p.put(1001)
	var order []int
	for range 3 {
		uid, _ := p.get("")
		order = append(order, uid)
	}
	if want := []int{1002, 1000, 1001}; !slices.Equal(order, want) {
		t.Errorf("get() order after returning 1000, 1002, 1001 = %v; want %v (on from the last handed out)", order, want)
	}
}

// TestUIDsStayWithTheirAccount: a uid goes to another account only when no
// free uid is unused or the account's own.
func TestUIDsStayWithTheirAccount(t *testing.T) {
	const a, b = "111111111111", "222222222222"
	p := newUIDPool(1000, nil, 4)
	get := func(account string) int {
		t.Helper()
		uid, err := p.get(account)
		if err != nil {
			t.Fatalf("get(%s) = %v with free uids", account, err)
		}
		return uid
	}
	a0, b0, a1, b1 := get(a), get(b), get(a), get(b) // 1000..1003, the block's first round
	for _, uid := range []int{a0, b0, a1, b1} {
		p.put(uid)
	}
	// The search goes on from the last uid handed out, skipping the other
	// account's: a's uids for a, b's for b.
	var got []int
	for _, account := range []string{b, a, b, a} {
		got = append(got, get(account))
	}
	if want := []int{b0, a1, b1, a0}; !slices.Equal(got, want) {
		t.Errorf("get(b, a, b, a) with every uid free = %v; want %v (each account's own)", got, want)
	}
	// With only b's uids free, a gets one rather than failing.
	p.put(b0)
	if uid := get(a); uid != b0 {
		t.Errorf("get(a) with only b's %d free = %d; want %d", b0, uid, b0)
	}
	// A new account takes a uid never handed out over one of a or b.
	p = newUIDPool(1000, nil, 3)
	first := get(a)
	p.put(first)
	if uid := get(b); uid == first {
		t.Errorf("get(b) = %d, a's uid, while uids never handed out are free", uid)
	}
}

// TestUIDsAreFreedOnlyAfterDestroy: an environment's uid is its own while
// any of its processes may live, and returns to the driver after Destroy.
func TestUIDsAreFreedOnlyAfterDestroy(t *testing.T) {
	requireRoot(t)
	d, err := New(Config{Root: t.TempDir(), PoolSize: 1, Network: NetworkNone}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	defer d.Close()

	a := sandboxtest.Start(t, d, "sleep 100")
	b := sandboxtest.Start(t, d, "sleep 100")
	uidA, uidB := a.Env.(*env).b.uid, b.Env.(*env).b.uid
	if uidA == uidB || uidA < defaultUIDBase || uidB < defaultUIDBase {
		t.Fatalf("uids of two environments = %d, %d; want different ones from %d", uidA, uidB, defaultUIDBase)
	}
	if got := processUIDs(t, a.Env.(*env)); len(got) == 0 || got[0] != uidA {
		t.Errorf("processes of environment a run as %v; want %d", got, uidA)
	}
	if err := a.Env.Destroy(t.Context()); err != nil {
		t.Fatalf("Destroy() = %v", err)
	}
	if n := d.uids.inUse(); n != 1 {
		t.Errorf("uids in use after destroying a of a, b = %d; want 1", n)
	}
	c := sandboxtest.Start(t, d, "sleep 100")
	if uidC := c.Env.(*env).b.uid; uidC == uidA || uidC == uidB {
		t.Errorf("uid of a third environment = %d; want neither b's (alive) nor a's (just freed): %d, %d", uidC, uidB, uidA)
	}
	for _, e := range []*sandboxtest.Started{b, c} {
		if err := e.Env.Destroy(t.Context()); err != nil {
			t.Fatalf("Destroy() = %v", err)
		}
	}
	if n := d.uids.inUse(); n != 0 {
		t.Errorf("uids in use after destroying every environment = %d; want 0 (the pooled sandbox has none)", n)
	}
}

// processUIDs returns the uid of each child of e's init (root): the
// bootstrap.
func processUIDs(t *testing.T, e *env) []int {
	t.Helper()
	init := strconv.Itoa(e.b.cmd.Process.Pid)
	children, err := os.ReadFile(filepath.Join("/proc", init, "task", init, "children"))
	if err != nil {
		t.Fatal(err)
	}
	var uids []int
	for _, pid := range strings.Fields(string(children)) {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join("/proc", pid), &st); err != nil {
			continue // gone meanwhile
		}
		uids = append(uids, int(st.Uid))
	}
	return uids
}

// TestDriversClaimDistinctUIDBlocks: two drivers on one host never hand out
// the same uid.
func TestDriversClaimDistinctUIDBlocks(t *testing.T) {
	requireRoot(t)
	var firsts []int
	for range 2 {
		d, err := New(Config{Root: t.TempDir(), PoolSize: -1, Network: NetworkNone}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("New() = %v", err)
		}
		defer d.Close()
		firsts = append(firsts, d.uids.first)
	}
	if firsts[0] == firsts[1] {
		t.Errorf("two drivers both claimed the uids from %d", firsts[0])
	}
	if _, err := os.Stat(filepath.Join(uidClaims, strconv.Itoa(firsts[1])+".lock")); err != nil {
		t.Errorf("claim of the second driver: %v", err)
	}
}
