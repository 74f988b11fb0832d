//go:build !linux

package linux

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"

	"hearth/internal/sandbox"
)

var errNotLinux = errors.New("linux sandbox: needs Linux")

// Driver is unavailable on this operating system.
type Driver struct{}

// Available reports why this host cannot run the linux driver.
func Available() error { return errNotLinux }

// New fails on this operating system.
func New(Config, *slog.Logger) (*Driver, error) { return nil, errNotLinux }

// RunInitIfRequested does nothing on this operating system.
func RunInitIfRequested() {}

func (d *Driver) Name() string { return "linux" }

// HostAddress is never available on this operating system.
func (d *Driver) HostAddress() (netip.Addr, bool) { return netip.Addr{}, false }

func (d *Driver) Start(context.Context, *sandbox.Spec) (sandbox.Env, error) {
	return nil, errNotLinux
}

func (d *Driver) Close() error { return nil }

// Prepared reports how many prepared sandboxes the pool holds: none here.
func (d *Driver) Prepared() int { return 0 }

// Validate reports that c cannot be used on this operating system.
func (c Config) Validate() error { return errNotLinux }
