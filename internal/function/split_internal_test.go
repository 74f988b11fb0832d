package function

import (
	"slices"
	"strings"
	"testing"
)

// TestSplitColonsIsSplit checks that ParseRef's split without allocations
// splits as strings.Split does, around and past its room.
func TestSplitColonsIsSplit(t *testing.T) {
	for _, s := range []string{"", ":", "f", "f:1", "::", "a:b:c:d:e:f:g:h", "a:b:c:d:e:f:g:h:i", "a:b:c:d:e:f:g:h:i:j", ":::::::::", "arn:aws:lambda:us-east-1:123456789012:function:f:live"} {
		var buf [9]string
		if got, want := splitColons(s, buf[:0]), strings.Split(s, ":"); !slices.Equal(got, want) {
			t.Errorf("splitColons(%q) = %q; want %q", s, got, want)
		}
	}
}
