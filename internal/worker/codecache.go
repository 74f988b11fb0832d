package worker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"hearth/internal/codezip"
	"hearth/internal/function"
)

// codeCache unpacks each deployment package once, into a directory named
// after its SHA-256, and shares it read-only between environments.
type codeCache struct {
	root   string
	src    CodeSource
	log    *slog.Logger
	flight singleflight.Group
}

// cacheFormat names how packages were checked and unpacked. A cache of
// another format (from before a stricter check) is emptied at start-up, so
// that every package is checked again as it is unpacked anew.
const cacheFormat = "2" // 2: symbolic links may not pass through links

func newCodeCache(root string, src CodeSource, log *slog.Logger) *codeCache {
	marker := filepath.Join(root, ".format")
	if b, err := os.ReadFile(marker); err != nil || string(b) != cacheFormat {
		os.RemoveAll(root)
		if err := os.MkdirAll(root, 0o755); err == nil {
			os.WriteFile(marker, []byte(cacheFormat), 0o644)
		}
	}
	// Unpacking writes into a temporary sibling and renames it into place,
	// so a crash leaves only temporaries behind; clear them.
	for _, dir := range []string{root, filepath.Join(root, optRoot)} {
		if entries, err := os.ReadDir(dir); err == nil {
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".unpack-") || strings.HasPrefix(e.Name(), ".merge-") {
					os.RemoveAll(filepath.Join(dir, e.Name()))
				}
			}
		}
	}
	return &codeCache{root: root, src: src, log: log}
}

// dir returns the directory holding the unpacked package sha (base64),
// fetching and unpacking it on first use.
func (c *codeCache) dir(ctx context.Context, sha string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(sha)
	if err != nil || len(raw) != sha256.Size {
		return "", fmt.Errorf("malformed code sha256 %q", sha)
	}
	dir := filepath.Join(c.root, hex.EncodeToString(raw))
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	_, err, _ = c.flight.Do(dir, func() (any, error) {
		if _, err := os.Stat(dir); err == nil {
			return nil, nil
		}
		if err := os.MkdirAll(c.root, 0o755); err != nil {
			return nil, fmt.Errorf("create code cache: %w", err)
		}
		f, size, err := c.fetch(ctx, sha, filepath.Base(dir))
		if err != nil {
			return nil, err
		}
		defer func() { f.Close(); os.Remove(f.Name()) }()
		if err := codezip.ExtractReader(f, size, dir, codezip.Limits{}); err != nil {
			return nil, fmt.Errorf("unpack code: %w", err)
		}
		c.log.Debug("code unpacked", "dir", dir)
		return nil, nil
	})
	if err != nil {
		return "", err
	}
	return dir, nil
}

// fetch copies package sha from the source into a temporary file in the
// cache (a package may be 50 MB; it is never held in memory) and checks
// that its SHA-256 is wantHex. The caller closes and removes the file.
func (c *codeCache) fetch(ctx context.Context, sha, wantHex string) (*os.File, int64, error) {
	src, _, err := c.src.OpenCode(ctx, sha)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch code: %w", err)
	}
	defer src.Close()
	f, err := os.CreateTemp(c.root, ".unpack-zip-*") // cleared at start-up like the unpack dirs
	if err != nil {
		return nil, 0, fmt.Errorf("fetch code: %w", err)
	}
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(f, h), src)
	if err == nil && hex.EncodeToString(h.Sum(nil)) != wantHex {
		err = fmt.Errorf("code %s is corrupt: its sha256 does not match", sha)
	} else if err != nil {
		err = fmt.Errorf("fetch code: %w", err)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, err
	}
	return f, size, nil
}

// SweepCode removes unpacked packages that no function in keep (CodeSha256
// values, the layers' among them) refers to and no environment, starting
// or live, uses, once they are older than minAge (so that a package unpacked for a function being
// created is left alone). It returns how many it removed. A package needed
// again later is unpacked again from the store.
func (w *Worker) SweepCode(keep []string, minAge time.Duration) int {
	used := make(map[string]bool)
	mark := func(sha string) {
		if raw, err := base64.StdEncoding.DecodeString(sha); err == nil {
			used[hex.EncodeToString(raw)] = true
		}
	}
	for _, sha := range keep {
		mark(sha)
	}
	usedOpt := make(map[string]bool)
	for _, p := range w.allPools() {
		mark(p.cfg.CodeSha256)
		for _, l := range p.cfg.Layers {
			mark(l.CodeSha256)
		}
		usedOpt[optKey(p.cfg.Layers)] = true
	}
	n := w.sweepOpt(usedOpt, minAge)
	entries, err := os.ReadDir(w.code.root)
	if err != nil {
		return n
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, ".") || used[name] {
			continue
		}
		if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < minAge {
			continue
		}
		if err := os.RemoveAll(filepath.Join(w.code.root, name)); err != nil {
			w.log.Warn("remove unpacked code", "dir", name, "err", err)
			continue
		}
		n++
	}
	return n
}

