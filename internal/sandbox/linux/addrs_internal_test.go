//go:build linux

package linux

import (
	"net/netip"
	"strings"
	"testing"
)

// TestAddressRangesPerAccount: each account's slots come from chunks of
// its own, a chunk is free again with its last slot, and an account takes
// another chunk when its own are full.
func TestAddressRangesPerAccount(t *testing.T) {
	const a, b = "111111111111", "222222222222"
	subnet := netip.MustParsePrefix("10.208.0.0/24") // 64 slots, 8 chunks
	al := newAddrAlloc(64)
	get := func(account string) int {
		t.Helper()
		idx, ok := al.reserve(account)
		if !ok {
			t.Fatalf("reserve(%s) found nothing", account)
		}
		return idx
	}
	chunkOf := func(idx int) netip.Prefix { return al.rangeOf(subnet, idx) }

	a0, b0, a1 := get(a), get(b), get(a)
	if chunkOf(a0) != chunkOf(a1) || chunkOf(a0) == chunkOf(b0) {
		t.Errorf("ranges of a's slots %d, %d and b's %d: %v, %v, %v; want a's shared, b's another",
			a0, a1, b0, chunkOf(a0), chunkOf(a1), chunkOf(b0))
	}
	if got, want := chunkOf(a0), netip.MustParsePrefix("10.208.0.0/27"); got != want {
		t.Errorf("range of the first chunk = %v; want %v", got, want)
	}
	// a fills its chunk, then takes a new one, not b's.
	seen := map[netip.Prefix]int{}
	for range 2 * chunkSlots {
		idx := get(a)
		if chunkOf(idx) == chunkOf(b0) {
			t.Fatalf("a got slot %d in b's range %v", idx, chunkOf(b0))
		}
		seen[chunkOf(idx)]++
	}
	if len(seen) != 3 {
		t.Errorf("a's 18 slots lie in %d ranges %v; want 3 of 8 slots", len(seen), seen)
	}
	// b's range is free again with its last slot: a third account fills
	// the 5 free chunks, b's former one among them, and then finds none.
	al.release(b0)
	const c = "333333333333"
	taken := map[netip.Prefix]bool{}
	for range 5 * chunkSlots {
		taken[chunkOf(get(c))] = true
	}
	if !taken[chunkOf(b0)] || len(taken) != 5 {
		t.Errorf("ranges a third account took = %v; want 5, b's former %v among them", taken, chunkOf(b0))
	}
	if idx, ok := al.reserve(c); ok {
		t.Errorf("reserve(c) with every chunk a's or full of c's = %d; want none", idx)
	}
	if _, ok := al.reserve(a); !ok {
		t.Error("reserve(a) with free slots in a's ranges found none")
	}
}

// Veth names follow the address, not the index in the subnet: the same
// slot of two drivers' subnets gets two names, one address one name, and
// every name fits the kernel's 15 characters.
func TestVethName(t *testing.T) {
	a, b := netip.MustParsePrefix("10.208.0.0/20"), netip.MustParsePrefix("10.208.16.0/20")
	seen := map[string]netip.Addr{}
	for _, subnet := range []netip.Prefix{a, b, netip.MustParsePrefix("10.223.240.0/20")} {
		for _, idx := range []int{0, 1, 7, 1023} {
			host, _ := slotAddrs(subnet, idx)
			name := vethName(host.Addr())
			if len(name) > 15 || !strings.HasPrefix(name, vethPrefix) {
				t.Errorf("vethName(%s) = %q; want %s and at most 15 characters", host.Addr(), name, vethPrefix)
			}
			if prev, ok := seen[name]; ok {
				t.Errorf("vethName(%s) = vethName(%s) = %q", host.Addr(), prev, name)
			}
			seen[name] = host.Addr()
			if again := vethName(host.Addr()); again != name {
				t.Errorf("vethName(%s) = %q, then %q", host.Addr(), name, again)
			}
		}
	}
}
