package runtimeapi

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Bytes read are charged to the environment's budget until done; a read
// beyond it fails rather than waiting or growing.
func TestBodyReaderChargesBudget(t *testing.T) {
	b := &budget{free: 100}
	rc := http.NewResponseController(httptest.NewRecorder())
	first := &bodyReader{r: strings.NewReader(strings.Repeat("a", 60)), rc: rc, b: b}
	if got, err := io.ReadAll(first); err != nil || len(got) != 60 {
		t.Fatalf("ReadAll(60 bytes) = %d bytes, %v; want 60, nil", len(got), err)
	}
	if b.free != 40 {
		t.Errorf("budget after reading 60 of 100 = %d; want 40", b.free)
	}
	second := &bodyReader{r: strings.NewReader(strings.Repeat("b", 60)), rc: rc, b: b}
	got, err := io.ReadAll(second)
	if !errors.Is(err, errBudget) || len(got) != 40 {
		t.Errorf("ReadAll(60 more) = %d bytes, %v; want 40 bytes, errBudget", len(got), err)
	}
	first.done()
	second.done()
	if b.free != 100 {
		t.Errorf("budget after both are done = %d; want 100", b.free)
	}
	// A reader that only discards is not charged.
	discard := &bodyReader{r: strings.NewReader(strings.Repeat("c", 500)), rc: rc, b: b}
	discard.uncharge()
	if n, err := io.Copy(io.Discard, discard); err != nil || n != 500 {
		t.Errorf("discarding 500 bytes = %d, %v; want 500, nil", n, err)
	}
	if b.free != 100 {
		t.Errorf("budget after discarding = %d; want 100", b.free)
	}
}
