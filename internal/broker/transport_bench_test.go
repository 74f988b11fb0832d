package broker

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"github.com/nats-io/nats.go"
)

// BenchmarkTransport measures one api → worker → api round trip of an
// invocation's payload (and an answer of the same size) over the two
// transports the cluster could use: NATS request/reply through a server
// listening on loopback (the api node and the worker are both clients of
// it), and direct HTTP between the nodes. docs/architecture.md "Cluster"
// quotes it for the choice of HTTP.
func BenchmarkTransport(b *testing.B) {
	br, err := Start(Config{Dir: b.TempDir(), Listen: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	url := br.srv.ClientURL()
	worker, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	defer worker.Close()
	api, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	defer api.Close()
	sub, err := worker.Subscribe("bench.invoke", func(m *nats.Msg) { m.Respond(m.Data) })
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	worker.Flush()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Write(body)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	target := "http://" + ln.Addr().String() + "/"

	for _, size := range []int{1 << 10, 6 << 20} {
		payload := bytes.Repeat([]byte("x"), size)
		b.Run(fmt.Sprintf("nats/%dB", size), func(b *testing.B) {
			b.SetBytes(int64(2 * size))
			for b.Loop() {
				m, err := api.Request("bench.invoke", payload, 10e9)
				if err != nil || len(m.Data) != size {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("http/%dB", size), func(b *testing.B) {
			b.SetBytes(int64(2 * size))
			for b.Loop() {
				resp, err := client.Post(target, "application/octet-stream", bytes.NewReader(payload))
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if n != int64(size) {
					b.Fatalf("got %d bytes", n)
				}
			}
		})
	}
}
