package logs

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// The invocation path never waits for the disk: with a flush holding the
// file (as a slow or full disk would), writes still return, and the
// pending text stays bounded by the log's size.
func TestWriteDoesNotWaitForDisk(t *testing.T) {
	s, err := NewStore(Config{Dir: t.TempDir(), MaxBytes: 1 << 20}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fl := s.Function("f")
	fl.fileMu.Lock() // a flush stuck in the disk
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		line := strings.Repeat("x", 1000)
		for range 3000 { // 3 MB: past flushAt and past MaxBytes
			fl.Write(line)
		}
	}()
	select {
	case <-wrote:
	case <-time.After(5 * time.Second):
		fl.fileMu.Unlock()
		t.Fatal("Write waited for the file")
	}
	fl.mu.Lock()
	pending := len(fl.pending)
	fl.mu.Unlock()
	fl.fileMu.Unlock()
	if pending > 1<<20 {
		t.Errorf("pending = %d bytes with the disk stuck, want at most MaxBytes (%d)", pending, 1<<20)
	}
}

// Passing flushAt asks Run for a flush at once instead of at its next tick.
func TestLargePendingIsFlushedByRun(t *testing.T) {
	s, err := NewStore(Config{Dir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fl := s.Function("f")
	fl.Write(strings.Repeat("x", flushAt))
	select {
	case <-s.kick:
	default:
		t.Fatal("no flush asked for after flushAt bytes")
	}
	s.flushAll()
	st, err := os.Stat(fl.path)
	if err != nil || st.Size() < flushAt {
		t.Errorf("log file after flush: %v, %v; want at least %d bytes", st, err, flushAt)
	}
}
