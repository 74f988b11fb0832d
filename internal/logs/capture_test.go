package logs_test

import (
	"bytes"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/logs"
)

func newStore(t testing.TB, max int64) *logs.Store {
	t.Helper()
	s, err := logs.NewStore(logs.Config{Dir: t.TempDir(), MaxBytes: max}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Output a process wrote before it "answered" lands in that invocation's
// tail, however quickly the answer follows, because Flush drains the pipe.
func TestFlushAttributesEverythingWrittenBefore(t *testing.T) {
	s := newStore(t, 0)
	c, w, err := logs.NewCapture(s.Function("f"), testStream)
	if err != nil {
		t.Fatal(err)
	}
	go c.Run()
	defer c.Close()
	for i := range 50 {
		// The writer is this process: the write is complete before Flush.
		w.Write([]byte(strings.Repeat("x", i) + "line\nno newline"))
		c.Flush()
		c.Platform("END")
		tail := string(c.Tail())
		want := strings.Repeat("x", i) + "line\nno newline\nEND\n"
		if tail != want {
			t.Fatalf("round %d: Tail() = %q; want %q", i, tail, want)
		}
	}
	w.Close()
}

func TestCaptureFromChildProcess(t *testing.T) {
	s := newStore(t, 0)
	fl := s.Function("g")
	c, w, err := logs.NewCapture(fl, testStream)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "echo one; echo two >&2; printf three")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go c.Run()
	cmd.Wait()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end at EOF")
	}
	if got := string(c.Tail()); got != "one\ntwo\nthree\n" {
		t.Errorf("Tail() = %q", got)
	}
	var buf bytes.Buffer
	if err := fl.WriteTail(&buf, 0); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[2], " three") {
		t.Errorf("stored log = %q; want 3 timestamped lines", buf.String())
	}
	if _, err := time.Parse(logs.TimeFormat, strings.Fields(lines[0])[0]); err != nil {
		t.Errorf("stored line %q lacks a timestamp: %v", lines[0], err)
	}
}

