package server

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// closeInheritedOnExec marks every descriptor above stderr close-on-exec.
// Go opens its own files so; what it does not open itself are the
// descriptors the server inherited from whatever started it (a shell, a
// supervisor, a test harness), which every process it starts would
// inherit in turn, the sandbox inits and through them the functions: a
// host pipe or socket in every environment. It returns how many it
// marked; where /proc/self/fd cannot be read it does nothing.
func closeInheritedOnExec() int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	marked := 0
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd <= 2 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC); err == nil {
			marked++
		}
	}
	return marked
}
