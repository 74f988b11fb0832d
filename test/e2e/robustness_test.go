package e2e

import (
	"io"
	"net/http"
	"testing"
)

// A tail beyond any log's length is refused with an AWS error, not a
// panic; a sensible one is served.
func TestLogsTailIsBounded(t *testing.T) {
	s := startServer(t, "")
	s.create(t, "tailed", goFn())
	for _, tt := range []struct {
		tail string
		want int
	}{
		{"4611686018427387904", http.StatusBadRequest},
		{"9223372036854775807", http.StatusBadRequest},
		{"1000001", http.StatusBadRequest},
		{"-1", http.StatusBadRequest},
		{"1000000", http.StatusOK},
		{"5", http.StatusOK},
	} {
		resp, err := http.Get(s.URL + "/_hearth/v1/functions/tailed/logs?tail=" + tt.tail)
		if err != nil {
			t.Errorf("GET logs?tail=%s = %v", tt.tail, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET logs?tail=%s: status %d, want %d (%s)", tt.tail, resp.StatusCode, tt.want, body)
		}
		if tt.want == http.StatusBadRequest {
			if got := resp.Header.Get("X-Amzn-Errortype"); got != "InvalidParameterValueException" {
				t.Errorf("GET logs?tail=%s: X-Amzn-Errortype = %q, want InvalidParameterValueException", tt.tail, got)
			}
		}
	}
}
