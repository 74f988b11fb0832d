//go:build linux && !hearth_noinitbin

package linux

import "net/netip"

// chunkSlots is how many /30s of the driver's subnet form one account's
// address range: a /27. A /20 holds 128 of them.
const chunkSlots = 8

// addrAlloc hands out the /30 slots of a driver's subnet so that each
// account's environments have an address range of their own. The subnet is
// cut into chunks of chunkSlots slots; a chunk belongs to one account from
// the first of its slots handed out to the last returned, and an account
// takes a free chunk when its own are full. The firewall refuses every
// environment every other's address whatever the account; the ranges let
// an operator tell accounts' traffic apart (and write rules for one) by
// source address.
//
// An account's searches go round from the slot after the last one handed
// out to it, so a slot comes back only after the others of its account's
// chunks, by when the kernel has usually removed the veth of its last
// environment.
type addrAlloc struct {
	chunk int            // slots per chunk
	used  []bool         // per slot
	owner []string       // per chunk: the account whose range it is while count > 0
	count []int          // per chunk: slots in use
	next  map[string]int // per account: where its next search starts
}

func newAddrAlloc(slots int) *addrAlloc {
	chunk := min(chunkSlots, slots)
	chunks := (slots + chunk - 1) / chunk
	return &addrAlloc{chunk: chunk, used: make([]bool, slots),
		owner: make([]string, chunks), count: make([]int, chunks), next: make(map[string]int)}
}

// reserve returns a free slot in one of account's chunks, or in a free
// chunk, which becomes account's. ok is false when there is neither.
func (a *addrAlloc) reserve(account string) (idx int, ok bool) {
	free := -1
	for i := range len(a.used) {
		idx := (a.next[account] + i) % len(a.used)
		if a.used[idx] {
			continue
		}
		c := idx / a.chunk
		if a.count[c] > 0 && a.owner[c] == account {
			return a.take(idx, account), true
		}
		if a.count[c] == 0 && free < 0 {
			free = idx
		}
	}
	if free < 0 {
		return 0, false
	}
	return a.take(free, account), true
}

func (a *addrAlloc) take(idx int, account string) int {
	c := idx / a.chunk
	a.used[idx] = true
	a.owner[c] = account
	a.count[c]++
	a.next[account] = idx + 1
	return idx
}

// release frees slot idx; its chunk is free again with its last slot.
func (a *addrAlloc) release(idx int) {
	if !a.used[idx] {
		return
	}
	a.used[idx] = false
	a.count[idx/a.chunk]--
}

// rangeOf is the address range of the chunk holding slot idx of subnet.
func (a *addrAlloc) rangeOf(subnet netip.Prefix, idx int) netip.Prefix {
	bits := 32 - 2 // a slot is a /30
	for n := a.chunk; n > 1; n /= 2 {
		bits--
	}
	host, _ := slotAddrs(subnet, idx-idx%a.chunk)
	return netip.PrefixFrom(host.Addr(), bits).Masked()
}
