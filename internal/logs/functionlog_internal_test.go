package logs

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
			fl.Write(testStream, line)
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
	fl.Write(testStream, strings.Repeat("x", flushAt))
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

// openFiles counts this process's file descriptors open on files in dir.
func openFiles(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, dir+"/") {
			n++
		}
	}
	return n
}

// Release (DeleteFunction) closes a function's log file and forgets its
// FunctionLog, but keeps the files, as AWS keeps a deleted function's log
// group; a log obtained before still writes, without keeping a file open.
func TestReleaseClosesFile(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(Config{Dir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var stale []*FunctionLog
	for i := range 10 {
		fl := s.Function(fmt.Sprint("f", i))
		fl.Write(testStream, "before delete")
		stale = append(stale, fl)
	}
	s.flushAll()
	if got := openFiles(t, dir); got != 10 {
		t.Fatalf("%d log files open after writing 10 logs; want 10", got)
	}
	for i := range 10 {
		s.Release(fmt.Sprint("f", i))
	}
	if got := openFiles(t, dir); got != 0 {
		t.Errorf("%d log files open after releasing every log; want 0", got)
	}
	s.mu.Lock()
	kept := len(s.fns)
	s.mu.Unlock()
	if kept != 0 {
		t.Errorf("store keeps %d logs after releasing every log; want 0", kept)
	}
	stale[0].Write(testStream, "after delete") // an environment still stopping
	s.flushAll()
	if got := openFiles(t, dir); got != 0 {
		t.Errorf("%d log files open after a released log was written and flushed; want 0", got)
	}
	s.mu.Lock()
	for f := range s.released {
		s.released[f] = time.Now().Add(-2 * releasedGrace)
	}
	s.mu.Unlock()
	s.flushAll() // the last flush of every released log
	s.mu.Lock()
	kept = len(s.released)
	s.mu.Unlock()
	if kept != 0 {
		t.Errorf("store still flushes %d released logs past their grace; want 0", kept)
	}
	s.Function("f0").Write(testStream, "re-created")
	s.flushAll()
	var got []string
	if err := s.Function("f0").Scan(0, func(r Record) bool {
		got = append(got, string(r.Message))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"before delete", "after delete", "re-created"}, got); diff != "" {
		t.Errorf("f0.log (-want +got):\n%s", diff)
	}
	if st, err := os.Stat(filepath.Join(dir, "f0.log")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("f0.log mode = %v, %v; want 0600", st.Mode().Perm(), err)
	}
}

// The logs of all functions together, deleted ones included, stay within
// MaxTotalBytes: the least recently written go first.
func TestTotalSizeBounded(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(Config{Dir: dir, MaxBytes: 64 << 10, MaxTotalBytes: 100 << 10}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	line := strings.Repeat("x", 1000)
	old := time.Now().Add(-time.Hour)
	for i := range 10 {
		name := fmt.Sprint("f", i)
		fl := s.Function(name)
		for range 20 { // 20 KB each, 200 KB together
			fl.Write(testStream, line)
		}
		s.flushAll()
		if i%2 == 0 {
			s.Release(name) // deleted functions' logs count too
		}
		// f0 is the least recently written, f9 the most.
		mtime := old.Add(time.Duration(i) * time.Minute)
		os.Chtimes(filepath.Join(dir, name+".log"), mtime, mtime)
	}
	s.evict()
	var total int64
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, _ := e.Info()
		if e.Name() == groupsFile {
			continue
		}
		total += info.Size()
		left = append(left, e.Name())
	}
	if total > 100<<10 {
		t.Errorf("logs hold %d bytes after eviction; want at most %d", total, 100<<10)
	}
	if diff := cmp.Diff([]string{"f6.log", "f7.log", "f8.log", "f9.log"}, left); diff != "" {
		t.Errorf("logs left (-want +got):\n%s", diff)
	}
	// A live function whose log was evicted logs on.
	s.Function("f1").Write(testStream, "still here")
	s.flushAll()
	if b, err := os.ReadFile(filepath.Join(dir, "f1.log")); err != nil || !strings.Contains(string(b), "still here") {
		t.Errorf("f1.log after eviction = %q, %v; want the new line", b, err)
	}
}
