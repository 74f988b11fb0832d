package e2e

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkEnvMemory (issue 13, memory per warm environment): the memory a
// warm linux environment costs beyond its runtime. It invokes the Go
// function (aws-lambda-go, 128 MB) b.N times, then reads, for the
// environment's init (pid 1 of the environment, the driver's process) and
// for the bootstrap (the runtime itself), /proc/<pid>/smaps_rollup, and for
// the environment's memory cgroup what it is charged. Figures in KiB:
//
//   - init-uss, boot-uss: private pages (what the process's end frees);
//   - init-anon, boot-anon: anonymous pages;
//   - init-pss, boot-pss: proportional set size (shared file pages, such as
//     the hearth binary's text, divided among the processes mapping them);
//   - init-rss: resident pages, shared ones included;
//   - pool-init-uss: the same for the init of a prepared sandbox waiting in
//     the pool;
//   - cg-usage, cg-anon, cg-file, cg-kmem: the environment's memory cgroup
//     (v1: memory.usage_in_bytes, total_rss, total_cache and
//     memory.kmem.usage_in_bytes; v2: memory.current, anon, file, kernel).
//
// init-uss/boot-uss is the init's cost as a share of the runtime's own.
//
//	go test -run XXX -bench EnvMemory -benchtime 100x ./test/e2e/
func BenchmarkEnvMemory(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the linux driver needs root")
	}
	s := benchServer(b, "--isolation", "linux")
	s.create(b, "envmem", goFn())
	c := s.httpClient()
	url := s.URL + "/2015-03-31/functions/envmem/invocations"
	for b.Loop() {
		post(b, c, url, benchPayload)
	}
	b.StopTimer()
	// Let the pool refill and the environment park (and freeze).
	time.Sleep(500 * time.Millisecond)
	var fnBox, poolBox *sandboxMem
	for _, sb := range sandboxesOf(b, s) {
		if sb.boot != nil && fnBox == nil {
			fnBox = sb
		}
		if sb.boot == nil && poolBox == nil {
			poolBox = sb
		}
	}
	if fnBox == nil {
		b.Fatal("found no environment with a running bootstrap")
	}
	init, boot := fnBox.init, fnBox.boot
	b.ReportMetric(init.kib("Private_Clean")+init.kib("Private_Dirty"), "init-uss-KiB")
	b.ReportMetric(init.kib("Anonymous"), "init-anon-KiB")
	b.ReportMetric(init.kib("Pss"), "init-pss-KiB")
	b.ReportMetric(init.kib("Rss"), "init-rss-KiB")
	b.ReportMetric(boot.kib("Private_Clean")+boot.kib("Private_Dirty"), "boot-uss-KiB")
	b.ReportMetric(boot.kib("Anonymous"), "boot-anon-KiB")
	b.ReportMetric(boot.kib("Pss"), "boot-pss-KiB")
	b.ReportMetric((init.kib("Private_Clean")+init.kib("Private_Dirty"))/(boot.kib("Private_Clean")+boot.kib("Private_Dirty")), "init/boot-uss")
	for _, k := range []string{"usage", "anon", "file", "kmem"} {
		b.ReportMetric(fnBox.cgroup[k]/1024, "cg-"+k+"-KiB")
	}
	if poolBox != nil {
		b.ReportMetric(poolBox.init.kib("Private_Clean")+poolBox.init.kib("Private_Dirty"), "pool-init-uss-KiB")
	}
}

// sandboxMem is what one of the linux driver's sandboxes holds.
type sandboxMem struct {
	init, boot smaps              // boot is nil for a prepared sandbox
	cgroup     map[string]float64 // bytes: usage, anon, file, kmem
}

// smaps is /proc/<pid>/smaps_rollup, in kB.
type smaps map[string]float64

func (m smaps) kib(field string) float64 { return m[field] }

func readSmaps(tb testing.TB, pid string) smaps {
	tb.Helper()
	f, err := os.Open("/proc/" + pid + "/smaps_rollup")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	m := smaps{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[2] == "kB" {
			v, _ := strconv.ParseFloat(fields[1], 64)
			m[strings.TrimSuffix(fields[0], ":")] = v
		}
	}
	return m
}

// sandboxesOf reads the memory of every sandbox of s's linux driver.
func sandboxesOf(tb testing.TB, s *server) []*sandboxMem {
	tb.Helper()
	cg := s.cgroupPath()
	if cg == "" {
		tb.Fatal("the server logged no linux driver cgroup")
	}
	v1 := true
	root := filepath.Join("/sys/fs/cgroup/memory", cg)
	if _, err := os.Stat(root); err != nil {
		v1, root = false, filepath.Join("/sys/fs/cgroup", cg)
	}
	var out []*sandboxMem
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		procs, _ := os.ReadFile(p)
		if len(bytes.TrimSpace(procs)) == 0 {
			return nil
		}
		sb := &sandboxMem{cgroup: cgroupMem(tb, filepath.Dir(p), v1)}
		for _, pid := range strings.Fields(string(procs)) {
			cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			if string(bytes.TrimRight(cmd, "\x00")) == "hearth-sandbox-init" {
				sb.init = readSmaps(tb, pid)
			} else if sb.boot == nil {
				sb.boot = readSmaps(tb, pid)
			}
		}
		if sb.init != nil {
			out = append(out, sb)
		}
		return nil
	})
	return out
}

func cgroupMem(tb testing.TB, dir string, v1 bool) map[string]float64 {
	tb.Helper()
	read := func(name string) float64 {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		v, _ := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		return v
	}
	stat := map[string]float64{}
	b, _ := os.ReadFile(filepath.Join(dir, "memory.stat"))
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			stat[k], _ = strconv.ParseFloat(v, 64)
		}
	}
	if v1 {
		return map[string]float64{
			"usage": read("memory.usage_in_bytes"), "anon": stat["total_rss"],
			"file": stat["total_cache"], "kmem": read("memory.kmem.usage_in_bytes"),
		}
	}
	return map[string]float64{"usage": read("memory.current"), "anon": stat["anon"], "file": stat["file"], "kmem": stat["kernel"]}
}
