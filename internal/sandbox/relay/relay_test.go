package relay_test

import (
	"bytes"
	"io"
	"os"
	"testing"

	"hearth/internal/sandbox/relay"
)

// TestDrainThenRun: Drain copies what the pipe holds at once, in order
// with what Run copies later; Run ends when the writer closes, closing
// the relay's duplicate of the output, so the output's reader sees its end
// once the caller's own copy is closed too.
func TestDrainThenRun(t *testing.T) {
	r, w, outR := newRelay(t)

	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB: a full pipe
	w.Write(big[:60000])
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(outR)
		got <- b
	}()
	r.Drain()
	done := make(chan struct{})
	go func() { r.Run(); close(done) }()
	w.Write(big[60000:])
	w.Close()
	<-done
	if b := <-got; !bytes.Equal(b, big) {
		t.Errorf("relayed %d bytes; want the %d written, in order", len(b), len(big))
	}
}

// TestCloseWithoutRun: Close releases both ends; a Drain after it copies
// nothing.
func TestCloseWithoutRun(t *testing.T) {
	r, w, outR := newRelay(t)
	defer w.Close()
	w.Write([]byte("lost\n"))
	r.Close()
	r.Drain()
	if b, _ := io.ReadAll(outR); len(b) != 0 {
		t.Errorf("output after Close: %q; want nothing", b)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("the pipe's read end is still open after Close")
	}
}

// newRelay returns a relay between two pipes of its own, the write end of
// the source and the read end of the output; the output's is closed at
// the end of t. The caller's copy of the output's write end is closed at
// once: the relay writes to its own.
func newRelay(t *testing.T) (r *relay.Relay, w, outR *os.File) {
	t.Helper()
	src, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, out, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { outR.Close() })
	r, err = relay.New(src, out)
	out.Close()
	if err != nil {
		t.Fatal(err)
	}
	return r, w, outR
}
