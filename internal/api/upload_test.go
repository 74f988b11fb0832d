package api

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSplitterStreamsZipFile checks that the splitter takes out exactly the
// member at its path, decodes it as json.Unmarshal would decode a []byte,
// and leaves the rest of the body as it was, whatever the reader's buffer
// size (16 bytes cuts every escape and quote apart somewhere).
func TestSplitterStreamsZipFile(t *testing.T) {
	zip := bytes.Repeat([]byte("PK\x03\x04 zip bytes/with+slashes?? "), 50)
	b64 := base64.StdEncoding.EncodeToString(zip)
	escaped := strings.ReplaceAll(b64, "/", `\/`) // as PHP and some Java encoders write it
	unicode := strings.ReplaceAll(b64, "+", `\u002b`)
	for _, tt := range []struct {
		name, body, wantRest string
		path                 []string
		wantZip              []byte
	}{
		{"create", `{"FunctionName":"f","Code":{"ZipFile":"` + b64 + `"},"Tags":{"a":"b"}}`,
			`{"FunctionName":"f","Code":{"ZipFile":""},"Tags":{"a":"b"}}`, []string{"Code", "ZipFile"}, zip},
		{"escaped slashes", `{"ZipFile":"` + escaped + `"}`, `{"ZipFile":""}`, []string{"ZipFile"}, zip},
		{"unicode escapes", `{"ZipFile":"` + unicode + `"}`, `{"ZipFile":""}`, []string{"ZipFile"}, zip},
		{"white space", " {\n \"ZipFile\" : \"" + b64 + "\" ,\"X\":[1, true,null,{\"ZipFile\":\"AAAA\"}] }\n",
			" {\n \"ZipFile\" : \"\" ,\"X\":[1, true,null,{\"ZipFile\":\"AAAA\"}] }\n", []string{"ZipFile"}, zip},
		{"elsewhere only", `{"Environment":{"ZipFile":"AAAA"},"Description":"say \"ZipFile\": \\"}`,
			`{"Environment":{"ZipFile":"AAAA"},"Description":"say \"ZipFile\": \\"}`, []string{"ZipFile"}, nil},
		{"not a string", `{"ZipFile":null}`, `{"ZipFile":null}`, []string{"ZipFile"}, nil},
		{"empty string", `{"ZipFile":""}`, `{"ZipFile":""}`, []string{"ZipFile"}, nil},
		{"empty body", "  ", "{}", []string{"ZipFile"}, nil},
		{"malformed", `{"ZipFile":"AAAA" "x":1}`, `{"ZipFile":"" "x":1}`, []string{"ZipFile"}, []byte{0, 0, 0}},
	} {
		for _, size := range []int{16, 64 << 10} {
			s := &splitter{br: bufio.NewReaderSize(strings.NewReader(tt.body), size), path: tt.path, dir: t.TempDir()}
			rest, err := s.split()
			if err != nil {
				t.Fatalf("%s/%d: split = %v", tt.name, size, err)
			}
			if string(rest) != tt.wantRest {
				t.Errorf("%s/%d: rest = %s; want %s", tt.name, size, rest, tt.wantRest)
			}
			var got []byte
			if s.up != nil {
				if got, err = os.ReadFile(s.up.path); err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(got)
				if want := base64.StdEncoding.EncodeToString(sum[:]); s.up.sha != want || s.up.size != int64(len(got)) {
					t.Errorf("%s/%d: upload sha %s size %d; want %s %d", tt.name, size, s.up.sha, s.up.size, want, len(got))
				}
				s.up.remove()
			}
			if diff := cmp.Diff(tt.wantZip, got); diff != "" {
				t.Errorf("%s/%d: zip (-want +got):\n%s", tt.name, size, diff)
			}
		}
	}
}

// TestSplitterRefusesBadBase64 checks that a ZipFile that is not base64
// fails as json.Unmarshal fails it, and leaves no file behind.
func TestSplitterRefusesBadBase64(t *testing.T) {
	for _, zip := range []string{"AA*A", "AAA", "AA==AAAA", "AAAA\\q"} {
		dir := t.TempDir()
		s := &splitter{br: bufio.NewReader(strings.NewReader(`{"ZipFile":"` + zip + `"}`)), path: []string{"ZipFile"}, dir: dir}
		rest, err := s.split()
		if err == nil {
			_, err = jsonObject(rest) // the router's next step
		}
		var want struct{ ZipFile []byte }
		werr := json.Unmarshal([]byte(`{"ZipFile":"`+zip+`"}`), &want)
		if err == nil || werr == nil {
			t.Errorf("split(%q) = %v, json.Unmarshal = %v; want both to fail", zip, err, werr)
		}
		if !errors.As(err, new(base64.CorruptInputError)) && !errors.As(err, new(*json.SyntaxError)) {
			t.Errorf("split(%q) = %v; want a base64 or syntax error", zip, err)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("split(%q) left %d files behind", zip, len(left))
		}
	}
}

// TestSplitterBoundsMembers checks that what is kept in memory (all but
// the ZipFile) is bounded.
func TestSplitterBoundsMembers(t *testing.T) {
	body := `{"ZipFile":"AAAA","Description":"` + strings.Repeat("x", maxMembers) + `"}`
	s := &splitter{br: bufio.NewReader(strings.NewReader(body)), path: []string{"ZipFile"}, dir: t.TempDir()}
	if _, err := s.split(); !errors.Is(err, errMembersTooLarge) {
		t.Errorf("split of a %d-byte Description = %v; want errMembersTooLarge", maxMembers, err)
	}
	s.up.remove()
}

// TestUploadSlots checks that at most maxUploads large code uploads are
// read at once: the next waits, then is refused with 429; a small one
// needs no slot; a freed slot is taken by a waiting upload.
func TestUploadSlots(t *testing.T) {
	a := testAPI()
	a.uploadWait = 50 * time.Millisecond
	h := a.Handler()
	large := func() *http.Request {
		r := httptest.NewRequest("PUT", "/2015-03-31/functions/f/code", strings.NewReader("{}"))
		r.ContentLength = 10 << 20 // declared; the handler never gets that far
		return r
	}
	var releases []func()
	for i := range maxUploads {
		release, ok := a.takeUploadSlot(httptest.NewRecorder(), large())
		if !ok {
			t.Fatalf("upload %d refused; want %d taken at once", i, maxUploads)
		}
		releases = append(releases, release)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, large())
	if w.Code != 429 || w.Header().Get("X-Amzn-Errortype") != "TooManyRequestsException" || w.Header().Get("Retry-After") == "" {
		t.Errorf("upload past %d = %d %s %v; want 429 TooManyRequestsException with Retry-After", maxUploads, w.Code, w.Body, w.Header())
	}
	if _, ok := a.takeUploadSlot(httptest.NewRecorder(), httptest.NewRequest("PUT", "/", strings.NewReader("{}"))); !ok {
		t.Error("a small upload was refused while the slots were taken")
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		releases[0]()
	}()
	if _, ok := a.takeUploadSlot(httptest.NewRecorder(), large()); !ok {
		t.Error("a waiting upload was refused although a slot was freed meanwhile")
	}
}
