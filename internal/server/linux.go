package server

import (
	"log/slog"
	"path/filepath"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/linux"
)

// linuxUnavailable says why this host cannot run the linux driver, or nil.
func linuxUnavailable() error { return linux.Available() }

func newLinuxDriver(cfg Config, log *slog.Logger) (sandbox.Driver, error) {
	network := linux.NetworkNAT
	if cfg.Network == "none" {
		network = linux.NetworkNone
	}
	deny, err := cfg.denyNets()
	if err != nil {
		return nil, err
	}
	return linux.New(linux.Config{
		Root:      filepath.Join(cfg.DataDir, "linux"),
		Network:   network,
		LinkLocal: cfg.NetworkLinkLocal,
		DenyNets:  deny,
		HostPorts: hostPorts(cfg),
		// Most environments are the default account's: prepare for it
		// before the first Start says otherwise.
		PoolAccount: cfg.AccountID,
		Prestart:    cfg.Prestart != "off",
	}, log)
}

// hostPorts is the API's port, for environments to call it (none under
// --auth none: unauthenticated, the API would be every function's).
func hostPorts(cfg Config) []uint16 {
	if cfg.apiPort == 0 || cfg.Auth == "none" {
		return nil
	}
	return []uint16{cfg.apiPort}
}
