//go:build linux

package linux

import (
	"fmt"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// deniedSyscalls are refused with EPERM: no function needs them, and each
// either reaches beyond the environment or widens the kernel's attack
// surface. Names the running architecture lacks are skipped.
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

// newUserNSSyscalls may not be given CLONE_NEWUSER: a new user namespace
// would hand the function capabilities over namespaces of its own.
var newUserNSSyscalls = []string{"clone", "unshare"}

// seccompPolicy is the filter every environment runs under. clone3 fails
// with ENOSYS because seccomp cannot read its flags; libc then falls back to
// clone, whose flags it can.
func seccompPolicy() (seccomp.Policy, *arch.Info, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return seccomp.Policy{}, nil, fmt.Errorf("seccomp architecture: %w", err)
	}
	var names []string
	for _, n := range deniedSyscalls {
		if _, ok := info.SyscallNames[n]; ok {
			names = append(names, n)
		}
	}
	var conds []seccomp.NameWithConditions
	for _, n := range newUserNSSyscalls {
		conds = append(conds, seccomp.NameWithConditions{
			Name: n,
			Conditions: seccomp.ArgumentConditions{{
				Argument: 0, Operation: seccomp.BitsSet, Value: unix.CLONE_NEWUSER,
			}},
		})
	}
	return seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Names: names, NamesWithCondtions: conds, Action: seccomp.ActionErrno}, // EPERM
			{Names: []string{"clone3"}, Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS)},
		},
	}, info, nil
}

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
	// The library lets every syscall of a foreign ABI through (i386 via int
	// 0x80 on amd64), which would bypass a deny list. Refuse them all.
	insts = append([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)},
	}, insts...)
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
