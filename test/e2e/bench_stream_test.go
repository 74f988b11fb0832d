package e2e

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
	"testing"
	"time"

	"hearth/internal/eventstream"
)

// BenchmarkStreamTTFB compares, in one run, the time to the first byte of
// a streamed response (InvokeWithResponseStream: until the first
// PayloadChunk event is in the client's hands) with a direct Invoke round
// trip. The streaming function (Node, awslambda.streamifyResponse) writes
// its first chunk at once and its second 50 ms later:
//
//   - invoke-buffered: Invoke of a buffered Node function (the floor);
//   - stream-first-byte / stream-complete: InvokeWithResponseStream of the
//     streaming function, to its first chunk and to InvokeComplete;
//   - invoke-streaming-fn: plain Invoke of the streaming function, which
//     collects the whole stream (so at least the 50 ms).
func BenchmarkStreamTTFB(b *testing.B) {
	s := benchServer(b)
	c := s.httpClient()
	buffered := nodeFn(b)
	buffered.memory = oneVCPU
	s.create(b, "ttfb-buffered", buffered)
	streaming := nodeStreamFn(b, "index.handler", 10)
	streaming.memory = oneVCPU
	s.create(b, "ttfb-stream", streaming)
	event := []byte(`{"mode":"chunks","n":2,"delay":50}`)
	invokeURL := func(name string) string { return s.URL + "/2015-03-31/functions/" + name + "/invocations" }
	streamURL := s.URL + "/2021-11-15/functions/ttfb-stream/response-streaming-invocations"

	post(b, c, invokeURL("ttfb-buffered"), benchPayload) // cold starts outside the timing
	post(b, c, invokeURL("ttfb-stream"), event)

	b.Run("invoke-buffered", func(b *testing.B) {
		latency(b, func() { post(b, c, invokeURL("ttfb-buffered"), benchPayload) })
	})
	b.Run("invoke-streaming-fn", func(b *testing.B) {
		latency(b, func() { post(b, c, invokeURL("ttfb-stream"), event) })
	})
	b.Run("stream", func(b *testing.B) {
		first := make([]time.Duration, 0, b.N)
		total := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			resp, err := c.Post(streamURL, "application/json", bytes.NewReader(event))
			if err != nil {
				b.Fatal(err)
			}
			if resp.StatusCode != 200 {
				b.Fatalf("InvokeWithResponseStream: %d", resp.StatusCode)
			}
			for seen := false; ; {
				m := readEvent(b, resp.Body)
				typ := m.Get(":event-type")
				if typ == "PayloadChunk" && !seen {
					seen = true
					first = append(first, time.Since(start))
				}
				if typ == "InvokeComplete" {
					total = append(total, time.Since(start))
					break
				}
			}
			resp.Body.Close()
		}
		b.StopTimer()
		slices.Sort(first)
		slices.Sort(total)
		b.ReportMetric(float64(first[len(first)/2].Microseconds()), "first-byte-p50-µs")
		b.ReportMetric(float64(first[len(first)*99/100].Microseconds()), "first-byte-p99-µs")
		b.ReportMetric(float64(total[len(total)/2].Microseconds()), "complete-p50-µs")
		// A first byte that waited for the function's second write (50 ms
		// later) would mean a buffered stream; count them.
		late := 0
		for _, d := range first {
			if d > 40*time.Millisecond {
				late++
			}
		}
		b.ReportMetric(float64(late), "first-byte-over-40ms")
	})
}

// readEvent reads one event stream message from r.
func readEvent(b *testing.B, r io.Reader) eventstream.Message {
	var prelude [12]byte
	if _, err := io.ReadFull(r, prelude[:]); err != nil {
		b.Fatalf("reading an event: %v", err)
	}
	msg := make([]byte, binary.BigEndian.Uint32(prelude[:4]))
	copy(msg, prelude[:])
	if _, err := io.ReadFull(r, msg[12:]); err != nil {
		b.Fatalf("reading an event: %v", err)
	}
	m, _, err := eventstream.Decode(msg)
	if err != nil {
		b.Fatal(err)
	}
	return m
}
