//go:build linux

package linux

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"hearth/internal/sandbox"
)

// System directories bound read-only into every root. A directory that is a
// symbolic link on the host (merged /usr) becomes the same link.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// etcEntries are the parts of the host's /etc that dynamically linked
// programs, python3 and node need. Everything else of /etc (shadow, the
// host's users and secrets) stays out.
var etcEntries = []string{
	"ld.so.cache", "ld.so.conf", "ld.so.conf.d",
	"ssl", "ca-certificates", "ca-certificates.conf", "pki", "crypto-policies",
	"resolv.conf", "nsswitch.conf", "host.conf", "gai.conf",
	"localtime", "timezone", "alternatives", "mime.types", "protocols", "services",
	"os-release", "debian_version", "system-release",
}

// checkHostPath refuses host paths an environment may not have bound: they
// would show the host's secrets or the driver's own state (root), or shadow
// the environment's /proc, /dev, /tmp or its code.
func checkHostPath(p, root string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fmt.Errorf("host path %q is not a clean absolute path", p)
	}
	for _, broad := range []string{"/", "/etc", "/var", "/home", "/root", "/run", "/srv", "/mnt", "/media", "/boot"} {
		if p == broad {
			return fmt.Errorf("host path %q would expose too much of the host", p)
		}
	}
	if p == "/etc/shadow" || p == "/etc/gshadow" || root == p || strings.HasPrefix(root, p+"/") || strings.HasPrefix(p, root+"/") {
		return fmt.Errorf("host path %q would expose the host's secrets or the sandbox's state", p)
	}
	for _, bad := range []string{"/proc", "/dev", "/sys", "/tmp", sandbox.TaskRoot, sandbox.RuntimeDir, sandbox.OptDir} {
		if p == bad || strings.HasPrefix(p, bad+"/") {
			return fmt.Errorf("host path %q is reserved inside the environment", p)
		}
	}
	return nil
}

// visibleAlready reports whether the host path p lies in a system directory
// every root shows anyway (a system python3's prefix is /usr).
func visibleAlready(p string) bool {
	for _, d := range systemDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// openTree returns a detached, read-only, nosuid, nodev bind mount of the
// host path p (open_tree + mount_setattr), for an init in another mount
// namespace to attach with move_mount.
func openTree(p string) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("clone mount of %s: %w", p, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("make mount of %s read-only: %w", p, err)
	}
	return os.NewFile(uintptr(fd), p), nil
}

const (
	roFlags  = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV
	bindRO   = unix.MS_BIND | unix.MS_REMOUNT | roFlags
	rootSize = "size=1m,nr_inodes=4k,mode=755"
)

// buildRoot runs in the init, in its new mount namespace: it stops mount
// propagation to the host, mounts a tmpfs at mnt and fills it with the
// read-only system directories, /etc, /dev and /proc. It does not pivot yet.
func buildRoot(mnt string) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, rootSize); err != nil {
		return fmt.Errorf("mount root tmpfs: %w", err)
	}
	for _, d := range []string{"etc", "var/task", "var/runtime", "opt", "tmp", "proc", "dev"} {
		if err := os.MkdirAll(filepath.Join(mnt, d), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	for _, d := range systemDirs {
		if err := bindHost(mnt, d, d); err != nil {
			return err
		}
	}
	if err := shellIsBash(mnt); err != nil {
		return err
	}
	for _, e := range etcEntries {
		if err := bindHost(mnt, "/etc/"+e, "/etc/"+e); err != nil {
			return err
		}
	}
	if err := makeDev(filepath.Join(mnt, "dev")); err != nil {
		return err
	}
	if err := unix.Mount("proc", filepath.Join(mnt, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount proc: %w", err)
	}
	return nil
}

// shellIsBash makes /bin/sh inside the root at mnt the host's bash, as it
// is on Amazon Linux, when the host has bash and its /bin/sh is another
// shell (dash on Debian). Custom runtimes written for Lambda, AWS's own
// tutorial among them, start with #!/bin/sh and use bash's options (set -o
// pipefail). The host's file is mounted over the root's /bin/sh itself (a
// symbolic link on most hosts), so the shell it points to keeps its name.
func shellIsBash(mnt string) error {
	sh, errSh := os.Stat("/bin/sh")
	bash, errBash := os.Stat("/bin/bash")
	if errBash != nil || !bash.Mode().IsRegular() || errSh == nil && os.SameFile(sh, bash) {
		return nil
	}
	bashPath, err := filepath.EvalSymlinks("/bin/bash")
	if err != nil {
		return fmt.Errorf("resolve /bin/bash: %w", err)
	}
	root, err := unix.Open(mnt, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open root: %w", err)
	}
	defer unix.Close(root)
	// The root's /bin is a link on merged-/usr hosts; resolve it inside the
	// root, and stop at the last component, the link /bin/sh itself.
	target, err := unix.Openat2(root, "bin/sh", &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT,
	})
	if errors.Is(err, unix.ENOENT) {
		return nil // no /bin/sh to replace
	}
	if err != nil {
		return fmt.Errorf("open /bin/sh in the root: %w", err)
	}
	defer unix.Close(target)
	src, err := openTree(bashPath)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := unix.MoveMount(int(src.Fd()), "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount bash at /bin/sh: %w", err)
	}
	return nil
}

