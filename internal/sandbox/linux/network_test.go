//go:build linux

package linux_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/linux"
)

// listener accepts connections on addr, greets each with "hello <remote
// address>" and counts them.
type listener struct {
	net.Listener
	accepted atomic.Int32
	ns       netns.NsHandle // outsideWorld's: the namespace it listens in
}

func listen(t *testing.T, addr string) *listener {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, ln)
}

func serve(t *testing.T, ln net.Listener) *listener {
	l := &listener{Listener: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepted.Add(1)
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "hello %s\n", host)
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return l
}

func (l *listener) port() int { return l.Addr().(*net.TCPAddr).Port }

// hostAddr is one of the host's own non-loopback IPv4 addresses.
func hostAddr(t *testing.T) netip.Addr {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		name := l.Attrs().Name
		if strings.HasPrefix(name, "hth") || strings.HasPrefix(name, "htx") || l.Attrs().Flags&net.FlagUp == 0 {
			continue
		}
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			ip, _ := netip.AddrFromSlice(a.IP)
			if ip.Is4() && !ip.IsLoopback() {
				return ip
			}
		}
	}
	t.Skip("the host has no non-loopback IPv4 address")
	return netip.Addr{}
}

// probeSpec runs probe.py against each target and prints "probe <target>
// <result>" lines; the environment's gateway is printed as "gateway <ip>".
func probeSpec(t *testing.T, env []string, targets ...string) *sandbox.Spec {
	spec := pythonSpec(t, fmt.Sprintf(`
import os
exec(open(os.environ["LAMBDA_TASK_ROOT"] + "/probe.py").read())
gw = gateway()
print("gateway", gw)
for target in %q.split():
    target = target.replace("GATEWAY", gw)
    print("probe", target, probe(target))
print("done")
`, strings.Join(targets, " ")))
	spec.Env = append(spec.Env, env...)
	return spec
}

func probeResults(t *testing.T, d *linux.Driver, targets ...string) map[string]string {
	t.Helper()
	e := start(t, d, probeSpec(t, nil, targets...))
	waitExit(t, e)
	res := map[string]string{}
	gw := ""
	if g := lines(t, e, "gateway "); len(g) == 1 {
		gw = g[0]
	}
	for _, l := range lines(t, e, "probe ") {
		target, result, _ := strings.Cut(l, " ")
		res[strings.Replace(target, gw, "GATEWAY", 1)] = result
	}
	if len(res) != len(targets) {
		t.Fatalf("probe results %v; output:\n%s", res, e.Output(t))
	}
	t.Logf("probes from %s (gateway %s): %v", e.Env.ID(), gw, res)
	return res
}

func TestHostIsUnreachable(t *testing.T) {
	d := newDriver(t, linux.Config{})
	ln := listen(t, "0.0.0.0:0") // the host's loopback, its veth ends and its other addresses
	p := ln.port()
	res := probeResults(t, d,
		fmt.Sprintf("127.0.0.1:%d", p),
		fmt.Sprintf("GATEWAY:%d", p),
		fmt.Sprintf("%s:%d", hostAddr(t), p))
	for target, r := range res {
		if !strings.HasPrefix(r, "err ") || r == "err timeout" {
			t.Errorf("connect to host %s: %s; want refused or unreachable at once", target, r)
		}
	}
	if n := ln.accepted.Load(); n != 0 {
		t.Errorf("the host listener accepted %d connections from the environment", n)
	}
}

func TestHostPortsAreReachable(t *testing.T) {
	ip := hostAddr(t)
	allowed := listen(t, ip.String()+":0")
	other := listen(t, ip.String()+":0")
	d := newDriver(t, linux.Config{HostPorts: []uint16{uint16(allowed.port())}})
	a, o := fmt.Sprintf("%s:%d", ip, allowed.port()), fmt.Sprintf("%s:%d", ip, other.port())
	res := probeResults(t, d, a, o)
	if !strings.HasPrefix(res[a], "ok hello ") {
		t.Errorf("connect to allowed host port %s: %s; want ok", a, res[a])
	}
	if !strings.HasPrefix(res[o], "err ") {
		t.Errorf("connect to other host port %s: %s; want refused", o, res[o])
	}
}

