// Command natsserver runs a standalone NATS server with JetStream for the
// cluster end-to-end tests (no nats-server binary is needed): it prints
// "ready nats://HOST:PORT" once it takes connections and runs until
// SIGTERM or SIGINT. With -cluster-name it is one server of a JetStream
// cluster whose other servers it finds through -routes.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	dir := flag.String("dir", "", "JetStream store directory")
	host := flag.String("host", "127.0.0.1", "client listen address")
	port := flag.Int("port", -1, "client port (-1: a free one)")
	name := flag.String("name", "e2e-nats", "server name (unique in a cluster)")
	clusterName := flag.String("cluster-name", "", "cluster to join (none: a standalone server)")
	clusterPort := flag.Int("cluster-port", 0, "route listen port on -host, with -cluster-name")
	routes := flag.String("routes", "", "comma-separated nats-route://HOST:PORT of the cluster's servers")
	flag.Parse()
	opts := &server.Options{
		ServerName: *name,
		Host:       *host,
		Port:       *port,
		JetStream:  true,
		StoreDir:   *dir,
		MaxPayload: 8 << 20,
		NoSigs:     true,
	}
	if *clusterName != "" {
		opts.Cluster.Name = *clusterName
		opts.Cluster.Host = *host
		opts.Cluster.Port = *clusterPort
		if *routes != "" {
			opts.Routes = server.RoutesFromStr(strings.TrimSpace(*routes))
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv.ConfigureLogger()
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		fmt.Fprintln(os.Stderr, "not ready")
		os.Exit(1)
	}
	fmt.Println("ready", srv.ClientURL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	srv.Shutdown()
	srv.WaitForShutdown()
}
