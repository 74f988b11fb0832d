package server

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInheritedFilesCloseOnExec: a descriptor the process holds without
// close-on-exec, as one inherited from its parent, is marked so, and
// stdin, stdout and stderr are left as they are.
func TestInheritedFilesCloseOnExec(t *testing.T) {
	fds, err := unix.Open(os.DevNull, unix.O_RDONLY, 0) // no O_CLOEXEC: an inherited one
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds)
	before, err := unix.FcntlInt(uintptr(fds), unix.F_GETFD, 0)
	if err != nil || before&unix.FD_CLOEXEC != 0 {
		t.Fatalf("setup: flags %#x, %v", before, err)
	}
	stdout, _ := unix.FcntlInt(1, unix.F_GETFD, 0)
	if n := closeInheritedOnExec(); n < 1 {
		t.Errorf("closeInheritedOnExec() marked %d descriptors; want at least 1", n)
	}
	if after, _ := unix.FcntlInt(uintptr(fds), unix.F_GETFD, 0); after&unix.FD_CLOEXEC == 0 {
		t.Errorf("descriptor %d is not close-on-exec after closeInheritedOnExec (flags %#x)", fds, after)
	}
	if got, _ := unix.FcntlInt(1, unix.F_GETFD, 0); got != stdout {
		t.Errorf("stdout's flags changed from %#x to %#x", stdout, got)
	}
}
