package worker

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// goBuild builds the package pkg into dst, statically.
func goBuild(b testing.TB, pkg, dst string) {
	b.Helper()
	cmd := exec.Command("go", "build", "-o", dst, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
}

// BenchmarkExtensionOverhead measures what one idle external extension
// (testdata/idleext: INVOKE and SHUTDOWN, next at once) adds to a warm
// invocation and to a cold start of the end-to-end suite's aws-lambda-go
// function, under each driver, with and without the extension in the same
// run.
//
//	go test -run XXX -bench ExtensionOverhead -benchtime 300x ./internal/worker/
func BenchmarkExtensionOverhead(b *testing.B) {
	dir := b.TempDir()
	goBuild(b, "hearth/test/e2e/testdata/gofn", filepath.Join(dir, "bootstrap"))
	bootstrap, err := os.ReadFile(filepath.Join(dir, "bootstrap"))
	if err != nil {
		b.Fatal(err)
	}
	opt := optWith(b, nil)
	goBuild(b, "./testdata/idleext", filepath.Join(opt, "extensions", "idleext"))
	for name, newDriver := range drivers(b) {
		tw := newTestWorkerOn(b, Config{IdleTimeout: time.Hour}, newDriver(b))
		cfg := tw.function(b, string(bootstrap))
		cfg.MemorySize = 1769 // one vCPU: the CPU quota does not hide the platform's cost
		for _, mode := range []string{"none", "idleext"} {
			req := &Request{Function: cfg, Payload: []byte(`{"op":"echo"}`)}
			if mode == "idleext" {
				req.OptDir = opt
			}
			cfg := cfg
			cfg.Name = "f-" + mode
			req.Function = cfg
			b.Run(name+"/warm/"+mode, func(b *testing.B) {
				tw.invokeOpt(b, req).Release() // the cold start
				var d []time.Duration
				for b.Loop() {
					start := time.Now()
					res := tw.invokeOpt(b, req)
					d = append(d, time.Since(start))
					if res.FunctionError != "" || res.ColdStart {
						b.Fatalf("warm invoke: %s cold=%v %s", res.ErrorType, res.ColdStart, res.Payload)
					}
					res.Release()
				}
				slices.Sort(d)
				b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
			})
			b.Run(name+"/cold/"+mode, func(b *testing.B) {
				var d []time.Duration
				for b.Loop() {
					b.StopTimer()
					tw.Retire(cfg.Account, cfg.Name, "")
					tw.waitEnvs(b, "none of "+cfg.Name+" after Retire", func(envs []EnvInfo) bool {
						return !slices.ContainsFunc(envs, func(e EnvInfo) bool { return e.Function == cfg.Name })
					})
					b.StartTimer()
					start := time.Now()
					res := tw.invokeOpt(b, req)
					d = append(d, time.Since(start))
					if res.FunctionError != "" || !res.ColdStart {
						b.Fatalf("cold invoke: %s cold=%v %s", res.ErrorType, res.ColdStart, res.Payload)
					}
					res.Release()
				}
				slices.Sort(d)
				b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
			})
		}
	}
}
