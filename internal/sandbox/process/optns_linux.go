package process

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"hearth/internal/sandbox"
)

// optNamespaces reports whether this process may make mount namespaces.
func optNamespaces() bool {
	ok := make(chan bool)
	// The thread is spoilt by the unshare: it ends with the goroutine.
	onSpareThread(func() { ok <- unix.Unshare(unix.CLONE_NEWNS) == nil })
	return <-ok
}

// onSpareThread runs f in a new goroutine locked to a thread that is not
// the process's main thread, and lets the thread end with f. A goroutine
// that exits locked ends its thread, except the main thread, which the Go
// runtime keeps (wedged) instead: left in another mount namespace, it
// would change what /proc/self/mountinfo shows the whole process.
func onSpareThread(f func()) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			f()
			return
		}
		// Hold the main thread until another goroutine has a thread of
		// its own: it cannot be this one.
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(locked)
			f()
		}()
		<-locked
		runtime.UnlockOSThread()
	}()
}

// startInOptNamespace starts e's command from a thread of its own in a new
// mount namespace showing optDir (an empty tmpfs when optDir is empty)
// read-only at /opt, after before (which starts the extensions there), then
// reaps it on that thread. A held bootstrap is started there when
// e.launchReq asks. The thread must outlive the bootstrap: the kernel sends
// Pdeathsig when the thread that forked the child exits, not the process.
// The thread ends with the goroutine, so the namespace never serves any
// other goroutine.
func startInOptNamespace(e *env, optDir string, before func()) error {
	started := make(chan error, 1)
	onSpareThread(func() {
		if err := enterOptNamespace(optDir); err != nil {
			started <- err
			return
		}
		before()
		reply := started
		if e.held {
			started <- nil
			select {
			case reply = <-e.launchReq:
			case <-e.hold:
				return // destroyed before the bootstrap was released
			}
		}
		if err := e.cmd.Start(); err != nil {
			reply <- err
			if len(e.exts) > 0 {
				<-e.hold // the extensions live until Destroy
			}
			return
		}
		reply <- nil
		e.wait()
		// The extensions forked here die with this thread (Pdeathsig):
		// keep it until the environment is destroyed, so that they
		// outlive the runtime and still get their SHUTDOWN.
		if len(e.exts) > 0 {
			<-e.hold
		}
	})
	return <-started
}

// enterOptNamespace moves the calling thread into a mount namespace of its
// own, receiving the host's later mounts and unmounts but sending none
// (so that a scratch filesystem unmounted on the host is not kept alive
// here), with /opt replaced.
func enterOptNamespace(optDir string) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("new mount namespace for /opt: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("stop mount propagation to the host: %w", err)
	}
	const ro = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV
	if optDir == "" {
		if err := unix.Mount("tmpfs", sandbox.OptDir, "tmpfs", ro, "size=4k,nr_inodes=16,mode=755"); err != nil {
			return fmt.Errorf("mount an empty /opt: %w", err)
		}
		return nil
	}
	fi, err := os.Stat(optDir)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", optDir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("opt dir %s is not a directory", optDir)
	}
	if err := unix.Mount(optDir, sandbox.OptDir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s at /opt: %w", optDir, err)
	}
	if err := unix.Mount("", sandbox.OptDir, "", unix.MS_BIND|unix.MS_REMOUNT|ro, ""); err != nil {
		return fmt.Errorf("make /opt read-only: %w", err)
	}
	return nil
}
