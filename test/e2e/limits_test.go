package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// procStatus returns a field of /proc/<pid>/status in bytes (VmRSS,
// VmHWM, ...).
func procStatus(t testing.TB, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// createBody is a CreateFunction request for the Go function with a
// further incompressible file of size bytes in its package.
func createBody(name string, zip []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"FunctionName":%q,"Role":"arn:aws:iam::000000000000:role/r","Runtime":"provided.al2023","Handler":"bootstrap","Code":{"ZipFile":"`, name)
	enc := base64.NewEncoder(base64.StdEncoding, &b)
	enc.Write(zip)
	enc.Close()
	b.WriteString(`"}}`)
	return b.Bytes()
}

// TestUploadMemoryBounded sends eight ~40 MB CreateFunction requests at
// once and checks that the server's memory does not grow with them: the
// packages go to disk as they arrive, and at most a few are taken at
// once (the rest are refused with 429 and may be retried).
func TestUploadMemoryBounded(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory makes RSS meaningless")
	}
	s := startServer(t, "", "--isolation", "process")
	pid := s.cmd.Process.Pid
	filler := make([]byte, 30<<20)
	rand.Read(filler)
	zip := zipFiles(map[string]zipFile{"bootstrap": {data: goFnBin, mode: 0o755}, "filler": {data: filler}})
	before := procStatus(t, pid, "VmRSS")

	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		body := createBody(fmt.Sprintf("big%d", i), zip)
		wg.Go(func() {
			resp, err := s.post(t, "/2015-03-31/functions", "application/json", body)
			if err != nil {
				t.Errorf("create big%d: %v", i, err)
				return
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
			if resp.StatusCode != 201 && resp.StatusCode != 429 {
				t.Errorf("create big%d = %d %s; want 201 or 429", i, resp.StatusCode, msg)
			}
		})
	}
	wg.Wait()
	created := 0
	for _, c := range codes {
		if c == 201 {
			created++
		}
	}
	if created < 4 {
		t.Errorf("%d of 8 creates succeeded (%v); want at least 4", created, codes)
	}
	// Activation fetches and unpacks each package too.
	for i, c := range codes {
		if c == 201 {
			w := lambda.NewFunctionActiveV2Waiter(s.Client, func(o *lambda.FunctionActiveV2WaiterOptions) {
				o.MinDelay, o.MaxDelay = 50*time.Millisecond, 200*time.Millisecond
			})
			if err := w.Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(fmt.Sprintf("big%d", i))}, time.Minute); err != nil {
				t.Fatalf("waiting for big%d to be active: %v", i, err)
			}
		}
	}
	peak := procStatus(t, pid, "VmHWM")
	t.Logf("RSS before %d MB, peak %d MB", before>>20, peak>>20)
	if grew := peak - before; grew > 300<<20 {
		t.Errorf("server's peak RSS grew by %d MB for 8 uploads of %d MB; want < 300 MB", grew>>20, len(zip)>>20)
	}
}

// TestOversizedBodyRefusedAtOnce declares a 100 MB body and sends only its
// start: the server must answer 413 from the Content-Length alone.
func TestOversizedBodyRefusedAtOnce(t *testing.T) {
	s := startServer(t, "", "--isolation", "process")
	s.create(t, "f", goFn())
	for _, tt := range []struct{ path, want string }{
		{"/2015-03-31/functions", "Request must be smaller than 70167211 bytes for the CreateFunction operation"},
		{"/2015-03-31/functions/f/code", "Request must be smaller than 70167211 bytes for the UpdateFunctionCode operation"},
		{"/2015-03-31/functions/f/configuration", "Request must be smaller than"},
		{"/2015-03-31/functions/f/invocations", "104857600 byte payload is too large for the RequestResponse invocation type (limit 6291456 bytes)"},
	} {
		method := "POST"
		if strings.HasSuffix(tt.path, "/code") || strings.HasSuffix(tt.path, "/configuration") {
			method = "PUT"
		}
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n", method, tt.path, s.authLines(method, tt.path), 100<<20)
		conn.Write([]byte(`{"Code":{"ZipFile":"`))
		conn.Write(bytes.Repeat([]byte("A"), 1<<20))
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Errorf("%s %s with 100 MB declared: no answer without the body: %v", method, tt.path, err)
			continue
		}
		msg, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 413 || !strings.Contains(string(msg), tt.want) {
			t.Errorf("%s %s with 100 MB declared = %d %s; want 413 %q", method, tt.path, resp.StatusCode, msg, tt.want)
		}
	}
}

