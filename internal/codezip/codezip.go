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
	"slices"
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

// Check validates data as a deployment package without unpacking it. It
// reads the central directory and the targets of symlinks.
func Check(data []byte, lim Limits) (*Info, error) {
	return CheckReader(bytes.NewReader(data), int64(len(data)), lim)
}

// CheckReader is Check of a package of size bytes read from r (a file),
// so that the package need not be in memory.
func CheckReader(r io.ReaderAt, size int64, lim Limits) (*Info, error) {
	info, _, _, err := check(r, size, lim.withDefaults())
	return info, err
}

// link is a symlink entry and its validated target.
type link struct {
	name   string
	target string
}

// check validates data and returns what Extract needs: the reader and the
// symlinks to create. Its cost is linear in the size of the names and link
// targets: every path is looked up one component at a time in a tree built
// once.
func check(r io.ReaderAt, size int64, lim Limits) (*Info, *zip.Reader, []link, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(zr.File) > lim.MaxFiles {
		return nil, nil, nil, fmt.Errorf("%w: %d entries, limit %d", ErrTooLarge, len(zr.File), lim.MaxFiles)
	}
	info := &Info{names: make(map[string]fs.FileMode, len(zr.File))}
	t := newTree(len(zr.File))
	var linkFiles []*zip.File
	for _, f := range zr.File {
		name, err := cleanName(f.Name)
		if err != nil {
			return nil, nil, nil, err
		}
		mode := f.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			if name != "" {
				linkFiles = append(linkFiles, f)
			}
		case mode.IsDir(), mode.IsRegular():
		default:
			return nil, nil, nil, fmt.Errorf("%w: %q has unsupported type %v", ErrInvalid, f.Name, mode.Type())
		}
		if f.UncompressedSize64 > uint64(lim.MaxUnzipped) {
			return nil, nil, nil, fmt.Errorf("%w: %q declares %d bytes", ErrTooLarge, f.Name, f.UncompressedSize64)
		}
		info.Unzipped += int64(f.UncompressedSize64)
		if info.Unzipped > lim.MaxUnzipped {
			return nil, nil, nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, lim.MaxUnzipped)
		}
		if name != "" {
			info.names[name] = mode
			id := t.insert(name)
			if mode&fs.ModeSymlink != 0 {
				t.nodes[id].link = true // Extract writes links last, so a link replaces any other entry of its name
			}
		}
		info.Files++
	}
	// No entry may sit beneath a symlink: writing it would follow the link.
	for id := range t.nodes {
		if n := t.nodes[id]; n.link && n.children > 0 {
			return nil, nil, nil, fmt.Errorf("%w: entries lie beneath symlink %q", ErrInvalid, t.name(int32(id)))
		}
	}
	links := make([]link, 0, len(linkFiles))
	for _, f := range linkFiles {
		name, _ := cleanName(f.Name) // accepted above
		target, err := readTarget(f)
		if err != nil {
			return nil, nil, nil, err
		}
		if err := t.checkTarget(name, target); err != nil {
			return nil, nil, nil, err
		}
		links = append(links, link{name: name, target: target})
	}
	return info, zr, links, nil
}

func readTarget(f *zip.File) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", fmt.Errorf("%w: open %q: %w", ErrInvalid, f.Name, err)
	}
	target, err := io.ReadAll(io.LimitReader(rc, 4097))
	rc.Close()
	if err != nil || len(target) == 0 || len(target) > 4096 {
		return "", fmt.Errorf("%w: symlink %q has an unreadable target", ErrInvalid, f.Name)
	}
	return string(target), nil
}

// tree holds the package's paths one component per node, so that a path
// is looked up in time linear in its length.
type tree struct {
	nodes    []node
	children map[edge]int32
}

type node struct {
	parent   int32 // the root is its own parent
	name     string
	link     bool
	children int
}

type edge struct {
	parent int32
	name   string
}

const rootNode = 0

func newTree(hint int) *tree {
	t := &tree{children: make(map[edge]int32, hint)}
	t.nodes = append(t.nodes, node{parent: rootNode})
	return t
}

