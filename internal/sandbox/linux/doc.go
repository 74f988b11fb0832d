// Package linux is the isolating sandbox driver: every execution environment
// runs in its own pid, mount, ipc, uts and network namespaces, inside its own
// cgroup, as an unprivileged user without capabilities and with
// no_new_privs, under a seccomp-bpf filter, in a read-only root that shows
// only what a runtime needs. It implements [sandbox.Driver] and
// [sandbox.Freezer]; use [Available] to learn whether a host can run it.
//
// # What an environment sees
//
// The root is a small read-only tmpfs. The host's /usr, /bin, /sbin and /lib*
// and a few entries of /etc (the loader cache, certificates, resolv.conf,
// nsswitch.conf, ...) are bound into it read-only; /etc/passwd, /etc/group
// and /etc/hosts are generated, and nothing else of the host's /etc (such as
// shadow) is there. [sandbox.Spec.CodeDir] is at /var/task,
// [sandbox.Spec.RuntimeDir] at /var/runtime and every
// [sandbox.Spec.HostPaths] entry at its own path, all read-only. The code
// is a copy on an ext4 filesystem of its own (made at the first Start of a
// code directory, which must not change, and kept for the next ones), so
// the environment's /proc/self/mountinfo does not show its host path; the
// others are bind mounts, and it shows theirs. /opt is an
// empty read-only directory reserved for layers. /tmp is a private ext4
// filesystem with exactly [sandbox.Spec.TmpMB] megabytes available (ENOSPC
// beyond), in an image on a loop device under [Config.Root] (package
// tmpdisk): disk, as on Lambda, not memory, so a 128 MB function can fill a
// 512 MB /tmp. Its pages are page cache, charged to the environment's
// memory cgroup but written back and reclaimed under its limit. On hosts
// without loop devices or mkfs.ext4, or with [Config.TmpfsTmp], /tmp is a
// tmpfs of that size whose pages count towards the memory limit. /proc belongs to the environment's pid namespace, with
// /proc/sys read-only; /dev holds null, zero, full, random, urandom, tty and
// the fd links. The function runs as a uid of its environment's own, with a
// gid of the same number, named sbx_user1051 (Lambda's name for its uid 993)
// in /etc/passwd: the kernel keeps some limits per uid (inotify instances,
// pending signals, locked memory), and environments sharing one would share
// them. The uids come from a block of 65,536 that the driver claims on the
// host ([Config.UIDBase]); one is handed out again only after every process
// that ran as it is gone.
//
// # Accounts
//
// [sandbox.Spec.Account] names the account an environment belongs to, and
// environments of different accounts share nothing. Each environment has
// namespaces of its own, so no environment can see, signal or trace the
// processes of another (seccomp refuses ptrace anyway) or see its files,
// /tmp included; and the firewall keeps every environment from connecting
// to any other, of its account or another (see Network). On top of that:
//
//   - cgroups: an account's environments run in a subtree of their own,
//     <Config.CgroupParent>/<tag>/<account>/<box> ("default" for the
//     default account), removed with its last environment; the subtrees
//     have the default CPU weight, so accounts share a contended CPU
//     equally whatever their number of environments;
//   - addresses: an account's environments have addresses in /27 ranges
//     of the driver's subnet that no other account's environment has
//     while it holds one of them;
//   - uids: a uid goes to an environment of another account than its last
//     holder's only when no other is free, and in any case only once every
//     process that ran as it is gone (the environment's /tmp, the one place
//     it can write, goes with it, and seccomp keeps it from the kernel
//     keyrings, which the kernel keeps per uid beyond any process).
//
// # Limits
//
// Memory is limited to [sandbox.Spec.MemoryMB] without swap; exceeding it
// kills the largest process and [sandbox.Env.Exit] reports OOM. CPU is a CFS
// quota in proportion to memory, 1,769 MB being one CPU as on Lambda; during
// the init phase an environment gets at least one whole CPU, as Lambda's
// init runs at full speed whatever the memory size, and the worker's call
// to EndInit ([sandbox.InitBooster]) applies the proportional quota.
// [Config.PidsLimit] caps processes and threads. Freeze and Thaw use the
// cgroup freezer; on cgroup v1 the driver keeps one empty cgroup frozen for
// its lifetime so that the kernel's freezer static key stays enabled, which
// makes each freeze or thaw an order of magnitude cheaper.
//
// # Network
//
// The Runtime API listener is opened inside the environment's network
// namespace at 127.0.0.1:9001, as on Lambda, and handed to the driver. With
// [NetworkNAT] (the default) each environment reaches the outside world
// through a veth pair and NAT; it can reach neither other environments,
// whatever their account, nor the host's own addresses, except
// [Config.HostPorts], and nothing beyond the host can open a connection to
// it, even where the host routes its subnet (replies to what it opened
// pass). With [NetworkNone] it has loopback only. Each driver has a subnet of its own (by default a /20
// of 10.208.0.0/12 claimed with a lock file under /run/hearth/subnets) and
// its firewall rules match only that subnet's sources, so several drivers,
// such as two hearth servers, share a host without refusing each other's
// allowed traffic.
//
// # How an environment starts
//
// Go cannot run code between fork and exec, so the driver executes an init
// program with argv[0] "hearth-sandbox-init" in new namespaces. It is this
// package's init stage built as a program of its own (./initprog), without
// the rest of the binary: re-executing the whole Hearth binary ran the
// initialization of every package it links (7.5 ms of CPU, 1.8 MB of heap)
// in every environment and kept 3.7 MB of anonymous memory per environment;
// the init program keeps about 1.5 MB. `go generate` builds it reproducibly
// (./mkinit) into initbin_<arch>.gz, embedded here; [New] unpacks it into a
// sealed memfd, so one copy of its pages serves every environment, and
// executes it once to check that the kernel allows it. Where there is none
// for the architecture or the kernel refuses (vm.memfd_noexec), the driver
// re-executes its own binary (/proc/self/exe) as before.
// The init stage builds the root and pivots into it, configures
// the network and opens the Runtime API listener, whose descriptor it hands
// back over its control socket. It then waits for a start request carrying
// the function's file trees (detached mounts made on the host with
// open_tree), mounts them, drops privileges, installs the seccomp filter and
// starts the bootstrap. The init stays pid 1: it reaps orphans and reports
// the bootstrap's exit status, then exits, which ends every process left in
// the namespace. The driver's reaper, the process that removes its
// environments if the server dies without closing the driver, is the same
// program. Every binary that creates a Driver must call
// [RunInitIfRequested] first thing in main (and in TestMain), for the
// fallback.
//
// Preparing a sandbox costs far more than starting a bootstrap, so the driver
// keeps [Config.PoolSize] sandboxes prepared, refilled by a goroutine it owns.
// A prepared sandbox belongs to an account from the start (moving its init
// to another account's cgroup would cost an RCU grace period per cgroup
// hierarchy, as much as preparing one), so the pool keeps sandboxes for the
// accounts of its latest Starts, one per Start among the last PoolSize; a
// Start for an account without one ready prepares one.
// A prepared sandbox has its /tmp of the default 512 MB mounted already; a
// function with another EphemeralStorage gets one of its size at Start
// (made ahead after the first of that size, see tmpdisk.Maker.Take), which
// the init swaps in, releasing the prepared one once the bootstrap runs.
// [Driver.Start] takes one, applies the spec's limits, sends the start
// request and returns once the bootstrap has been executed. [Timings] splits
// that cost.
//
// # Host objects
//
// Everything the driver creates on the host is named after it so that [New]
// can remove what a crashed earlier run with the same [Config.Root] left:
// cgroups <Config.CgroupParent>/<tag>/<account>/... in every hierarchy (tag
// is derived from the root), veth devices named hth<n> whose alias is "hearth:<tag>",
// and the nftables table "hearth_<tag>". IPv4 forwarding is enabled while a
// driver runs (and forwarding of anything but environments' traffic dropped
// if it was off). Destroy kills the init and every process of the cgroup and
// removes the cgroup; the kernel removes the namespaces, their mounts and the
// veth with the init. An environment's /tmp image is unlinked as soon as its
// loop device holds it, and the loop device detaches itself when the mount
// namespace's last reference to the filesystem goes: the kernel frees the
// image with the environment, however the driver ends. [New] removes images
// a crashed run had not unlinked yet. [Driver.Close] removes the rest and
// restores forwarding.
//
// # Locking
//
// Driver.mu guards the set of live environments; network.mu guards the
// address allocator, uidPool.mu the uids, pool.mu the prepared sandboxes
// and cgroupTree.mu the count of cgroups per account. None is held while
// taking another, calling the kernel or an environment.
package linux
