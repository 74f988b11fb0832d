package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

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
	s, err := store.Open(t.Context(), b.JetStream(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	return s, b
}

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
	if got, err := s.Function("a"); err != nil || got.Name != "a" {
		t.Fatalf("Function(a) = %+v, %v", got, err)
	}
	got, err := s.Update(ctx, "a", func(c *function.Config) error { c.Timeout = 9; return nil })
	if err != nil || got.Timeout != 9 {
		t.Fatalf("Update(a) = %+v, %v; want Timeout 9", got, err)
	}
	if got, _ := s.Function("a"); got.Timeout != 9 {
		t.Errorf("Function(a) after Update: Timeout = %d; want 9 (read your writes)", got.Timeout)
	}
	if _, err := s.Update(ctx, "nope", func(*function.Config) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update(nope) = %v; want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete(a) = %v", err)
	}
	if _, err := s.Function("a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Function(a) after Delete = %v; want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
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
			_, err := s.Update(t.Context(), "c", func(c *function.Config) error { c.MemorySize++; return nil })
			if err != nil {
				t.Errorf("Update() = %v", err)
			}
		})
	}
	wg.Wait()
	if got, _ := s.Function("c"); got.MemorySize != 138 {
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
	if got, err := s.Function("p"); err != nil || got.CodeSha256 != sha {
		t.Fatalf("Function(p) after restart = %+v, %v", got, err)
	}
	if got, err := s.Code(t.Context(), sha); err != nil || string(got) != "zip bytes" {
		t.Fatalf("Code() after restart = %q, %v", got, err)
	}

	// A second Store on the same bucket sees the first one's writes.
	other, err := store.Open(t.Context(), b.JetStream(), slog.New(slog.DiscardHandler))
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
	if _, err := other.Function(seen); err != nil {
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
