package runtimeapi

import (
	"bytes"
	"sync"
)

// Buffers for response bodies are pooled: a 6 MB response allocated afresh
// on every invocation costs tens of milliseconds on this class of machine.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooled bounds the buffers kept for reuse, so a burst of large
// responses does not pin memory forever.
const maxPooled = 8 << 20

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b == nil || b.Cap() > maxPooled {
		return
	}
	b.Reset()
	buffers.Put(b)
}
