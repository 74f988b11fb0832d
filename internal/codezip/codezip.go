// Package codezip checks and unpacks deployment packages: zip archives that
// users upload and that must never write outside the directory they are
// unpacked into, nor exhaust the disk. Check reads only the central
// directory; Extract enforces the same limits again while it writes, on the
// bytes actually decompressed.
package codezip

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Limits bound what a package may unpack to. Zero fields take Lambda's
// values.
type Limits struct {
	// MaxUnzipped is the total size of all files. Zero means 250 MiB
	// (262,144,000 bytes), Lambda's limit.
	MaxUnzipped int64
	// MaxFiles is the number of entries. Zero means 65,536.
	MaxFiles int
}

func (l Limits) withDefaults() Limits {
	if l.MaxUnzipped == 0 {
		l.MaxUnzipped = 262144000
	}
	if l.MaxFiles == 0 {
		l.MaxFiles = 65536
	}
	return l
}

// Errors Check and Extract return, wrapped with detail.
var (
	// ErrInvalid means the data is not a readable zip archive, or an entry
	// is unsafe (absolute, escaping the root, a device, a symlink that
	// leads outside).
	ErrInvalid = errors.New("invalid zip file")
	// ErrTooLarge means the archive unpacks to more than the limits allow.
	ErrTooLarge = errors.New("unzipped package too large")
)

// Info summarises a checked package.
type Info struct {
	Files    int
	Unzipped int64
	names    map[string]fs.FileMode // each entry's cleaned path and mode
}

// Has reports whether the package holds a file or symlink at name (slash
// separated, relative to the root).
func (i *Info) Has(name string) bool {
	_, ok := i.names[name]
	return ok
}

// Mode returns the mode of the entry at name.
func (i *Info) Mode(name string) (fs.FileMode, bool) {
	m, ok := i.names[name]
	return m, ok
}

// Check validates data as a deployment package without unpacking it.
func Check(data []byte, lim Limits) (*Info, error) {
	lim = lim.withDefaults()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(zr.File) > lim.MaxFiles {
		return nil, fmt.Errorf("%w: %d entries, limit %d", ErrTooLarge, len(zr.File), lim.MaxFiles)
	}
	info := &Info{names: make(map[string]fs.FileMode, len(zr.File))}
	var links []string
	for _, f := range zr.File {
		name, err := cleanName(f.Name)
		if err != nil {
			return nil, err
		}
		mode := f.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			links = append(links, name)
		case mode.IsDir(), mode.IsRegular():
		default:
			return nil, fmt.Errorf("%w: %q has unsupported type %v", ErrInvalid, f.Name, mode.Type())
		}
		if f.UncompressedSize64 > uint64(lim.MaxUnzipped) {
			return nil, fmt.Errorf("%w: %q declares %d bytes", ErrTooLarge, f.Name, f.UncompressedSize64)
		}
		info.Unzipped += int64(f.UncompressedSize64)
		if info.Unzipped > lim.MaxUnzipped {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, lim.MaxUnzipped)
		}
		if name != "" {
			info.names[name] = mode
		}
		info.Files++
	}
	// No entry may sit beneath a symlink: writing it would follow the link.
	for _, l := range links {
		for n := range info.names {
			if strings.HasPrefix(n, l+"/") {
				return nil, fmt.Errorf("%w: %q lies beneath symlink %q", ErrInvalid, n, l)
			}
		}
	}
	return info, nil
}

// cleanName turns an entry name into a clean relative slash path, or
// rejects it. The root itself becomes "".
func cleanName(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "\x00\\") {
		return "", fmt.Errorf("%w: entry name %q", ErrInvalid, name)
	}
	if strings.HasPrefix(name, "/") || filepath.VolumeName(name) != "" {
		return "", fmt.Errorf("%w: absolute entry name %q", ErrInvalid, name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: entry name %q escapes the package", ErrInvalid, name)
		}
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil
	}
	return c, nil
}

