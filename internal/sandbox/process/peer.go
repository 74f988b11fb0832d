package process

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// onlyGroup returns ln restricted to connections from the process groups
// that groups returns (the bootstrap's and each extension's; a held
// bootstrap's joins them when it starts).
func onlyGroup(ln net.Listener, groups func() []int, log *slog.Logger) net.Listener {
	return &groupListener{Listener: ln, groups: groups, log: log}
}

// groupListener is an environment's Runtime API listener. It listens on the
// host's loopback, which every local user can reach, so it hands out only
// connections whose other end is held by a process of the environment's
// process group (its session leads it, so no process outside can join it)
// and owned by the server's uid; it closes every other one unread. It finds
// the peer through /proc.
type groupListener struct {
	net.Listener
	groups  func() []int
	log     *slog.Logger
	refused atomic.Int64
}

// Accept returns the next connection from the environment.
func (l *groupListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		err = l.check(c)
		if err == nil {
			return c, nil
		}
		c.Close()
		// An outsider looping on connect must not flood the log.
		level := slog.LevelDebug
		if l.refused.Add(1) == 1 {
			level = slog.LevelWarn
		}
		l.log.Log(context.Background(), level, "refused a runtime api connection from outside the environment", "peer", c.RemoteAddr(), "err", err)
	}
}

// check reports why c does not come from the environment, or nil.
func (l *groupListener) check(c net.Conn) error {
	local, err1 := netip.ParseAddrPort(c.LocalAddr().String())
	remote, err2 := netip.ParseAddrPort(c.RemoteAddr().String())
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	// The peer's socket is the one whose local address is our remote one.
	inode, uid, err := tcpSocket(remote, local)
	if err != nil {
		return err
	}
	if uid != os.Geteuid() {
		return fmt.Errorf("peer socket belongs to uid %d", uid)
	}
	return holdsSocket(l.groups(), inode)
}

// tcpSocket finds the TCP socket from local to remote in /proc/net/tcp and
// tcp6 (an IPv6 socket may connect to an IPv4 address, mapped) and returns
// its inode and owner.
func tcpSocket(local, remote netip.AddrPort) (inode uint64, uid int, err error) {
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // no IPv6
			}
			return 0, 0, err
		}
		inode, uid, err := findSocket(f, local, remote)
		f.Close()
		if err != nil {
			return 0, 0, fmt.Errorf("read %s: %w", table, err)
		}
		if inode != 0 {
			return inode, uid, nil
		}
	}
	return 0, 0, fmt.Errorf("no open socket from %s to %s", local, remote)
}

// findSocket scans one /proc/net/tcp table for an open socket (a closed one,
// in TIME_WAIT say, has inode 0):
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
func findSocket(f *os.File, local, remote netip.AddrPort) (inode uint64, uid int, err error) {
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		l, errL := parseProcAddr(fields[1])
		r, errR := parseProcAddr(fields[2])
		if errL != nil || errR != nil || l != local || r != remote {
			continue
		}
		inode, err := strconv.ParseUint(fields[9], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("inode %q: %w", fields[9], err)
		}
		if inode == 0 {
			continue
		}
		uid, err := strconv.Atoi(fields[7])
		if err != nil {
			return 0, 0, fmt.Errorf("uid %q: %w", fields[7], err)
		}
		return inode, uid, nil
	}
	return 0, 0, sc.Err()
}

// parseProcAddr parses an address of /proc/net/tcp ("0100007F:1F90") or
// tcp6: the address as 32-bit words in hexadecimal, each in host byte
// order, and the port in hexadecimal. IPv4-mapped addresses are unmapped.
func parseProcAddr(s string) (netip.AddrPort, error) {
	addrHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	raw, err := hex.DecodeString(addrHex)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q", s)
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// holdsSocket reports nil when a process of one of the process groups
// pgids has the socket inode open.
func holdsSocket(pgids []int, inode uint64) error {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	want := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err != nil || !slices.Contains(pgids, g) {
			continue
		}
		fds, err := os.ReadDir("/proc/" + p.Name() + "/fd")
		if err != nil {
			continue // exited meanwhile
		}
		for _, fd := range fds {
			if link, err := os.Readlink("/proc/" + p.Name() + "/fd/" + fd.Name()); err == nil && link == want {
				return nil
			}
		}
	}
	return fmt.Errorf("no process of groups %v holds the peer socket", pgids)
}
