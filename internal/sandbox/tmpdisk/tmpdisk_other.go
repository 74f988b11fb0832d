//go:build !linux

package tmpdisk

import (
	"errors"
	"os"
)

var errNotLinux = errors.New("tmpdisk: needs Linux")

// Maker is unavailable on this operating system.
type Maker struct{}

// Available reports why this host cannot make disk-backed filesystems.
func Available() error { return errNotLinux }

// New fails on this operating system.
func New(string) (*Maker, error) { return nil, errNotLinux }

// Close does nothing.
func (*Maker) Close() error { return nil }

// MaxMB is Lambda's largest EphemeralStorage.
const MaxMB = 10240

// Make fails on this operating system.
func (*Maker) Make(int) (*os.File, error) { return nil, errNotLinux }

// MountAt fails on this operating system.
func MountAt(*os.File, string) error { return errNotLinux }

// Unmount does nothing: nothing was mounted.
func Unmount(string) error { return nil }

// UnmountUnder does nothing: nothing was mounted.
func UnmountUnder(string) error { return nil }

// Warm fails on this operating system.
func (*Maker) Warm(int) error { return errNotLinux }

// Take fails on this operating system.
func (*Maker) Take(int) (*os.File, error) { return nil, errNotLinux }

// Copy fails on this operating system.
func (*Maker) Copy(string) (*os.File, error) { return nil, errNotLinux }
