package cluster

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNodesDeadlineAndLeaving(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := NewNodes(func() time.Time { return now })
	started := now.Add(-time.Minute)
	n.Apply(NodeBeat{V: 1, ID: "a", Roles: []string{"api", "poller"}, Addr: "127.0.0.1:1", Started: started})
	n.Apply(NodeBeat{V: 1, ID: "b", Roles: []string{"worker"}, Addr: "127.0.0.1:2", Started: started})
	n.Apply(NodeBeat{V: 1, ID: "c", Roles: []string{"worker"}})
	n.Apply(NodeBeat{V: 2, ID: "future"}) // another version: ignored
	n.Apply(NodeBeat{V: 1})               // no id: ignored

	states := func() map[string]string {
		got := map[string]string{}
		for _, s := range n.List() {
			got[s.ID] = s.State
		}
		return got
	}
	if got, want := states(), map[string]string{"a": NodeAlive, "b": NodeAlive, "c": NodeAlive}; !cmp.Equal(got, want) {
		t.Errorf("at first: %v", cmp.Diff(want, got))
	}
	first := n.List()[0]
	if want := (NodeState{ID: "a", Roles: []string{"api", "poller"}, Addr: "127.0.0.1:1", Started: started, Deadline: now.Add(NodeTimeout), State: NodeAlive}); !cmp.Equal(first, want) {
		t.Errorf("node a: %v", cmp.Diff(want, first))
	}

	// a keeps beating, b stops, c says it leaves.
	now = now.Add(2 * time.Second)
	n.Apply(NodeBeat{V: 1, ID: "a", Roles: []string{"api", "poller"}})
	n.Apply(NodeBeat{V: 1, ID: "c", Leaving: true})
	now = now.Add(NodeTimeout - time.Second)
	if got, want := states(), map[string]string{"a": NodeAlive, "b": NodeLost}; !cmp.Equal(got, want) {
		t.Errorf("after b's deadline and c's leaving: %v", cmp.Diff(want, got))
	}
	// b beats again: alive.
	n.Apply(NodeBeat{V: 1, ID: "b", Roles: []string{"worker"}})
	if got, want := states(), map[string]string{"a": NodeAlive, "b": NodeAlive}; !cmp.Equal(got, want) {
		t.Errorf("after b beats again: %v", cmp.Diff(want, got))
	}
	// Lost for long: forgotten.
	now = now.Add(NodeTimeout + nodeForget + time.Second)
	if got := n.List(); len(got) != 0 {
		t.Errorf("long after every deadline: %v, want none", got)
	}
}
