package worker

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tree lists dir as path → content ("dir" for directories, "-> target" for
// links).
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case e.IsDir():
			out[rel] = "dir"
		case e.Type()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "-> " + l
		default:
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := cutLink(content); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func cutLink(s string) (string, bool) {
	if len(s) > 3 && s[:3] == "-> " {
		return s[3:], true
	}
	return "", false
}

// Later layers replace earlier ones' entries, a file by a directory and a
// directory by a file included, and leave the layers themselves alone.
func TestMergeInto(t *testing.T) {
	first := writeTree(t, map[string]string{
		"python/mod.py":  "first",
		"keep.txt":       "first only",
		"becomes/dir":    "a file under a directory",
		"becomes-file/x": "under a directory",
		"link":           "-> keep.txt",
	})
	second := writeTree(t, map[string]string{
		"python/mod.py": "second",
		"becomes":       "now a file",
		"becomes-file":  "now a file too",
		"link":          "-> python/mod.py",
	})
	before := tree(t, first)
	dst := t.TempDir()
	for _, src := range []string{first, second} {
		if err := mergeInto(dst, src); err != nil {
			t.Fatalf("mergeInto(%s) = %v", src, err)
		}
	}
	want := map[string]string{
		"python":        "dir",
		"python/mod.py": "second",
		"keep.txt":      "first only",
		"becomes":       "now a file",
		"becomes-file":  "now a file too",
		"link":          "-> python/mod.py",
	}
	if diff := cmp.Diff(want, tree(t, dst)); diff != "" {
		t.Errorf("merged tree (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, tree(t, first)); diff != "" {
		t.Errorf("merging changed the first layer (-before +after):\n%s", diff)
	}
}

// A merged /opt is built once per ordered set and swept when no pool uses
// it.
func TestOptDirSweep(t *testing.T) {
	root := t.TempDir()
	c := newCodeCache(root, nil, slog.New(slog.DiscardHandler))
	merged := filepath.Join(root, optRoot, "0123")
	if err := os.MkdirAll(merged, 0o755); err != nil {
		t.Fatal(err)
	}
	w := &Worker{code: c, log: slog.New(slog.DiscardHandler)}
	if n := w.sweepOpt(map[string]bool{"0123": true}, 0); n != 0 {
		t.Errorf("sweepOpt removed %d merged dirs in use", n)
	}
	if n := w.sweepOpt(nil, 0); n != 1 {
		t.Errorf("sweepOpt removed %d unused merged dirs; want 1", n)
	}
	if _, err := os.Stat(merged); err == nil {
		t.Errorf("the unused merged dir survived")
	}
}
