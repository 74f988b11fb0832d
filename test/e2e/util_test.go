package e2e

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
)

func decodeBase64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func timeNow() time.Time                  { return time.Now() }
func timeSince(t time.Time) time.Duration { return time.Since(t) }

// waitGone waits up to 10 s for pid to exit.
func waitGone(t testing.TB, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for pidAlive(pid) {
		if time.Now().After(deadline) {
			t.Errorf("process %d still alive after 10s", pid)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
