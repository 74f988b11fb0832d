package cluster

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/function"
	"hearth/internal/worker"
)

// Every live worker computes its share from the same view; the shares of
// a version add up to its target, differ by at most one between workers,
// and nodes that are not live workers provision nothing.
func TestShareOf(t *testing.T) {
	var targets []worker.Target
	for i, n := range []int{1, 2, 3, 5, 7, 100} {
		targets = append(targets, worker.Target{Config: function.Config{Account: "000000000000", Name: fmt.Sprint("f", i), Version: "1"}, N: n})
	}
	for _, live := range [][]string{{"a"}, {"a", "b"}, {"a", "b", "c"}, {"a", "b", "c", "d", "e", "f", "g", "h"}} {
		sums := map[string]int{}
		lo, hi := map[string]int{}, map[string]int{}
		for _, w := range live {
			got := map[string]int{}
			for _, s := range shareOf(targets, live, w) {
				if s.N <= 0 {
					t.Errorf("%v, %s: a share of %d", live, w, s.N)
				}
				got[s.Config.Name] = s.N
			}
			for _, tg := range targets {
				n := got[tg.Config.Name]
				sums[tg.Config.Name] += n
				if l, ok := lo[tg.Config.Name]; !ok || n < l {
					lo[tg.Config.Name] = n
				}
				hi[tg.Config.Name] = max(hi[tg.Config.Name], n)
			}
		}
		for _, tg := range targets {
			if sums[tg.Config.Name] != tg.N {
				t.Errorf("%d live workers: shares of %s add up to %d, want %d", len(live), tg.Config.Name, sums[tg.Config.Name], tg.N)
			}
			if hi[tg.Config.Name]-lo[tg.Config.Name] > 1 {
				t.Errorf("%d live workers: shares of %s range from %d to %d", len(live), tg.Config.Name, lo[tg.Config.Name], hi[tg.Config.Name])
			}
		}
	}
	if got := shareOf(targets, []string{"a", "b"}, ""); got != nil {
		t.Errorf("a node that is no worker gets %v", got)
	}
	if got := shareOf(targets, []string{"a", "b"}, "c"); got != nil {
		t.Errorf("a worker not (yet) live gets %v", got)
	}
}

// Holds add to a version's target (or make one) until released or no
// longer renewed.
func TestHolds(t *testing.T) {
	p := NewProvisionedWorkers(nil, slog.New(slog.DiscardHandler))
	v1 := function.Config{Account: "000000000000", Name: "f", Version: "1"}
	v2 := function.Config{Account: "000000000000", Name: "f", Version: "2"}
	p.targets = []worker.Target{{Config: v1, N: 2}}
	wanted := func() map[string]int {
		p.mu.Lock()
		defer p.mu.Unlock()
		out := map[string]int{}
		for _, tg := range p.wantedLocked() {
			out[tg.Config.Version] = tg.N
		}
		return out
	}
	p.mu.Lock()
	p.holds["a"] = hold{cfg: v2, n: 1, seen: time.Now()}
	p.holds["b"] = hold{cfg: v1, n: 3, seen: time.Now()}
	p.mu.Unlock()
	if diff := cmp.Diff(map[string]int{"1": 5, "2": 1}, wanted()); diff != "" {
		t.Errorf("targets with holds (-want +got):\n%s", diff)
	}
	if p.targets[0].N != 2 {
		t.Errorf("the holds changed the stored targets: %v", p.targets)
	}
	p.mu.Lock()
	delete(p.holds, "b")
	p.holds["a"] = hold{cfg: v2, n: 1, seen: time.Now().Add(-holdTTL - time.Second)}
	p.mu.Unlock()
	if !p.expireHolds() || p.expireHolds() {
		t.Errorf("expireHolds: want one expiry, then none")
	}
	if diff := cmp.Diff(map[string]int{"1": 2}, wanted()); diff != "" {
		t.Errorf("targets after the holds ended (-want +got):\n%s", diff)
	}
}