// bindHost makes the host path src visible read-only at dst inside the root
// at mnt. A missing src is skipped. A symbolic link that resolves into /usr
// is copied as a link; any other link is followed.
func bindHost(mnt, src, dst string) error {
	fi, err := os.Lstat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect %s: %w", src, err)
	}
	target := filepath.Join(mnt, dst)
	if fi.Mode()&fs.ModeSymlink != 0 {
		resolved, err := filepath.EvalSymlinks(src)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // dangling on the host too
		}
		if err != nil {
			return fmt.Errorf("resolve %s: %w", src, err)
		}
		if resolved == "/usr" || strings.HasPrefix(resolved, "/usr/") {
			link, err := os.Readlink(src)
			if err != nil {
				return fmt.Errorf("read link %s: %w", src, err)
			}
			if err := os.Symlink(link, target); err != nil {
				return fmt.Errorf("link %s: %w", dst, err)
			}
			return nil
		}
		src = resolved
		if fi, err = os.Stat(src); err != nil {
			return fmt.Errorf("inspect %s: %w", src, err)
		}
	}
	if err := makeMountPoint(target, !fi.IsDir()); err != nil {
		return err
	}
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	if err := unix.Mount("", target, "", bindRO, ""); err != nil {
		return fmt.Errorf("make %s read-only: %w", dst, err)
	}
	return nil
}

func makeMountPoint(p string, file bool) error {
	if !file {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("create mount point %s: %w", p, err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("create mount point %s: %w", p, err)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return fmt.Errorf("create mount point %s: %w", p, err)
	}
	return f.Close()
}

// writeEtc generates the files of /etc that must not come from the host,
// naming uid and gid as Lambda names its function's user. The init calls
// it at start, when the environment's identity is known.
func writeEtc(mnt string, uid, gid int) error {
	user := "sbx_user1051" // Lambda's name for its uid 993
	files := map[string]string{
		"passwd": fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d::/tmp:/sbin/nologin\n", user, uid, gid),
		"group":  fmt.Sprintf("root:x:0:\n%s:x:%d:\n", user, gid),
		"hosts":  "127.0.0.1\tlocalhost sandbox.localdomain sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(mnt, "etc", name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("write /etc/%s: %w", name, err)
		}
	}
	return nil
}

// makeDev mounts a small tmpfs at dev with the devices a runtime uses.
func makeDev(dev string) error {
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "size=64k,nr_inodes=64,mode=755"); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	nodes := []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}}
	for _, n := range nodes {
		p := filepath.Join(dev, n.name)
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("create /dev/%s: %w", n.name, err)
		}
		if err := unix.Chmod(p, 0o666); err != nil { // mknod obeys the umask
			return fmt.Errorf("chmod /dev/%s: %w", n.name, err)
		}
	}
	links := map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return fmt.Errorf("link /dev/%s: %w", name, err)
		}
	}
	return nil
}

