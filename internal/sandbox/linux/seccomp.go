//go:build linux

package linux

import (
	"fmt"
	"slices"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// deniedSyscalls are refused with EPERM: no function needs them, and each
// either reaches beyond the environment or widens the kernel's attack
// surface. They are outside the allow list anyway; naming them answers
// EPERM, as for an unprivileged process, rather than ENOSYS. Names the
// running architecture lacks are skipped.
var deniedSyscalls = []string{
	// mounts and roots
	"mount", "umount2", "pivot_root", "chroot", "mount_setattr", "move_mount",
	"open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	// other processes and namespaces
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "setns",
	// the kernel itself
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"create_module", "get_kernel_syms", "query_module", "reboot", "swapon", "swapoff",
	"acct", "quotactl", "quotactl_fd", "lookup_dcookie", "syslog", "bpf",
	"perf_event_open", "userfaultfd", "iopl", "ioperm", "vhangup", "uselib",
	"ustat", "sysfs", "_sysctl", "nfsservctl", "vm86", "vm86old",
	// clocks
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	// keys
	"keyctl", "add_key", "request_key",
	// handles and notification
	"open_by_handle_at", "name_to_handle_at", "fanotify_init",
	// io_uring bypasses seccomp for the operations it performs
	"io_uring_setup", "io_uring_enter", "io_uring_register",
}

// hotSyscalls are checked first: the filter is a linear scan, and these
// are what runtimes call on every invocation (the Runtime API round trip,
// the Go and Node schedulers, allocation).
var hotSyscalls = []string{
	"read", "write", "futex", "epoll_pwait", "epoll_wait", "epoll_ctl", "recvfrom",
	"sendto", "writev", "readv", "nanosleep", "clock_gettime", "mmap", "munmap",
	"madvise", "mprotect", "rt_sigprocmask", "rt_sigreturn", "sched_yield",
	"getpid", "gettid", "tgkill", "close", "fstat", "newfstatat", "lseek",
	"pread64", "pwrite64", "brk", "poll", "ppoll", "pselect6", "select",
}

// allowedSyscalls are the rest of what runtimes and the programs they start
// may call: the calls of container runtimes' default profiles, less those
// denied above. Anything else, including system calls newer than this
// list, fails with ENOSYS, which libc and runtimes treat as "not on this
// kernel" and fall back from. Names the running architecture lacks are
// skipped.
var allowedSyscalls = []string{
	// files
	"open", "openat", "openat2", "creat", "access", "faccessat", "faccessat2",
	"stat", "lstat", "statx", "statfs", "fstatfs", "readlink", "readlinkat",
	"getdents", "getdents64", "chdir", "fchdir", "getcwd", "mkdir", "mkdirat",
	"rmdir", "rename", "renameat", "renameat2", "link", "linkat", "unlink",
	"unlinkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "fchmodat2",
	"chown", "fchown", "fchownat", "lchown", "umask", "truncate", "ftruncate",
	"fallocate", "fadvise64", "fsync", "fdatasync", "sync", "syncfs",
	"sync_file_range", "flock", "fcntl", "dup", "dup2", "dup3", "pipe", "pipe2",
	"utime", "utimes", "utimensat", "futimesat", "mknod", "mknodat", "preadv",
	"pwritev", "preadv2", "pwritev2", "sendfile", "splice", "tee", "vmsplice",
	"copy_file_range", "readahead", "close_range", "ioctl",
	"getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
	"setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
	"inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
	"fanotify_mark", "memfd_create", "cachestat",
	// memory
	"mremap", "msync", "mincore", "mlock", "mlock2", "munlock", "mlockall",
	"munlockall", "remap_file_pages", "membarrier", "pkey_alloc", "pkey_free",
	"pkey_mprotect", "map_shadow_stack",
	// processes and threads
	"fork", "vfork", "execve", "execveat", "exit", "exit_group",
	"wait4", "waitid", "kill", "tkill", "rt_sigaction", "rt_sigpending",
	"rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigsuspend", "rt_sigtimedwait",
	"sigaltstack", "signalfd", "signalfd4", "pause", "getppid", "getpgid",
	"getpgrp", "setpgid", "getsid", "setsid", "getuid", "geteuid", "getgid",
	"getegid", "getgroups", "getresuid", "getresgid", "setuid", "setgid",
	"setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid",
	"setfsgid", "capget", "capset", "prctl", "arch_prctl", "set_tid_address",
	"set_robust_list", "get_robust_list", "rseq", "getpriority",
	"setpriority", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
	"sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_getattr",
	"sched_setattr", "sched_get_priority_max", "sched_get_priority_min",
	"sched_rr_get_interval", "ioprio_get", "ioprio_set", "getrlimit", "setrlimit",
	"prlimit64", "getrusage", "times", "pidfd_open", "pidfd_send_signal",
	"process_mrelease", "restart_syscall", "seccomp", "personality",
	"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
	"get_thread_area", "set_thread_area", "modify_ldt",
	// time
	"clock_getres", "clock_nanosleep", "gettimeofday", "time", "alarm",
	"getitimer", "setitimer", "timer_create", "timer_delete", "timer_getoverrun",
	"timer_gettime", "timer_settime", "timerfd_create", "timerfd_gettime",
	"timerfd_settime",
	// events
	"epoll_create", "epoll_create1", "epoll_pwait2", "eventfd", "eventfd2",
	"futex_waitv", "futex_wait", "futex_wake", "futex_requeue",
	"io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
	// sockets
	"socket", "socketpair", "connect", "accept", "accept4", "bind", "listen",
	"shutdown", "getsockname", "getpeername", "getsockopt", "setsockopt",
	"recvmsg", "sendmsg", "recvmmsg", "sendmmsg",
	// System V and POSIX IPC (private to the environment's ipc namespace)
	"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
	"msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
	"mq_timedreceive", "mq_notify", "mq_getsetattr",
	// the system
	"uname", "sysinfo", "getcpu", "getrandom",
}

// seccompPolicy is the filter every environment runs under: an allow list
// (hotSyscalls, allowedSyscalls) whose default is ENOSYS, with
// deniedSyscalls refused with EPERM, as a process without privileges
// expects. clone and unshare are not in it: newUserNSGuard, ahead of the
// policy, allows them unless they ask for a new user namespace. clone3 fails with ENOSYS because seccomp
// cannot read its flags; libc then falls back to clone, whose flags it can.
// Groups match in order, so the hot calls cost the fewest comparisons.
func seccompPolicy() (seccomp.Policy, *arch.Info, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return seccomp.Policy{}, nil, fmt.Errorf("seccomp architecture: %w", err)
	}
	known := func(list []string) []string {
		var names []string
		for _, n := range list {
			if _, ok := info.SyscallNames[n]; ok {
				names = append(names, n)
			}
		}
		return names
	}
	enosys := seccomp.ActionErrno | seccomp.Action(unix.ENOSYS)
	return seccomp.Policy{
		// The library accepts only plain actions as the default;
		// compileSeccomp turns this placeholder into ENOSYS.
		DefaultAction: defaultPlaceholder,
		Syscalls: []seccomp.SyscallGroup{
			{Names: known(hotSyscalls), Action: seccomp.ActionAllow},
			{Names: known(deniedSyscalls), Action: seccomp.ActionErrno}, // EPERM
			{Names: []string{"clone3"}, Action: enosys},
			{Names: known(allowedSyscalls), Action: seccomp.ActionAllow},
		},
	}, info, nil
}

