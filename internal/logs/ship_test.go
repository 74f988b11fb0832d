package logs_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/logs"
)

// The tee sees every write with the time it is stored under, lines
// written with WriteAt excepted; WriteAt stores its lines at their own
// time, never before the log's newest event.
func TestTeeAndWriteAt(t *testing.T) {
	s, err := logs.NewStore(logs.Config{Dir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	type teed struct {
		Name, Stream, Text string
		T                  time.Time
	}
	var got []teed
	s.SetTee(func(name, stream string, at time.Time, text []byte) {
		got = append(got, teed{name, stream, string(text), at})
	})
	fl := s.Function("f")
	before := time.Now().Truncate(time.Millisecond)
	fl.Write("s1", "local line")
	old := time.Date(2020, 1, 2, 3, 4, 5, 6e6, time.UTC)
	fl.WriteAt(old, "s2", []byte("shipped a\n"))
	fl.WriteAt(old, "s2", []byte("shipped b\nwith a second line"))
	future := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	s.Function("g").WriteAt(future, "s3", []byte("from the future"))
	s.SetTee(nil)
	fl.Write("s1", "after the tee")

	if len(got) != 1 || got[0].Name != "f" || got[0].Stream != "s1" || got[0].Text != "local line" || got[0].T.Before(before) {
		t.Fatalf("tee saw %+v; want the one local line of f, at its time", got)
	}
	var recs []logs.Record
	if err := s.Reader("f").Scan(0, func(r logs.Record) bool { recs = append(recs, r); return true }); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for i, r := range recs {
		msgs = append(msgs, string(r.Message))
		if i > 0 && r.Time < recs[i-1].Time {
			t.Errorf("event %d at %d, before its predecessor at %d", i, r.Time, recs[i-1].Time)
		}
	}
	if diff := cmp.Diff([]string{"local line", "shipped a\n", "shipped b\nwith a second line", "after the tee"}, msgs); diff != "" {
		t.Errorf("f's events (-want +got):\n%s", diff)
	}
	if recs[1].Time != got[0].T.UnixMilli() {
		t.Errorf("a line shipped with an older time is stored at %d, want the log's newest %d", recs[1].Time, got[0].T.UnixMilli())
	}
	var g []logs.Record
	s.Reader("g").Scan(0, func(r logs.Record) bool { g = append(g, r); return true })
	if len(g) != 1 || g[0].Time != future.UnixMilli() {
		t.Errorf("g's events %+v; want one at its own time %d", g, future.UnixMilli())
	}
}