// pivot makes mnt the root of the init's mount namespace and detaches the
// host's mounts from it.
func pivot(mnt string) error {
	if err := unix.Chdir(mnt); err != nil {
		return fmt.Errorf("enter new root: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("enter new root: %w", err)
	}
	return nil
}

// protectProc makes the kernel's tunables read-only and hides /proc files
// that describe the host. It runs after the network is configured, which
// writes to /proc/sys/net.
func protectProc() error {
	for _, p := range []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", p, err)
		}
		if err := unix.Mount("", p, "", bindRO, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", p, err)
		}
	}
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := unix.Mount("/dev/null", p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	return nil
}

// attachTmp mounts the detached mount tmp at /tmp. A /tmp mounted there
// before (the prepared one, of another size) is detached first; the
// returned descriptor keeps it alive. Its last reference going unmounts the
// filesystem and detaches its loop device, which takes the kernel
// milliseconds: the caller closes it once the bootstrap runs.
func attachTmp(tmp *os.File) (old *os.File, err error) {
	mounted, err := isMount("/tmp")
	if err != nil {
		return nil, err
	}
	if mounted {
		fd, err := unix.Open("/tmp", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open the prepared /tmp: %w", err)
		}
		old = os.NewFile(uintptr(fd), "/tmp")
		if err := unix.Unmount("/tmp", unix.MNT_DETACH); err != nil {
			old.Close()
			return nil, fmt.Errorf("unmount the prepared /tmp: %w", err)
		}
	}
	if err := unix.MoveMount(int(tmp.Fd()), "", unix.AT_FDCWD, "/tmp", unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		if old != nil {
			old.Close()
		}
		return nil, fmt.Errorf("attach /tmp: %w", err)
	}
	return old, nil
}

// isMount reports whether something is mounted at the directory p of the
// root (which is not itself a mount of the root's filesystem).
func isMount(p string) (bool, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, 0, &st); err != nil {
		return false, fmt.Errorf("inspect %s: %w", p, err)
	}
	if st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return false, fmt.Errorf("inspect %s: the kernel does not report mount roots", p)
	}
	return st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
}

// attachTrees mounts the detached trees received from the driver, among
// them the disk-backed /tmp (a tmpfs of tmpMB megabytes when there is none),
// and makes the root read-only. It runs after pivot. The caller closes
// oldTmp (see attachTmp) when it is not nil.
func attachTrees(trees []treeMount, files []*os.File, tmpMB int) (oldTmp *os.File, err error) {
	if len(trees) != len(files) {
		return nil, fmt.Errorf("got %d mount descriptors for %d trees", len(files), len(trees))
	}
	var old *os.File
	fail := func(err error) (*os.File, error) {
		if old != nil {
			old.Close()
		}
		return nil, err
	}
	for i, t := range trees {
		if t.Target == "/tmp" {
			// Of another size than the one the sandbox was prepared with.
			if old, err = attachTmp(files[i]); err != nil {
				return fail(err)
			}
			continue
		}
		if err := attachTree(t, files[i]); err != nil {
			return fail(err)
		}
	}
	tmp, err := isMount("/tmp")
	if err != nil {
		return fail(err)
	}
	if !tmp {
		opts := fmt.Sprintf("size=%dm,mode=1777", tmpMB)
		if err := unix.Mount("tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fail(fmt.Errorf("mount /tmp: %w", err))
		}
	}
	if err := unix.Mount("", "/", "", bindRO, ""); err != nil {
		return fail(fmt.Errorf("make root read-only: %w", err))
	}
	return old, nil
}

// attachTree mounts the detached tree f at t.Target.
func attachTree(t treeMount, f *os.File) error {
	if err := makeMountPoint(t.Target, t.File); err != nil {
		return err
	}
	if err := unix.MoveMount(int(f.Fd()), "", unix.AT_FDCWD, t.Target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach %s: %w", t.Target, err)
	}
	return nil
}
