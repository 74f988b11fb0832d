// Package relay copies the output of a pre-started runtime (a stem, see
// sandbox.Spec.Stem) into the output of the environment it became, so
// that what it writes is attributed to invocations exactly as if it wrote
// to that output itself.
//
// A stem is started before its environment exists, so its stdout and
// stderr are a pipe the driver holds, not the environment's output. A
// goroutine copying the pipe (Run) is not enough: a line the runtime
// writes just before it posts its response could be copied after the
// server has seen the post and closed the invocation's log. So the
// environment's Runtime API connections (Listener) drain the pipe into
// the output each time they receive bytes, before the server reads them,
// and the driver drains it once more when the runtime has exited, before
// it reports the exit.
package relay

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
)

// maxDrain bounds one Drain: a process may hold the pipe and write on
// while the Drain reads. What was written before it began is at most the
// pipe's capacity, which an unprivileged process can raise to 1 MiB
// (/proc/sys/fs/pipe-max-size).
const maxDrain = 2 << 20

// A Relay copies a stem's output pipe into an environment's output.
type Relay struct {
	src *os.File
	rc  syscall.RawConn
	fd  int // src's descriptor, non-blocking; read directly by Drain
	dst *os.File

	// mu serialises the two readers (Run and Drain), so that the output
	// keeps its order; the copy is done under it.
	mu  sync.Mutex
	buf []byte // guarded by mu
	eof bool   // guarded by mu: src is at its end, or closed
}

// New returns a relay from src, the read end of the stem's output pipe in
// non-blocking mode, to out, the environment's output. It takes src over
// and writes to a duplicate of out, so the caller may close out. Once New
// returns, the caller must call Run or Close.
func New(src, out *os.File) (*Relay, error) {
	dst, err := dupCloexec(out)
	if err != nil {
		src.Close()
		return nil, err
	}
	rc, err := src.SyscallConn()
	if err != nil {
		src.Close()
		dst.Close()
		return nil, fmt.Errorf("stem output: %w", err)
	}
	r := &Relay{src: src, rc: rc, dst: dst, buf: make([]byte, 64<<10)}
	if err := rc.Control(func(fd uintptr) { r.fd = int(fd) }); err != nil {
		src.Close()
		dst.Close()
		return nil, fmt.Errorf("stem output: %w", err)
	}
	return r, nil
}

// dupCloexec duplicates f's descriptor, close-on-exec, so that no process
// started meanwhile inherits it.
func dupCloexec(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("duplicate output: %w", err)
	}
	var fd int
	var derr error
	if err := rc.Control(func(ofd uintptr) {
		syscall.ForkLock.RLock() // no fork may inherit it before it is close-on-exec
		defer syscall.ForkLock.RUnlock()
		if fd, derr = syscall.Dup(int(ofd)); derr == nil {
			syscall.CloseOnExec(fd)
		}
	}); err != nil {
		return nil, fmt.Errorf("duplicate output: %w", err)
	}
	if derr != nil {
		return nil, fmt.Errorf("duplicate output: %w", derr)
	}
	return os.NewFile(uintptr(fd), "output"), nil
}

// Run copies until every writer of the pipe has closed it (the stem and
// whatever it started have exited), then closes both ends it holds.
func (r *Relay) Run() {
	for {
		var eof bool
		err := r.rc.Read(func(fd uintptr) bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			n, err := r.copyLocked(int(fd))
			if errors.Is(err, syscall.EAGAIN) {
				return false
			}
			eof = n == 0 || err != nil
			return true
		})
		if err != nil || eof {
			break
		}
	}
	r.Close()
}

// Close closes both ends the relay holds without copying more; Run ends
// with it. It is for a relay that will not run.
func (r *Relay) Close() {
	r.mu.Lock()
	r.eof = true
	r.mu.Unlock()
	r.src.Close()
	r.dst.Close()
}

// Drain copies what the pipe holds now, without waiting for more.
func (r *Relay) Drain() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.eof {
		return
	}
	for copied := 0; copied < maxDrain; {
		n, err := r.copyLocked(r.fd)
		if n == 0 || err != nil {
			return // drained (EAGAIN), or the end, which Run sees
		}
		copied += n
	}
}

func (r *Relay) copyLocked(fd int) (int, error) {
	n, err := syscall.Read(fd, r.buf)
	if n <= 0 {
		return 0, err
	}
	r.dst.Write(r.buf[:n]) // as a runtime's own write to a closed output, lost
	return n, nil
}

// Listener wraps the Runtime API listener of an environment started from
// a stem: each of its connections drains r into the output each time it
// receives bytes, so that what the runtime wrote before sending them is
// in the output before the server reads them.
func Listener(ln net.Listener, r *Relay) net.Listener {
	return &listener{Listener: ln, r: r}
}

type listener struct {
	net.Listener
	r *Relay
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, r: l.r}, nil
}

type conn struct {
	net.Conn
	r *Relay
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.r.Drain()
	}
	return n, err
}

// CloseWrite is the connection's own (the Runtime API half-closes).
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("close write: not supported")
}