// TestUnsizedOversizedBody sends a 100 MB CreateFunction body without a
// Content-Length (chunked): the server reads no more than the limit, and
// not into memory, before it answers 413.
func TestUnsizedOversizedBody(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory makes RSS meaningless")
	}
	s := startServer(t, "", "--isolation", "process")
	before := procStatus(t, s.cmd.Process.Pid, "VmRSS")
	body := io.MultiReader(strings.NewReader(`{"FunctionName":"f","Code":{"ZipFile":"`), io.LimitReader(repeatByte('A'), 100<<20))
	req, err := http.NewRequest("POST", s.URL+"/2015-03-31/functions", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked
	s.sign(req, nil)       // the key and time hold; the body's hash is never reached
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "Request must be smaller than 70167211 bytes for the CreateFunction operation"; resp.StatusCode != 413 || !strings.Contains(string(msg), want) {
		t.Errorf("chunked 100 MB CreateFunction = %d %s; want 413 %q", resp.StatusCode, msg, want)
	}
	peak := procStatus(t, s.cmd.Process.Pid, "VmHWM")
	t.Logf("RSS before %d MB, peak %d MB", before>>20, peak>>20)
	if grew := peak - before; grew > 50<<20 {
		t.Errorf("server's peak RSS grew by %d MB reading a chunked 100 MB body; want < 50 MB", grew>>20)
	}
	if left, _ := os.ReadDir(filepath.Join(s.DataDir, "uploads")); len(left) != 0 {
		t.Errorf("%d uploads left behind after the 413", len(left))
	}
}

// repeatByte reads its byte forever.
type repeatByte byte

func (c repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// TestSlowBodyTimesOut sends headers and then trickles the body, slower
// than --body-read-timeout allows: the server must close the connection
// instead of holding it open for as long as the client likes.
func TestSlowBodyTimesOut(t *testing.T) {
	s := startServer(t, "", "--isolation", "process", "--body-read-timeout", "2s")
	f := goFn()
	f.timeout = 10
	s.create(t, "echo", f)
	// An invocation that runs longer than the body timeout (3 s), its body read,
	// is not cut off: the deadline ends with the body.
	if r := s.invoke(t, "echo", map[string]any{"op": "sleep", "ms": 3000}); r.Status != 200 || r.FunctionError != "" {
		t.Errorf("3 s invocation with a 2 s body timeout = %d %s %s; want 200", r.Status, r.FunctionError, r.Payload)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: 100000\r\n\r\n{", s.authLines("POST", "/2015-03-31/functions/echo/invocations"))
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		io.Copy(io.Discard, conn) // until the server closes
		closed <- time.Since(start)
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case took := <-closed:
			if took < 1500*time.Millisecond {
				t.Errorf("connection closed after %v; want it kept for the 2 s body read timeout", took)
			}
			return
		case <-tick.C:
			if time.Since(start) > 20*time.Second {
				t.Fatal("a body trickled at 5 bytes a second is still being read after 20 s; want the connection closed after 2 s")
			}
			conn.Write([]byte(" ")) // progress, but too little
		}
	}
}

// TestIdleConnectionClosed checks that a kept-alive connection that sends
// nothing more is closed after --http-idle-timeout.
func TestIdleConnectionClosed(t *testing.T) {
	s := startServer(t, "", "--isolation", "process", "--http-idle-timeout", "1s")
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, err = br.ReadByte()
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("idle connection still open after 15 s; want it closed after 1 s")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("idle connection closed after %v; want about 1 s", took)
	}
}
