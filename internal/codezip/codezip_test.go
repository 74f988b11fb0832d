package codezip_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hearth/internal/codezip"
)

type entry struct {
	name string
	body string
	mode fs.FileMode
}

func build(t testing.TB, entries ...entry) []byte {
	t.Helper()
	return buildWith(t, zip.Deflate, entries...)
}

func buildWith(t testing.TB, method uint16, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: method}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExtract(t *testing.T) {
	data := build(t,
		entry{name: "bootstrap", body: "#!/bin/sh\n", mode: 0o755},
		entry{name: "lib/", mode: fs.ModeDir | 0o755},
		entry{name: "lib/a.py", body: "x = 1\n"},
		entry{name: "deep/er/b.txt", body: "b"},
		entry{name: "node_modules/.bin/tool", body: "../tool/cli.js", mode: fs.ModeSymlink | 0o777},
		entry{name: "node_modules/tool/cli.js", body: "cli"},
		// Shared-library chains end in a link, which is fine.
		entry{name: "lib/libfoo.so", body: "libfoo.so.1", mode: fs.ModeSymlink | 0o777},
		entry{name: "lib/libfoo.so.1", body: "./libfoo.so.1.2", mode: fs.ModeSymlink | 0o777},
		entry{name: "lib/libfoo.so.1.2", body: "elf"},
		// Links to directories, and a link that climbs to the root.
		entry{name: "current", body: "deep/er/", mode: fs.ModeSymlink | 0o777},
		entry{name: "deep/top", body: "..", mode: fs.ModeSymlink | 0o777},
		entry{name: "deep/er/sibling", body: "../../lib/../deep", mode: fs.ModeSymlink | 0o777},
		// Lambda accepts dangling links.
		entry{name: "dangling", body: "missing/file", mode: fs.ModeSymlink | 0o777},
	)
	info, err := codezip.Check(data, codezip.Limits{})
	if err != nil {
		t.Fatalf("Check() = %v", err)
	}
	if !info.Has("bootstrap") || info.Has("missing") || info.Files != 13 {
		t.Errorf("Check() info = %+v; want 13 files including bootstrap", info)
	}
	dir := filepath.Join(t.TempDir(), "code")
	if err := codezip.Extract(data, dir, codezip.Limits{}); err != nil {
		t.Fatalf("Extract() = %v", err)
	}
	st, err := os.Stat(filepath.Join(dir, "bootstrap"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("bootstrap mode = %v, %v; want 0755", st.Mode(), err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "deep/er/b.txt")); err != nil || string(b) != "b" {
		t.Errorf("deep/er/b.txt = %q, %v; want %q", b, err, "b")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "node_modules/.bin/tool")); err != nil || string(b) != "cli" {
		t.Errorf("reading through the relative symlink = %q, %v; want %q", b, err, "cli")
	}
	for name, want := range map[string]string{
		"lib/libfoo.so":            "elf",
		"current/b.txt":            "b",
		"deep/top/current/b.txt":   "b",
		"deep/er/sibling/er/b.txt": "b",
	} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
			t.Errorf("reading %s through links = %q, %v; want %q", name, b, err, want)
		}
	}
	if err := codezip.Extract(data, dir, codezip.Limits{}); err == nil {
		t.Errorf("Extract() into an existing directory succeeded; want an error")
	}
}

func link(name, target string) entry {
	return entry{name: name, body: target, mode: fs.ModeSymlink | 0o777}
}

