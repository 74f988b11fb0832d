// Command mkinit builds the linux driver's sandbox init program
// (../initprog) for each architecture the driver embeds it for, and writes
// it gzip-compressed to ../initbin_<arch>.gz. The build is reproducible:
// the same sources and Go release give the same bytes, which is what
// `mkinit -check` (run by TestEmbeddedInitIsCurrent) compares. The Go
// release that built them is written to ../initbin.goversion; another
// release builds other bytes, so -check compares only under the same one
// and otherwise says their bytes "cannot be compared" (the test skips).
//
//	go generate ./internal/sandbox/linux/
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// archs are the architectures with an embedded init; on others the driver
// re-executes its own binary as before.
var archs = []string{"amd64", "arm64"}

func main() {
	check := flag.Bool("check", false, "compare with the files instead of writing them; exit 1 if they differ")
	flag.Parse()
	v, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkinit: go env GOVERSION:", err)
		os.Exit(2)
	}
	version := string(bytes.TrimSpace(v))
	const versionFile = "initbin.goversion"
	if *check {
		if built, err := os.ReadFile(versionFile); err == nil && string(bytes.TrimSpace(built)) != version {
			fmt.Fprintf(os.Stderr, "mkinit: the embedded init programs were built with %s, this is %s: their bytes cannot be compared\n", bytes.TrimSpace(built), version)
			os.Exit(3)
		}
	} else if err := os.WriteFile(versionFile, []byte(version+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "mkinit:", err)
		os.Exit(2)
	}
	stale := false
	for _, arch := range archs {
		gz, err := build(arch)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mkinit:", err)
			os.Exit(2)
		}
		name := "initbin_" + arch + ".gz"
		if *check {
			old, err := os.ReadFile(name)
			if err != nil || !bytes.Equal(old, gz) {
				fmt.Fprintf(os.Stderr, "mkinit: %s is not what the sources build; run go generate ./internal/sandbox/linux/\n", name)
				stale = true
			}
			continue
		}
		if err := os.WriteFile(name, gz, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "mkinit:", err)
			os.Exit(2)
		}
	}
	if stale {
		os.Exit(1)
	}
}

// build compiles ./initprog for linux/arch and returns it compressed.
// Everything that could differ between machines or checkouts is pinned:
// no cgo, no paths, no VCS stamp, no build id, the baseline instruction
// set. The tag hearth_noinitbin leaves the embedded init out of the init
// itself.
func build(arch string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "mkinit")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "init")
	cmd := exec.Command("go", "build", "-tags", "hearth_noinitbin", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid=", "-o", out, "./initprog")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch,
		"GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=", "GOEXPERIMENT=")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build init for %s: %w\n%s", arch, err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(bin)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
