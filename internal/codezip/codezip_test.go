package codezip_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hearth/internal/codezip"
)

type entry struct {
	name string
	body string
	mode fs.FileMode
}

func build(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
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
	)
	info, err := codezip.Check(data, codezip.Limits{})
	if err != nil {
		t.Fatalf("Check() = %v", err)
	}
	if !info.Has("bootstrap") || info.Has("missing") || info.Files != 6 {
		t.Errorf("Check() info = %+v; want 6 files including bootstrap", info)
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
	if err := codezip.Extract(data, dir, codezip.Limits{}); err == nil {
		t.Errorf("Extract() into an existing directory succeeded; want an error")
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
	})
}
