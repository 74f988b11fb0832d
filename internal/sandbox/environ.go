package sandbox

import (
	"os"
	"slices"
	"strings"
)

// Environ is a process environment under construction: KEY=VALUE pairs in
// which every name appears once. Setting a name again replaces its value
// where it first appeared. Programs disagree about duplicate entries (glibc's
// getenv and node take the first, CPython and bash the last), so an
// environment with duplicates means different things to different programs;
// every environment Hearth starts is built with an Environ. The zero value is
// empty and ready to use.
type Environ struct {
	list  []string
	index map[string]int // name → position in list
}

// Set sets name to value.
func (e *Environ) Set(name, value string) {
	kv := name + "=" + value
	if i, ok := e.index[name]; ok {
		e.list[i] = kv
		return
	}
	if e.index == nil {
		e.index = map[string]int{}
	}
	e.index[name] = len(e.list)
	e.list = append(e.list, kv)
}

// Add sets each KEY=VALUE pair in turn, so that the last of duplicates wins.
// Entries without '=' or with an empty name are dropped.
func (e *Environ) Add(pairs ...string) {
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k != "" {
			e.Set(k, v)
		}
	}
}

// List returns the environment as KEY=VALUE pairs, each name once.
func (e *Environ) List() []string {
	return append([]string(nil), e.list...)
}

// BootstrapEnv is the environment a driver starts a bootstrap with: env
// (a Spec's Env, already expanded) without duplicates, plus the layout
// variables the driver sets, which nothing in env overrides. Every driver
// builds it here, so that all of them give a program the same environment.
func BootstrapEnv(env []string, taskRoot, runtimeDir, tmpDir, runtimeAPI string) []string {
	var e Environ
	e.Add(env...)
	e.Set("LAMBDA_TASK_ROOT", taskRoot)
	e.Set("LAMBDA_RUNTIME_DIR", runtimeDir)
	e.Set("TMPDIR", tmpDir)
	e.Set("AWS_LAMBDA_RUNTIME_API", runtimeAPI)
	return e.List()
}

// ExtensionEnv is the environment a driver starts an external extension
// with: env (a Spec's ExtensionEnv, already expanded) without duplicates,
// plus TMPDIR and AWS_LAMBDA_RUNTIME_API. Lambda gives extensions neither
// LAMBDA_TASK_ROOT nor LAMBDA_RUNTIME_DIR.
func ExtensionEnv(env []string, tmpDir, runtimeAPI string) []string {
	var e Environ
	e.Add(env...)
	e.Set("TMPDIR", tmpDir)
	e.Set("AWS_LAMBDA_RUNTIME_API", runtimeAPI)
	return e.List()
}

// StartVar reports whether an interpreter (or the dynamic loader) reads
// the environment variable name when it starts, so that a process that
// was started without it and given it later does not behave as one
// started with it: PYTHON*, NODE_* (NODE_OPTIONS, NODE_EXTRA_CA_CERTS,
// NODE_ICU_DATA...) but NODE_PATH, UV_* (libuv: UV_THREADPOOL_SIZE,
// UV_USE_IO_URING), OPENSSL_* (Node loads OPENSSL_CONF as it starts),
// LD_*, LC_*, MALLOC_*, GLIBC_*, LANG, LANGUAGE, TZ and HOME.
//
// NODE_PATH is not one: Node reads it once at start into its module search
// paths, and Hearth's Node client, started ahead of time as a stem, reads
// it again (Module._initPaths) once it has its environment.
func StartVar(name string) bool {
	for _, p := range []string{"PYTHON", "NODE_", "UV_", "OPENSSL_", "LD_", "LC_", "MALLOC_", "GLIBC_"} {
		if strings.HasPrefix(name, p) {
			return name != "NODE_PATH"
		}
	}
	switch name {
	case "LANG", "LANGUAGE", "TZ", "HOME":
		return true
	}
	return false
}

// StemStartEnv is the environment a pre-started runtime (a stem, see
// [Spec.Stem]) is started with for a Spec whose Env is env: the entries
// whose name is a start variable ([StartVar]) and PATH, each name once (the
// last value wins, as in [Environ.Add]), sorted by name. Values are as in
// env (expand env first for expanded ones). [StemFDVar] is not among them:
// the driver adds it. Two Specs may share a stem only when their start
// environments (and their Stem and Cmd) are equal.
func StemStartEnv(env []string) []string {
	var e Environ
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); ok && (k == "PATH" || StartVar(k)) {
			e.Add(kv)
		}
	}
	out := e.List()
	slices.SortFunc(out, func(a, b string) int {
		ka, _, _ := strings.Cut(a, "=")
		kb, _, _ := strings.Cut(b, "=")
		return strings.Compare(ka, kb)
	})
	return out
}

// NoLibraries reports whether the code in dir has nothing at its top that
// the dynamic loader could load through LD_LIBRARY_PATH: no lib directory
// and no shared object. A runtime started before its code is there (a
// zygote, a stem) needs it: the loader searches LD_LIBRARY_PATH as the
// process starts and remembers which of its directories lacked a library.
func NoLibraries(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name() == "lib" || strings.Contains(e.Name(), ".so") {
			return false
		}
	}
	return true
}
