package logs

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestPutKeepsLinesAndTimes: events put with their own times are stored
// with them, line breaks and backslashes intact, and do not move the
// time of the lines functions write after them.
func TestPutKeepsLinesAndTimes(t *testing.T) {
	s, err := NewStore(Config{Dir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := s.Log("~g", "g")
	old := time.Now().Add(-time.Hour).UnixMilli()
	l.Put("tool", []Event{{old, "one\ntwo \\n three\\"}, {old + 1, `plain \n`}})
	l.Write("fn", "after")
	type ev struct {
		Time        int64
		Stream, Msg string
		AfterThePut bool
	}
	var got []ev
	err = l.Scan(0, func(r Record) bool {
		got = append(got, ev{r.Time, string(r.Stream), string(r.Message), r.Time > old+1})
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("stored events %+v; want 3", got)
	}
	got[2].Time = 0
	want := []ev{{old, "tool", "one\ntwo \\n three\\", false}, {old + 1, "tool", `plain \n`, false}, {0, "fn", "after", true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestCreatedGroupsAndStreams: a group made by CreateGroup exists with no
// events, keeps its name and its streams across a restart, and is not
// forgotten by expire; one made twice, or a stream made twice (or one
// with events), is refused.
func TestCreatedGroupsAndStreams(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(Config{Dir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup("~=abc", "/a/very/long/name"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup("~empty", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup("~=abc", "/a/very/long/name"); !errors.Is(err, ErrGroupExists) {
		t.Errorf("CreateGroup twice = %v; want ErrGroupExists", err)
	}
	if err := s.CreateStream("~nothing", "s"); !errors.Is(err, ErrNoGroup) {
		t.Errorf("CreateStream in a missing group = %v; want ErrNoGroup", err)
	}
	if err := s.CreateStream("~=abc", "s"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateStream("~=abc", "s"); !errors.Is(err, ErrStreamExists) {
		t.Errorf("CreateStream twice = %v; want ErrStreamExists", err)
	}
	s.Log("~=abc", "").Write("written", "x")
	if err := s.CreateStream("~=abc", "written"); !errors.Is(err, ErrStreamExists) {
		t.Errorf("CreateStream of a stream with events = %v; want ErrStreamExists", err)
	}
	s.Close()

	s, err = NewStore(Config{Dir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.expire()
	if _, err := s.Group("~empty"); err != nil {
		t.Errorf("a created group with no events after expire: %v", err)
	}
	g, err := s.Group("~=abc")
	if err != nil || g.Label != "/a/very/long/name" {
		t.Errorf("Group after a restart = %+v, %v; want its name kept", g, err)
	}
	for _, stream := range []string{"s", "written"} {
		if ok, err := s.HasStream("~=abc", stream); !ok || err != nil {
			t.Errorf("HasStream(%s) = %v, %v; want true", stream, ok, err)
		}
	}
	if ok, _ := s.HasStream("~=abc", "other"); ok {
		t.Errorf("HasStream(other) = true; want false")
	}
	if err := s.DeleteGroup("~=abc"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Group("~=abc"); !errors.Is(err, ErrNoGroup) {
		t.Errorf("Group after DeleteGroup = %v; want ErrNoGroup", err)
	}
	if got := s.CreatedStreams("~=abc"); len(got) != 0 {
		t.Errorf("CreatedStreams after DeleteGroup = %v; want none", got)
	}
}

// TestCreatedGroupsAreBounded: CreateLogGroup cannot grow the groups file
// without bound: past Config.MaxCreatedGroups per account it is refused,
// other accounts and function groups are not counted, and deleting a
// group makes room again.
func TestCreatedGroupsAreBounded(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(Config{Dir: dir, MaxCreatedGroups: 3}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"~a", "~b", "~c", "111111111111.~a", "111111111111.~b"} {
		if err := s.CreateGroup(key, ""); err != nil {
			t.Fatalf("CreateGroup(%q) = %v", key, err)
		}
	}
	// A function's own group (not made by CreateLogGroup) is not counted.
	s.groupCreated("fn", "")
	if err := s.CreateGroup("~d", ""); !errors.Is(err, ErrTooManyGroups) {
		t.Fatalf("CreateGroup past the bound = %v; want ErrTooManyGroups", err)
	}
	if err := s.CreateGroup("111111111111.~c", ""); err != nil {
		t.Fatalf("another account's third group: %v", err)
	}
	if err := s.CreateGroup("111111111111.~d", ""); !errors.Is(err, ErrTooManyGroups) {
		t.Fatalf("another account past the bound = %v; want ErrTooManyGroups", err)
	}
	if err := s.DeleteGroup("~b"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup("~d", ""); err != nil {
		t.Fatalf("CreateGroup after a delete: %v", err)
	}
	// The bound holds across a restart (the count comes from the file).
	s, err = NewStore(Config{Dir: dir, MaxCreatedGroups: 3}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup("~e", ""); !errors.Is(err, ErrTooManyGroups) {
		t.Fatalf("CreateGroup past the bound after a restart = %v; want ErrTooManyGroups", err)
	}

}
