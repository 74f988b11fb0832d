//go:build linux && !hearth_noinitbin

package linux

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// The host address: the first /30 of the subnet is never an
// environment's. Its first address sits on a dummy link of the driver's,
// so that every environment reaches the host at the same address (not
// each at its own gateway), where the firewall lets it reach
// Config.HostPorts only. A server listens there for the API functions
// call (AWS_ENDPOINT_URL_LAMBDA).

// hostOwner owns the first /30 in the address allocation.
const hostOwner = "host"

// addHostLink reserves the first /30 and puts its first address on a
// host-only veth pair. A subnet of a single /30 has no room for it.
func (n *network) addHostLink() error {
	if n.size() < 2 {
		return nil
	}
	n.mu.Lock()
	// The host's: its range is no account's (hostOwner is not an
	// account id), so it goes to none.
	n.addrs.take(0, hostOwner)
	n.mu.Unlock()
	host, _ := slotAddrs(n.subnet, 0)
	a := n.subnet.Addr().As4()
	name := fmt.Sprintf("%sx%08x", vethPrefix, binary.BigEndian.Uint32(a[:]))
	// One left by a crashed driver that had the same subnet.
	if l, err := netlink.LinkByName(name); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			return fmt.Errorf("delete stale host link %s: %w", name, err)
		}
	}
	peer := fmt.Sprintf("%sy%08x", vethPrefix, binary.BigEndian.Uint32(a[:]))
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer}); err != nil {
		return fmt.Errorf("create host link %s: %w", name, err)
	}
	link, err := netlink.LinkByName(name)
	if err == nil {
		err = netlink.LinkSetAlias(link, n.alias)
	}
	if err == nil {
		var pl netlink.Link
		if pl, err = netlink.LinkByName(peer); err == nil {
			if err = netlink.LinkSetAlias(pl, n.alias); err == nil {
				err = netlink.LinkSetUp(pl)
			}
		}
	}
	if err == nil {
		err = netlink.AddrAdd(link, &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(host.Addr(), 32))})
	}
	if err == nil {
		err = netlink.LinkSetUp(link)
	}
	if err != nil {
		n.removeHostLink()
		return fmt.Errorf("set up host link %s: %w", name, err)
	}
	n.hostLink, n.hostAddr = name, host.Addr()
	return nil
}

// removeHostLink deletes the host link (both ends), if any.
func (n *network) removeHostLink() error {
	if n.hostLink == "" {
		return nil
	}
	l, err := netlink.LinkByName(n.hostLink)
	if err != nil {
		return nil
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("delete host link %s: %w", n.hostLink, err)
	}
	return nil
}

// HostAddress is the address environments reach the host on, where they
// may connect to Config.HostPorts; false when they have no network.
func (d *Driver) HostAddress() (netip.Addr, bool) {
	if d.network == nil || !d.network.hostAddr.IsValid() {
		return netip.Addr{}, false
	}
	return d.network.hostAddr, true
}
