package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// host is a network namespace the test made, joined to the test's own by
// a veth pair on a /30: the host end has .1, the namespace end .2.
type host struct {
	ns, veth string
	hostIP   string // the host end's address
	ip       string // the namespace end's address
}

// ipCmd runs ip with args and fails t on error.
func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// freeSubnets picks n distinct 10.254.N.0/30 subnets no address or route
// of the host's touches.
func freeSubnets(t *testing.T, n int) []int {
	t.Helper()
	used := ipCmd(t, "-4", "addr") + ipCmd(t, "-4", "route", "show", "table", "all")
	for _, wide := range []string{"10.0.0.0/8", "10.254.0.0/16"} {
		if strings.Contains(used, wide) {
			t.Skipf("the host has %s; no private subnet to pick", wide)
		}
	}
	var picked []int
	for len(picked) < n {
		x := 1 + rand.IntN(254)
		if !strings.Contains(used, fmt.Sprintf("10.254.%d.", x)) && !slices.Contains(picked, x) {
			picked = append(picked, x)
		}
	}
	return picked
}

// makeHosts creates one network namespace per subnet, with its veth pair
// up and lo up in it. t.Cleanup deletes them and checks that neither
// ip netns list nor ip link shows them any more.
func makeHosts(t *testing.T, subnets []int) []host {
	t.Helper()
	var hosts []host
	for i, x := range subnets {
		h := host{
			ns:     fmt.Sprintf("hth-e2e-%d-%c", os.Getpid(), 'a'+i),
			veth:   fmt.Sprintf("hth%d%c", os.Getpid(), 'a'+i),
			hostIP: fmt.Sprintf("10.254.%d.1", x),
			ip:     fmt.Sprintf("10.254.%d.2", x),
		}
		hosts = append(hosts, h)
		ipCmd(t, "netns", "add", h.ns)
		t.Cleanup(func() {
			// The host end first: deleting it removes its peer at once,
			// where a namespace's own devices go some time after it.
			exec.Command("ip", "link", "del", h.veth).Run()
			if out, err := exec.Command("ip", "netns", "del", h.ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v\n%s", h.ns, err, out)
			}
			if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), h.ns) {
				t.Errorf("ip netns list still shows %s after cleanup:\n%s", h.ns, out)
			}
			if out, _ := exec.Command("ip", "link").Output(); strings.Contains(string(out), h.veth) {
				t.Errorf("ip link still shows %s after cleanup:\n%s", h.veth, out)
			}
		})
		ipCmd(t, "link", "add", h.veth, "type", "veth", "peer", "name", h.veth+"p", "netns", h.ns)
		ipCmd(t, "addr", "add", h.hostIP+"/30", "dev", h.veth)
		ipCmd(t, "link", "set", h.veth, "up")
		ipCmd(t, "-n", h.ns, "addr", "add", h.ip+"/30", "dev", h.veth+"p")
		ipCmd(t, "-n", h.ns, "link", "set", h.veth+"p", "up")
		ipCmd(t, "-n", h.ns, "link", "set", "lo", "up")
	}
	return hosts
}

// netnsOf is the device and inode of a namespace file, which name the
// namespace.
func netnsOf(t *testing.T, path string) [2]uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return [2]uint64{uint64(st.Dev), st.Ino}
}

