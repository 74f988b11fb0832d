package sandboxtest

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth/internal/logs"
	"hearth/internal/sandbox"
)

// LineCapture is an environment's Output read as the worker reads it: a
// logs.Capture, whose Flush processes what the pipe holds at once.
type LineCapture struct {
	*logs.Capture
	// W is the Output to put in a Spec; close it once Start returns.
	W *os.File

	mu    sync.Mutex
	lines []string // guarded by mu; without the newlines they ended in
}

// NewLineCapture returns a running LineCapture, closed at the end of t.
func NewLineCapture(t testing.TB) *LineCapture {
	t.Helper()
	capture, w, err := logs.NewCapture(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	c := &LineCapture{Capture: capture, W: w}
	capture.OnLine(func(l []byte) {
		c.mu.Lock()
		c.lines = append(c.lines, strings.TrimSuffix(string(l), "\n"))
		c.mu.Unlock()
	})
	go capture.Run()
	t.Cleanup(func() { capture.Close() })
	return c
}

// Lines returns the lines processed so far.
func (c *LineCapture) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

// Last returns the last line processed so far, or "".
func (c *LineCapture) Last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.lines) == 0 {
		return ""
	}
	return c.lines[len(c.lines)-1]
}

// CheckSendsAttributed accepts a connection on e's Runtime API listener
// from a runtime that, n times, writes "LINE <i>" to its output, sends
// "<i>\n" on the connection and waits for a byte back. Each time the
// server has read a number, the line written before it must be the last
// of c, the environment's output, once flushed: what Capture.Flush
// expects of a runtime writing to its output.
func CheckSendsAttributed(t *testing.T, e sandbox.Env, c *LineCapture, n int) {
	t.Helper()
	conn, err := e.RuntimeListener().Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	for i := range n {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		c.Flush()
		if got, want := c.Last(), "LINE "+strings.TrimSpace(line); got != want {
			t.Fatalf("last line of the output when the server read %q: %q; want %q", line, got, want)
		}
		conn.Write([]byte{'k'})
	}
}