// Events keep the newline the function's line ended in, and Text
// platform lines theirs, as GetLogEvents shows Lambda's (output flushed
// before its newline has none); JSON records and events put by
// PutLogEvents are stored as given. Invoke's tail, WriteTail and
// followers still show one line per event.
func TestEventsKeepTheirNewlines(t *testing.T) {
	s := newStore(t, 0)
	fl := s.Function("n")
	c, w, err := logs.NewCapture(fl, testStream)
	if err != nil {
		t.Fatal(err)
	}
	go c.Run()
	defer c.Close()
	defer w.Close()
	ch, stop := fl.Follow()
	defer stop()
	text, js := logs.NewPlatform("Text", ""), logs.NewPlatform("JSON", "")
	c.Platform(text.Start("id", "$LATEST", logs.Tracing{}))
	w.Write([]byte("printed\n{\"level\":\"INFO\",\"message\":\"hi\"}\nno newline"))
	c.Flush()
	c.Platform(text.Timeout("id", time.Date(2019, 12, 10, 19, 17, 21, 789e6, time.UTC), 3*time.Second))
	c.Platform(text.Extension("ext", "Ready", []string{"INVOKE"}, ""))
	c.Platform(js.Start("id", "$LATEST", logs.Tracing{}))
	fl.Put(testStream, []logs.Event{{Time: time.Now().UnixMilli(), Message: "put\n"}, {Time: time.Now().UnixMilli(), Message: "verbatim"}})
	var got []string
	if err := fl.Scan(0, func(r logs.Record) bool { got = append(got, string(r.Message)); return true }); err != nil {
		t.Fatal(err)
	}
	jsonStart := got[len(got)-3]
	want := []string{"START RequestId: id Version: $LATEST\n", "printed\n", "{\"level\":\"INFO\",\"message\":\"hi\"}\n", "no newline",
		"2019-12-10T19:17:21.789Z id Task timed out after 3.00 seconds\n\n", "EXTENSION\tName: ext\tState: Ready\tEvents: [INVOKE]\n",
		jsonStart, "put\n", "verbatim"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored messages (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(jsonStart, `{"time":`) || !strings.HasSuffix(jsonStart, "}") {
		t.Errorf("JSON record stored as %q; want it without a newline", jsonStart)
	}
	wantTail := "START RequestId: id Version: $LATEST\nprinted\n{\"level\":\"INFO\",\"message\":\"hi\"}\nno newline\n" +
		"2019-12-10T19:17:21.789Z id Task timed out after 3.00 seconds\nEXTENSION\tName: ext\tState: Ready\tEvents: [INVOKE]\n" + jsonStart + "\n"
	if tail := string(c.Tail()); tail != wantTail {
		t.Errorf("Tail() = %q; want %q", tail, wantTail)
	}
	var buf bytes.Buffer
	if err := fl.WriteTail(&buf, 0); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != len(want) || strings.Contains(buf.String(), "\n\n") {
		t.Errorf("WriteTail() = %q; want %d lines, none empty", buf.String(), len(want))
	}
	for range want {
		select {
		case line := <-ch:
			if strings.Count(string(line), "\n") != 1 {
				t.Errorf("followed line %q; want one line", line)
			}
		case <-time.After(time.Second):
			t.Fatal("follower got too little")
		}
	}
}

func TestTailIsBounded(t *testing.T) {
	s := newStore(t, 0)
	c, w, _ := logs.NewCapture(s.Function("h"), testStream)
	go c.Run()
	defer c.Close()
	defer w.Close()
	for range 100 {
		c.Platform(strings.Repeat("y", 99))
	}
	c.Platform("last")
	tail := c.Tail()
	if len(tail) != logs.TailSize || !strings.HasSuffix(string(tail), "last\n") {
		t.Errorf("Tail() = %d bytes ending %q; want %d ending in last", len(tail), tail[len(tail)-10:], logs.TailSize)
	}
}

func TestFunctionLogIsBoundedAndFollowable(t *testing.T) {
	s := newStore(t, 4096)
	fl := s.Function("r")
	c, w, _ := logs.NewCapture(fl, testStream)
	go c.Run()
	defer c.Close()
	defer w.Close()
	ch, stop := fl.Follow()
	defer stop()
	for i := range 500 {
		c.Platform("line " + strings.Repeat("z", i%50))
	}
	var buf bytes.Buffer
	fl.WriteTail(&buf, 0)
	if buf.Len() > 4096 || buf.Len() == 0 {
		t.Errorf("stored log is %d bytes; want 1..4096", buf.Len())
	}
	buf.Reset()
	fl.WriteTail(&buf, 2)
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Errorf("WriteTail(2) wrote %d lines", n)
	}
	select {
	case line := <-ch:
		if !strings.HasSuffix(string(line), " line \n") {
			t.Errorf("first followed line = %q", line)
		}
	case <-time.After(time.Second):
		t.Fatal("follower got nothing")
	}
}

func TestReportLine(t *testing.T) {
	r := logs.Report{RequestID: "id", Duration: 15740 * time.Microsecond, MemoryMB: 128,
		MaxMemoryUsed: 56 << 20, InitDuration: 130490 * time.Microsecond}
	// lambda-api.md §7.1's example, billed as Lambda does since August
	// 2025: the init with the invocation (15.74 + 130.49 ms, rounded up).
	want := "REPORT RequestId: id\tDuration: 15.74 ms\tBilled Duration: 147 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\tInit Duration: 130.49 ms\t\n"
	if got := r.Line(); got != want {
		t.Errorf("Line() = %q; want %q", got, want)
	}
	// The newer service's line with a Status ends after it, without a tab.
	r = logs.Report{RequestID: "id", Duration: 3 * time.Second, MemoryMB: 128, MaxMemoryUsed: 1, Status: "timeout"}
	if got := r.Line(); !strings.HasSuffix(got, "Max Memory Used: 1 MB\tStatus: timeout\n") || !strings.Contains(got, "Billed Duration: 3000 ms") {
		t.Errorf("Line() = %q", got)
	}
	r = logs.Report{RequestID: "id", Duration: 3 * time.Second, MemoryMB: 128, MaxMemoryUsed: 1, Status: "error", ErrorType: "Runtime.ExitError"}
	if got := r.Line(); !strings.HasSuffix(got, "Max Memory Used: 1 MB\tStatus: error\tError Type: Runtime.ExitError\n") {
		t.Errorf("Line() = %q", got)
	}
	if got := logs.TimeoutLine("id", time.Date(2019, 12, 10, 19, 17, 21, 789e6, time.UTC), 3*time.Second); got != "2019-12-10T19:17:21.789Z id Task timed out after 3.00 seconds\n\n" {
		t.Errorf("TimeoutLine() = %q", got)
	}
}

// An environment that fails to start never runs its Capture: Close must
// not wait for a Run that never comes, and a late Run must not block.
func TestCloseWithoutRun(t *testing.T) {
	s := newStore(t, 0)
	c, w, err := logs.NewCapture(s.Function("f"), testStream)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	closed := make(chan struct{})
	go func() {
		c.Close()
		c.Close() // idempotent
		c.Run()   // returns at once after Close
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close() without Run did not return within 5s")
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done() still open after Close()")
	}
}

// testStream is the log stream the tests' lines belong to.
const testStream = "2026/11/30/[$LATEST]0123456789abcdef0123456789abcdef"