// TestHostAddress checks the address every environment reaches the host
// on: Config.HostPorts are open there, other ports are not, and the
// address is gone when the driver closes.
func TestHostAddress(t *testing.T) {
	free := listen(t, "127.0.0.1:0")
	port := free.port()
	free.Close()
	d := newDriver(t, linux.Config{HostPorts: []uint16{uint16(port)}})
	ip, ok := d.HostAddress()
	if !ok {
		t.Fatal("HostAddress: none with NAT networking")
	}
	allowed := listen(t, fmt.Sprintf("%s:%d", ip, port))
	other := listen(t, ip.String()+":0")
	a, o := fmt.Sprintf("%s:%d", ip, allowed.port()), fmt.Sprintf("%s:%d", ip, other.port())
	res := probeResults(t, d, a, o, fmt.Sprintf("169.254.169.254:%d", port))
	if !strings.HasPrefix(res[a], "ok hello ") {
		t.Errorf("connect to the host address's allowed port %s: %s; want ok", a, res[a])
	}
	if !strings.HasPrefix(res[o], "err ") {
		t.Errorf("connect to another port of the host address %s: %s; want refused", o, res[o])
	}
	if r := res[fmt.Sprintf("169.254.169.254:%d", port)]; !strings.HasPrefix(r, "err ") {
		t.Errorf("connect to a link-local address on the allowed port: %s; want refused", r)
	}
	allowed.Close()
	other.Close()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if ln, err := net.Listen("tcp4", ip.String()+":0"); err == nil {
		ln.Close()
		t.Errorf("the host address %s is still the host's after Close", ip)
	}
}

func TestEnvironmentsCannotReachEachOther(t *testing.T) {
	d := newDriver(t, linux.Config{})
	server := start(t, d, pythonSpec(t, `
import os, socket, threading
exec(open(os.environ["LAMBDA_TASK_ROOT"] + "/probe.py").read())
s = socket.socket()
s.bind(("0.0.0.0", 8080))
s.listen()
def serve():
    while True:
        c, _ = s.accept()
        c.sendall(b"from-b\n")
        c.close()
threading.Thread(target=serve, daemon=True).start()
me = my_addr()
print("self", probe(me + ":8080"))
print("addr", me, flush=True)
threading.Event().wait()
`))
	server.WaitFor(t, "addr ")
	addr := lines(t, server, "addr ")[0]
	if self := lines(t, server, "self "); len(self) != 1 || self[0] != "ok from-b" {
		t.Fatalf("the server cannot reach itself: %q", self)
	}
	target := addr + ":8080"
	res := probeResults(t, d, target)
	if r := res[target]; !strings.HasPrefix(r, "err ") || r == "err timeout" {
		t.Errorf("connect from one environment to another (%s): %s; want refused", target, r)
	}
}

func TestOutboundGoesThroughNAT(t *testing.T) {
	outside, hostSide := outsideWorld(t)
	d := newDriver(t, linux.Config{})
	target := outside.Addr().String()
	res := probeResults(t, d, target)
	if n := outside.accepted.Load(); n != 1 {
		t.Errorf("the outside listener accepted %d connections; want 1", n)
	}
	if want := "ok hello " + hostSide.String(); res[target] != want {
		t.Errorf("connect to a service beyond the host (%s): %q; want %q (masqueraded)", target, res[target], want)
	}
}

// An environment cannot reach link-local addresses, where clouds serve
// the instance metadata (and the host's credentials) at 169.254.169.254,
// unless the operator opens them. The metadata service here is a
// namespace of the test's own with that address.
func TestLinkLocalIsUnreachable(t *testing.T) {
	metadata, _ := outsideWorldAt(t, netip.MustParsePrefix("169.254.169.253/30"), netip.MustParsePrefix("169.254.169.254/30"))
	target := metadata.Addr().String()

	d := newDriver(t, linux.Config{})
	if r := probeResults(t, d, target)[target]; !strings.Contains(r, "ECONNREFUSED") {
		t.Errorf("connect to %s by default: %q; want refused", target, r)
	}
	if n := metadata.accepted.Load(); n != 0 {
		t.Errorf("the metadata listener accepted %d connections from an environment", n)
	}

	open := newDriver(t, linux.Config{LinkLocal: true})
	if r := probeResults(t, open, target)[target]; !strings.HasPrefix(r, "ok hello ") {
		t.Errorf("connect to %s with LinkLocal: %q; want it reached", target, r)
	}
}

