package runtimeapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Config bounds what one environment's runtime can hold in the server: its
// connections, the request bodies being read, and how long a request may
// stall. Zero fields take the defaults, small multiples of what real
// runtime clients use (one or two kept-alive connections, headers and
// bodies sent in one go).
type Config struct {
	// MaxConns is how many connections may be open at once. The server
	// closes any connection beyond it as soon as it accepts it, so the
	// descriptor is released. Zero means 16.
	MaxConns int
	// ReadHeaderTimeout bounds reading a request's headers. Zero means 10s.
	ReadHeaderTimeout time.Duration
	// BodyReadTimeout cuts a request body that makes no progress for this
	// long. The answer to the current invocation may in any case take
	// until the invocation's deadline, since a streamed response may
	// pause. Zero means 10s.
	BodyReadTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that carries no request
	// for this long. Zero means 16 minutes: a runtime's connection sits
	// idle while its function runs, for up to Lambda's 15-minute timeout.
	IdleTimeout time.Duration
	// NetHTTPOnly serves every request with net/http's server, without
	// the fast path for a runtime's GET /next and POST /response (see
	// fast.go). The two answer alike; this is for comparing them.
	NetHTTPOnly bool

	// Function is what registering extensions are told.
	Function Function
	// External names the external extensions started with the runtime
	// (their file names in /opt/extensions). Init completes only once each
	// has registered and, like the runtime and every internal extension,
	// waits in its next. Any other name registers as an internal
	// extension.
	External []string
	// Dial connects to a telemetry destination inside the environment,
	// addr being 127.0.0.1:PORT as the environment sees it. Nil dials the
	// host's loopback (the process driver's environments share it).
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

func (c Config) withDefaults() Config {
	if c.MaxConns <= 0 {
		c.MaxConns = 16
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.BodyReadTimeout <= 0 {
		c.BodyReadTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 16 * time.Minute
	}
	return c
}

// MaxInitError is the largest init error document a runtime may post.
// Runtimes send a message, a type and a stack trace.
const MaxInitError = 1 << 20

// maxHeaderBytes bounds a request's headers. Runtime clients send a few
// short ones.
const maxHeaderBytes = 64 << 10

// bodyBudget is what the request bodies being read at once may hold: the
// answer to the one invocation in flight and one init error document,
// each with the byte that detects an overflow.
const bodyBudget = MaxResponse + 1 + MaxInitError + 1

// errBudget reports a body read refused because the environment's budget
// for bodies in flight is spent.
var errBudget = errors.New("runtime api: too many request bytes in flight")

// budget counts the request-body bytes an environment's handlers hold.
type budget struct {
	mu   sync.Mutex
	free int64 // guarded by mu
}

// take reserves up to n bytes and returns how many it reserved.
func (b *budget) take(n int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, b.free)
	b.free -= n
	return n
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	b.free += n
	b.mu.Unlock()
}

// bodyReader reads a request body, extending the connection's read
// deadline before each read, so that a body is cut once it stops making
// progress. While b is set, every byte read is charged to it until done.
type bodyReader struct {
	r       io.Reader
	rc      *http.ResponseController
	b       *budget // nil when the bytes are not kept
	timeout time.Duration
	until   time.Time // the deadline is never earlier than this
	charged int64
	failed  bool // a read failed, the deadline perhaps; the connection is done for
}

// readChunk bounds a single read, and so what one read may reserve.
const readChunk = 64 << 10

func (br *bodyReader) Read(p []byte) (int, error) {
	if len(p) > readChunk {
		p = p[:readChunk]
	}
	got := int64(len(p))
	if br.b != nil {
		got = br.b.take(got)
		if got == 0 && len(p) > 0 {
			return 0, errBudget
		}
	}
	deadline := time.Now().Add(br.timeout)
	if br.until.After(deadline) {
		deadline = br.until
	}
	br.rc.SetReadDeadline(deadline) // unsupported by httptest.ResponseRecorder, which needs no bound
	n, err := br.r.Read(p[:got])
	if err != nil && err != io.EOF {
		br.failed = true
	}
	if br.b != nil {
		br.b.give(got - int64(n))
		br.charged += int64(n)
	}
	return n, err
}

// uncharge returns the bytes charged so far; later reads are not charged.
func (br *bodyReader) uncharge() {
	if br.b != nil {
		br.b.give(br.charged)
		br.b, br.charged = nil, 0
	}
}

// done uncharges and, unless a read failed, lifts the read deadline: the
// connection's next wait is the server's idle timeout. After a failure the
// expired deadline stays, so the server does not wait for the rest of the
// body but closes the connection.
func (br *bodyReader) done() {
	br.uncharge()
	if !br.failed {
		br.rc.SetReadDeadline(time.Time{})
	}
}

// limitListener closes connections beyond max as soon as it accepts them.
type limitListener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open int // guarded by mu
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		ok := l.open < l.max
		if ok {
			l.open++
		}
		l.mu.Unlock()
		if !ok {
			c.Close()
			continue
		}
		return &limitConn{Conn: c, release: sync.OnceFunc(l.release)}, nil
	}
}

func (l *limitListener) release() {
	l.mu.Lock()
	l.open--
	l.mu.Unlock()
}

type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// CloseWrite keeps the half-close net/http uses to deliver an error
// response before closing on a client still sending its body.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
