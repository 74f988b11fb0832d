package cluster

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Entries come back from a batch as appended, binary text included; a
// truncated batch is refused, and names that could leave the log
// directory are not safe.
func TestLogBatch(t *testing.T) {
	type entry struct {
		Name, Stream, Text string
		MS                 int64
	}
	in := []entry{
		{"f", "2026/12/01/[$LATEST]abc", "hello 0", time.Date(2026, 12, 1, 2, 3, 4, 5e6, time.UTC).UnixMilli()},
		{"123456789012.g", "s", "", 1},
		{"f", "s", "\x00\xff binary\ttext", -1},
	}
	msg := append([]byte{4}, "node"...)
	for _, e := range in {
		msg = appendEntry(msg, e.Name, e.Stream, e.MS, []byte(e.Text))
	}
	var got []entry
	node, err := decodeBatch(msg, func(e logEntry) {
		got = append(got, entry{string(e.name), string(e.stream), string(e.text), e.ms})
	})
	if err != nil || node != "node" {
		t.Fatalf("decodeBatch = %q, %v", node, err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("entries (-appended +decoded):\n%s", diff)
	}
	// A batch cut inside an entry is refused; cut between entries it
	// is a shorter batch.
	ends := map[int]bool{5: true}
	for b, n := msg[5:], 5; len(b) > 0; {
		m, err := entryLen(b)
		if err != nil {
			t.Fatal(err)
		}
		n += m
		ends[n] = true
		b = b[m:]
	}
	for cut := 5; cut < len(msg); cut++ {
		_, err := decodeBatch(msg[:cut], func(logEntry) {})
		if ends[cut] != (err == nil) {
			t.Errorf("batch cut at %d (between entries: %v): %v", cut, ends[cut], err)
		}
	}
	for name, want := range map[string]bool{"f": true, "123456789012.g": true, "": false, "..": false, ".hidden": false, "a/../../etc": false, "a\\b": false, "a\x00": false} {
		if got := safeLogName([]byte(name)); got != want {
			t.Errorf("safeLogName(%q) = %v, want %v", name, got, want)
		}
	}
}

// A shipper's batches stay within the limit, cut between entries, and
// its buffer is bounded: past it lines are dropped and counted.
func TestShipperBounds(t *testing.T) {
	s := &LogShipper{kick: make(chan struct{}, 1)}
	line := bytes.Repeat([]byte("x"), 1000)
	n := 0
	for len(s.buf) < shipBuffer-2000 {
		s.Tee("f", "s", time.UnixMilli(int64(n)), line)
		n++
	}
	for range 10 {
		s.Tee("f", "s", time.Now(), line)
	}
	if s.dropped == 0 || len(s.buf) > shipBuffer {
		t.Errorf("buffer %d bytes, %d dropped; want at most %d bytes and drops", len(s.buf), s.dropped, shipBuffer)
	}
	// Cut as publish cuts: every batch within shipBatch, no entry lost.
	b, total := s.buf, 0
	for len(b) > 0 {
		size, err := cutBatch(b, shipBatch)
		if err != nil {
			t.Fatal(err)
		}
		if size > shipBatch || size == 0 {
			t.Fatalf("a batch of %d bytes", size)
		}
		k := 0
		if _, err := decodeBatch(append([]byte{0}, b[:size]...), func(logEntry) { k++ }); err != nil {
			t.Fatal(err)
		}
		total += k
		b = b[size:]
	}
	if want := n + 10 - s.dropped; total != want {
		t.Errorf("batches hold %d entries, want %d", total, want)
	}
}
