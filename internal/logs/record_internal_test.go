package logs

import (
	"bytes"
	"testing"
	"time"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		line        string
		ms          int64
		stream, msg string
		ok          bool
	}{
		{"2026-11-30T19:50:17.123Z\t2026/11/30/[$LATEST]abc\thello\tworld", 1796068217123, "2026/11/30/[$LATEST]abc", "hello\tworld", true},
		{"2026-11-30T19:50:17.123Z\ts\t", 1796068217123, "s", "", true},
		{"2025-01-01T00:00:00.000Z secret", 1735689600000, legacyStream, "secret", true},
		{"2025-01-01T00:00:00.000Z ", 1735689600000, legacyStream, "", true},
		{"#hearth-log 2 0", 0, "", "", false},
		{"2025-01-01T00:00:00.000Z\t\tno stream", 0, "", "", false},
		{"2025-01-01T00:00:00.000Z\tno tab", 0, "", "", false},
		{"2025-13-01T00:00:00.000Z x", 0, "", "", false},
		{"2025-01-01T00:00:0", 0, "", "", false},
		// A Lambda line keeps the newline it ended in.
		{"2026-11-30T19:50:17.123Z|s\tEND RequestId: 1", 1796068217123, "s", "END RequestId: 1\n", true},
		{"2026-11-30T19:50:17.123Z\\s\tx seconds\\n\\n", 1796068217123, "s", "x seconds\n\n", true},
		{"2026-11-30T19:50:17.123Z|\tno stream", 0, "", "", false},
	}
	for _, tt := range tests {
		ms, stream, msg, ok := parseRecord([]byte(tt.line + "\n"))
		if ok != tt.ok || ok && (ms != tt.ms || string(stream) != tt.stream || string(msg) != tt.msg) {
			t.Errorf("parseRecord(%q) = %d, %q, %q, %v; want %d, %q, %q, %v", tt.line, ms, stream, msg, ok, tt.ms, tt.stream, tt.msg, tt.ok)
		}
	}
}

// FuzzParseRecord checks that parseRecord survives any line, and that a
// record appendRecord wrote parses back to its fields.
func FuzzParseRecord(f *testing.F) {
	f.Add([]byte("2026-11-30T19:50:17.123Z\t2026/11/30/[$LATEST]abc\thello"), int64(1796241017123), "2026/11/30/[1]x", "msg")
	f.Add([]byte("2025-01-01T00:00:00.000Z secret"), int64(0), "s", "")
	f.Add([]byte("#hearth-log 2 12"), int64(-1), "\t", "a\nb")
	f.Add([]byte("2026-11-30T19:50:17.123Z|s\tx\n"), int64(1), "s", "START RequestId: 1\n")
	f.Add([]byte("2026-11-30T19:50:17.123Z\\s\tx\\n\n"), int64(1), "s", "timed out\n\n")
	f.Fuzz(func(t *testing.T, line []byte, ms int64, stream, msg string) {
		parseRecord(line)
		parseHeader(line)
		if ms < 0 || ms > 253402300799999 || stream == "" || bytes.ContainsAny([]byte(stream), "\t\n") {
			return
		}
		rec := appendRecord(nil, time.UnixMilli(ms), stream, []byte(msg))
		if rec[len(rec)-1] != '\n' || bytes.Count(rec, []byte{'\n'}) != 1 {
			t.Fatalf("appendRecord(%d, %q, %q) = %q; want one line", ms, stream, msg, rec)
		}
		gotMS, gotStream, gotMsg, ok := parseRecord(rec)
		if !ok || gotMS != ms || string(gotStream) != stream || string(gotMsg) != msg {
			t.Fatalf("parseRecord(appendRecord(%d, %q, %q)) = %d, %q, %q, %v", ms, stream, msg, gotMS, gotStream, gotMsg, ok)
		}
	})
}
