//go:build !linux

package linux

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"hearth/internal/sandbox"
)

// Network modes for [Config.Network].
const (
	NetworkNAT  = "nat"
	NetworkNone = "none"
)

// Config configures a Driver; see the Linux build for the fields' meaning.
type Config struct {
	Root         string
	Network      string
	Subnet       netip.Prefix
	HostPorts    []uint16
	UID, GID     int
	PoolSize     int
	PidsLimit    int
	CgroupParent string
	NoFreezerKey bool
}

// Timings splits the cost of one Start.
type Timings struct {
	Pooled                bool
	Prepare, Start, Total time.Duration
}

var errNotLinux = errors.New("linux sandbox: needs Linux")

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("linux sandbox driver closed")

// Driver is unavailable on this operating system.
type Driver struct{}

// Available reports why this host cannot run the linux driver.
func Available() error { return errNotLinux }

// New fails on this operating system.
func New(Config, *slog.Logger) (*Driver, error) { return nil, errNotLinux }

// RunInitIfRequested does nothing on this operating system.
func RunInitIfRequested() {}

func (d *Driver) Name() string { return "linux" }

func (d *Driver) Start(context.Context, *sandbox.Spec) (sandbox.Env, error) {
	return nil, errNotLinux
}

func (d *Driver) Close() error { return nil }

// Prepared reports how many prepared sandboxes the pool holds: none here.
func (d *Driver) Prepared() int { return 0 }

// Validate reports that c cannot be used on this operating system.
func (c Config) Validate() error { return errNotLinux }
