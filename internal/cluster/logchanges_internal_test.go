package cluster

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/logs"
)

// TestSplitChange: a put larger than a message may carry goes out as
// consecutive puts of the same stream, each within the limit (an event
// longer than the limit alone), all events in order.
func TestSplitChange(t *testing.T) {
	ev := func(n int, c string) logs.Event { return logs.Event{Time: int64(n), Message: strings.Repeat(c, n)} }
	put := logs.Change{Kind: logs.ChangePut, Key: "~g", Stream: "s", Events: []logs.Event{ev(40, "a"), ev(40, "b"), ev(300, "c"), ev(10, "d"), ev(10, "e")}}
	parts := splitChange(put, 200)
	var sizes [][]int
	var all []logs.Event
	for _, p := range parts {
		if p.Kind != put.Kind || p.Key != put.Key || p.Stream != put.Stream {
			t.Errorf("part %+v lost the change's kind, key or stream", p)
		}
		var s []int
		for _, e := range p.Events {
			s = append(s, len(e.Message))
		}
		sizes = append(sizes, s)
		all = append(all, p.Events...)
	}
	if diff := cmp.Diff([][]int{{40, 40}, {300}, {10, 10}}, sizes); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(put.Events, all); diff != "" {
		t.Errorf("events across the parts (-want +got):\n%s", diff)
	}
	other := logs.Change{Kind: logs.ChangeRetention, Key: "~g", Days: 7}
	if got := splitChange(other, 1); len(got) != 1 || got[0].Kind != other.Kind {
		t.Errorf("splitChange(retention) = %+v; want it whole", got)
	}
}
