package e2e

import (
	"encoding/base64"
	"encoding/json"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	"testing"
	"time"
)

func decodeBase64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func timeNow() time.Time                  { return time.Now() }
func timeSince(t time.Time) time.Duration { return time.Since(t) }

// eventually polls cond until it holds, failing the test if it does not
// within the given time. Tests wait on conditions, never on sleeps.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hasEnv reports whether the server lists an environment of function in
// state ("idle", "busy" or "destroying").
func (s *server) hasEnv(t testing.TB, function, state string) bool {
	t.Helper()
	for _, e := range s.environments(t) {
		if e["function"] == function && e["state"] == state {
			return true
		}
	}
	return false
}

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

// requestIDOf returns the AWS request id of a response.
func requestIDOf(md middleware.Metadata) string {
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}

// str reads a JSON string field.
func str(t testing.TB, m map[string]any, key string) string {
	t.Helper()
	v, ok := m[key].(string)
	if !ok || v == "" {
		t.Fatalf("field %q = %v (%T); want a non-empty string", key, m[key], m[key])
	}
	return v
}
