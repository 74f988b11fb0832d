//go:build linux && !hearth_noinitbin

package linux

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	// vethPrefix starts the name of every host-side veth. The firewall
	// rules match it, so nothing else on the host may use it.
	vethPrefix = "hth"
	// tablePrefix starts the name of every driver's nftables table.
	tablePrefix = "hearth_"
	// forwardState remembers net.ipv4.ip_forward as it was before a
	// driver enabled it, for the last driver to restore.
	forwardState = "/run/hearth-sandbox-ip_forward"
	// forwardLock serializes, across every driver on the host, enabling
	// forwarding with installing a table, and restoring it with finding
	// no table left: without it a driver stopping could turn forwarding
	// off under one starting.
	forwardLock = "/run/hearth-sandbox-ip_forward.lock"
	ipForward   = "/proc/sys/net/ipv4/ip_forward"
)

// network gives each environment a /30 of the driver's subnet on a veth
// pair and keeps the host's firewall rules for all of them in one table:
//
//   - from an environment to any of the host's own addresses: refused,
//     except Config.HostPorts (the Hearth API and NATS stay out of reach;
//     an environment's 127.0.0.1 is its own loopback, not the host's);
//   - from one environment to another: refused;
//   - from an environment to link-local addresses (169.254.0.0/16, where
//     clouds serve instance metadata and credentials) or to
//     Config.DenyNets: refused, unless Config.LinkLocal;
//   - from an environment to anywhere else: forwarded and masqueraded.
//   - from anywhere but another environment to an environment: refused,
//     except replies (addInboundRules).
//
// IPv6 is off inside environments and on the host side of their veths.
type network struct {
	subnet    netip.Prefix
	hostPorts []uint16
	denied    []netip.Prefix // destinations beyond the host that are refused
	alias     string         // "hearth:<tag>", on every host-side veth
	table     string

	claim *os.File // the lock that holds an automatically chosen subnet

	hostLink string     // the link holding hostAddr (hostaddr.go)
	hostAddr netip.Addr // where environments reach the host; invalid if none

	mu    sync.Mutex
	addrs *addrAlloc // guarded by mu; /30 indexes in use by this driver, per account
}

// veth is one environment's link.
type veth struct {
	name string
	idx  int
	host netip.Prefix // the gateway, on the host side
	env  netip.Prefix // eth0 inside the environment
}

