package cluster

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// Records come back as written, in order; an answer cut anywhere before
// its end is io.ErrUnexpectedEOF (a lost worker), never a clean end; an
// oversized record is refused before it is read.
func TestRecords(t *testing.T) {
	var buf bytes.Buffer
	want := []struct {
		typ  byte
		data string
	}{{recBegin, "text/plain"}, {recChunk, "one"}, {recChunk, ""}, {recChunk, "two"}, {recResult, "end"}}
	for _, r := range want {
		if err := writeRecord(&buf, r.typ, []byte(r.data)); err != nil {
			t.Fatal(err)
		}
	}
	raw := buf.Bytes()
	br := bufio.NewReader(bytes.NewReader(raw))
	var b []byte
	for i, w := range want {
		typ, data, err := readRecord(br, b)
		if err != nil || typ != w.typ || string(data) != w.data {
			t.Fatalf("record %d = %q %q %v; want %q %q", i, typ, data, err, w.typ, w.data)
		}
		b = data
	}
	if _, _, err := readRecord(br, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read past the last record = %v; want io.ErrUnexpectedEOF", err)
	}
	for cut := range len(raw) {
		br := bufio.NewReader(bytes.NewReader(raw[:cut]))
		var err error
		for err == nil {
			_, _, err = readRecord(br, nil)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("answer cut at %d: %v; want io.ErrUnexpectedEOF", cut, err)
		}
	}
	var h [5]byte
	h[0] = recChunk
	binary.BigEndian.PutUint32(h[1:], maxRecord+1)
	if _, _, err := readRecord(bufio.NewReader(bytes.NewReader(h[:])), nil); !errors.Is(err, errWireRecord) {
		t.Errorf("oversized record: %v; want errWireRecord", err)
	}
}
