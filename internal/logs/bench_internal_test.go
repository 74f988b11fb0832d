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
	// A line as a function prints it (with its newline, as Lambda keeps
	// it) and one flushed before its newline.
	for _, tt := range []struct {
		name string
		line []byte
	}{{"newline", append(bytes.Repeat([]byte("x"), 80), '\n')}, {"bare", bytes.Repeat([]byte("x"), 80)}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				fl.write(testStream, tt.line)
			}
		})
	}
}
