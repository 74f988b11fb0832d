// Package logs captures what execution environments write, attributes it to
// the invocation in flight, adds Lambda's platform lines (START, END,
// REPORT), keeps a bounded log per function on disk and serves its tail to
// Invoke (X-Amz-Log-Result) and to followers (hearth logs --follow).
//
// Attribution is exact: an environment's stdout and stderr share one pipe,
// and when the runtime posts its response the worker calls
// [Capture.Flush], which drains whatever the pipe holds without blocking.
// Everything the runtime wrote before posting is in the pipe by then, so it
// lands in that invocation's log and none of the next one's.
package logs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// TailSize is how much of an invocation's log Invoke returns: the last 4 KB.
const TailSize = 4096

// maxLine bounds one log line; longer output is split.
const maxLine = 256 << 10

// Capture reads one environment's output.
type Capture struct {
	r      *os.File
	rc     syscall.RawConn
	fd     int // r's descriptor, non-blocking; read directly by Flush
	dest   *FunctionLog
	stream string        // the log stream dest's lines belong to
	done   chan struct{} // closed when Run returns, or by Close if Run never ran

	mu      sync.Mutex
	buf     []byte // guarded by mu; read buffer
	partial []byte // guarded by mu; an unterminated last line
	tail    []byte // guarded by mu; recent text of the current (or next) invocation
	eof     bool   // guarded by mu; Run has seen the end, or Close ran
	running bool   // guarded by mu; Run has started
	closed  bool   // guarded by mu; Close has run

	onLine func([]byte) // set before Run; called under mu for each output line
}

// OnLine makes Capture call f with each line of the environment's own
// output (not platform lines), as it is read, with the newline that ended
// it (as Lambda's log events and Telemetry API records keep it), if one
// did. f is called with Capture's
// lock held: it must not block or do I/O, and must copy the line to keep
// it. Call OnLine before Run.
func (c *Capture) OnLine(f func(line []byte)) {
	c.mu.Lock()
	c.onLine = f
	c.mu.Unlock()
}

// NewCapture creates the pipe an environment writes to. It returns the
// write end for sandbox.Spec.Output; the caller closes it once the
// environment has started. Lines go to dest, in the log stream named
// stream; with a nil dest only to OnLine and the tail.
func NewCapture(dest *FunctionLog, stream string) (*Capture, *os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("create output pipe: %w", err)
	}
	rc, err := r.SyscallConn()
	if err != nil {
		r.Close()
		w.Close()
		return nil, nil, fmt.Errorf("output pipe: %w", err)
	}
	c := &Capture{r: r, rc: rc, dest: dest, stream: stream, done: make(chan struct{}), buf: make([]byte, 32<<10)}
	rc.Control(func(fd uintptr) {
		c.fd = int(fd)
		// Best effort: the default 64 KiB is kept if the limit is lower.
		unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize)
	})
	return c, w, nil
}

// batchDelay is how long Run lets output accumulate after reading before
// it watches the pipe again. Waking up for every line a function prints
// costs a context switch on the invocation path; Flush reads whatever is
// left when the invocation ends, so the delay loses nothing, and the pipe
// is enlarged so that writers do not block meanwhile.
const batchDelay = 5 * time.Millisecond

// pipeSize is the output pipe's capacity.
const pipeSize = 1 << 20

// Run reads the pipe until every writer has closed it (all the
// environment's processes are gone) or Close is called. It returns at once
// if Close has run already.
func (c *Capture) Run() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return // Close closed done
	}
	c.running = true
	c.mu.Unlock()
	defer close(c.done)
	for first := true; ; first = false {
		if !first {
			time.Sleep(batchDelay)
		}
		var eof bool
		err := c.rc.Read(func(fd uintptr) bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			n, err := c.readLocked(int(fd))
			if errors.Is(err, syscall.EAGAIN) {
				return false // wait until readable
			}
			eof = n == 0 || err != nil
			return true
		})
		if err != nil || eof {
			c.mu.Lock()
			c.eof = true
			c.flushPartialLocked()
			c.mu.Unlock()
			return
		}
	}
}

