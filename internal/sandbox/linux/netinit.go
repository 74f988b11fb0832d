//go:build linux

package linux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// The init's side of the network: what it configures inside the
// environment's network namespace. It speaks rtnetlink itself (three small
// requests) rather than through a netlink library, so that the init
// program links no package the driver alone needs (issue 13: the init's
// own start was ≈5 ms of CPU per environment, much of it the
// initialization of packages it did not use).

// configureNetwork runs in the init, inside the environment's network
// namespace: loopback up and, with a network, eth0 addressed and routed
// through the host side.
func configureNetwork(n netMsg) error {
	nl, err := openRtnetlink()
	if err != nil {
		return err
	}
	defer nl.close()
	// The kernel gives every namespace's loopback the index 1
	// (LOOPBACK_IFINDEX), so it needs no lookup.
	if err := nl.linkUp(1); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	if n.Addr == "" {
		return nil
	}
	// "all" sets the namespace's default and every device it has (lo and
	// eth0) too: one write instead of three, each of which retries for as
	// long as another holds the RTNL lock (the kernel only trylocks it).
	os.WriteFile("/proc/sys/net/ipv6/conf/all/disable_ipv6", []byte("1"), 0)
	addr, err := netip.ParsePrefix(n.Addr)
	if err != nil || !addr.Addr().Is4() {
		return fmt.Errorf("parse address %q: want an IPv4 prefix", n.Addr)
	}
	gw, err := netip.ParseAddr(n.Gateway)
	if err != nil || !gw.Is4() {
		return fmt.Errorf("parse gateway %q: want an IPv4 address", n.Gateway)
	}
	eth, err := ifIndex("eth0")
	if err != nil {
		return fmt.Errorf("find eth0: %w", err)
	}
	if err := nl.addAddr(eth, addr); err != nil {
		return fmt.Errorf("address eth0: %w", err)
	}
	if err := nl.linkUp(eth); err != nil {
		return fmt.Errorf("bring up eth0: %w", err)
	}
	if err := nl.addDefaultRoute(eth, gw); err != nil {
		return fmt.Errorf("add default route: %w", err)
	}
	return nil
}

// ifIndex is the index of the network device name.
func ifIndex(name string) (uint32, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, err
	}
	return ifr.Uint32(), nil
}

// rtnetlink is a NETLINK_ROUTE socket for requests that the kernel
// acknowledges, one at a time.
type rtnetlink struct {
	fd  int
	seq uint32
}

func openRtnetlink() (*rtnetlink, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind rtnetlink: %w", err)
	}
	return &rtnetlink{fd: fd}, nil
}

func (nl *rtnetlink) close() { unix.Close(nl.fd) }

// linkUp sets IFF_UP on the device with index idx.
func (nl *rtnetlink) linkUp(idx uint32) error {
	var b []byte
	b = append(b, unix.AF_UNSPEC, 0)           // ifi_family, padding
	b = binary.NativeEndian.AppendUint16(b, 0) // ifi_type
	b = binary.NativeEndian.AppendUint32(b, idx)
	b = binary.NativeEndian.AppendUint32(b, unix.IFF_UP) // ifi_flags
	b = binary.NativeEndian.AppendUint32(b, unix.IFF_UP) // ifi_change
	return nl.request(unix.RTM_NEWLINK, 0, b)
}

// addAddr gives the device idx the IPv4 address p, with its prefix (and
// the broadcast address, for prefixes shorter than /31, as ip(8) does).
func (nl *rtnetlink) addAddr(idx uint32, p netip.Prefix) error {
	a := p.Addr().As4()
	var b []byte
	b = append(b, unix.AF_INET, byte(p.Bits()), 0, unix.RT_SCOPE_UNIVERSE) // family, prefixlen, flags, scope
	b = binary.NativeEndian.AppendUint32(b, idx)
	b = appendAttr(b, unix.IFA_LOCAL, a[:])
	b = appendAttr(b, unix.IFA_ADDRESS, a[:])
	if p.Bits() < 31 {
		host := binary.BigEndian.Uint32(a[:]) | (1<<(32-p.Bits()) - 1)
		b = appendAttr(b, unix.IFA_BROADCAST, binary.BigEndian.AppendUint32(nil, host))
	}
	return nl.request(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, b)
}

// addDefaultRoute routes everything through gw on the device idx.
func (nl *rtnetlink) addDefaultRoute(idx uint32, gw netip.Addr) error {
	g := gw.As4()
	b := []byte{
		unix.AF_INET, 0, 0, 0, // family, dst_len (default route), src_len, tos
		unix.RT_TABLE_MAIN, unix.RTPROT_BOOT, unix.RT_SCOPE_UNIVERSE, unix.RTN_UNICAST,
		0, 0, 0, 0, // flags
	}
	b = appendAttr(b, unix.RTA_GATEWAY, g[:])
	b = appendAttr(b, unix.RTA_OIF, binary.NativeEndian.AppendUint32(nil, idx))
	return nl.request(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, b)
}

// appendAttr appends one route attribute, padded to 4 bytes.
func appendAttr(b []byte, typ uint16, data []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(unix.SizeofRtAttr+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// request sends one message of type typ with body and waits for the
// kernel's acknowledgement: nil, or the errno it answered.
func (nl *rtnetlink) request(typ uint16, flags uint16, body []byte) error {
	nl.seq++
	msg := make([]byte, 0, unix.SizeofNlMsghdr+len(body))
	msg = binary.NativeEndian.AppendUint32(msg, uint32(unix.SizeofNlMsghdr+len(body)))
	msg = binary.NativeEndian.AppendUint16(msg, typ)
	msg = binary.NativeEndian.AppendUint16(msg, unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags)
	msg = binary.NativeEndian.AppendUint32(msg, nl.seq)
	msg = binary.NativeEndian.AppendUint32(msg, 0) // the kernel fills in our port id
	msg = append(msg, body...)
	if err := unix.Sendto(nl.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	var buf [4096]byte
	for {
		n, _, err := unix.Recvfrom(nl.fd, buf[:], 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		msgs, err := parseNetlink(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.seq != nl.seq || m.typ != unix.NLMSG_ERROR {
				continue // not the answer to this request
			}
			if len(m.data) < 4 {
				return errors.New("short netlink acknowledgement")
			}
			if errno := int32(binary.NativeEndian.Uint32(m.data)); errno != 0 {
				return unix.Errno(-errno)
			}
			return nil
		}
	}
}

type netlinkMsg struct {
	typ  uint16
	seq  uint32
	data []byte
}

// parseNetlink splits a datagram from the kernel into its messages.
func parseNetlink(b []byte) ([]netlinkMsg, error) {
	var out []netlinkMsg
	for len(b) >= unix.SizeofNlMsghdr {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return nil, errors.New("malformed netlink message")
		}
		out = append(out, netlinkMsg{
			typ:  binary.NativeEndian.Uint16(b[4:]),
			seq:  binary.NativeEndian.Uint32(b[8:]),
			data: b[unix.SizeofNlMsghdr:l],
		})
		b = b[min((l+3)&^3, len(b)):]
	}
	return out, nil
}
