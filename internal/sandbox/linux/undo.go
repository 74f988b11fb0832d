//go:build linux && !hearth_noinitbin

package linux

import "errors"

// undoStack runs cleanup steps in reverse order if the enclosing function
// fails (STYLE.md §2.13).
type undoStack []func() error

func (u *undoStack) push(f func() error) { *u = append(*u, f) }

// runOnError runs every step, newest first, when *errp is not nil, and joins
// their errors into *errp. Its receiver is a pointer so that
// "defer undo.runOnError(&err)" sees the steps pushed after the defer
// statement (a value receiver would be copied, empty, when deferring).
func (u *undoStack) runOnError(errp *error) {
	if *errp == nil {
		return
	}
	for i := len(*u) - 1; i >= 0; i-- {
		if err := (*u)[i](); err != nil {
			*errp = errors.Join(*errp, err)
		}
	}
}
