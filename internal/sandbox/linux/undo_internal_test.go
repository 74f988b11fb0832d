//go:build linux

package linux

import (
	"errors"
	"slices"
	"testing"
)

func TestUndoStackRunsStepsPushedAfterDefer(t *testing.T) {
	var ran []int
	build := func(fail bool) (err error) {
		var undo undoStack
		defer undo.runOnError(&err)
		for i := range 3 {
			undo.push(func() error { ran = append(ran, i); return nil })
		}
		if fail {
			return errors.New("step 4 failed")
		}
		return nil
	}
	if err := build(false); err != nil || len(ran) != 0 {
		t.Fatalf("build(ok) = %v, ran %v; want nil and no undo", err, ran)
	}
	if err := build(true); err == nil || !slices.Equal(ran, []int{2, 1, 0}) {
		t.Fatalf("build(fail) = %v, ran %v; want the error and undo 2, 1, 0", err, ran)
	}
}
