package cluster

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/function"
)

// A frame carries its header and payload unchanged, a 6 MB payload
// included; a payload beyond the limit, a truncated frame and an
// oversized header are refused.
func TestFrame(t *testing.T) {
	payload := bytes.Repeat([]byte("p"), 6<<20)
	in := invokeMeta{Function: function.Config{Account: "000000000000", Name: "f", Version: "$LATEST", MemorySize: 128,
		Environment: map[string]string{"A": "1"}}, RequestID: "r", ClientContext: `{"x":1}`, TraceID: "t"}
	var buf bytes.Buffer
	if err := writeFrame(&buf, in, payload); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	var got invokeMeta
	p, err := readFrame(bytes.NewReader(raw), &got, maxFrame)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("header (-sent +read):\n%s", diff)
	}
	if !bytes.Equal(p, payload) {
		t.Errorf("payload of %d bytes read back as %d bytes", len(payload), len(p))
	}
	if _, err := readFrame(bytes.NewReader(raw), &got, 1<<20); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("readFrame with a 1 MiB limit = %v, want too large", err)
	}
	if _, err := readFrame(bytes.NewReader(raw[:10]), &got, maxFrame); err == nil {
		t.Errorf("readFrame of a truncated frame = nil error")
	}
	if _, err := readFrame(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff}), &got, maxFrame); err == nil {
		t.Errorf("readFrame of a 4 GiB header = nil error")
	}
}

// Keys name a function version; two versions of a function differ.
func TestKey(t *testing.T) {
	if Key("1", "f", "1") == Key("1", "f", "2") || Key("1", "f", "1") == Key("2", "f", "1") {
		t.Error("keys of different versions or accounts collide")
	}
}
