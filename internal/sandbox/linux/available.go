//go:build linux && !hearth_noinitbin

package linux

import (
	"errors"
	"fmt"
	"os"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// Available reports whether this host can run the linux driver: nil when it
// can, otherwise an error saying why not. It checks privileges, cgroups,
// namespaces, seccomp and the mount API; it changes nothing.
func Available() error {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("linux sandbox: needs root, running as uid %d", uid)
	}
	if err := haveCapabilities(unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN, unix.CAP_SETUID, unix.CAP_MKNOD); err != nil {
		return err
	}
	if _, err := newCgroupTree("/"); err != nil {
		return fmt.Errorf("linux sandbox: cgroups: %w", err)
	}
	for _, ns := range []string{"pid", "mnt", "net", "ipc", "uts"} {
		if _, err := os.Stat("/proc/self/ns/" + ns); err != nil {
			return fmt.Errorf("linux sandbox: %s namespaces unavailable: %w", ns, err)
		}
	}
	if !seccomp.Supported() {
		return errors.New("linux sandbox: seccomp filters unavailable")
	}
	// open_tree (Linux 5.2) and mount_setattr (5.12) carry the function's
	// files into its mount namespace.
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("linux sandbox: open_tree unavailable (Linux 5.12 or later needed): %w", err)
	}
	defer unix.Close(fd)
	if err := unix.MountSetattr(-1, "", 0, &unix.MountAttr{}); errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("linux sandbox: mount_setattr unavailable (Linux 5.12 or later needed): %w", err)
	}
	return nil
}

func haveCapabilities(caps ...int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("linux sandbox: read capabilities: %w", err)
	}
	for _, c := range caps {
		if data[c/32].Effective&(1<<(uint(c)%32)) == 0 {
			return fmt.Errorf("linux sandbox: needs capability %d", c)
		}
	}
	return nil
}
