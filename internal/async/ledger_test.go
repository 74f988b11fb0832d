package async

import (
	"runtime"
	"testing"
)

// The ledger counts each event once, whichever of its publish and its
// removal is reported first and however often.
func TestLedgerCountsEachEventOnce(t *testing.T) {
	l := newLedger()
	l.add(1, "a", 100)
	l.add(1, "a", 100) // reported twice (a scan and a publish)
	l.add(2, "a", 50)
	l.remove(3, "b", 70) // settled before its publish was recorded
	l.add(3, "b", 70)
	l.add(5000, "b", 30) // another chunk of sequences
	if got, want := l.bytes("a"), int64(150); got != want {
		t.Errorf("bytes(a) = %d, want %d", got, want)
	}
	if got, want := l.bytes("b"), int64(30); got != want {
		t.Errorf("bytes(b) = %d, want %d", got, want)
	}
	l.remove(1, "a", 100)
	l.remove(1, "a", 100) // removal reported twice
	l.remove(5000, "b", 30)
	if got, want := l.bytes("a"), int64(50); got != want {
		t.Errorf("bytes(a) after removals = %d, want %d", got, want)
	}
	if got, want := l.bytes("b"), int64(0); got != want {
		t.Errorf("bytes(b) after removals = %d, want %d", got, want)
	}
	if got, want := l.accounts["a"].events, 1; got != want {
		t.Errorf("events(a) = %d, want %d", got, want)
	}
	if got, want := l.live.len(), 1; got != want {
		t.Errorf("live sequences = %d, want %d", got, want)
	}
	// The second removal of 1 is remembered as gone; nothing else is.
	if got, want := l.gone.len(), 1; got != want {
		t.Errorf("gone sequences = %d, want %d", got, want)
	}
}

// A million queued events cost the ledger about a bit each, not a map
// entry each (which took tens of bytes per event: tens of MB for
// millions).
func TestLedgerMemoryPerEvent(t *testing.T) {
	const n = 1 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := newLedger()
	for seq := uint64(1); seq <= n; seq++ {
		l.add(seq, "000000000000", 300)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEvent := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
	t.Logf("%.2f bytes per queued event", perEvent)
	if perEvent > 1 {
		t.Errorf("the ledger holds %.1f bytes per queued event; want at most 1", perEvent)
	}
	if got, want := l.bytes("000000000000"), int64(n*300); got != want {
		t.Errorf("bytes = %d, want %d", got, want)
	}
	for seq := uint64(1); seq <= n; seq++ {
		l.remove(seq, "000000000000", 300)
	}
	if got := len(l.live.chunks); got != 0 {
		t.Errorf("%d chunks of sequences left after every event was removed; want 0", got)
	}
	runtime.KeepAlive(l)
}
