package api

import (
	"runtime"
	"runtime/debug"
	"sync"
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
// The goroutine, counted in tasks, ends when the second round is done or
// when quit closes (the server stopping), whichever is first.
func (m *memoryReleaser) release(quit <-chan struct{}, tasks *sync.WaitGroup) {
	if !m.running.CompareAndSwap(false, true) {
		return
	}
	tasks.Add(1)
	go func() {
		defer tasks.Done()
		defer m.running.Store(false)
		debug.FreeOSMemory()
		t := time.NewTimer(settle)
		defer t.Stop()
		select {
		case <-t.C:
		case <-quit:
			return
		}
		runtime.GC()
		debug.FreeOSMemory()
	}()
}
