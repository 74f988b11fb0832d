//go:build linux && !hearth_noinitbin

package linux

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"hearth/internal/sandbox"
	"hearth/internal/sandbox/tmpdisk"
)

// maxCodeMounts and maxCodeBytes bound the packages whose filesystem the
// driver keeps (a loop device and an image the size of the package each)
// and the space their images take on the host's disk, which no directory
// listing shows (the images are unlinked). Variables for tests.
var (
	maxCodeMounts       = 32
	maxCodeBytes  int64 = 2 << 30
)

// codeMounts keeps, for each code directory (an unpacked package, which
// does not change), a read-only ext4 filesystem holding a copy of it, as a
// detached mount; each environment gets a clone of it at /var/task. A bind
// mount of the directory itself would show its host path, in the server's
// data directory, as the mount's root in the environment's
// /proc/self/mountinfo. It is safe for concurrent use.
type codeMounts struct {
	mk *tmpdisk.Maker

	mu      sync.Mutex
	entries map[string]*codeMount // guarded by mu
	bytes   int64                 // guarded by mu: the entries' bytes
	clock   uint64                // guarded by mu; orders lastUse
	closed  bool                  // guarded by mu
}

// codeMount is the filesystem of one code directory.
type codeMount struct {
	ready chan struct{} // closed once mnt or err is set
	mnt   *os.File
	err   error

	users   int    // guarded by codeMounts.mu: environments using it
	lastUse uint64 // guarded by codeMounts.mu
	bytes   int64  // guarded by codeMounts.mu: used in its filesystem
	dropped bool   // guarded by codeMounts.mu: out of entries; close mnt at the last user
}

func newCodeMounts(mk *tmpdisk.Maker) *codeMounts {
	return &codeMounts{mk: mk, entries: make(map[string]*codeMount)}
}

// clone returns a detached read-only mount of the copy of dir, building the
// copy at dir's first use, and the entry to pass to release when the
// environment that mounts it ends. The build happens once per directory,
// by the first caller, outside the lock.
func (c *codeMounts) clone(dir string) (*os.File, *codeMount, error) {
	return c.cloneKeyed(dir, dir)
}

// cloneKeyed is clone with the entry named key: a directory that may
// change (the runtime clients') is keyed by its path and contents.
func (c *codeMounts) cloneKeyed(key, dir string) (*os.File, *codeMount, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, nil, ErrClosed
	}
	cm, ok := c.entries[key]
	if !ok {
		cm = &codeMount{ready: make(chan struct{})}
		c.entries[key] = cm
	}
	cm.users++
	c.clock++
	cm.lastUse = c.clock
	evicted := c.evict()
	c.mu.Unlock()
	closeMounts(evicted)

	if !ok {
		cm.mnt, cm.err = c.mk.Copy(dir)
		var used int64
		if cm.err == nil {
			var st unix.Statfs_t
			if err := unix.Fstatfs(int(cm.mnt.Fd()), &st); err == nil {
				used = int64(st.Blocks-st.Bfree) * st.Bsize
			}
		}
		c.mu.Lock()
		if c.entries[key] == cm {
			if cm.err != nil {
				delete(c.entries, key) // the next Start tries again
			} else {
				cm.bytes = used
				c.bytes += used
			}
		}
		evicted := c.evict()
		c.mu.Unlock()
		closeMounts(evicted)
		close(cm.ready)
	}
	<-cm.ready
	if cm.err != nil {
		c.release(cm)
		return nil, nil, cm.err
	}
	fd, err := unix.OpenTree(int(cm.mnt.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		c.release(cm)
		return nil, nil, fmt.Errorf("clone mount of the code of %s: %w", dir, err)
	}
	return os.NewFile(uintptr(fd), dir), cm, nil
}

// prepare builds the copy of dir (keyed as Start will key it: by path, or
// by path and contents with byContents) now, if it is not kept already,
// so that the first Start of the package does not wait for it.
func (c *codeMounts) prepare(dir string, byContents bool) error {
	key := dir
	if byContents {
		var err error
		if key, err = treeKey(dir); err != nil {
			return err
		}
	}
	f, cm, err := c.cloneKeyed(key, dir)
	if err != nil {
		return err
	}
	f.Close()
	c.release(cm)
	return nil
}

// PrepareCode implements sandbox.CodePreparer: it builds the read-only
// filesystems Start will mount the code and the runtime client from.
func (d *Driver) PrepareCode(ctx context.Context, codeDir, runtimeDir string) error {
	if d.code == nil {
		return nil
	}
	var errs []error
	if codeDir != "" {
		errs = append(errs, d.code.prepare(codeDir, false))
	}
	if runtimeDir != "" {
		errs = append(errs, d.code.prepare(runtimeDir, true))
	}
	return errors.Join(errs...)
}

var _ sandbox.CodePreparer = (*Driver)(nil)

// treeKey names a directory's contents: its path and, for every entry, its
// relative path, size and modification time. For small directories that
// can change, such as the runtime clients' (the Python client's code cache
// grows by a file per Python version).
func treeKey(dir string) (string, error) {
	h := fnv.New64a()
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", p, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read %s: %w", dir, err)
	}
	return fmt.Sprintf("%s#%016x", dir, h.Sum64()), nil
}

// release ends one use of each of cms (nil ones are skipped). A dropped
// entry's mount is closed at its last use; environments' clones keep the
// filesystem.
func (c *codeMounts) release(cms ...*codeMount) {
	for _, cm := range cms {
		if cm == nil {
			continue
		}
		c.mu.Lock()
		cm.users--
		last := cm.dropped && cm.users == 0
		c.mu.Unlock()
		if last {
			<-cm.ready // its builder is done with it
			closeMounts([]*codeMount{cm})
		}
	}
}

// evict drops the least recently used entries without users beyond
// maxCodeMounts and maxCodeBytes and returns them; the caller closes their
// mounts (outside the lock).
func (c *codeMounts) evict() []*codeMount {
	var out []*codeMount
	for len(c.entries) > maxCodeMounts || c.bytes > maxCodeBytes {
		var oldest string
		var o *codeMount
		for dir, cm := range c.entries {
			if cm.users == 0 && (o == nil || cm.lastUse < o.lastUse) {
				oldest, o = dir, cm
			}
		}
		if o == nil {
			return out // all in use: over the bound until they end
		}
		delete(c.entries, oldest)
		c.bytes -= o.bytes
		out = append(out, o)
	}
	return out
}

// close drops every entry; mounts still in use are closed at their last
// release.
func (c *codeMounts) close() {
	c.mu.Lock()
	c.closed = true
	var idle []*codeMount
	for _, cm := range c.entries {
		if cm.users == 0 {
			idle = append(idle, cm)
		} else {
			cm.dropped = true
		}
	}
	c.entries = nil
	c.bytes = 0
	c.mu.Unlock()
	closeMounts(idle)
}

// closeMounts closes the built mounts of entries nobody uses.
func closeMounts(cms []*codeMount) {
	for _, cm := range cms {
		if cm.mnt != nil {
			cm.mnt.Close()
		}
	}
}