func newNetwork(cfg Config, tag string) (_ *network, err error) {
	n := &network{
		subnet:    cfg.Subnet.Masked(),
		hostPorts: cfg.HostPorts,
		denied:    deniedNets(cfg),
		alias:     "hearth:" + tag,
		table:     tablePrefix + tag,
	}
	if !cfg.Subnet.IsValid() {
		if n.subnet, n.claim, err = claimSubnet(); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				n.claim.Close()
			}
		}()
	}
	n.addrs = newAddrAlloc(n.size())
	err = withForwardLock(func() error {
		forwardWasOff, err := enableForwarding()
		if err != nil {
			return err
		}
		if err := n.installRules(forwardWasOff); err != nil {
			return errors.Join(err, restoreForwardingLocked())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := n.addHostLink(); err != nil {
		return nil, errors.Join(err, deleteTable(n.table), restoreForwarding())
	}
	return n, nil
}

// linkLocal is IPv4's link-local range, where clouds serve instance
// metadata (169.254.169.254).
var linkLocal = netip.MustParsePrefix("169.254.0.0/16")

// deniedNets lists the destinations cfg refuses environments.
func deniedNets(cfg Config) []netip.Prefix {
	var out []netip.Prefix
	if !cfg.LinkLocal {
		out = append(out, linkLocal)
	}
	for _, p := range cfg.DenyNets {
		if p.Addr().Is4() {
			out = append(out, p.Masked())
		}
	}
	return out
}

// subnetClaims holds one lock file per /20 that a driver has chosen.
const subnetClaims = "/run/hearth/subnets"

// claimSubnet picks the first /20 of 10.208.0.0/12 whose lock file no
// other driver holds, and holds it until the returned file is closed (the
// kernel releases it if the process dies).
func claimSubnet() (netip.Prefix, *os.File, error) {
	if err := os.MkdirAll(subnetClaims, 0o700); err != nil {
		return netip.Prefix{}, nil, fmt.Errorf("create subnet claims: %w", err)
	}
	for i := range 256 {
		f, err := os.OpenFile(fmt.Sprintf("%s/%d.lock", subnetClaims, i), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return netip.Prefix{}, nil, fmt.Errorf("open subnet claim: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		addr := netip.AddrFrom4([4]byte{10, byte(208 + i/16), byte(i % 16 * 16), 0})
		return netip.PrefixFrom(addr, 20), f, nil
	}
	return netip.Prefix{}, nil, errors.New("every /20 of 10.208.0.0/12 is claimed by another driver")
}

// close waits for the kernel to remove the veths of dead namespaces
// (deleting what remains after a while), removes the driver's rules, and
// restores IP forwarding when no other driver's table is left.
func (n *network) close() error {
	err := errors.Join(n.removeHostLink(), waitLinksGone(n.alias, 5*time.Second), deleteTable(n.table), restoreForwarding())
	if n.claim != nil {
		n.claim.Close()
	}
	return err
}

// waitLinksGone waits until no host-side veth carries alias, then deletes
// any that are still there.
func waitLinksGone(alias string, patience time.Duration) error {
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		links, err := listLinks()
		if err != nil {
			return fmt.Errorf("list links: %w", err)
		}
		if !slices.ContainsFunc(links, func(l netlink.Link) bool { return l.Attrs().Alias == alias }) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return removeDebrisLinks(alias)
}

func (n *network) size() int { return 1 << (32 - n.subnet.Bits() - 2) }

// vethName names the host side of the veth whose host address is host:
// vethPrefix and the /30's number in hex, from the address's low 22 bits
// (at most 8 characters, below the kernel's 15). Named by the index in
// the subnet instead, as before, the veths of two drivers on one host
// (such as test packages running side by side) took each other's names,
// and under churn, with dead namespaces' veths not yet removed by the
// kernel, a driver could run out of names to try.
func vethName(host netip.Addr) string {
	a := host.As4()
	return fmt.Sprintf("%s%x", vethPrefix, binary.BigEndian.Uint32(a[:])&(1<<22-1)>>2)
}

// slotAddrs returns the host and environment addresses of the /30 at idx
// of subnet.
func slotAddrs(subnet netip.Prefix, idx int) (host, env netip.Prefix) {
	b := subnet.Addr().As4()
	base := binary.BigEndian.Uint32(b[:]) + uint32(4*idx)
	at := func(off uint32) netip.Prefix {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], base+off)
		return netip.PrefixFrom(netip.AddrFrom4(a), 30)
	}
	return at(1), at(2)
}

func (n *network) reserve(account string) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if idx, ok := n.addrs.reserve(account); ok {
		return idx, nil
	}
	return 0, fmt.Errorf("no address of %s is free for account %q", n.subnet, account)
}

func (n *network) release(idx int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addrs.release(idx)
}

// addVeth creates a veth pair whose inner end is eth0 in the network
// namespace of pid, addressed in account's range. The name is derived from
// the address (vethName), so the kernel's refusal of a duplicate name keeps
// two drivers on one host (other processes, same subnet) from taking the
// same addresses, while drivers of different subnets do not refuse each
// other's names.
func (n *network) addVeth(pid int, account string) (_ *veth, err error) {
	var taken []int // names the kernel still has: kept reserved meanwhile
	defer func() {
		for _, idx := range taken {
			n.release(idx)
		}
	}()
	for range 64 {
		idx, err := n.reserve(account)
		if err != nil {
			return nil, err
		}
		v := &veth{idx: idx}
		v.host, v.env = slotAddrs(n.subnet, idx)
		v.name = vethName(v.host.Addr())
		link := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: v.name},
			PeerName:      "eth0",
			PeerNamespace: netlink.NsPid(pid),
		}
		err = netlink.LinkAdd(link)
		if errors.Is(err, unix.EEXIST) {
			// Another driver's, or a dead namespace's the kernel has not
			// removed yet. The search moves on, to another chunk once
			// the account's are all taken.
			taken = append(taken, idx)
			continue
		}
		if err != nil {
			n.release(idx)
			return nil, fmt.Errorf("create veth %s: %w", v.name, err)
		}
		if err := n.configureHostSide(v, link); err != nil {
			return nil, errors.Join(err, n.removeVeth(v))
		}
		return v, nil
	}
	return nil, errors.New("create veth: every name tried is taken")
}

