package logs_test

import (
	"strings"
	"testing"

	"hearth/internal/logs"
)

// BenchmarkScanFull reads a full 8 MiB log, as FilterLogEvents does when
// aws logs tail --follow polls without a token.
func BenchmarkScanFull(b *testing.B) {
	s := newStore(b, 0)
	fl := s.Function("f")
	line := strings.Repeat("x", 80)
	for range 8 << 20 / 160 {
		fl.Write(testStream, line)
	}
	var buf strings.Builder
	fl.WriteTail(&buf, 1) // flush
	n := 0
	b.ResetTimer()
	for b.Loop() {
		n = 0
		fl.Scan(0, func(r logs.Record) bool { n++; return true })
	}
	b.ReportMetric(float64(n), "events")
}
