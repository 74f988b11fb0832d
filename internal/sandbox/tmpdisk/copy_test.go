//go:build linux

package tmpdisk_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"hearth/internal/sandbox/tmpdisk"
)

// entry is what Copy must keep of a file.
type entry struct {
	Mode     fs.FileMode
	UID, GID uint32
	Data     string // content, or a symbolic link's target
}

func tree(t *testing.T, dir string) map[string]entry {
	t.Helper()
	out := make(map[string]entry)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := entry{Mode: fi.Mode(), UID: st.Uid, GID: st.Gid}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.Data = string(b)
		case fi.Mode()&fs.ModeSymlink != 0:
			if e.Data, err = os.Readlink(p); err != nil {
				return err
			}
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Copy's filesystem holds the directory as it is (modes, owners, links),
// nothing more, cannot be written to, and its root in mountinfo is its
// own, not the source's path.
func TestCopyHoldsTheDirectory(t *testing.T) {
	m, dir := newMaker(t)
	src := filepath.Join(t.TempDir(), "source-dir")
	if err := os.MkdirAll(filepath.Join(src, "lib", "deep"), 0o750); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"bootstrap":        "#!/bin/sh\necho hi\n",
		"lib/deep/a.py":    "print(1)\n",
		"big.bin":          strings.Repeat("0123456789abcdef", 3<<16), // 3 MiB
		"lib/private.conf": "secret",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Many entries: the inode count follows them.
	for i := range 3000 {
		if err := os.WriteFile(filepath.Join(src, "lib", "f"+strconv.Itoa(i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.Chmod(filepath.Join(src, "bootstrap"), 0o755))
	must(t, os.Chown(filepath.Join(src, "lib", "private.conf"), 1234, 5678))
	must(t, os.Chmod(filepath.Join(src, "lib", "private.conf"), 0o640))
	must(t, os.Symlink("deep/a.py", filepath.Join(src, "lib", "link")))

	mnt, err := m.Copy(src)
	if err != nil {
		t.Fatalf("Copy() = %v", err)
	}
	at := t.TempDir()
	err = tmpdisk.MountAt(mnt, at)
	mnt.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tmpdisk.Unmount(at) })

	want := tree(t, src)
	got := tree(t, at)
	// The root directory itself: mkfs.ext4 gives it the source's mode.
	delete(want, ".")
	delete(got, ".")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("copy differs from the source (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(filepath.Join(at, "new"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("creating a file in the copy: %v; want EROFS", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("image files left after Copy: %v", entries)
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var line []byte
	for l := range bytes.Lines(mountinfo) {
		if f := bytes.Fields(l); len(f) > 4 && string(f[4]) == at {
			line = l
		}
	}
	if f := bytes.Fields(line); len(f) < 5 || string(f[3]) != "/" || bytes.Contains(line, []byte(src)) {
		t.Errorf("mountinfo line of the copy: %q; want root / and no mention of %s", line, src)
	}
	if !bytes.Contains(line, []byte(" ro,")) {
		t.Errorf("mountinfo line of the copy: %q; want a read-only mount", line)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
