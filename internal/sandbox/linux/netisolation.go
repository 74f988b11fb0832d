//go:build linux && !hearth_noinitbin

package linux

import (
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// addInboundRules refuses, in the forward chain, every connection to an
// environment of the driver's subnet that does not come from one of its
// own: environments take no connections, as on Lambda. Without them a
// machine beyond the host with a route to the subnet through it (on the
// host's LAN, or the host forwarding for others) could connect to an
// environment's listener, and another environment through it, as a relay.
// Replies to what an environment opened (established or related) pass.
// Traffic between environments is refused by the rules before these.
func (n *network) addInboundRules(c *nftables.Conn, t *nftables.Table, forward *nftables.Chain) {
	toEnv := append(ifName(expr.MetaKeyOIFNAME, expr.CmpOpEq), nfproto(unix.NFPROTO_IPV4)...)
	toEnv = append(toEnv, daddrIn(n.subnet)...)
	add := func(exprs ...[]expr.Any) {
		all := append([]expr.Any(nil), toEnv...)
		for _, e := range exprs {
			all = append(all, e...)
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: forward, Exprs: all})
	}
	add(ctEstablished(), verdict(expr.VerdictAccept))
	add(l4proto(unix.IPPROTO_TCP), []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}})
	add(rejectAdmin())
}
