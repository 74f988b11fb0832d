//go:build linux

package linux

// InitProbeArg, as the init program's only argument, makes it exit at
// once with status 0: the driver's check that it can execute it.
const InitProbeArg = "-hearth-init-probe"
