package linux

import (
	"errors"
	"net/netip"
	"time"
)

// Network modes for [Config.Network].
const (
	// NetworkNAT gives each environment outbound access through a veth
	// pair and NAT.
	NetworkNAT = "nat"
	// NetworkNone leaves each environment with loopback only.
	NetworkNone = "none"
)

// Config configures a Driver. The zero value is usable.
type Config struct {
	// Root is a directory the driver owns for its state: a lock that keeps
	// two drivers off the same Root and an empty directory each
	// environment mounts its root on (inside its own mount namespace; the
	// host sees nothing mounted), and the images of the environments'
	// /tmp (tmpdisk/), which belong on disk: hearth's Root is
	// <data-dir>/linux. Zero means /run/hearth/linux. The names
	// of the driver's host objects are derived from it, so New removes
	// what a crashed driver with the same Root left behind.
	Root string
	// Network is NetworkNAT or NetworkNone. Zero means NetworkNAT.
	Network string
	// Subnet is divided into one /30 per environment, in /27 ranges
	// each of which belongs to one account at a time (so a /20 serves up
	// to 128 accounts with environments at once). Zero means a /20
	// of 10.208.0.0/12 that no other driver on this host holds (claimed
	// with a lock file under /run/hearth/subnets for the driver's
	// lifetime). Each driver's firewall rules apply to its own subnet
	// only, so drivers sharing a host must not share a subnet. At most a
	// /30.
	Subnet netip.Prefix
	// HostPorts are TCP and UDP ports on the host's own (non-loopback)
	// addresses that environments may reach, for a service the host
	// offers to functions, such as a DNS resolver on a host address that
	// resolv.conf names. Zero means none: the host is out of reach.
	HostPorts []uint16
	// LinkLocal lets environments reach link-local addresses
	// (169.254.0.0/16) beyond the host. Zero refuses them: on a cloud
	// machine 169.254.169.254 is the instance metadata service, which
	// hands out the host's own credentials.
	LinkLocal bool
	// DenyNets are further destinations environments may not reach, such
	// as the host's LAN (10.0.0.0/8, ...). IPv4 only.
	DenyNets []netip.Prefix
	// UIDBase is the start of the uids environments run as. Each
	// environment gets a uid of its own, and a gid of the same number,
	// so that the limits the kernel keeps per uid (inotify instances,
	// pending signals, locked memory, ...) are its own. The driver claims
	// the first of 256 blocks of 65,536 uids from UIDBase that no other
	// driver on the host holds (a lock file under /run/hearth/uids, held
	// for its lifetime) and hands out a uid again only once every process
	// that ran as it is gone, least recently used first. Zero means
	// 1879048192 (0x70000000): the start of a range systemd documents as
	// unused, far above user databases and subuid ranges. No user of the
	// host may have a uid in [UIDBase, UIDBase+2^24).
	UIDBase int
	// PoolSize is the number of prepared sandboxes kept ready. Zero means
	// 2; negative disables the pool.
	PoolSize int
	// PoolMax is the number the pool grows to while Starts find none
	// ready (a burst of cold starts); it shrinks back to PoolSize after a
	// minute without Starts. Each prepared sandbox holds a sandbox init
	// (11 MB resident, 2 MB of it private: the rest is the Hearth
	// binary's pages, shared), a cgroup, namespaces, a veth pair and a sparse /tmp image
	// on a loop device. Zero means PoolSize, or 16 when PoolSize is zero
	// too.
	PoolMax int
	// PoolAccount is the account (as in sandbox.Spec.Account) the pool
	// prepares sandboxes for until Starts show which accounts need them:
	// a prepared sandbox belongs to one account. Zero means the default
	// account, "". A server gives the account most of its functions
	// belong to, so that its first cold starts find a sandbox ready.
	PoolAccount string
	// PidsLimit caps the processes and threads of one environment. Zero
	// means 1024, Lambda's limit.
	PidsLimit int
	// CgroupParent is the cgroup (in every hierarchy) under which the
	// driver makes its own. Zero means /hearth.
	CgroupParent string
	// NoFreezerKey stops the driver from keeping an empty cgroup frozen on
	// cgroup v1 for its lifetime. Each freeze and thaw then toggles a
	// kernel static key and costs several times more (BenchmarkFreezeThaw:
	// ≈0.3–1.3 ms instead of ≈50–100 µs per pair). For measurements.
	NoFreezerKey bool
	// TmpfsTmp mounts each environment's /tmp as a tmpfs, as before /tmp
	// moved to disk: its pages count towards the function's memory, so a
	// 128 MB function cannot write much more than 100 MB to it. By
	// default /tmp is an ext4 image on a loop device under Root (see
	// package tmpdisk), which falls back to a tmpfs on hosts without loop
	// devices or mkfs.ext4. For measurements.
	TmpfsTmp bool
	// Prestart lets the driver start managed runtimes ahead of their
	// functions (pre-started runtimes, "stems"; see sandbox.Spec.Stem):
	// for a Spec with Stem set, no layers and no extensions, whose key
	// (the runtime, its command, the variables it reads as it starts,
	// its runtime directory and host paths, and the account) a Start
	// used within the last minute, the driver keeps up to two prepared
	// sandboxes whose runtime already runs, as the function's identity,
	// and waits for the function. A Start then skips the interpreter's
	// own start. Zero means off; Hearth's server turns it on
	// (--prestart).
	Prestart bool
	// PrestartMax caps the stems waiting at once, for all keys together.
	// Each costs a prepared sandbox and a waiting interpreter: ≈10 MB
	// resident for Python, ≈40 MB for Node (≈6–7 MB of either anonymous,
	// the rest the interpreter's file pages, shared). Zero means 8.
	PrestartMax int
}

// Timings splits the cost of one Start. The environments a Driver starts
// report theirs through a method Timings() Timings:
//
//	if t, ok := env.(interface{ Timings() linux.Timings }); ok { ... }
type Timings struct {
	// Pooled reports that the sandbox came prepared from the pool.
	Pooled bool
	// Stem reports that the sandbox came with its runtime already
	// running: a pre-started runtime (see Config.Prestart).
	Stem bool
	// Prepare is the time spent getting a sandbox: taking it from the pool,
	// or creating its cgroup, namespaces, root, network and listener.
	Prepare time.Duration
	// Start is the time from applying the limits to the bootstrap having
	// been executed: mounting the function's files, dropping privileges,
	// seccomp, fork and exec.
	Start time.Duration
	// Total is Prepare, Start and what lies between.
	Total time.Duration
}

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("linux sandbox driver closed")