// Extract unpacks data into dir, which must not exist yet; its parent must.
// It unpacks into a sibling temporary directory and renames it into place,
// so dir either appears complete or not at all.
func Extract(data []byte, dir string, lim Limits) (err error) {
	lim = lim.withDefaults()
	if _, err := Check(data, lim); err != nil {
		return err
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".unpack-*")
	if err != nil {
		return fmt.Errorf("create unpack dir: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return fmt.Errorf("open unpack dir: %w", err)
	}
	defer root.Close()

	budget := lim.MaxUnzipped
	var links []*zip.File
	for _, f := range zr.File {
		name, _ := cleanName(f.Name) // Check accepted every name
		if name == "" {
			continue
		}
		mode := f.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			links = append(links, f) // after every file, so none is written through one
		case mode.IsDir():
			if err := mkdirAll(root, name); err != nil {
				return err
			}
		default:
			n, err := writeFile(root, name, f, mode, budget)
			if err != nil {
				return err
			}
			budget -= n
		}
	}
	for _, f := range links {
		if err := writeLink(root, f); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("chmod unpack dir: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("move unpacked package into place: %w", err)
	}
	return nil
}

func mkdirAll(root *os.Root, name string) error {
	if err := root.MkdirAll(name, 0o755); err != nil {
		return fmt.Errorf("%w: create directory %q: %w", ErrInvalid, name, err)
	}
	return nil
}

func writeFile(root *os.Root, name string, f *zip.File, mode fs.FileMode, budget int64) (int64, error) {
	if dir := path.Dir(name); dir != "." {
		if err := mkdirAll(root, dir); err != nil {
			return 0, err
		}
	}
	perm := fs.FileMode(0o644)
	if mode&0o111 != 0 {
		perm = 0o755
	}
	rc, err := f.Open()
	if err != nil {
		return 0, fmt.Errorf("%w: open %q: %w", ErrInvalid, f.Name, err)
	}
	defer rc.Close()
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return 0, fmt.Errorf("%w: create %q: %w", ErrInvalid, name, err)
	}
	// archive/zip fails a read past the declared size, and the budget
	// bounds the total whatever the headers claim.
	n, err := io.Copy(out, io.LimitReader(rc, budget+1))
	if cerr := out.Close(); err == nil && cerr != nil {
		return n, fmt.Errorf("write %q: %w", name, cerr)
	}
	if err != nil {
		return n, fmt.Errorf("%w: unpack %q: %w", ErrInvalid, f.Name, err)
	}
	if n > budget {
		return n, fmt.Errorf("%w: exceeded while unpacking %q", ErrTooLarge, f.Name)
	}
	if err := root.Chmod(name, perm); err != nil { // umask may have narrowed it
		return n, fmt.Errorf("chmod %q: %w", name, err)
	}
	return n, nil
}

func writeLink(root *os.Root, f *zip.File) error {
	name, _ := cleanName(f.Name)
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("%w: open %q: %w", ErrInvalid, f.Name, err)
	}
	target, err := io.ReadAll(io.LimitReader(rc, 4097))
	rc.Close()
	if err != nil || len(target) == 0 || len(target) > 4096 {
		return fmt.Errorf("%w: symlink %q has an unreadable target", ErrInvalid, f.Name)
	}
	t := string(target)
	// Links are kept as written (node_modules/.bin relies on relative
	// ones). Hearth never reads through them: os.Root refuses to follow a
	// link out of the package while unpacking, and the runtime resolves
	// them inside its sandbox. Links that plainly point outside are
	// refused anyway, as a courtesy to the user.
	if strings.HasPrefix(t, "/") || strings.ContainsRune(t, 0) {
		return fmt.Errorf("%w: symlink %q points outside the package", ErrInvalid, f.Name)
	}
	resolved := path.Join(path.Dir(name), t)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return fmt.Errorf("%w: symlink %q points outside the package", ErrInvalid, f.Name)
	}
	if dir := path.Dir(name); dir != "." {
		if err := mkdirAll(root, dir); err != nil {
			return err
		}
	}
	_ = root.Remove(name) // a later duplicate entry replaces an earlier one
	if err := root.Symlink(t, name); err != nil {
		return fmt.Errorf("%w: create symlink %q: %w", ErrInvalid, name, err)
	}
	return nil
}
