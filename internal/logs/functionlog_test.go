package logs_test

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// A tail longer than any log is every line, however large the number: the
// bound used to be computed as 2*n and overflowed.
func TestWriteTailHugeN(t *testing.T) {
	fl := newStore(t, 0).Function("f")
	for i := range 5 {
		fl.Write(testStream, fmt.Sprint("line ", i))
	}
	for _, n := range []int{5, 6, math.MaxInt / 2, math.MaxInt/2 + 1, math.MaxInt} {
		var buf bytes.Buffer
		if err := fl.WriteTail(&buf, n); err != nil {
			t.Fatalf("WriteTail(%d) = %v", n, err)
		}
		if got := strings.Count(buf.String(), "\n"); got != 5 {
			t.Errorf("WriteTail(%d) wrote %d lines, want 5", n, got)
		}
	}
}

// stalledWriter is a client that stopped reading: Write blocks until
// release is closed.
type stalledWriter struct {
	writing chan struct{}
	release chan struct{}
}

func (w *stalledWriter) Write(b []byte) (int, error) {
	select {
	case w.writing <- struct{}{}:
	default:
	}
	<-w.release
	return len(b), nil
}

// A client that stops reading its tail must not stall the functions that
// write to the same log.
func TestStalledTailReaderDoesNotBlockWriters(t *testing.T) {
	s := newStore(t, 0)
	fl := s.Function("f")
	fl.Write(testStream, "before")
	w := &stalledWriter{writing: make(chan struct{}, 1), release: make(chan struct{})}
	tailDone := make(chan error, 1)
	go func() { tailDone <- fl.WriteTail(w, 0) }()
	defer func() {
		close(w.release)
		if err := <-tailDone; err != nil {
			t.Errorf("WriteTail() = %v", err)
		}
	}()
	<-w.writing

	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		// Enough to pass flushAt, so that the writer would flush if it
		// flushed itself.
		line := strings.Repeat("x", 1000)
		for range 200 {
			fl.Write(testStream, line)
		}
	}()
	select {
	case <-wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("Write blocked while a tail reader was stalled")
	}
	// Another reader is not stalled by the first one either.
	var buf bytes.Buffer
	if err := fl.WriteTail(&buf, 1); err != nil || !strings.HasSuffix(buf.String(), strings.Repeat("x", 1000)+"\n") {
		t.Errorf("second WriteTail(1) = %q, %v; want the last line", buf.String(), err)
	}
}