// insert adds the clean, non-empty slash path name and its parents, and
// returns name's node.
func (t *tree) insert(name string) int32 {
	cur := int32(rootNode)
	for part := range strings.SplitSeq(name, "/") {
		e := edge{cur, part}
		id, ok := t.children[e]
		if !ok {
			id = int32(len(t.nodes))
			t.nodes = append(t.nodes, node{parent: cur, name: part})
			t.nodes[cur].children++
			t.children[e] = id
		}
		cur = id
	}
	return cur
}

func (t *tree) name(id int32) string {
	var parts []string
	for ; id != rootNode; id = t.nodes[id].parent {
		parts = append(parts, t.nodes[id].name)
	}
	slices.Reverse(parts)
	return strings.Join(parts, "/")
}

// checkTarget refuses a symlink at name (clean, and beneath no link) whose
// target would resolve outside the package. Links are kept as written
// (node_modules/.bin and lib/libfoo.so rely on relative ones), and the
// host itself reads through them (a custom runtime's bootstrap), so every
// link must stay inside by construction: the target is relative, it walks
// only through real directories of the package (a link may point at
// another link, but not pass through one: `d/l -> ..` with
// `up -> d/l/..` would climb out), and it never climbs above the root.
func (t *tree) checkTarget(name, target string) error {
	outside := func() error {
		return fmt.Errorf("%w: symlink %q points outside the package", ErrInvalid, name)
	}
	if strings.HasPrefix(target, "/") || strings.ContainsRune(target, 0) {
		return outside()
	}
	// Resolve from the link's directory, which exists and holds no link.
	cur := int32(rootNode)
	if dir := path.Dir(name); dir != "." {
		cur = t.lookup(dir)
	}
	missing := 0 // components past cur that name nothing in the package
	rest := target
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, "/")
		switch {
		case part == "" || part == ".":
		case part == "..":
			switch {
			case missing > 0:
				missing--
			case cur == rootNode:
				return outside()
			default:
				cur = t.nodes[cur].parent
			}
		case missing > 0:
			missing++
		default:
			id, ok := t.children[edge{cur, part}]
			if !ok {
				missing = 1
				continue
			}
			if t.nodes[id].link && rest != "" {
				return fmt.Errorf("%w: symlink %q resolves through symlink %q", ErrInvalid, name, t.name(id))
			}
			cur = id
		}
	}
	return nil
}

// lookup returns the node of a path that insert added.
func (t *tree) lookup(name string) int32 {
	cur := int32(rootNode)
	for part := range strings.SplitSeq(name, "/") {
		cur = t.children[edge{cur, part}]
	}
	return cur
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
func Extract(data []byte, dir string, lim Limits) error {
	return ExtractReader(bytes.NewReader(data), int64(len(data)), dir, lim)
}

// ExtractReader is Extract of a package of size bytes read from r (a
// file), so that the package need not be in memory.
func ExtractReader(r io.ReaderAt, size int64, dir string, lim Limits) (err error) {
	lim = lim.withDefaults()
	_, zr, links, err := check(r, size, lim)
	if err != nil {
		return err
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
	for _, f := range zr.File {
		name, _ := cleanName(f.Name) // Check accepted every name
		if name == "" {
			continue
		}
		mode := f.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			// Written after every file, so none is written through one.
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
	for _, l := range links {
		if err := writeLink(root, l); err != nil {
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

// writeLink creates a symlink that check accepted. os.Root would refuse
// to follow it out of the package anyway while unpacking.
func writeLink(root *os.Root, l link) error {
	if dir := path.Dir(l.name); dir != "." {
		if err := mkdirAll(root, dir); err != nil {
			return err
		}
	}
	_ = root.Remove(l.name) // a later duplicate entry replaces an earlier one
	if err := root.Symlink(l.target, l.name); err != nil {
		return fmt.Errorf("%w: create symlink %q: %w", ErrInvalid, l.name, err)
	}
	return nil
}