// Each link must stay inside the package on its own: a link may point at
// another link, but its target may not walk through one, or a chain of
// links that each look harmless climbs out.
func TestRejectsLinkChains(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
	}{
		{"up through a link to the root", []entry{link("d/l", ".."), link("up", "d/l/.."), {name: "bootstrap", body: "x"}}},
		{"the same, link listed first", []entry{link("up", "d/l/.."), link("d/l", "..")}},
		{"bootstrap through a chain", []entry{link("d/l", ".."), link("bootstrap", "d/l/../etc/passwd")}},
		{"into a directory link", []entry{link("l", "d"), {name: "d/x", body: "x"}, link("y", "l/x")}},
		{"a link's own dot", []entry{link("l", "d"), {name: "d/", mode: fs.ModeDir | 0o755}, link("y", "l/.")}},
		{"itself, then up", []entry{link("l", "l/..")}},
		{"up past a missing directory", []entry{link("a", "missing/../../x")}},
		{"up from a missing directory", []entry{link("d/a", "m/n/../../../../x"), {name: "d/f", body: "x"}}},
		{"absolute", []entry{link("a", "/etc")}},
		{"nul", []entry{link("a", "x\x00y")}},
		{"empty target", []entry{link("a", "")}},
		{"long target", []entry{link("a", strings.Repeat("x/", 2049))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := build(t, tt.entries...)
			if _, err := codezip.Check(data, codezip.Limits{}); !errors.Is(err, codezip.ErrInvalid) {
				t.Errorf("Check() = %v; want ErrInvalid", err)
			}
			dir := filepath.Join(t.TempDir(), "code")
			if err := codezip.Extract(data, dir, codezip.Limits{}); !errors.Is(err, codezip.ErrInvalid) {
				t.Errorf("Extract() = %v; want ErrInvalid", err)
			}
		})
	}
}

// manyLinks is the shape that took 57 s inside CreateFunction when every
// link was compared with every entry: 30,000 links beside 30,000 files.
func manyLinks(t testing.TB) []byte {
	return buildWith(t, zip.Store, manyLinksEntries()...)
}

func manyLinksEntries() []entry {
	const n = 30000
	entries := make([]entry, 0, 2*n)
	for i := range n {
		entries = append(entries,
			entry{name: fmt.Sprintf("files/f%05d", i), body: "x"},
			link(fmt.Sprintf("links/l%05d", i), fmt.Sprintf("../files/f%05d", i)))
	}
	return entries
}

func TestManyLinks(t *testing.T) {
	data := manyLinks(t)
	start := time.Now()
	info, err := codezip.Check(data, codezip.Limits{})
	// Linear work takes well under a second even under -race; the
	// quadratic check took about a minute.
	d := time.Since(start)
	t.Logf("Check() of 60,000 entries took %v", d)
	if d > 10*time.Second {
		t.Errorf("Check() of 60,000 entries took %v; want well under 10s", d)
	}
	if err != nil || info.Files != 60000 || !info.Has("links/l29999") {
		t.Fatalf("Check() = %+v, %v; want 60000 entries including links/l29999", info, err)
	}
	// One link under the files, and the whole package is refused.
	bad := append(manyLinksEntries()[:2000], link("links/zz", "../links/l00000/.."))
	if _, err := codezip.Check(buildWith(t, zip.Store, bad...), codezip.Limits{}); !errors.Is(err, codezip.ErrInvalid) {
		t.Errorf("Check() with one link through another = %v; want ErrInvalid", err)
	}
}

func BenchmarkCheckManyLinks(b *testing.B) {
	data := manyLinks(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := codezip.Check(data, codezip.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRejects(t *testing.T) {
	zeros := strings.Repeat("\x00", 2<<20)
	tests := []struct {
		name string
		data []byte
		lim  codezip.Limits
		want error
	}{
		{"not a zip", []byte("hello, this is not a zip"), codezip.Limits{}, codezip.ErrInvalid},
		{"empty", nil, codezip.Limits{}, codezip.ErrInvalid},
		{"parent traversal", build(t, entry{name: "../evil", body: "x"}), codezip.Limits{}, codezip.ErrInvalid},
		{"nested traversal", build(t, entry{name: "a/../../evil", body: "x"}), codezip.Limits{}, codezip.ErrInvalid},
		{"absolute", build(t, entry{name: "/etc/evil", body: "x"}), codezip.Limits{}, codezip.ErrInvalid},
		{"backslash", build(t, entry{name: "..\\evil", body: "x"}), codezip.Limits{}, codezip.ErrInvalid},
		{"absolute symlink", build(t, entry{name: "l", body: "/etc/shadow", mode: fs.ModeSymlink | 0o777}), codezip.Limits{}, codezip.ErrInvalid},
		{"escaping symlink", build(t, entry{name: "a/l", body: "../../x", mode: fs.ModeSymlink | 0o777}), codezip.Limits{}, codezip.ErrInvalid},
		{"write through symlink", build(t,
			entry{name: "l", body: "d", mode: fs.ModeSymlink | 0o777},
			entry{name: "l/x", body: "x"}), codezip.Limits{}, codezip.ErrInvalid},
		{"device", build(t, entry{name: "dev", mode: fs.ModeDevice | 0o644}), codezip.Limits{}, codezip.ErrInvalid},
		{"bomb", build(t, entry{name: "zeros", body: zeros}), codezip.Limits{MaxUnzipped: 1 << 20}, codezip.ErrTooLarge},
		{"too many files", build(t, entry{name: "a"}, entry{name: "b"}, entry{name: "c"}), codezip.Limits{MaxFiles: 2}, codezip.ErrTooLarge},
		{"truncated", build(t, entry{name: "a", body: "hello"})[:30], codezip.Limits{}, codezip.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "code")
			err := codezip.Extract(tt.data, dir, tt.lim)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Extract() = %v; want %v", err, tt.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Extract() failed but left %s behind (stat: %v)", dir, err)
			}
			left, _ := os.ReadDir(filepath.Dir(dir))
			if len(left) != 0 {
				t.Errorf("Extract() failed but left %d entries in the parent", len(left))
			}
		})
	}
}

