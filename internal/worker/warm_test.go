package worker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// After a burst has started several environments, sequential invocations
// keep to one of them (the most recently used, taken back as it parks)
// instead of cycling through the frozen ones, which stay idle and age out.
func TestSequentialAfterBurstUsesOneEnv(t *testing.T) {
	dir := t.TempDir()
	goBuild(t, "hearth/test/e2e/testdata/gofn", filepath.Join(dir, "bootstrap"))
	bootstrap, err := os.ReadFile(filepath.Join(dir, "bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour})
	cfg := tw.function(t, string(bootstrap))
	envOf := func(res *Result) string {
		var r struct {
			EnvID string `json:"env_id"`
		}
		if err := json.Unmarshal(res.Payload, &r); err != nil || r.EnvID == "" {
			t.Fatalf("reply %q: %v; want an envId", res.Payload, err)
		}
		return r.EnvID
	}

	const burst = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	burstEnvs := map[string]bool{}
	for range burst {
		wg.Go(func() {
			res, err := tw.Invoke(t.Context(), &Request{Function: cfg, RequestID: newID("req-"), Payload: []byte(`{"op":"sleep","ms":300}`)})
			if err != nil {
				t.Errorf("Invoke() = %v", err)
				return
			}
			defer res.Release()
			mu.Lock()
			burstEnvs[envOf(res)] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(burstEnvs) < 2 {
		t.Fatalf("the burst ran on %d environment(s); want several for the test to mean anything", len(burstEnvs))
	}
	tw.waitEnvs(t, "every environment idle after the burst", func(envs []EnvInfo) bool {
		for _, e := range envs {
			if e.State != "idle" {
				return false
			}
		}
		return len(envs) == len(burstEnvs)
	})

	used := map[string]int{}
	for range 1000 {
		res, err := tw.Invoke(t.Context(), &Request{Function: cfg, RequestID: newID("req-"), Payload: []byte(`{"op":"echo"}`)})
		if err != nil {
			t.Fatalf("Invoke() = %v", err)
		}
		used[envOf(res)]++
		res.Release()
	}
	if len(used) != 1 {
		t.Errorf("1,000 sequential invocations after a burst ran on %d environments %v; want 1", len(used), used)
	}
}
