package worker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"hearth/internal/codezip"
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
	if entries, err := os.ReadDir(root); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".unpack-") {
				os.RemoveAll(filepath.Join(root, e.Name()))
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
// values) refers to and no environment, starting or live, uses, once they
// are older than minAge (so that a package unpacked for a function being
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
	for _, p := range w.allPools() {
		mark(p.cfg.CodeSha256)
	}
	entries, err := os.ReadDir(w.code.root)
	if err != nil {
		return 0
	}
	n := 0
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
