package process

import (
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
	"testing"
)

func TestParseProcAddr(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the cases are written for a little-endian host")
	}
	for _, c := range []struct{ in, want string }{
		{"0100007F:1F90", "127.0.0.1:8080"},
		{"0000000000000000FFFF00000100007F:0050", "127.0.0.1:80"}, // tcp6, IPv4-mapped
		{"00000000000000000000000001000000:2329", "[::1]:9001"},
	} {
		got, err := parseProcAddr(c.in)
		if err != nil || got != netip.MustParseAddrPort(c.want) {
			t.Errorf("parseProcAddr(%q) = %v, %v; want %s", c.in, got, err, c.want)
		}
	}
}

// BenchmarkAcceptFromGroup measures what the check adds to each accepted
// connection: this process's own group is the environment's.
func BenchmarkAcceptFromGroup(b *testing.B) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ln := onlyGroup(inner, func() []int { return []int{syscall.Getpgrp()} }, slog.New(slog.DiscardHandler))
	defer ln.Close()
	for b.Loop() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
		c.Close()
	}
}
