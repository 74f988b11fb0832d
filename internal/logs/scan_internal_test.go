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

func newTestStore(t *testing.T, dir string, max int64) *Store {
	t.Helper()
	s, err := NewStore(Config{Dir: dir, MaxBytes: max}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

type scanned struct {
	Pos     int64
	Stream  string
	Message string
}

func scanAll(t *testing.T, fl *FunctionLog, from int64) []scanned {
	t.Helper()
	var out []scanned
	if err := fl.Scan(from, func(r Record) bool {
		out = append(out, scanned{r.Pos, string(r.Stream), string(r.Message)})
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Positions grow across rotations: a position read before a rotation
// still finds the same events after it, and the events of the dropped
// file are simply gone.
func TestPositionsSurviveRotation(t *testing.T) {
	s := newTestStore(t, t.TempDir(), 8192)
	fl := s.Function("f")
	for i := range 20 {
		fl.Write(testStream, fmt.Sprintf("line %02d %s", i, strings.Repeat("x", 100)))
	}
	before := scanAll(t, fl, 0)
	if len(before) != 20 {
		t.Fatalf("scanned %d events; want 20", len(before))
	}
	mark := before[15]
	for i := 20; i < 100; i++ { // several rotations
		fl.Write(testStream, fmt.Sprintf("line %02d %s", i, strings.Repeat("x", 100)))
		if i%10 == 0 {
			fl.flush()
		}
	}
	after := scanAll(t, fl, 0)
	for i := 1; i < len(after); i++ {
		if after[i].Pos <= after[i-1].Pos {
			t.Fatalf("positions not growing: %d then %d", after[i-1].Pos, after[i].Pos)
		}
	}
	if got := after[len(after)-1].Message[:7]; got != "line 99" {
		t.Errorf("last event = %q; want line 99", got)
	}
	if after[0].Pos <= mark.Pos {
		t.Fatalf("test needs the rotations to drop line 15; first kept is at %d", after[0].Pos)
	}
	// From a position the rotations dropped, Scan starts at the oldest
	// kept event; from a kept position, at that very event.
	if got := scanAll(t, fl, mark.Pos); got[0] != after[0] {
		t.Errorf("Scan(dropped position) starts at %v; want %v", got[0], after[0])
	}
	mid := after[len(after)/2]
	if got := scanAll(t, fl, mid.Pos); got[0] != mid || len(got) != len(after)-len(after)/2 {
		t.Errorf("Scan(%d) starts at %v with %d events; want %v and %d", mid.Pos, got[0], len(got), mid, len(after)-len(after)/2)
	}
	// A position inside a line starts at the next one.
	if got := scanAll(t, fl, mid.Pos+3); got[0] != after[len(after)/2+1] {
		t.Errorf("Scan(inside a line) starts at %v; want %v", got[0], after[len(after)/2+1])
	}
}

// Files written before log streams are read as one stream, and the lines
// written after them (appended to the same file, then rotated) keep
// positions that only grow. A line torn by a crash is skipped, and the
// next line is not glued to it.
func TestLegacyAndTornFiles(t *testing.T) {
	dir := t.TempDir()
	legacy := "2025-01-01T00:00:00.000Z old one\n2025-01-01T00:00:01.000Z old two\n"
	if err := os.WriteFile(filepath.Join(dir, "f.log.1"), []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f.log"), []byte("2025-01-01T00:00:02.000Z old three\n2025-01-01T00:00:03.0"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, dir, 1<<20)
	fl := s.Function("f")
	fl.Write(testStream, "new")
	got := scanAll(t, fl, 0)
	var msgs []string
	for _, e := range got {
		msgs = append(msgs, e.Stream[:4]+" "+e.Message)
	}
	want := []string{"0000 old one", "0000 old two", "0000 old three", "2026 new"}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if got[2].Pos != int64(len(legacy)) {
		t.Errorf("first line of the current file at %d; want %d, after the previous file", got[2].Pos, len(legacy))
	}
	// Rotate: the headerless file becomes the previous one, and the new
	// file's header carries on from its end.
	fl.fileMu.Lock()
	if err := fl.openLocked(); err != nil {
		t.Fatal(err)
	}
	if err := fl.rotateLocked(); err != nil {
		t.Fatal(err)
	}
	fl.fileMu.Unlock()
	fl.Write(testStream, "newer")
	again := scanAll(t, fl, 0)
	if diff := cmp.Diff(got[2:], again[:len(again)-1]); diff != "" {
		t.Errorf("after a rotation the events moved (-before +after):\n%s", diff)
	}
	if last := again[len(again)-1]; last.Message != "newer" || last.Pos <= got[3].Pos {
		t.Errorf("last event after rotation = %v; want newer after %d", last, got[3].Pos)
	}
	// hearth logs shows every stream's lines as "<time> <text>".
	lines, err := fl.tail(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 || string(lines[0]) != "2025-01-01T00:00:02.000Z old three\n" {
		t.Errorf("tail = %q", lines)
	}
}

// Retention hides expired events and survives a restart; DeleteGroup
// removes the files, the pending lines and the retention.
func TestRetentionAndDeleteGroup(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir, 0)
	fl := s.Function("f")
	fl.Write(testStream, "kept")
	// An event 2 days old, as a file from before would hold it.
	fl.fileMu.Lock()
	fl.flushFileLocked()
	fl.f.Write(appendRecord(nil, time.Now().Add(-48*time.Hour), testStream, []byte("expired")))
	fl.fileMu.Unlock()
	if n := len(scanAll(t, fl, 0)); n != 2 {
		t.Fatalf("%d events before retention; want 2", n)
	}
	if err := s.SetRetention("f", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRetention("nothing", 1); err != ErrNoGroup {
		t.Errorf("SetRetention(unknown group) = %v; want ErrNoGroup", err)
	}
	if got := scanAll(t, fl, 0); len(got) != 1 || got[0].Message != "kept" {
		t.Errorf("events with a retention of a day = %v; want kept only", got)
	}
	s.Close()
	s = newTestStore(t, dir, 0)
	g, err := s.Group("f")
	if err != nil || g.RetentionDays != 1 || g.Created == 0 || g.StoredBytes == 0 {
		t.Errorf("after a restart Group(f) = %+v, %v; want retention 1, a creation time and bytes", g, err)
	}
	fl = s.Function("f")
	fl.Write(testStream, "pending")
	if err := s.DeleteGroup("f"); err != nil {
		t.Fatal(err)
	}
	s.flushAll()
	if _, err := os.Stat(filepath.Join(dir, "f.log")); !os.IsNotExist(err) {
		t.Errorf("f.log after DeleteGroup: %v; want gone, pending lines too", err)
	}
	if _, err := s.Group("f"); err != ErrNoGroup {
		t.Errorf("Group(f) after DeleteGroup = %v; want ErrNoGroup", err)
	}
	fl.Write(testStream, "again")
	g, err = s.Group("f")
	if err != nil || g.RetentionDays != 0 {
		t.Errorf("Group(f) logged again = %+v, %v; want a new group without retention", g, err)
	}
}

// An unreadable groups.json does not keep the server from starting: it is
// set aside and the logs stay readable. The groups of deleted functions
// whose files were evicted are forgotten, unless they have a retention.
func TestGroupsFileRecoveryAndPruning(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, groupsFile), []byte(`{"f":{"created":1`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, dir, 0)
	if _, err := os.Stat(filepath.Join(dir, groupsFile+".bad")); err != nil {
		t.Errorf("unreadable groups file not set aside: %v", err)
	}
	for _, name := range []string{"gone", "kept", "live"} {
		s.Function(name).Write(testStream, "x")
	}
	if _, err := s.Groups(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRetention("kept", 30); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gone", "kept"} {
		s.Release(name) // deleted functions
		s.mu.Lock()
		for f := range s.released {
			s.released[f] = time.Now().Add(-2 * releasedGrace)
		}
		s.mu.Unlock()
		s.flushAll()
		removeFiles(filepath.Join(dir, name+".log")) // evicted
	}
	s.flushAll() // the released logs' last flush
	s.expire()
	groups, err := s.Groups()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	if diff := cmp.Diff([]string{"kept", "live"}, names); diff != "" {
		t.Errorf("groups after pruning (-want +got):\n%s", diff)
	}
}
