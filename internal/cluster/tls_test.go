package cluster

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hearth/internal/broker"
	"hearth/internal/placement"
)

// testCA makes a CA as ClusterCA does, without JetStream.
func testCA(t *testing.T) *CA {
	t.Helper()
	b, err := newCA()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := parseCA(b)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// tlsWorker serves a handler that counts its requests on a loopback
// listener with a certificate of ca, as a worker node's listener is.
func tlsWorker(t *testing.T, ca *CA) (addr string, hits *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := ca.ServerConfig(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	hits = new(atomic.Int32)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ran")
	}), ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelDebug)}
	go srv.Serve(tls.NewListener(ln, tc))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), hits
}

// A worker's listener speaks only TLS: a plain HTTP request reaches none
// of its handlers, and a client that trusts another CA, or dials a name
// the certificate does not carry, refuses the worker before it sends
// anything; one trusting the cluster CA gets through with TLS 1.3.
func TestWorkerListenerTLS(t *testing.T) {
	ca := testCA(t)
	addr, hits := tlsWorker(t, ca)
	post := func(c *http.Client, url string) (*http.Response, error) {
		resp, err := c.Post(url, "application/octet-stream", strings.NewReader("x"))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}

	// Plain HTTP: Go's TLS server answers 400 without running anything.
	if resp, err := post(&http.Client{}, "http://"+addr+invokePath); err == nil && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP: status %d; want an error or 400", resp.StatusCode)
	}
	if got := hits.Load(); got != 0 {
		t.Errorf("plain HTTP reached the handler %d times; want 0", got)
	}

	other := testCA(t)
	for _, tt := range []struct {
		name string
		ca   *CA
		url  string
	}{
		{"another CA", other, "https://" + addr + invokePath},
		{"another name", ca, "https://" + strings.Replace(addr, "127.0.0.1", "localhost", 1) + invokePath},
	} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: tt.ca.ClientConfig()}}
		_, err := post(c, tt.url)
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Errorf("%s: err %v; want a certificate verification error", tt.name, err)
		}
		if !neverSent(err) {
			t.Errorf("%s: neverSent(%v) = false; the invocation would not be placed elsewhere", tt.name, err)
		}
	}
	if got := hits.Load(); got != 0 {
		t.Errorf("untrusting clients reached the handler %d times; want 0", got)
	}

	c := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientConfig()}}
	resp, err := post(c, "https://"+addr+invokePath)
	if err != nil {
		t.Fatalf("cluster CA: %v", err)
	}
	if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("cluster CA: TLS state %+v; want TLS 1.3", resp.TLS)
	}
	if got := hits.Load(); got != 1 {
		t.Errorf("cluster CA: handler ran %d times; want 1", got)
	}
}

// A worker's certificate lasts leafLifetime and is issued again once a
// third of it is left; a DNS host gets a DNS name.
func TestWorkerCertificateRenewal(t *testing.T) {
	ca := testCA(t)
	l := &leaf{ca: ca, host: "worker-1.internal"}
	now := time.Now()
	first, err := l.get(now)
	if err != nil {
		t.Fatal(err)
	}
	if got := first.Leaf.DNSNames; len(got) != 1 || got[0] != "worker-1.internal" {
		t.Errorf("DNS names %v; want [worker-1.internal]", got)
	}
	if got, want := first.Leaf.NotAfter.Sub(now).Round(time.Hour), leafLifetime; got != want {
		t.Errorf("lifetime %v; want %v", got, want)
	}
	if again, _ := l.get(now.Add(leafLifetime / 2)); again != first {
		t.Errorf("re-issued half-way; want the same certificate until a third is left")
	}
	later, err := l.get(now.Add(leafLifetime - leafLifetime/4))
	if err != nil {
		t.Fatal(err)
	}
	if later == first {
		t.Errorf("not re-issued with a quarter of its life left")
	}
}

// Nodes starting together agree on one CA: the first Create wins, the
// others read it.
func TestClusterCAOnce(t *testing.T) {
	b, err := broker.Start(broker.Config{Dir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cas := make([]*CA, 4)
	var wg sync.WaitGroup
	for i := range cas {
		wg.Go(func() {
			ca, err := ClusterCA(t.Context(), b.JetStream())
			if err != nil {
				t.Error(err)
				return
			}
			cas[i] = ca
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, ca := range cas[1:] {
		if !ca.cert.Equal(cas[0].cert) {
			t.Errorf("node %d has another CA than node 0", i+1)
		}
	}
}

// An api node dials a worker with https unless the worker announced a
// plain listener, and forgets that once the worker has been silent a
// minute (its address may be another's by then).
func TestRunnerFollowsWorkerScheme(t *testing.T) {
	r := NewRunner(nil, "t", testCA(t), slog.New(slog.DiscardHandler))
	now := time.Now()
	r.noteScheme(placement.Announce{Worker: "a", Addr: "10.0.0.1:7000"}, now)
	r.noteScheme(placement.Announce{Worker: "b", Addr: "10.0.0.2:7000", PlainHTTP: true}, now)
	for _, tt := range []struct{ addr, want string }{
		{"10.0.0.1:7000", "https://10.0.0.1:7000" + invokePath},
		{"10.0.0.2:7000", "http://10.0.0.2:7000" + invokePath},
		{"10.0.0.3:7000", "https://10.0.0.3:7000" + invokePath}, // never announced
	} {
		if got := r.url(tt.addr, invokePath); got != tt.want {
			t.Errorf("url(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
	r.noteScheme(placement.Announce{Worker: "a", Addr: "10.0.0.1:7000"}, now.Add(2*time.Minute))
	if got, want := r.url("10.0.0.2:7000", invokePath), "https://10.0.0.2:7000"+invokePath; got != want {
		t.Errorf("after a minute of silence: url = %s, want %s", got, want)
	}
}