// A header that understates the uncompressed size must not let more bytes
// through than it declared.
func TestLyingHeader(t *testing.T) {
	var body bytes.Buffer
	fw := zip.NewWriter(&body)
	w, _ := fw.CreateHeader(&zip.FileHeader{Name: "f", Method: zip.Store})
	w.Write(bytes.Repeat([]byte("A"), 4096))
	fw.Close()
	data := body.Bytes()
	// Patch the declared sizes in the local and central headers to 16.
	patched := bytes.Clone(data)
	for _, off := range []int{22, bytes.LastIndex(patched, []byte("PK\x01\x02")) + 24} {
		patched[off], patched[off+1], patched[off+2], patched[off+3] = 16, 0, 0, 0
	}
	dir := filepath.Join(t.TempDir(), "code")
	err := codezip.Extract(patched, dir, codezip.Limits{})
	if !errors.Is(err, codezip.ErrInvalid) {
		b, _ := os.ReadFile(filepath.Join(dir, "f"))
		t.Fatalf("Extract() = %v and wrote %d bytes for an entry declaring 16; want ErrInvalid", err, len(b))
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Extract() failed but left %s behind (stat: %v)", dir, err)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(build(f, entry{name: "a", body: "hello"}))
	f.Add(build(f, entry{name: "d/", mode: fs.ModeDir | 0o755}, entry{name: "d/b", body: "x", mode: 0o755}))
	f.Add(build(f, entry{name: "l", body: "a", mode: fs.ModeSymlink | 0o777}, entry{name: "a", body: "x"}))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Add(build(f, link("d/l", ".."), link("up", "d/l/..")))
	f.Add(build(f, link("lib/a.so", "a.so.1"), link("lib/a.so.1", "../x"), entry{name: "x", body: "x"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "code")
		err := codezip.Extract(data, dir, codezip.Limits{MaxUnzipped: 1 << 20, MaxFiles: 64})
		if err != nil {
			if !errors.Is(err, codezip.ErrInvalid) && !errors.Is(err, codezip.ErrTooLarge) {
				t.Fatalf("Extract() = %v; want ErrInvalid or ErrTooLarge", err)
			}
			if left, _ := os.ReadDir(parent); len(left) != 0 {
				t.Fatalf("failed Extract() left %d entries", len(left))
			}
			return
		}
		// Everything unpacked stays inside dir.
		var total int64
		filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if p != parent && p != dir && !strings.HasPrefix(p, dir+string(filepath.Separator)) {
				t.Fatalf("Extract() created %s outside %s", p, dir)
			}
			if d.Type().IsRegular() {
				fi, _ := d.Info()
				total += fi.Size()
			}
			return nil
		})
		if total > 1<<20 {
			t.Fatalf("Extract() wrote %d bytes; limit 1 MiB", total)
		}
		// Every path that resolves at all, through however many links,
		// resolves inside dir: the host reads through them.
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			t.Fatal(err)
		}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			r, err := filepath.EvalSymlinks(p)
			if err != nil {
				return nil // dangling or a loop: nothing to read
			}
			if r != real && !strings.HasPrefix(r, real+string(filepath.Separator)) {
				t.Fatalf("%s resolves to %s, outside %s", p, r, real)
			}
			return nil
		})
	})
}