// newUserNSGuard allows clone and unshare unless their flags ask for a new
// user namespace (EPERM), which would hand the function capabilities over
// namespaces of its own. It runs before the policy, whose library checks
// conditions by loading the argument and does not reload the call number
// for the groups after them.
func newUserNSGuard(info *arch.Info) ([]bpf.Instruction, error) {
	clone, ok1 := info.SyscallNames["clone"]
	unshare, ok2 := info.SyscallNames["unshare"]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("seccomp: architecture %s lacks clone or unshare", info.Name)
	}
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 4}, // seccomp_data.nr
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(clone), SkipTrue: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(unshare), SkipFalse: 4},
		bpf.LoadAbsolute{Off: 16, Size: 4}, // low half of args[0] (little-endian)
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: unix.CLONE_NEWUSER, SkipFalse: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(unix.EPERM)},
		bpf.RetConstant{Val: uint32(seccomp.ActionAllow)},
	}, nil
}

// defaultPlaceholder stands for the policy's default action until
// compileSeccomp replaces it with ENOSYS. Nothing else in the policy uses it.
const defaultPlaceholder = seccomp.ActionLog

// seccompFilter is an assembled filter, ready to install.
type seccompFilter struct {
	insts []unix.SockFilter
}

// compileSeccomp assembles the environment's filter. The init does it while
// it waits in the pool, so that starting the bootstrap only installs it.
func compileSeccomp() (*seccompFilter, error) {
	policy, info, err := seccompPolicy()
	if err != nil {
		return nil, err
	}
	insts, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("assemble seccomp policy: %w", err)
	}
	// The program ends with the default action, where unmatched calls
	// (and, in the library's own check, foreign architectures) land.
	last, ok := insts[len(insts)-1].(bpf.RetConstant)
	if !ok || last.Val != uint32(defaultPlaceholder) {
		return nil, fmt.Errorf("assemble seccomp policy: program ends in %v, not the default action", insts[len(insts)-1])
	}
	insts[len(insts)-1] = bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)}
	// The library lets every syscall of a foreign ABI through (i386 via int
	// 0x80 on amd64), which would bypass the filter. Refuse them all.
	prefix := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)},
	}
	guard, err := newUserNSGuard(info)
	if err != nil {
		return nil, err
	}
	insts = slices.Concat(prefix, guard, insts)
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return nil, fmt.Errorf("assemble seccomp filter: %w", err)
	}
	f := &seccompFilter{insts: make([]unix.SockFilter, len(raw))}
	for i, r := range raw {
		f.insts[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return f, nil
}

// install sets no_new_privs and installs the filter on every thread of the
// calling process (TSYNC), so that children inherit it whichever thread
// forks them.
func (f *seccompFilter) install() error {
	prog := unix.SockFprog{Len: uint16(len(f.insts)), Filter: &f.insts[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		return fmt.Errorf("install seccomp filter: %w", errno)
	}
	if r != 0 {
		return fmt.Errorf("install seccomp filter: thread %d could not be synchronised", r)
	}
	return nil
}

// installThread sets no_new_privs and installs the filter on the calling
// thread only, which must be locked to its goroutine: a pre-started
// runtime, forked from that thread, inherits it while the rest of the init
// keeps the mounts it still needs to make (see stem.go).
func (f *seccompFilter) installThread() error {
	prog := unix.SockFprog{Len: uint16(len(f.insts)), Filter: &f.insts[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); errno != 0 {
		return fmt.Errorf("install seccomp filter: %w", errno)
	}
	return nil
}

// allowAll is a filter that allows everything. Installed with TSYNC by
// the thread that holds the environment's filter (installThread), it
// gives every other thread of the process that thread's filters: stacked
// on top, it adds nothing to them.
var allowAll = &seccompFilter{insts: []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}}}