// readLocked reads once from fd and processes what it got.
func (c *Capture) readLocked(fd int) (int, error) {
	n, err := syscall.Read(fd, c.buf)
	if n > 0 {
		c.processLocked(c.buf[:n])
	}
	if n < 0 {
		n = 0
	}
	return n, err
}

// Flush processes everything the pipe holds now, without waiting for more.
func (c *Capture) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eof {
		return
	}
	// Run may be parked in the poller holding the descriptor's read lock,
	// so read the non-blocking descriptor directly; mu serialises the two
	// readers and eof keeps Flush off a closed descriptor. Bounded: what
	// was written before Flush began is at most the pipe's capacity, and a
	// process writing on meanwhile must not keep it reading.
	for total := 0; total < 2*pipeSize; {
		n, err := c.readLocked(c.fd)
		if n == 0 || err != nil {
			break // drained (EAGAIN), or EOF that Run will see
		}
		total += n
	}
	// Output that does not end in a newline still belongs to this
	// invocation.
	c.flushPartialLocked()
}

func (c *Capture) processLocked(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			c.partial = append(c.partial, b...)
			if len(c.partial) >= maxLine {
				c.flushPartialLocked()
			}
			return
		}
		line := b[:i+1] // with its newline, which Lambda keeps
		if len(c.partial) > 0 {
			line = append(c.partial, line...)
			c.partial = c.partial[:0]
		}
		c.lineLocked(line)
		b = b[i+1:]
	}
}

func (c *Capture) flushPartialLocked() {
	if len(c.partial) > 0 {
		c.lineLocked(c.partial)
		c.partial = c.partial[:0]
	}
}

// lineLocked handles one line of output: with the newline that ended it,
// if one did (output flushed before its newline is a line without).
func (c *Capture) lineLocked(line []byte) {
	c.appendTailLocked(line)
	if c.dest != nil {
		c.dest.write(c.stream, line)
	}
	if c.onLine != nil {
		c.onLine(line)
	}
}

// appendTailLocked adds a line to the tail: without the newlines it ends
// in, then one newline, so that Invoke's tail has one line per event as
// Lambda's has.
func (c *Capture) appendTailLocked(line []byte) {
	c.tail = append(c.tail, bytes.TrimRight(line, "\n")...)
	c.tail = append(c.tail, '\n')
	if len(c.tail) > 4*TailSize {
		c.tail = append(c.tail[:0], c.tail[len(c.tail)-TailSize:]...)
	}
}

// Platform records a platform line (START, END, REPORT, ...) in order with
// the environment's own output. line is the event as Lambda stores it: a
// Text line ends in its newline, a JSON record in none (see Platform). An
// empty line (a record the system log level filtered out) is ignored.
func (c *Capture) Platform(line string) {
	if line == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.appendTailLocked([]byte(line))
	if c.dest != nil {
		c.dest.write(c.stream, []byte(line))
	}
}

// Tail returns the last TailSize bytes logged since the previous Tail and
// starts collecting afresh. The worker calls it after an invocation's
// REPORT line; output of init and of the time between invocations lands
// in the next invocation's tail.
func (c *Capture) Tail() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tail
	if len(t) > TailSize {
		t = t[len(t)-TailSize:]
	}
	out := bytes.Clone(t)
	c.tail = c.tail[:0]
	return out
}

// Close stops Run (if every writer has not closed the pipe already) and
// waits for it to return. Run need not have been started: an environment
// that failed to start is closed without it. Close is idempotent.
func (c *Capture) Close() {
	c.mu.Lock()
	already, running := c.closed, c.running
	c.closed, c.eof = true, true
	c.mu.Unlock()
	if !already {
		c.r.Close()
		if !running {
			close(c.done)
		}
	}
	<-c.done
}

// Done is closed when Run has returned.
func (c *Capture) Done() <-chan struct{} { return c.done }
