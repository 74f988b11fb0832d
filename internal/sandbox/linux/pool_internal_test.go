//go:build linux

package linux

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestPoolFollowsTheAccountsOfRecentStarts: the pool prepares boxes for the
// accounts of its last size Starts, making room by giving up the boxes of
// accounts that had fewer.
func TestPoolFollowsTheAccountsOfRecentStarts(t *testing.T) {
	const a, b = "111111111111", "222222222222"
	p := newPool(2, 2, "")
	// refill runs the refill loop's decisions until the pool is content,
	// returning the accounts of the boxes it prepared and gave up.
	refill := func() (prepared, gaveUp []string) {
		for range 10 {
			account, surplus, ok := p.next()
			if !ok {
				return prepared, gaveUp
			}
			if surplus != nil {
				gaveUp = append(gaveUp, surplus.account)
			}
			prepared = append(prepared, account)
			p.put(&box{account: account})
		}
		t.Fatal("the pool never has enough")
		return nil, nil
	}
	type step struct{ prepared, gaveUp []string }
	var got []step
	record := func() {
		prepared, gaveUp := refill()
		got = append(got, step{prepared, gaveUp})
	}

	record() // before any Start: the default account's
	p.started(a)
	if p.take(a) != nil {
		t.Fatal("take(a) from a pool of the default account's boxes returned one")
	}
	record() // a's Start missed: one box for it, in place of a default one
	p.started(a)
	if bx := p.take(a); bx == nil || bx.account != a {
		t.Fatalf("take(a) = %+v; want a's box", bx)
	}
	record() // two Starts of a, one box taken: both for a
	p.started(b)
	record() // then b: one each
	if n := p.len(); n != 2 {
		t.Errorf("len() = %d; want the pool's size, 2", n)
	}
	want := []step{
		{prepared: []string{"", ""}},
		{prepared: []string{a}, gaveUp: []string{""}},
		{prepared: []string{a, a}, gaveUp: []string{""}},
		{prepared: []string{b}, gaveUp: []string{a}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(step{})); diff != "" {
		t.Errorf("refills (-want +got):\n%s", diff)
	}
	for _, account := range []string{a, b} {
		if bx := p.take(account); bx == nil || bx.account != account {
			t.Errorf("take(%s) = %+v; want its box", account, bx)
		}
	}

	// A pool for a given account prepares its boxes before any Start.
	p = newPool(2, 2, b)
	if prepared, _ := refill(); !slices.Equal(prepared, []string{b, b}) {
		t.Errorf("a new pool for b prepared boxes for %q; want b's", prepared)
	}
}

func TestConfigPoolAccount(t *testing.T) {
	for account, ok := range map[string]bool{"": true, "123456789012": true, "12345": false, "../../x": false} {
		err := Config{PoolAccount: account}.Validate()
		if (err == nil) != ok {
			t.Errorf("Validate() with PoolAccount %q = %v; want ok %v", account, err, ok)
		}
	}
}

// TestPoolGrowsWithMissesAndShrinksWhenIdle: every Start that finds no box
// grows the pool by one up to its maximum; the refill waits while Starts
// prepare their own; an idle pool halves down to its minimum, giving up
// its oldest boxes.
func TestPoolGrowsWithMissesAndShrinksWhenIdle(t *testing.T) {
	const a = "111111111111"
	p := newPool(2, 5, a)
	fill := func() int {
		n := 0
		for {
			account, surplus, ok := p.next()
			if !ok {
				return n
			}
			if surplus != nil {
				t.Fatalf("next() gave up a box of %q in a pool of one account", surplus.account)
			}
			p.put(&box{account: account, name: strconv.Itoa(n)})
			n++
		}
	}
	if got := fill(); got != 2 {
		t.Fatalf("a new pool prepared %d boxes; want its minimum, 2", got)
	}
	for range 2 {
		p.started(a)
		if p.take(a) == nil {
			t.Fatal("take() found no box in a full pool")
		}
	}
	for range 10 { // a burst: eight miss
		p.started(a)
		if p.take(a) != nil {
			t.Fatal("take() found a box in an empty pool")
		}
	}
	if !p.busy() {
		t.Error("busy() = false while Starts prepare their own boxes")
	}
	for range 10 {
		p.prepared()
	}
	if p.busy() {
		t.Error("busy() = true after every Start prepared its box")
	}
	if got := fill(); got != 5 {
		t.Errorf("after the burst the pool prepared %d boxes; want its maximum, 5", got)
	}

	if got := p.shrink(time.Now()); got != nil {
		t.Errorf("shrink() right after a burst gave up %d boxes; want none", len(got))
	}
	later := time.Now().Add(idleShrink + time.Second)
	var names []string
	for _, b := range p.shrink(later) {
		names = append(names, b.name)
	}
	if want := []string{"0", "1", "2"}; !slices.Equal(names, want) {
		t.Errorf("shrink() after a minute idle gave up %q; want the oldest, %q", names, want)
	}
	if got := p.len(); got != 2 {
		t.Errorf("len() = %d after shrinking; want 2", got)
	}
	if got := p.shrink(later.Add(idleShrink + time.Second)); got != nil {
		t.Errorf("shrink() at the minimum gave up %d boxes; want none", len(got))
	}

	// Boxes being prepared count: two at once make no more than two.
	p = newPool(2, 2, a)
	var accounts []string
	for range 3 {
		if account, _, ok := p.next(); ok {
			accounts = append(accounts, account)
		}
	}
	if len(accounts) != 2 {
		t.Errorf("next() while two are being prepared: %d preparations; want 2", len(accounts))
	}
	p.abandon(a)
	if _, _, ok := p.next(); !ok {
		t.Error("next() after a failed preparation does not prepare another")
	}
}