// An environment has IPv6 off on each of its devices and for any device it
// could get later, so it has no IPv6 path, link-local or other, to the host.
func TestEnvironmentHasNoIPv6(t *testing.T) {
	d := newDriver(t, linux.Config{})
	e := start(t, d, envSpec(t, `cd /proc/sys/net/ipv6/conf && for p in *; do echo "v6 $p $(cat $p/disable_ipv6)"; done`, nil))
	if exit := waitExit(t, e); exit.Code != 0 {
		t.Fatalf("exit = %+v; output:\n%s", exit, e.Output(t))
	}
	got := lines(t, e, "v6 ")
	want := []string{"all 1", "default 1", "eth0 1", "lo 1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("disable_ipv6 per device (-want +got):\n%s", diff)
	}
}

// DenyNets refuses further destinations, such as the host's LAN.
func TestDenyNets(t *testing.T) {
	outside, _ := outsideWorld(t)
	target := outside.Addr().String()
	d := newDriver(t, linux.Config{DenyNets: []netip.Prefix{netip.MustParsePrefix("10.214.77.0/24")}})
	if r := probeResults(t, d, target)[target]; !strings.Contains(r, "ECONNREFUSED") {
		t.Errorf("connect to %s in a denied net: %q; want refused", target, r)
	}
	if n := outside.accepted.Load(); n != 0 {
		t.Errorf("a listener in a denied net accepted %d connections", n)
	}
}

func TestNetworkNone(t *testing.T) {
	outside, _ := outsideWorld(t)
	host := listen(t, "0.0.0.0:0")
	d := newDriver(t, linux.Config{Network: linux.NetworkNone})
	spec := probeSpec(t, nil, outside.Addr().String(), fmt.Sprintf("%s:%d", hostAddr(t), host.port()))
	e := start(t, d, spec)
	waitExit(t, e)
	if gw := lines(t, e, "gateway "); len(gw) != 1 || gw[0] != "none" {
		t.Errorf("gateway = %q; want none", gw)
	}
	for _, l := range lines(t, e, "probe ") {
		if !strings.Contains(l, " err ENETUNREACH") {
			t.Errorf("probe %s; want ENETUNREACH", l)
		}
	}
	if n := host.accepted.Load() + outside.accepted.Load(); n != 0 {
		t.Errorf("listeners accepted %d connections from an environment without network", n)
	}
}

// outsideWorld makes a network namespace standing for a service beyond the
// host, joined to the host by a veth (10.214.77.0/30), with a listener in
// it. It returns the listener and the host's address on that link.
func outsideWorld(t *testing.T) (*listener, netip.Addr) {
	t.Helper()
	return outsideWorldAt(t, netip.MustParsePrefix("10.214.77.1/30"), netip.MustParsePrefix("10.214.77.2/30"))
}

