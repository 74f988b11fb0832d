package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/broker"
	"hearth/internal/function"
	"hearth/internal/store"
)

func open(t *testing.T, dir string) (*store.Store, *broker.Broker) {
	t.Helper()
	b, err := broker.Start(broker.Config{Dir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(t.Context(), b.JetStream(), acct, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	return s, b
}

const acct = "000000000000"

func cfg(name string) function.Config {
	return function.Config{Name: name, Runtime: "python3.12", Handler: "app.h",
		Role: "arn:aws:iam::000000000000:role/r", State: function.StateActive}.WithDefaults()
}

func TestCRUD(t *testing.T) {
	s, b := open(t, t.TempDir())
	defer b.Close()
	ctx := t.Context()
	if err := s.Create(ctx, cfg("a")); err != nil {
		t.Fatalf("Create(a) = %v", err)
	}
	if err := s.Create(ctx, cfg("a")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("Create(a) again = %v; want ErrExists", err)
	}
	if got, err := s.Function(acct, "a"); err != nil || got.Name != "a" {
		t.Fatalf("Function(a) = %+v, %v", got, err)
	}
	got, err := s.Update(ctx, acct, "a", func(c *function.Config) error { c.Timeout = 9; return nil })
	if err != nil || got.Timeout != 9 {
		t.Fatalf("Update(a) = %+v, %v; want Timeout 9", got, err)
	}
	if got, _ := s.Function(acct, "a"); got.Timeout != 9 {
		t.Errorf("Function(a) after Update: Timeout = %d; want 9 (read your writes)", got.Timeout)
	}
	if _, err := s.Update(ctx, acct, "nope", func(*function.Config) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update(nope) = %v; want ErrNotFound", err)
	}
	if err := s.Delete(ctx, acct, "a"); err != nil {
		t.Fatalf("Delete(a) = %v", err)
	}
	if _, err := s.Function(acct, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Function(a) after Delete = %v; want ErrNotFound", err)
	}
	if err := s.Delete(ctx, acct, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Delete(a) again = %v; want ErrNotFound", err)
	}
	if err := s.Create(ctx, cfg("a")); err != nil {
		t.Errorf("Create(a) after Delete = %v", err)
	}
}

func TestConcurrentUpdatesAllApply(t *testing.T) {
	s, b := open(t, t.TempDir())
	defer b.Close()
	if err := s.Create(t.Context(), cfg("c")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, err := s.Update(t.Context(), acct, "c", func(c *function.Config) error { c.MemorySize++; return nil })
			if err != nil {
				t.Errorf("Update() = %v", err)
			}
		})
	}
	wg.Wait()
	if got, _ := s.Function(acct, "c"); got.MemorySize != 138 {
		t.Errorf("MemorySize after 10 concurrent increments = %d; want 138", got.MemorySize)
	}
}

func TestPersistsAndWatches(t *testing.T) {
	dir := t.TempDir()
	s, b := open(t, dir)
	code := []byte("zip bytes")
	sha, err := s.PutCode(t.Context(), code)
	if err != nil {
		t.Fatal(err)
	}
	if sha != store.Sha256(code) || len(sha) != 44 {
		t.Errorf("PutCode() = %q; want base64 sha256", sha)
	}
	c := cfg("p")
	c.CodeSha256 = sha
	if err := s.Create(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	b.Close()

	s, b = open(t, dir)
	defer b.Close()
	if got, err := s.Function(acct, "p"); err != nil || got.CodeSha256 != sha {
		t.Fatalf("Function(p) after restart = %+v, %v", got, err)
	}
	if got, err := s.Code(t.Context(), sha); err != nil || string(got) != "zip bytes" {
		t.Fatalf("Code() after restart = %q, %v", got, err)
	}

	// A second Store on the same bucket sees the first one's writes.
	other, err := store.Open(t.Context(), b.JetStream(), acct, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); other.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// The watch starts asynchronously and sees only later writes: write
	// until one reaches the watching store, then check that it sees it.
	seen := ""
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; seen == "" && time.Now().Before(deadline); i++ {
		name := fmt.Sprintf("q%d", i)
		changed := other.Changed()
		if err := s.Create(t.Context(), cfg(name)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
			seen = name
		case <-time.After(100 * time.Millisecond):
		}
	}
	if seen == "" {
		t.Fatal("watching store saw no change")
	}
	if _, err := other.Function(acct, seen); err != nil {
		t.Errorf("watching store: Function(%s) = %v", seen, err)
	}

	// Unreferenced code is swept; referenced code is kept.
	if _, err := s.PutCode(t.Context(), []byte("orphan")); err != nil {
		t.Fatal(err)
	}
	n, err := s.SweepCode(t.Context(), 0)
	if err != nil || n != 1 {
		t.Errorf("SweepCode() = %d, %v; want 1", n, err)
	}
	if _, err := s.Code(t.Context(), sha); err != nil {
		t.Errorf("Code() of a referenced package after sweep = %v", err)
	}
}

// run starts s.Run, as the server does, until the test ends.
func run(t *testing.T, s *store.Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
}

// agree waits until the in-memory copy of every name matches the bucket
// (read through a second Store opened afresh, which loads from the bucket)
// and reports the names where it does not.
func agree(t *testing.T, s *store.Store, b *broker.Broker, names []string) {
	t.Helper()
	var diffs []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		fresh, err := store.Open(t.Context(), b.JetStream(), acct, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		diffs = diffs[:0]
		for _, name := range names {
			mem, memErr := s.Function(acct, name)
			disk, diskErr := fresh.Function(acct, name)
			if (memErr == nil) != (diskErr == nil) || mem.RevisionID != disk.RevisionID {
				diffs = append(diffs, fmt.Sprintf("%s: memory %q, %v; bucket %q, %v", name, mem.RevisionID, memErr, disk.RevisionID, diskErr))
			}
		}
		if len(diffs) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, d := range diffs {
		t.Errorf("memory and bucket disagree: %s", d)
	}
}

// Create, delete and create again, with the watch running: the second
// create is visible at once and stays visible.
func TestRecreateIsVisible(t *testing.T) {
	dir := t.TempDir()
	s, b := open(t, dir)
	defer b.Close()
	run(t, s)
	ctx := t.Context()
	var names []string
	for i := range 20 {
		name := fmt.Sprint("re", i)
		names = append(names, name)
		for round := range 3 {
			c := cfg(name)
			c.RevisionID = fmt.Sprint(round)
			if err := s.Create(ctx, c); err != nil {
				t.Fatalf("Create(%s) round %d = %v", name, round, err)
			}
			if got, err := s.Function(acct, name); err != nil || got.RevisionID != c.RevisionID {
				t.Errorf("Function(%s) after create round %d = %q, %v; want %q", name, round, got.RevisionID, err, c.RevisionID)
			}
			if round < 2 {
				if err := s.Delete(ctx, acct, name); err != nil {
					t.Fatalf("Delete(%s) round %d = %v", name, round, err)
				}
				if _, err := s.Function(acct, name); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Function(%s) after delete round %d = %v; want ErrNotFound", name, round, err)
				}
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // let the watch deliver what it lags behind
	for _, name := range names {
		if got, err := s.Function(acct, name); err != nil || got.RevisionID != "2" {
			t.Errorf("Function(%s) after the watch caught up = %q, %v; want the last create", name, got.RevisionID, err)
		}
	}
	agree(t, s, b, names)
}

// Many writers mixing create, delete, update and reads on a few names end
// with the in-memory copy, the bucket and a restarted store in agreement.
func TestConcurrentWritersAgree(t *testing.T) {
	dir := t.TempDir()
	s, b := open(t, dir)
	run(t, s)
	// Half the writers share four names; the other half have one name
	// each, whose create may follow its delete directly in the bucket.
	shared := []string{"h0", "h1", "h2", "h3"}
	names := slices.Clone(shared)
	for g := range 10 {
		names = append(names, fmt.Sprint("own", g))
	}
	// Rounds of 20 writers, each round checked: a shadowed create that
	// later writes did not uncover shows at the end of a round.
	deletes := newDeleteTracker()
	for round := range 10 {
		var wg sync.WaitGroup
		for g := range 20 {
			wg.Go(func() {
				ctx := t.Context()
				for i := range 30 {
					name := names[(g+i)%len(shared)]
					if g >= 10 {
						name = names[len(shared)+g-10] // its own name
					}
					id := fmt.Sprint(round, "-", g, "-", i)
					var err error
					switch (g*7 + i*3 + round) % 4 {
					case 0:
						c := cfg(name)
						c.RevisionID = id
						before := deletes.snapshot(name)
						err = s.Create(ctx, c)
						// Read your write, unless a delete may have
						// come after it.
						if _, ferr := s.Function(acct, name); err == nil && errors.Is(ferr, store.ErrNotFound) && deletes.none(name, before) {
							t.Errorf("Function(%s) right after Create = %v, and no delete ran", name, ferr)
						}
					case 1:
						deletes.start(name)
						err = s.Delete(ctx, acct, name)
						deletes.end(name)
					case 2:
						_, err = s.Update(ctx, acct, name, func(c *function.Config) error {
							c.RevisionID = id
							return nil
						})
					case 3:
						_, err = s.Function(acct, name) // an invocation's lookup
					}
					if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrExists) {
						t.Errorf("writer %d op %d on %s: %v", g, i, name, err)
					}
				}
			})
		}
		wg.Wait()
		agree(t, s, b, names)
		if t.Failed() {
			t.Fatalf("disagreement after round %d", round)
		}
	}

	// Every name answers consistently: what Function finds, Create
	// refuses and Delete removes; what it does not find, Create makes.
	ctx := t.Context()
	for _, name := range names {
		_, err := s.Function(acct, name)
		if err == nil {
			if err := s.Create(ctx, cfg(name)); !errors.Is(err, store.ErrExists) {
				t.Errorf("Create(%s) of a function Function finds = %v; want ErrExists", name, err)
			}
		} else {
			if err := s.Delete(ctx, acct, name); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Delete(%s) of a function Function does not find = %v; want ErrNotFound", name, err)
			}
		}
	}
	want := make(map[string]string)
	for _, name := range names {
		if c, err := s.Function(acct, name); err == nil {
			want[name] = c.RevisionID
		}
	}
	b.Close()

	s, b = open(t, dir)
	defer b.Close()
	got := make(map[string]string)
	for _, name := range names {
		if c, err := s.Function(acct, name); err == nil {
			got[name] = c.RevisionID
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("functions after restart differ from before (-before +after):\n%s", diff)
	}
}

// deleteTracker tells whether a delete of a name may have taken effect
// between two moments: whether one was in flight at the first, or started
// after it.
type deleteTracker struct {
	mu       sync.Mutex
	started  map[string]int // guarded by mu
	inflight map[string]int // guarded by mu
}

type deleteSnapshot struct{ started, inflight int }

func newDeleteTracker() *deleteTracker {
	return &deleteTracker{started: make(map[string]int), inflight: make(map[string]int)}
}

func (d *deleteTracker) start(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.started[name]++
	d.inflight[name]++
}

func (d *deleteTracker) end(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inflight[name]--
}

func (d *deleteTracker) snapshot(name string) deleteSnapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	return deleteSnapshot{d.started[name], d.inflight[name]}
}

// none reports that no delete of name can have taken effect since before.
func (d *deleteTracker) none(name string, before deleteSnapshot) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return before.inflight == 0 && d.started[name] == before.started
}

// TestPurgeTombstones checks that the markers of deleted functions leave
// the bucket, and their records the in-memory copy, once older than the
// time they are kept, and not before; and that the name can be created
// again afterwards.
func TestPurgeTombstones(t *testing.T) {
	s, b := open(t, t.TempDir())
	defer b.Close()
	run(t, s)
	ctx := t.Context()
	for i := range 5 {
		name := fmt.Sprint("gone", i)
		if err := s.Create(ctx, cfg(name)); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, acct, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Create(ctx, cfg("kept")); err != nil {
		t.Fatal(err)
	}
	msgs := func() uint64 {
		st, err := b.JetStream().Stream(ctx, "KV_hearth-functions")
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	if got := msgs(); got != 6 {
		t.Fatalf("bucket holds %d messages after 5 deletes and 1 create; want 6", got)
	}
	if n, err := s.PurgeTombstones(ctx, time.Hour); err != nil || n != 0 || msgs() != 6 || s.Entries() != 6 {
		t.Errorf("PurgeTombstones(keep 1h) = %d, %v, bucket %d, copy %d; want young markers kept: 0, nil, 6, 6", n, err, msgs(), s.Entries())
	}
	time.Sleep(20 * time.Millisecond)
	if n, err := s.PurgeTombstones(ctx, 10*time.Millisecond); err != nil || n != 5 {
		t.Errorf("PurgeTombstones(keep 10ms) = %d, %v; want 5, nil", n, err)
	}
	if got := msgs(); got != 1 {
		t.Errorf("bucket holds %d messages after the purge; want 1 (the live function)", got)
	}
	if got := s.Entries(); got != 1 {
		t.Errorf("in-memory copy records %d names after the purge; want 1", got)
	}
	if _, err := s.Function(acct, "gone0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Function(gone0) after the purge = %v; want ErrNotFound", err)
	}
	if err := s.Create(ctx, cfg("gone0")); err != nil {
		t.Errorf("Create(gone0) after the purge = %v", err)
	}
	if _, err := s.Function(acct, "kept"); err != nil {
		t.Errorf("Function(kept) after the purge = %v", err)
	}
}

// TestCodeStreams checks that a package stored from a reader reads back
// whole as a stream, with its size, and is not stored twice.
func TestCodeStreams(t *testing.T) {
	s, b := open(t, t.TempDir())
	defer b.Close()
	ctx := t.Context()
	data := make([]byte, 3<<20+17) // several object store chunks and a part
	rand.Read(data)
	sha := store.Sha256(data)
	for range 2 {
		if err := s.PutCodeFrom(ctx, sha, bytes.NewReader(data)); err != nil {
			t.Fatalf("PutCodeFrom = %v", err)
		}
	}
	rc, size, err := s.OpenCode(ctx, sha)
	if err != nil {
		t.Fatalf("OpenCode = %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || size != int64(len(data)) || !bytes.Equal(got, data) {
		t.Errorf("OpenCode read %d bytes (size %d), %v; want the %d bytes stored", len(got), size, err, len(data))
	}
	if n, err := s.CodeSize(ctx); err != nil || n != int64(len(data)) {
		t.Errorf("CodeSize after storing the package twice = %d, %v; want %d", n, err, len(data))
	}
	if _, _, err := s.OpenCode(ctx, store.Sha256([]byte("other"))); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenCode(unknown) = %v; want ErrNotFound", err)
	}
}

// A data directory from before accounts keeps its functions: they become
// the default account's, and no other account sees them.
func TestOldKeysBecomeDefaultAccounts(t *testing.T) {
	dir := t.TempDir()
	_, b := open(t, dir)
	kv, err := b.JetStream().KeyValue(t.Context(), "hearth-functions")
	if err != nil {
		t.Fatal(err)
	}
	old := cfg("legacy")
	old.RevisionID = "r1"
	data, _ := json.Marshal(old) // no account field, as before
	if _, err := kv.Put(t.Context(), "fn.legacy.latest", data); err != nil {
		t.Fatal(err)
	}
	b.Close()

	s, b := open(t, dir)
	defer b.Close()
	if kv, err = b.JetStream().KeyValue(t.Context(), "hearth-functions"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Function(acct, "legacy")
	if err != nil || got.RevisionID != "r1" || got.Account != acct {
		t.Fatalf("Function(default, legacy) = %+v, %v; want the old function in the default account", got, err)
	}
	if _, err := s.Function("111111111111", "legacy"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Function(other account, legacy) = %v; want ErrNotFound", err)
	}
	if _, err := kv.Get(t.Context(), "fn.legacy.latest"); err == nil {
		t.Errorf("old key still there after the move")
	}
	if _, err := kv.Get(t.Context(), "fn."+acct+".legacy.latest"); err != nil {
		t.Errorf("new key: %v", err)
	}
}

// Two accounts may each have a function of the same name; each sees only
// its own.
func TestAccountsAreSeparate(t *testing.T) {
	s, b := open(t, t.TempDir())
	defer b.Close()
	ctx := t.Context()
	mine, theirs := cfg("same"), cfg("same")
	mine.Account, theirs.Account = acct, "222222222222"
	mine.Timeout, theirs.Timeout = 5, 7
	if err := s.Create(ctx, mine); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, theirs); err != nil {
		t.Fatalf("Create(same) in another account = %v", err)
	}
	for _, tc := range []struct {
		account string
		want    int
	}{{acct, 5}, {"222222222222", 7}} {
		got, err := s.Function(tc.account, "same")
		if err != nil || got.Timeout != tc.want {
			t.Errorf("Function(%s, same) = timeout %d, %v; want %d", tc.account, got.Timeout, err, tc.want)
		}
		if fns := s.AccountFunctions(tc.account); len(fns) != 1 {
			t.Errorf("AccountFunctions(%s) = %d functions; want 1", tc.account, len(fns))
		}
	}
	if err := s.Delete(ctx, "222222222222", "same"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Function(acct, "same"); err != nil {
		t.Errorf("deleting another account's function removed mine: %v", err)
	}
}

// publishNew publishes $LATEST of name as a new version.
func publishNew(t *testing.T, s *store.Store, name string) function.Config {
	t.Helper()
	v, created, err := s.Publish(t.Context(), acct, name, func(latest function.Config, _ []function.Config) (*function.Config, *function.Config, error) {
		v := latest
		return &v, nil, nil
	})
	if err != nil || !created {
		t.Fatalf("Publish(%s) = %v, created %v", name, err, created)
	}
	return v
}

// Version numbers grow by one and are never reused, even after the
// newest is deleted and the store reopened; a version's code is kept
// while it exists and swept once it is gone.
func TestVersionsNumbersAndCode(t *testing.T) {
	dir := t.TempDir()
	s, b := open(t, dir)
	ctx := t.Context()
	oldCode, _ := s.PutCode(ctx, []byte("old code"))
	c := cfg("v")
	c.CodeSha256 = oldCode
	if err := s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 2; want++ {
		if v := publishNew(t, s, "v"); v.Version != fmt.Sprint(want) || v.CodeSha256 != oldCode || v.Account != acct {
			t.Fatalf("Publish #%d = version %q, code %q, account %q", want, v.Version, v.CodeSha256, v.Account)
		}
	}
	newCode, _ := s.PutCode(ctx, []byte("new code"))
	if _, err := s.Update(ctx, acct, "v", func(c *function.Config) error { c.CodeSha256 = newCode; return nil }); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SweepCode(ctx, 0); err != nil || n != 0 {
		t.Errorf("SweepCode() while versions use the old code = %d, %v; want 0", n, err)
	}
	for _, v := range []string{"1", "2"} {
		if err := s.DeleteVersion(ctx, acct, "v", v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Version(acct, "v", "2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Version(2) after delete = %v; want ErrNotFound", err)
	}
	if n, err := s.SweepCode(ctx, 0); err != nil || n != 1 {
		t.Errorf("SweepCode() once no version uses the old code = %d, %v; want 1", n, err)
	}
	b.Close()

	s, b = open(t, dir)
	defer b.Close()
	if v := publishNew(t, s, "v"); v.Version != "3" {
		t.Errorf("Publish after deleting 1 and 2 and a restart = version %q; want 3", v.Version)
	}
	if got := s.Versions(acct, "v"); len(got) != 1 || got[0].Version != "3" {
		t.Errorf("Versions() = %d; want just 3", len(got))
	}
	// Deleting the function removes its versions and aliases with it.
	if err := s.CreateAlias(ctx, function.Alias{Account: acct, Function: "v", Name: "live", Version: "3"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, acct, "v"); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, cfg("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Alias(acct, "v", "live"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Alias(live) of a re-created function = %v; want ErrNotFound", err)
	}
	if got := s.Versions(acct, "v"); len(got) != 0 {
		t.Errorf("Versions() of a re-created function = %d; want none", len(got))
	}
}
