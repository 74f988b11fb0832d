package async

import "testing"

// A notice decodes to what was encoded, and anything else is refused or
// decodes to a notice that encodes back to the same bytes.
func FuzzLedgerNotice(f *testing.F) {
	f.Add(notice{kind: noticeAdd, sender: 7, seq: 42, size: 300, account: "000000000000"}.encode())
	f.Add(notice{kind: noticeRemove, sender: 1<<63 + 5, seq: 1, size: 256, account: "default"}.encode())
	f.Add([]byte("r"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeNotice(b)
		if err != nil {
			return
		}
		if got := string(n.encode()); got != string(b) {
			t.Fatalf("decoded %+v encodes to %q, want %q", n, got, b)
		}
	})
}