// configureHostSide labels and addresses the host's end of v, link as
// LinkAdd left it: with its index, which LinkAdd looked up.
func (n *network) configureHostSide(v *veth, link netlink.Link) error {
	if link.Attrs().Index == 0 {
		return fmt.Errorf("find veth %s: no index after creation", v.name)
	}
	// The kernel ignores an alias given at creation.
	if err := netlink.LinkSetAlias(link, n.alias); err != nil {
		return fmt.Errorf("label veth %s: %w", v.name, err)
	}
	// Without IPv6 the environment has no link-local path to the host.
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+v.name+"/disable_ipv6", []byte("1"), 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("disable ipv6 on %s: %w", v.name, err)
	}
	if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: prefixNet(v.host)}); err != nil {
		return fmt.Errorf("address veth %s: %w", v.name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring up veth %s: %w", v.name, err)
	}
	return nil
}

// removeVeth deletes both ends of v (the kernel would too once the
// namespace is gone, but later and asynchronously) and frees its addresses.
func (n *network) removeVeth(v *veth) error {
	defer n.release(v.idx)
	link, err := netlink.LinkByName(v.name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find veth %s: %w", v.name, err)
	}
	if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete veth %s: %w", v.name, err)
	}
	return nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

// removeDebrisLinks deletes host-side veths that carry alias: what a crashed
// run of the same driver left.
func removeDebrisLinks(alias string) error {
	links, err := listLinks()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	var errs []error
	for _, l := range links {
		a := l.Attrs()
		if strings.HasPrefix(a.Name, vethPrefix) && a.Alias == alias {
			if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("delete veth %s: %w", a.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// listLinks lists the host's links, retrying while the kernel reports that
// links changed during the dump (it often does while namespaces die).
func listLinks() ([]netlink.Link, error) {
	for i := 0; ; i++ {
		links, err := netlink.LinkList()
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < 50 {
			time.Sleep(time.Millisecond)
			continue
		}
		return links, err
	}
}

// installRules creates the driver's nftables table, replacing one a
// crashed driver with the same root left. A driver that claimed its subnet
// (n.claim) also removes other drivers' tables for that subnet: their
// owners died without removing them (the claim was free), and their rules,
// scoped to the subnet, would refuse what this driver allows.
func (n *network) installRules(forwardWasOff bool) error {
	if err := deleteTable(n.table); err != nil {
		return err
	}
	if n.claim != nil {
		stale, err := tablesForSubnet(n.subnet)
		if err != nil {
			return err
		}
		for _, name := range stale {
			if err := deleteTable(name); err != nil {
				return err
			}
		}
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("open nftables: %w", err)
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: n.table})
	accept := nftables.ChainPolicyAccept
	input := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	forward := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept})

	// Every rule about environments matches this driver's own subnet, so
	// that drivers sharing a host (each with its own subnet and table) do
	// not refuse each other's environments' allowed traffic: a reject in
	// any table is final.
	anyEnv := ifName(expr.MetaKeyIIFNAME, expr.CmpOpEq)
	fromEnv := slices.Concat(anyEnv, nfproto(unix.NFPROTO_IPV4), saddrIn(n.subnet))
	rule := func(ch *nftables.Chain, exprs ...[]expr.Any) {
		var all []expr.Any
		for _, e := range exprs {
			all = append(all, e...)
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: all})
	}

	// Input: the host's own addresses.
	rule(input, fromEnv, ctEstablished(), verdict(expr.VerdictAccept))
	for _, p := range n.hostPorts {
		rule(input, fromEnv, dport(unix.IPPROTO_TCP, p), verdict(expr.VerdictAccept))
		rule(input, fromEnv, dport(unix.IPPROTO_UDP, p), verdict(expr.VerdictAccept))
	}
	rule(input, fromEnv, l4proto(unix.IPPROTO_TCP), []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}})
	rule(input, fromEnv, rejectAdmin())
	rule(input, anyEnv, nfproto(unix.NFPROTO_IPV6), verdict(expr.VerdictDrop))

	// Forward: environments to each other, IPv6, and, if Hearth turned
	// forwarding on, everything that is not an environment's.
	toEnv := ifName(expr.MetaKeyOIFNAME, expr.CmpOpEq)
	for _, p := range n.denied {
		rule(forward, fromEnv, daddrIn(p), l4proto(unix.IPPROTO_TCP), []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}})
		rule(forward, fromEnv, daddrIn(p), rejectAdmin())
	}
	rule(forward, fromEnv, toEnv, l4proto(unix.IPPROTO_TCP), []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}})
	rule(forward, fromEnv, toEnv, rejectAdmin())
	rule(forward, anyEnv, nfproto(unix.NFPROTO_IPV6), verdict(expr.VerdictDrop))
	if forwardWasOff {
		rule(forward, ifName(expr.MetaKeyIIFNAME, expr.CmpOpNeq), ifName(expr.MetaKeyOIFNAME, expr.CmpOpNeq), verdict(expr.VerdictDrop))
	}
	n.addInboundRules(c, t, forward)

	// Postrouting: masquerade what leaves for the outside.
	rule(post, nfproto(unix.NFPROTO_IPV4), saddrIn(n.subnet), ifName(expr.MetaKeyOIFNAME, expr.CmpOpNeq), []expr.Any{&expr.Masq{}})

	if err := c.Flush(); err != nil {
		return fmt.Errorf("install nftables table %s: %w", n.table, err)
	}
	return nil
}

