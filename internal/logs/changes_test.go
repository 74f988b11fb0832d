package logs_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"hearth/internal/logs"
)

// TestChangesReplay: every change made through a Store's API reaches its
// change tee, and a second Store that applies them answers the same
// (groups, retention, created streams, put events), without telling its
// own tee; applying a change twice, or one whose group is gone, is not an
// error.
func TestChangesReplay(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	a, err := logs.NewStore(logs.Config{Dir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	b, err := logs.NewStore(logs.Config{Dir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	var changes []logs.Change
	a.SetChangeTee(func(c logs.Change) { changes = append(changes, c) })
	b.SetChangeTee(func(c logs.Change) { t.Errorf("Apply told the tee of %+v", c) })

	now := time.Now().UnixMilli()
	steps := []func() error{
		func() error { return a.CreateGroup("~tools%agent", "") },
		func() error { return a.CreateGroup("~=abc", "/a/very/long/name") },
		func() error { return a.CreateGroup("~gone", "") },
		func() error { return a.CreateStream("~tools%agent", "host-1") },
		func() error { return a.SetRetention("~tools%agent", 7) },
		func() error {
			a.Log("~tools%agent", "").Put("host-1", []logs.Event{{Time: now - 2, Message: "one"}, {Time: now - 1, Message: "two\nlines"}})
			return nil
		},
		func() error { return a.SetRetention("~=abc", 0) },
		func() error { return a.DeleteGroup("~gone") },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	wantKinds := []string{logs.ChangeCreateGroup, logs.ChangeCreateGroup, logs.ChangeCreateGroup, logs.ChangeCreateStream,
		logs.ChangeRetention, logs.ChangePut, logs.ChangeRetention, logs.ChangeDeleteGroup}
	var kinds []string
	for _, c := range changes {
		kinds = append(kinds, c.Kind)
	}
	if diff := cmp.Diff(wantKinds, kinds); diff != "" {
		t.Fatalf("changes told (-want +got):\n%s", diff)
	}
	for round := range 2 { // twice: nothing applied again is an error
		for _, c := range changes {
			if round == 1 && c.Kind == logs.ChangePut {
				continue // events are not deduplicated: NATS delivers each message once
			}
			if err := b.Apply(c); err != nil {
				t.Errorf("Apply(%+v) = %v", c, err)
			}
		}
	}

	ga, err := a.Groups()
	if err != nil {
		t.Fatal(err)
	}
	gb, err := b.Groups()
	if err != nil {
		t.Fatal(err)
	}
	ignore := cmpopts.IgnoreFields(logs.Group{}, "Created", "StoredBytes")
	if diff := cmp.Diff(ga, gb, ignore); diff != "" {
		t.Errorf("groups differ (-origin +replica):\n%s", diff)
	}
	if got := b.CreatedStreams("~tools%agent"); len(got) != 1 || got["host-1"] == 0 {
		t.Errorf("replica's created streams = %v; want host-1", got)
	}
	events := func(s *logs.Store) []string {
		var out []string
		if err := s.Reader("~tools%agent").Scan(0, func(r logs.Record) bool {
			out = append(out, string(r.Stream)+" "+string(r.Message))
			return true
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if diff := cmp.Diff([]string{"host-1 one", "host-1 two\nlines"}, events(b)); diff != "" {
		t.Errorf("replica's events (-want +got):\n%s", diff)
	}

	if err := b.Apply(logs.Change{Kind: logs.ChangeDeleteGroup, Key: "../etc"}); err == nil {
		t.Error("Apply of a key naming another directory succeeded")
	}
	if err := b.Apply(logs.Change{Kind: "rename", Key: "~x"}); err == nil {
		t.Error("Apply of an unknown kind succeeded")
	}
}
