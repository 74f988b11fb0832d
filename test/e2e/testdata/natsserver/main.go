// Command natsserver runs a standalone NATS server with JetStream for the
// cluster end-to-end tests (no nats-server binary is needed): it prints
// "ready nats://HOST:PORT" once it takes connections and runs until
// SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	dir := flag.String("dir", "", "JetStream store directory")
	host := flag.String("host", "127.0.0.1", "client listen address")
	port := flag.Int("port", -1, "client port (-1: a free one)")
	flag.Parse()
	opts := &server.Options{
		ServerName: "e2e-nats",
		Host:       *host,
		Port:       *port,
		JetStream:  true,
		StoreDir:   *dir,
		MaxPayload: 8 << 20,
		NoSigs:     true,
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