func ifName(key expr.MetaKey, op expr.CmpOp) []expr.Any {
	// Comparing only the first len(vethPrefix) bytes is nft's "hth*".
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: []byte(vethPrefix)},
	}
}

func ctEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

func l4proto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

func nfproto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

// dport matches TCP or UDP (proto) packets to port; both keep the
// destination port at offset 2 of their header.
func dport(proto byte, port uint16) []expr.Any {
	return append(l4proto(proto),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	)
}

func saddrIn(p netip.Prefix) []expr.Any { return addrIn(12, p) }

func daddrIn(p netip.Prefix) []expr.Any { return addrIn(16, p) }

// addrIn matches an IPv4 header whose address at offset (12: source, 16:
// destination) lies in p.
func addrIn(offset uint32, p netip.Prefix) []expr.Any {
	addr := p.Masked().Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: net.CIDRMask(p.Bits(), 32), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:]},
	}
}

func rejectAdmin() []expr.Any {
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}}
}

func verdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }

// inetTables opens nftables and lists the host's inet tables.
func inetTables() (*nftables.Conn, []*nftables.Table, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, nil, fmt.Errorf("open nftables: %w", err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, nil, fmt.Errorf("list nftables tables: %w", err)
	}
	return c, tables, nil
}

// tablesForSubnet names the drivers' tables that masquerade subnet.
func tablesForSubnet(subnet netip.Prefix) ([]string, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("open nftables: %w", err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list nftables chains: %w", err)
	}
	want := addrIn(12, subnet)
	var out []string
	for _, ch := range chains {
		if ch.Name != "postrouting" || !strings.HasPrefix(ch.Table.Name, tablePrefix) {
			continue
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return nil, fmt.Errorf("list rules of %s: %w", ch.Table.Name, err)
		}
		for _, r := range rules {
			if containsExprs(r.Exprs, want) {
				out = append(out, ch.Table.Name)
				break
			}
		}
	}
	return out, nil
}