// optRoot is the directory, inside the cache, of the merged /opt
// directories of functions with more than one layer.
const optRoot = ".opt"

// optDir returns the host directory to show at /opt for layers: "" for
// none, a layer's unpacked package for one, else the layers merged in
// order (a later layer's file replaces an earlier one's), built once per
// ordered set of packages. Each layer is unpacked once per content hash,
// like function code.
func (c *codeCache) optDir(ctx context.Context, layers []function.LayerRef) (string, error) {
	if len(layers) == 0 {
		return "", nil
	}
	dirs := make([]string, len(layers))
	for i, l := range layers {
		d, err := c.dir(ctx, l.CodeSha256)
		if err != nil {
			return "", fmt.Errorf("layer %s: %w", l.Arn, err)
		}
		dirs[i] = d
	}
	if len(dirs) == 1 {
		return dirs[0], nil
	}
	merged := filepath.Join(c.root, optRoot, optKey(layers))
	if _, err := os.Stat(merged); err == nil {
		return merged, nil
	}
	_, err, _ := c.flight.Do(merged, func() (any, error) {
		if _, err := os.Stat(merged); err == nil {
			return nil, nil
		}
		if err := os.MkdirAll(filepath.Dir(merged), 0o755); err != nil {
			return nil, fmt.Errorf("create merged layers: %w", err)
		}
		tmp, err := os.MkdirTemp(filepath.Dir(merged), ".merge-")
		if err != nil {
			return nil, fmt.Errorf("create merged layers: %w", err)
		}
		defer os.RemoveAll(tmp) // gone after the rename
		for _, d := range dirs {
			if err := mergeInto(tmp, d); err != nil {
				return nil, fmt.Errorf("merge layers: %w", err)
			}
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			return nil, fmt.Errorf("merge layers: %w", err)
		}
		if err := os.Rename(tmp, merged); err != nil {
			return nil, fmt.Errorf("merge layers: %w", err)
		}
		c.log.Debug("layers merged", "dir", merged, "layers", len(dirs))
		return nil, nil
	})
	if err != nil {
		return "", err
	}
	return merged, nil
}

// optKey names an ordered set of layer packages.
func optKey(layers []function.LayerRef) string {
	h := sha256.New()
	for _, l := range layers {
		io.WriteString(h, l.CodeSha256+"\n")
	}
	return hex.EncodeToString(h.Sum(nil))
}

// mergeInto adds the tree src to dst, replacing whatever dst has at the
// same paths (a file by a directory too, and the other way round). Files
// are hard links to src's (unpacked packages never change), copies when
// linking fails; symbolic links are recreated (codezip has checked that
// each stays inside its package, so it stays inside /opt).
func mergeInto(dst, src string) error {
	return filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		target := filepath.Join(dst, rel)
		old, statErr := os.Lstat(target)
		exists := statErr == nil
		if e.IsDir() {
			if exists && old.IsDir() {
				return nil
			}
			if exists {
				if err := os.RemoveAll(target); err != nil {
					return err
				}
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			return os.Mkdir(target, info.Mode().Perm()|0o700)
		}
		if exists {
			if err := os.RemoveAll(target); err != nil {
				return err
			}
		}
		if e.Type()&fs.ModeSymlink != 0 {
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		}
		if err := os.Link(p, target); err == nil {
			return nil
		}
		return copyFile(target, p)
	})
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// sweepOpt removes merged layer directories no environment uses (used
// holds the optKey of every pool's layers) once older than minAge; one
// needed again is merged again.
func (w *Worker) sweepOpt(used map[string]bool, minAge time.Duration) int {
	root := filepath.Join(w.code.root, optRoot)
	entries, err := os.ReadDir(root)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if used[name] {
			continue
		}
		if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < minAge {
			continue
		}
		if err := os.RemoveAll(filepath.Join(root, name)); err != nil {
			w.log.Warn("remove merged layers", "dir", name, "err", err)
			continue
		}
		n++
	}
	return n
}
