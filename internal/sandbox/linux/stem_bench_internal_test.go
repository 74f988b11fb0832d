//go:build linux

package linux

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"hearth/internal/sandbox/sandboxtest"
)

// stemBench is a Runtime API client in the shape of the managed Python
// runtime's: it imports what a client imports, and (as a stem, once its
// start message came) connects to the Runtime API for the next event.
const stemBench = `
import os, sys, json, socket, http.client, time, traceback, importlib
fd = os.environ.get("_HEARTH_STEM_FD")
if fd is not None:
    with open("/proc/self/environ", "rb") as f:
        started = {e.partition(b"=")[0].decode() for e in f.read().split(b"\0") if e}
    with os.fdopen(int(fd), "rb") as f:
        data = f.read()
    if not data:
        sys.exit(0)
    msg = json.loads(data)
    added = {k: v for k, v in os.environ.items() if k not in started}
    os.environ.clear()
    for kv in msg["env"]:
        k, _, v = kv.partition("=")
        os.environ[k] = v
    os.environ.update(added)
    os.chdir(msg["cwd"])
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
c = http.client.HTTPConnection(host, int(port))
c.request("GET", "/2018-06-01/runtime/invocation/next")
c.getresponse()
`

// nodeStemBench is stemBench for Node: a client that imports node:http
// as the managed runtime's does.
const nodeStemBench = `
import fs from "node:fs";
import http from "node:http";
import Module from "node:module";
const fd = process.env._HEARTH_STEM_FD;
if (fd !== undefined) {
  const data = fs.readFileSync(Number(fd));
  fs.closeSync(Number(fd));
  if (data.length === 0) process.exit(0);
  const msg = JSON.parse(data);
  for (const k of Object.keys(process.env)) delete process.env[k];
  for (const kv of msg.env) {
    const i = kv.indexOf("=");
    process.env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  process.chdir(msg.cwd);
  Module._initPaths();
}
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
http.get({ host, port, path: "/2018-06-01/runtime/invocation/next" }, (res) => res.resume());
`

// BenchmarkStemStart measures a cold start to the runtime's first Runtime
// API connection, interleaved in the same run: a pre-started runtime
// (stem), the same runtime executed at Start, and the bare interpreter on
// the host (python3 -c pass, node -e 0). It reports the medians and their
// ratios to the bare start, the median time the stems' Starts took
// themselves (stem-Start-ms: until the init reported the message sent),
// and a waiting stem's resident anonymous memory.
func BenchmarkStemStart(b *testing.B) {
	s := newStemSetup(b)
	if err := os.WriteFile(s.runtimeDir+"/stembench.mjs", []byte(nodeStemBench), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("python", func(b *testing.B) {
		benchStem(b, s, "python", []string{s.py, "$LAMBDA_RUNTIME_DIR/stembench.py"}, []string{s.py, "-c", "pass"})
	})
	b.Run("node", func(b *testing.B) {
		node, err := exec.LookPath("node")
		if err != nil {
			b.Skip("node is not installed")
		}
		if node, err = filepath.EvalSymlinks(node); err != nil {
			b.Fatal(err)
		}
		benchStem(b, s, "node", []string{node, "$LAMBDA_RUNTIME_DIR/stembench.mjs"}, []string{node, "-e", "0"})
	})
}

func benchStem(b *testing.B, s *stemSetup, kind string, cmd, bareCmd []string) {
	d := newStemDriver(b, Config{})
	ctx := context.Background()
	bare := func() time.Duration {
		began := time.Now()
		cmd := exec.Command(bareCmd[0], bareCmd[1:]...)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		return time.Since(began)
	}
	var driverPart []time.Duration // of the stems' starts: Start's own time
	// One function: its code is the same at every cold start, and the
	// driver has prepared it (sandbox.CodePreparer) as on activation.
	fn := s.spec(b, "")
	fn.Cmd = cmd
	fn.Stem = kind
	fn.TmpMB = 0 // the prepared /tmp's size
	if err := d.PrepareCode(ctx, fn.CodeDir, fn.RuntimeDir); err != nil {
		b.Fatal(err)
	}
	start := func(stem, check bool) time.Duration {
		spec := *fn
		spec.ID = sandboxtest.NewID()
		if !stem {
			spec.Stem = ""
		}
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		go io.Copy(io.Discard, r)
		spec.Output = w
		began := time.Now()
		e, err := d.Start(ctx, &spec)
		w.Close()
		if err != nil {
			b.Fatal(err)
		}
		defer e.Destroy(ctx)
		ln := e.RuntimeListener()
		timer := time.AfterFunc(10*time.Second, func() { ln.Close() })
		defer timer.Stop()
		c, err := ln.Accept()
		took := time.Since(began)
		if err != nil {
			b.Fatalf("no Runtime API connection: %v", err)
		}
		c.Close()
		if stem && check {
			driverPart = append(driverPart, e.(*env).Timings().Total)
		}
		if got := e.(*env).Timings().Stem; check && got != stem {
			b.Fatalf("started by a stem: %v; want %v", got, stem)
		}
		return took
	}
	start(true, false) // the key's first Start
	var bares, executed, stems []time.Duration
	b.ResetTimer()
	// Each measurement starts once the background work the last one
	// caused (refilling the pool and the stems) is done.
	settle := func() {
		deadline := time.Now().Add(30 * time.Second)
		for d.Prestarted() < stemsPerKey || d.Prepared() < 2 {
			if time.Now().After(deadline) {
				b.Fatalf("%d stems and %d prepared sandboxes after 30 s", d.Prestarted(), d.Prepared())
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range b.N {
		settle()
		bares = append(bares, bare())
		settle()
		executed = append(executed, start(false, true))
		settle()
		stems = append(stems, start(true, true))
	}
	b.StopTimer()
	// What a waiting stem holds: its resident anonymous memory (the
	// interpreter's file pages are shared with every other python3).
	settle()
	var anon, n float64
	for _, pid := range stemPids(b, s.runtimeDir) {
		status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(status)) {
			if rest, ok := strings.CutPrefix(line, "RssAnon:"); ok {
				kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
				anon += kb
				n++
			}
		}
	}
	if n > 0 {
		b.ReportMetric(anon/n/1024, "stem-anon-MB")
	}
	med := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2]) / float64(time.Millisecond)
	}
	mb, me, ms := med(bares), med(executed), med(stems)
	b.ReportMetric(mb, "bare-ms")
	b.ReportMetric(me, "executed-ms")
	b.ReportMetric(ms, "stem-ms")
	b.ReportMetric(med(driverPart), "stem-Start-ms")
	b.ReportMetric(me/mb, "executed/bare")
	b.ReportMetric(ms/mb, "stem/bare")
}