// containsExprs reports whether the comparisons of want (masks and
// values) appear in exprs in order.
func containsExprs(exprs, want []expr.Any) bool {
	i := 0
	for _, e := range exprs {
		if i == len(want) {
			break
		}
		switch w := want[i].(type) {
		case *expr.Bitwise:
			if g, ok := e.(*expr.Bitwise); ok && bytes.Equal(g.Mask, w.Mask) {
				i++
			}
		case *expr.Cmp:
			if g, ok := e.(*expr.Cmp); ok && g.Op == w.Op && bytes.Equal(g.Data, w.Data) {
				i++
			}
		case *expr.Payload:
			if g, ok := e.(*expr.Payload); ok && g.Base == w.Base && g.Offset == w.Offset && g.Len == w.Len {
				i++
			}
		default:
			i++
		}
	}
	return i == len(want)
}

// deleteTable removes the inet table name if it exists.
func deleteTable(name string) error {
	c, tables, err := inetTables()
	if err != nil {
		return err
	}
	for _, t := range tables {
		if t.Name == name {
			c.DelTable(t)
			if err := c.Flush(); err != nil {
				return fmt.Errorf("delete nftables table %s: %w", name, err)
			}
		}
	}
	return nil
}

// enableForwarding turns on IPv4 forwarding and reports whether it was off
// before Hearth touched it (the first driver records that in forwardState).
func enableForwarding() (wasOff bool, err error) {
	if b, err := os.ReadFile(forwardState); err == nil {
		wasOff = strings.TrimSpace(string(b)) == "0"
	} else {
		cur, err := os.ReadFile(ipForward)
		if err != nil {
			return false, fmt.Errorf("read ip_forward: %w", err)
		}
		if strings.TrimSpace(string(cur)) == "1" {
			return false, nil
		}
		if err := os.WriteFile(forwardState, []byte("0\n"), 0o644); err != nil {
			return false, fmt.Errorf("record ip_forward: %w", err)
		}
		wasOff = true
	}
	if err := os.WriteFile(ipForward, []byte("1"), 0); err != nil {
		return false, fmt.Errorf("enable ip_forward: %w", err)
	}
	return wasOff, nil
}

// withForwardLock runs f holding forwardLock (an flock: the kernel lets
// go of it if the process dies).
func withForwardLock(f func() error) error {
	l, err := os.OpenFile(forwardLock, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", forwardLock, err)
	}
	defer l.Close()
	if err := unix.Flock(int(l.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", forwardLock, err)
	}
	return f()
}

// restoreForwarding puts ip_forward back as it was before the first driver
// enabled it, unless another driver's table is still installed.
func restoreForwarding() error { return withForwardLock(restoreForwardingLocked) }

// restoreForwardingLocked is restoreForwarding under forwardLock.
func restoreForwardingLocked() error {
	orig, err := os.ReadFile(forwardState)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", forwardState, err)
	}
	_, tables, err := inetTables()
	if err != nil {
		return err
	}
	for _, t := range tables {
		if strings.HasPrefix(t.Name, tablePrefix) {
			return nil // still in use
		}
	}
	if err := os.WriteFile(ipForward, []byte(strings.TrimSpace(string(orig))), 0); err != nil {
		return fmt.Errorf("restore ip_forward: %w", err)
	}
	if err := os.Remove(forwardState); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", forwardState, err)
	}
	return nil
}
