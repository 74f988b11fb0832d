package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// goldenCase is one exchange of testdata/golden/*.json: a raw request and
// AWS's answer to it, either an error (status, code, message) or the shape
// of a success.
//
// Strings may hold placeholders: {{zip}} is the base64 of the Go test
// function's zip, {{c*N}} the character c repeated N times. In a shape,
// "*" matches any value (it must be present) and a string starting with
// "~" is a regular expression; objects must have exactly the expected keys.
type goldenCase struct {
	Name   string `json:"name"`
	Source string `json:"source"` // where the expected answer comes from
	// WaitActive names a function to wait for before the request.
	WaitActive string `json:"waitActive,omitempty"`
	Request    struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Query   string            `json:"query,omitempty"`
		Headers map[string]string `json:"headers,omitempty"`
		Body    json.RawMessage   `json:"body,omitempty"`
	} `json:"request"`
	Status  int             `json:"status"`
	Error   string          `json:"error,omitempty"`
	Message *string         `json:"message,omitempty"`
	Shape   json.RawMessage `json:"shape,omitempty"`
}

var repeatRE = regexp.MustCompile(`\{\{(.)\*(\d+)\}\}`)

func expand(s string) string {
	s = strings.ReplaceAll(s, "{{zip}}", base64.StdEncoding.EncodeToString(goFnZip))
	return repeatRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := repeatRE.FindStringSubmatch(m)
		n, _ := strconv.Atoi(sub[2])
		return strings.Repeat(sub[1], n)
	})
}

// TestGolden replays testdata/golden against the real binary. A function
// named "golden" (the Go test function) exists before the first case; the
// cases of a file run in order and may build on each other.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	s := startServer(t, "")
	s.create(t, "golden", goFn())
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var cases []goldenCase
		if err := json.Unmarshal(b, &cases); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, c := range cases {
			t.Run(strings.TrimSuffix(filepath.Base(file), ".json")+"/"+c.Name, func(t *testing.T) {
				if c.WaitActive != "" {
					w := lambda.NewFunctionActiveV2Waiter(s.Client, func(o *lambda.FunctionActiveV2WaiterOptions) {
						o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
					})
					if err := w.Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(c.WaitActive)}, 30*time.Second); err != nil {
						t.Fatalf("wait for %s: %v", c.WaitActive, err)
					}
				}
				s.checkGolden(t, c)
			})
		}
	}
}

func (s *server) checkGolden(t *testing.T, c goldenCase) {
	url := s.URL + expand(c.Request.Path)
	if c.Request.Query != "" {
		url += "?" + expand(c.Request.Query)
	}
	var body io.Reader
	if len(c.Request.Body) > 0 {
		body = strings.NewReader(expand(string(c.Request.Body)))
	}
	req, err := http.NewRequestWithContext(t.Context(), c.Request.Method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.Request.Headers {
		req.Header.Set(k, expand(v))
	}
	resp, err := s.do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != c.Status {
		t.Errorf("status = %d; want %d (body %.500s)", resp.StatusCode, c.Status, got)
	}
	if c.Error != "" || c.Message != nil {
		code := resp.Header.Get("X-Amzn-Errortype")
		var e map[string]any
		json.Unmarshal(got, &e)
		msg, _ := e["message"].(string)
		if m, ok := e["Message"].(string); ok {
			msg = m
		}
		if code != c.Error {
			t.Errorf("error code = %q; want %q (body %.500s)", code, c.Error, got)
		}
		if c.Message != nil && msg != expand(*c.Message) {
			t.Errorf("message = %.800q\nwant      %.800q", msg, expand(*c.Message))
		}
	}
	if len(c.Shape) > 0 {
		var want, have any
		if err := json.Unmarshal([]byte(expand(string(c.Shape))), &want); err != nil {
			t.Fatalf("shape: %v", err)
		}
		if want == nil {
			if len(bytes.TrimSpace(got)) != 0 {
				t.Errorf("body = %.500s; want none", got)
			}
			return
		}
		if err := json.Unmarshal(got, &have); err != nil {
			t.Fatalf("body %.500s: %v", got, err)
		}
		for _, p := range matchShape("", want, have) {
			t.Error(p)
		}
	}
}

// matchShape lists how have differs from the shape want.
func matchShape(path string, want, have any) []string {
	if w, ok := want.(string); ok {
		switch {
		case w == "*":
			return nil
		case strings.HasPrefix(w, "~"):
			h, ok := have.(string)
			if !ok || !regexp.MustCompile(w[1:]).MatchString(h) {
				return []string{fmt.Sprintf("%s = %v; want a match of %s", path, have, w[1:])}
			}
			return nil
		}
	}
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s = %v; want an object", path, have)}
		}
		var probs []string
		for _, k := range sortedKeys(w) {
			if _, ok := h[k]; !ok {
				probs = append(probs, fmt.Sprintf("%s.%s missing", path, k))
				continue
			}
			probs = append(probs, matchShape(path+"."+k, w[k], h[k])...)
		}
		for _, k := range sortedKeys(h) {
			if _, ok := w[k]; !ok {
				probs = append(probs, fmt.Sprintf("%s.%s = %v present; AWS leaves it out", path, k, h[k]))
			}
		}
		return probs
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return []string{fmt.Sprintf("%s = %v; want %d items", path, have, len(w))}
		}
		var probs []string
		for i := range w {
			probs = append(probs, matchShape(fmt.Sprintf("%s[%d]", path, i), w[i], h[i])...)
		}
		return probs
	}
	if fmt.Sprint(want) != fmt.Sprint(have) {
		return []string{fmt.Sprintf("%s = %v; want %v", path, have, want)}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
