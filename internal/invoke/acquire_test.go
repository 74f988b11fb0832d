package invoke

import (
	"errors"
	"testing"

	"hearth/internal/function"
)

// configs is an in-memory function table: what acquire reads of the store.
type configs struct {
	fns         []function.Config
	provisioned map[string]int
	changed     chan struct{}
}

func (c *configs) Version(account, name, version string) (function.Config, error) {
	for _, f := range c.fns {
		if f.Account == account && f.Name == name && version == function.Latest {
			return f, nil
		}
	}
	return function.Config{}, errors.New("not found")
}
func (c *configs) Alias(account, name, alias string) (function.Alias, error) {
	return function.Alias{}, errors.New("not found")
}
func (c *configs) Functions() []function.Config      { return c.fns }
func (c *configs) Changed() <-chan struct{}          { return c.changed }
func (c *configs) ProvisionedTotals() map[string]int { return c.provisioned }

func fn(account, name string, reserved *int) function.Config {
	return function.Config{Account: account, Name: name, Version: function.Latest, ReservedConcurrency: reserved}
}

// TestAcquire checks the concurrency rules: a reserved function runs up to
// its reservation whatever else runs; a provisioned one's first N are its
// own; the rest of an account shares its limit minus both; and all
// accounts' shared invocations stay within the server's limit.
func TestAcquire(t *testing.T) {
	two := 2
	const a, b = "111111111111", "222222222222"
	c := &configs{
		fns: []function.Config{
			fn(a, "reserved", &two), fn(a, "prov", nil), fn(a, "plain", nil), fn(b, "plain", nil),
		},
		provisioned: map[string]int{a + "/prov": 1},
		changed:     make(chan struct{}),
	}
	s := New(Config{Account: a, Concurrency: 6, AccountConcurrency: 5}, c, nil)
	take := func(account, name string) (func(), error) {
		f, _ := c.Version(account, name, function.Latest)
		return s.acquire(t.Context(), &f)
	}
	var held []func()
	must := func(account, name string) {
		t.Helper()
		rel, err := take(account, name)
		if err != nil {
			t.Fatalf("acquire %s/%s: %v", account, name, err)
		}
		held = append(held, rel)
	}
	refused := func(account, name string, want error) {
		t.Helper()
		if rel, err := take(account, name); !errors.Is(err, want) {
			if rel != nil {
				rel()
			}
			t.Fatalf("acquire %s/%s = %v; want %v", account, name, err, want)
		}
	}
	// Account a: 5, of which 2 reserved and 1 provisioned: 2 shared.
	must(a, "reserved")
	must(a, "reserved")
	refused(a, "reserved", ErrReservedThrottled)
	must(a, "prov") // its provisioned one
	must(a, "plain")
	must(a, "prov") // shared
	refused(a, "plain", ErrThrottled)
	// Account b has its own 5, but the server only 6 in all: 5 taken.
	must(b, "plain")
	refused(b, "plain", ErrThrottled)
	// A reservation is kept even when the server is full.
	held[0]()
	must(a, "reserved")
	for _, rel := range held[1:] {
		rel()
	}
	if s.total != 0 {
		t.Errorf("after every release, %d in flight; want 0", s.total)
	}
}