// outsideWorldAt is outsideWorld with the host's side of the link at
// hostSide and the namespace's at outside (the listener's address).
func outsideWorldAt(t *testing.T, hostSide, outside netip.Prefix) (*listener, netip.Addr) {
	t.Helper()
	requireDriver(t)
	name := "htx" + fmt.Sprint(len(t.Name())%1000)

	type result struct {
		ln  net.Listener
		ns  netns.NsHandle
		err error
	}
	ch := make(chan result)
	go func() {
		// A thread whose namespace could not be restored must die with
		// its goroutine: unlock only after restoring.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		ns, err := netns.New()
		if err != nil {
			ch <- result{err: err}
			return
		}
		ln, err := func() (net.Listener, error) {
			err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"},
				PeerName: name, PeerNamespace: netlink.NsFd(int(orig))})
			if err != nil {
				return nil, fmt.Errorf("create veth: %w", err)
			}
			for _, n := range []string{"lo", "eth0"} {
				l, err := netlink.LinkByName(n)
				if err != nil {
					return nil, err
				}
				if n == "eth0" {
					if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipNet(outside)}); err != nil {
						return nil, err
					}
				}
				if err := netlink.LinkSetUp(l); err != nil {
					return nil, err
				}
				if n == "eth0" {
					if err := netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: hostSide.Addr().AsSlice()}); err != nil {
						return nil, err
					}
				}
			}
			return net.Listen("tcp4", outside.Addr().String()+":8080")
		}()
		if serr := netns.Set(orig); serr != nil {
			ch <- result{err: errors.Join(err, serr)}
			return // the thread dies locked
		}
		runtime.UnlockOSThread()
		ch <- result{ln: ln, ns: ns, err: err}
	}()
	r := <-ch
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(name); err == nil {
			netlink.LinkDel(l)
		}
		if r.ns.IsOpen() {
			r.ns.Close()
		}
	})
	if r.err != nil {
		t.Fatalf("create the outside namespace: %v", r.err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipNet(hostSide)}); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	ln := serve(t, r.ln)
	ln.ns = r.ns
	// Sanity: the host reaches it directly.
	c, err := net.Dial("tcp4", r.ln.Addr().String())
	if err != nil {
		t.Fatalf("the host cannot reach the outside namespace: %v", err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.HasPrefix(line, "hello ") {
		t.Fatalf("outside listener said %q", line)
	}
	ln.accepted.Store(0)
	return ln, hostSide.Addr()
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

// Two drivers on one host (two hearth servers, or a server and these
// tests) each keep their own subnet and rules: one's firewall does not
// refuse what the other allows.
func TestDriversShareAHost(t *testing.T) {
	ip := hostAddr(t)
	allowed := listen(t, ip.String()+":0")
	a := newDriver(t, linux.Config{HostPorts: []uint16{uint16(allowed.port())}})
	other := newDriver(t, linux.Config{}) // allows no host port
	target := fmt.Sprintf("%s:%d", ip, allowed.port())
	if res := probeResults(t, a, target); !strings.HasPrefix(res[target], "ok hello ") {
		t.Errorf("with another driver on the host, connect to an allowed host port: %s; want ok", res[target])
	}
	if res := probeResults(t, other, target); !strings.HasPrefix(res[target], "err ") {
		t.Errorf("the other driver's environment reached a port only the first allows: %s", res[target])
	}
}

// Nothing beyond the host can open a connection to an environment, even
// where the host routes its subnet (a LAN machine with a route to it, or
// the host forwarding for others): environments take no connections from
// anywhere, as on Lambda, so one cannot reach another through a relay
// outside.
func TestEnvironmentsTakeNoConnectionsFromOutside(t *testing.T) {
	outside, _ := outsideWorld(t) // its default route leads to the host
	d := newDriver(t, linux.Config{})
	spec := pythonSpec(t, `
import os, socket, threading
exec(open(os.environ["LAMBDA_TASK_ROOT"] + "/probe.py").read())
s = socket.socket()
s.bind(("0.0.0.0", 8080))
s.listen()
def serve():
    while True:
        c, _ = s.accept()
        c.sendall(b"from-env\n")
        c.close()
threading.Thread(target=serve, daemon=True).start()
me = my_addr()
print("self", probe(me + ":8080"))
print("out", probe(os.environ["OUTSIDE"]))
print("addr", me, flush=True)
threading.Event().wait()
`)
	spec.Env = append(spec.Env, "OUTSIDE="+outside.Addr().String())
	e := start(t, d, spec)
	e.WaitFor(t, "addr ")
	// Controls: the listener works, and the environment and the outside
	// talk (replies come back in).
	if self := lines(t, e, "self "); len(self) != 1 || self[0] != "ok from-env" {
		t.Fatalf("the environment cannot reach its own listener: %q", self)
	}
	if out := lines(t, e, "out "); len(out) != 1 || !strings.HasPrefix(out[0], "ok hello ") {
		t.Fatalf("the environment cannot reach the outside: %q", out)
	}
	target := lines(t, e, "addr ")[0] + ":8080"
	if line, err := dialIn(t, outside.ns, target); err == nil {
		t.Errorf("from beyond the host, connect to the environment's %s: got %q; want refused", target, line)
	} else {
		t.Logf("from beyond the host, connect to %s: %v", target, err)
	}
}

// dialIn connects to addr from the network namespace ns and returns the
// first line received.
func dialIn(t *testing.T, ns netns.NsHandle, addr string) (string, error) {
	t.Helper()
	type result struct {
		line string
		err  error
	}
	ch := make(chan result)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		var r result
		c, err := net.DialTimeout("tcp4", addr, 3*time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(3 * time.Second))
			r.line, r.err = bufio.NewReader(c).ReadString('\n')
			c.Close()
		} else {
			r.err = err
		}
		if err := netns.Set(orig); err != nil {
			ch <- result{err: err}
			return // the thread dies locked
		}
		runtime.UnlockOSThread()
		ch <- r
	}()
	r := <-ch
	return r.line, r.err
}
