package api

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// memoryReleaser gives the memory a large code upload used back to the
// operating system once no upload is under way. Storing a package of
// megabytes passes through buffers (the object store's chunks, the
// message store's blocks) that the Go runtime would otherwise keep
// mapped for minutes: one CreateFunction of 6.4 MB left the server at
// 60-80 MB resident instead of 25-30 (issue 13). Large uploads are rare
// and already slow, so a forced collection after them is cheap; invokes
// never trigger one.
type memoryReleaser struct {
	running atomic.Bool
}

// settle is how long after the last upload the message store has let go
// of its block buffers (its cache of a block expires within seconds of
// the last access), so that a collection then finds them garbage.
const settle = 12 * time.Second

// release frees unused memory in the background, once at a time: at once,
// and again when the message store has dropped its caches. Two
// collections in a row also empty the sync.Pools that hold its blocks.
// The goroutine ends when the second round is done.
func (m *memoryReleaser) release() {
	if !m.running.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer m.running.Store(false)
		debug.FreeOSMemory()
		time.Sleep(settle)
		runtime.GC()
		debug.FreeOSMemory()
	}()
}
