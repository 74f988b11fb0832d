package logs

import (
	"bytes"
	"log/slog"
	"testing"
)

// BenchmarkWrite is the invocation path's cost per line of output:
// append to memory under the log's lock.
func BenchmarkWrite(b *testing.B) {
	s, err := NewStore(Config{Dir: b.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fl := s.Function("f")
	line := bytes.Repeat([]byte("x"), 80)
	b.ReportAllocs()
	for b.Loop() {
		fl.write(testStream, line)
	}
}
