package broker_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"hearth/internal/broker"
)

// smallDir mounts a tmpfs of the given size; t.Cleanup unmounts it.
func smallDir(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small filesystem needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDir writes a file in dir until the filesystem is full.
func fillDir(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			return p
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A full disk stops writes with a StorageError that names the directory;
// once space is freed, the broker restarts JetStream and writes work
// again, without a restart of the broker.
func TestFullDiskRecovers(t *testing.T) {
	dir := smallDir(t, "32m")
	b, err := broker.Start(broker.Config{Dir: filepath.Join(dir, "js")}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	js := b.JetStream()
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	publish := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, err := js.Publish(ctx, "s", make([]byte, 64<<10))
		return err
	}
	if err := publish(); err != nil {
		t.Fatalf("Publish() before the disk is full = %v", err)
	}
	if err := b.StorageErr(); err != nil {
		t.Fatalf("StorageErr() before the disk is full = %v", err)
	}

	filler := fillDir(t, dir)
	failed := false
	for range 50 {
		if publish() != nil {
			failed = true // JetStream now holds a write error
			break
		}
	}
	if !failed {
		t.Fatal("Publish() never failed on a full disk")
	}
	waitFor(t, "StorageErr reports the full disk", func() bool { return b.StorageErr() != nil })
	var se *broker.StorageError
	if err := b.CheckStorage(); !errors.As(err, &se) || se.Dir != filepath.Join(dir, "js") || se.Free >= 4<<20 {
		t.Errorf("CheckStorage() on a full disk = %v; want a StorageError for %s with under 4 MiB free", err, filepath.Join(dir, "js"))
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "StorageErr clears after space is freed", func() bool { return b.StorageErr() == nil })
	if err := publish(); err != nil {
		t.Errorf("Publish() after space was freed = %v", err)
	}
}