// An api node on the host and two worker nodes, each in a network
// namespace of its own (separate hosts, as far as the network goes),
// on one NATS server: a function created through the api node runs on a
// namespaced worker, reached at its veth address; kill -9 of that worker
// mid-invocation fails the call at once with a 500 and the next runs on
// the other.
func TestClusterAcrossNetworkNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (iproute2)")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	hosts := makeHosts(t, freeSubnets(t, 2))
	// NATS listens on the host end of the first namespace's veth only:
	// the second namespace reaches it by a host route through its own
	// veth. Nothing listens on the host's other interfaces.
	ipCmd(t, "-n", hosts[1].ns, "route", "add", hosts[0].hostIP+"/32", "via", hosts[1].hostIP)
	url := startNATSOn(t, hosts[0].hostIP)

	workers := map[string]*server{}
	addrs := map[string]string{}
	for _, h := range hosts {
		w := startServerIn(t, h.ns, "", "--roles", "worker", "--isolation", "process",
			"--nats-url", url, "--worker-addr", h.ip+":0")
		// The worker runs in the namespace: its network namespace is
		// the one ip netns add bound to /run/netns.
		if got, want := netnsOf(t, "/proc/"+strconv.Itoa(w.cmd.Process.Pid)+"/ns/net"), netnsOf(t, "/run/netns/"+h.ns); got != want {
			t.Fatalf("the worker's network namespace is %v, want %s's %v", got, h.ns, want)
		}
		id := w.workerID(t)
		workers[id] = w
		addrs[id] = h.ip
	}
	api := startServer(t, "", "--roles", "api,poller", "--isolation", "process", "--nats-url", url)
	for id := range workers {
		eventually(t, 10*time.Second, "the api node places on worker "+id, func() bool { return api.serving(t, id, 0) })
	}
	// Each worker announced its namespace's address, and the api node
	// knows it by that.
	joined := map[string]string{}
	for _, w := range api.clusterView(t).Workers {
		joined[w.ID] = w.Addr
	}
	for id, ip := range addrs {
		if got := joined[id]; !strings.HasPrefix(got, ip+":") {
			t.Errorf("the api node has worker %s at %q, want its namespace's address %s", id, got, ip)
		}
	}

	api.create(t, "netns", goFn())
	if r := api.invoke(t, "netns", map[string]any{"op": "echo"}); r.FunctionError != "" {
		t.Fatalf("invoke: %s %s", r.FunctionError, r.Payload)
	}
	// where lists the workers that hold an environment of the function
	// in state ("" for any), from the api node's cluster-wide listing.
	where := func(state string) []string {
		var ids []string
		for _, e := range api.environments(t) {
			if e["function"] == "netns" && (state == "" || e["state"] == state) {
				w, _ := e["worker"].(string)
				ids = append(ids, w)
			}
		}
		return ids
	}
	ran := where("")
	if len(ran) != 1 || workers[ran[0]] == nil {
		t.Fatalf("environments of the function are on workers %q, want one on a namespaced worker", ran)
	}
	hot := ran[0]
	t.Logf("ran on worker %s at %s", hot, addrs[hot])

	// kill -9 of that worker mid-invocation.
	errc := make(chan error, 1)
	go func() {
		_, err := api.tryInvoke(t.Context(), api.NoRetry, "netns", map[string]any{"op": "sleep", "ms": 20000})
		errc <- err
	}()
	eventually(t, 10*time.Second, "the sleeping invocation runs on worker "+hot, func() bool {
		return slices.Contains(where("busy"), hot)
	})
	workers[hot].Kill()
	killed := time.Now()
	select {
	case err := <-errc:
		took := time.Since(killed)
		var ae smithy.APIError
		var re *awshttp.ResponseError
		if !errors.As(err, &ae) || !errors.As(err, &re) || ae.ErrorCode() != "ServiceException" || re.HTTPStatusCode() != http.StatusInternalServerError {
			t.Fatalf("invoke on a killed worker = %v, want a 500 ServiceException", err)
		}
		if took > 2*time.Second {
			t.Errorf("the failure took %v after the kill, want it at once", took)
		}
		t.Logf("invocation failed %v after kill -9 of its worker", took.Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("invoke on a killed worker still hangs 10 s after the kill")
	}
	r, err := api.tryInvoke(t.Context(), api.NoRetry, "netns", map[string]any{"op": "echo"})
	if err != nil || r.FunctionError != "" {
		t.Fatalf("invoke after the kill = %v, %v", r, err)
	}
	var other string
	for id := range workers {
		if id != hot {
			other = id
		}
	}
	if got := where(""); !slices.Contains(got, other) {
		t.Errorf("after the kill, environments are on workers %q, want one on the other worker %s", got, other)
	}
}
