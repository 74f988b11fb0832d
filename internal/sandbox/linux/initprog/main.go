// Command initprog is the linux driver's sandbox init as a program of its
// own: package linux's init stage without the rest of Hearth. Re-executing
// the whole Hearth binary as every environment's init ran the package
// initialization of everything Hearth links (the NATS server, Prometheus,
// the AWS SDK, Lambda's API model: 7.5 ms of CPU and 1.8 MB of heap, on top
// of mapping a 37 MB binary), and kept its heap for the environment's
// lifetime.
//
// `go generate ./internal/sandbox/linux/` builds it reproducibly (see
// ../mkinit) into initbin_<arch>.gz, which the driver embeds and executes
// from a sealed memfd.
package main

import (
	"os"

	"hearth/internal/sandbox/linux"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == linux.InitProbeArg {
		os.Exit(0) // the driver checks that it can execute this program
	}
	linux.RunInitIfRequested()
	os.Exit(2) // not started by the driver
}
