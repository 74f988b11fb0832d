package worker

import (
	"strings"
	"testing"
	"time"

	"hearth/internal/function"
)

// initTypeScript answers every event with the environment's
// AWS_LAMBDA_INITIALIZATION_TYPE, as a JSON string; an event containing
// "die" ends it, one containing "slow" is answered after a second.
const initTypeScript = `#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
while true; do
	h=$(mktemp)
	body=$(curl -sS -D "$h" "$api/next") || exit 1
	id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$h" | cut -d: -f2 | tr -d '[:space:]')
	case "$body" in *die*) exit 1;; *slow*) sleep 1;; esac
	curl -sS -X POST --data-binary "\"$AWS_LAMBDA_INITIALIZATION_TYPE\"" "$api/$id/response" >/dev/null
done
`

// waitProvisioned polls Provisioned until it has ready environments.
func (tw *testWorker) waitProvisioned(t *testing.T, cfg function.Config, ready int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := tw.Provisioned(cfg.Account, cfg.Name, cfg.Version)
		if st.Ready == ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Provisioned() = %+v; want %d ready", st, ready)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Provisioned environments start ahead of traffic with the provisioned
// initialization type, serve warm without an Init Duration, outlive the
// idle timeout, are replaced when they die, and go when the target does.
// Spill-over beyond them is an on-demand cold start.
func TestProvisionedConcurrency(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: 200 * time.Millisecond})
	cfg := tw.function(t, initTypeScript)
	cfg.Version = "1"

	tw.SetProvisioned([]Target{{Config: cfg, N: 2}})
	tw.waitProvisioned(t, cfg, 2)
	if envs := tw.Environments(); len(envs) != 2 || !envs[0].Provisioned || !envs[1].Provisioned {
		t.Fatalf("Environments() = %+v; want the 2 provisioned", envs)
	}
	// Longer than the idle timeout: the reaper leaves them.
	time.Sleep(600 * time.Millisecond)
	if st := tw.Provisioned("", "f", "1"); st.Ready != 2 {
		t.Fatalf("Provisioned() after the idle timeout = %+v; want 2 ready", st)
	}

	res := tw.invoke(t, cfg, `{}`)
	if got, want := string(res.Payload), `"provisioned-concurrency"`; got != want || res.ColdStart {
		t.Errorf("Invoke() = %s, cold %v; want %s, warm", got, res.ColdStart, want)
	}
	if strings.Contains(string(res.Log), "Init Duration") || !strings.Contains(string(res.Log), "REPORT RequestId:") {
		t.Errorf("log tail = %q; want a REPORT without Init Duration", res.Log)
	}

	res.Release()
	// Three at once: two provisioned, one on-demand cold start.
	results := make(chan string, 3)
	for range 3 {
		go func() {
			r, err := tw.Invoke(t.Context(), &Request{Function: cfg, RequestID: newID("req-"), Payload: []byte(`"slow"`)})
			if err != nil {
				t.Errorf("Invoke() = %v", err)
				results <- ""
				return
			}
			results <- string(r.Payload)
			r.Release()
		}()
	}
	got := map[string]int{}
	for range 3 {
		got[<-results]++
	}
	if got[`"provisioned-concurrency"`] != 2 || got[`"on-demand"`] != 1 {
		t.Errorf("3 concurrent invocations answered %v; want 2 from provisioned environments and 1 on-demand", got)
	}

	// One dies: it is replaced.
	tw.waitProvisioned(t, cfg, 2)
	if r := tw.invoke(t, cfg, `"die"`); r.ErrorType != "Runtime.ExitError" {
		t.Fatalf("Invoke(die) = %q %s; want Runtime.ExitError", r.ErrorType, r.Payload)
	}
	tw.waitProvisioned(t, cfg, 2)
	r := tw.invoke(t, cfg, `{}`)
	if string(r.Payload) != `"provisioned-concurrency"` || r.ColdStart {
		t.Errorf("Invoke() after the replacement = %s, cold %v; want a provisioned environment", r.Payload, r.ColdStart)
	}
	r.Release()

	tw.SetProvisioned(nil)
	tw.waitEnvs(t, "none once provisioned concurrency is removed and the rest reaped", func(envs []EnvInfo) bool { return len(envs) == 0 })
	if st := tw.Provisioned("", "f", "1"); st.Ready != 0 {
		t.Errorf("Provisioned() after SetProvisioned(nil) = %+v; want none", st)
	}
}

// A function whose init fails cannot be provisioned: the status says so.
func TestProvisionedInitFailure(t *testing.T) {
	tw := newTestWorker(t, Config{})
	cfg := tw.function(t, "#!/bin/bash\nexit 3\n")
	cfg.Version = "1"
	tw.SetProvisioned([]Target{{Config: cfg, N: 1}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := tw.Provisioned("", "f", "1")
		if st.Failed != "" {
			if st.Failed != "FUNCTION_ERROR_INIT_FAILURE" || st.Ready != 0 {
				t.Errorf("Provisioned() = %+v; want FUNCTION_ERROR_INIT_FAILURE, none ready", st)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Provisioned() = %+v; want failed", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Moving provisioned concurrency from one version to another keeps the old
// version's environments until the new one's are ready.
func TestProvisionedMoveStartsBeforeRetiring(t *testing.T) {
	tw := newTestWorker(t, Config{IdleTimeout: time.Hour})
	v1 := tw.function(t, runtimeScript("0"))
	v1.Version = "1"
	v2 := tw.function(t, runtimeScript("0.5"))
	v2.Version = "2"
	tw.SetProvisioned([]Target{{Config: v1, N: 1}})
	tw.waitProvisioned(t, v1, 1)

	tw.SetProvisioned([]Target{{Config: v2, N: 1}})
	// v2's init takes 0.5 s; meanwhile v1 keeps its environment.
	time.Sleep(200 * time.Millisecond)
	if st := tw.Provisioned("", "f", "1"); st.Ready != 1 {
		t.Errorf("v1 while v2 starts = %+v; want its environment kept", st)
	}
	tw.waitProvisioned(t, v2, 1)
	tw.waitProvisioned(t, v1, 0)
}
