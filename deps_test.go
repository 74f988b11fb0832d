// Package hearth_test holds the repository-wide checks: the import rules of
// ARCHITECTURE.md and the one-doc-comment-per-package rule.
package hearth_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const mod = "hearth/"

// TestImportRules enforces which way dependencies flow. Each rule bans
// prefixes from a package's full (transitive) dependency list.
func TestImportRules(t *testing.T) {
	stdlibOnly := []string{mod, "github.com/", "golang.org/x/"}
	rules := []struct {
		pkg    string
		banned []string
	}{
		{mod + "internal/function", stdlibOnly},
		{mod + "internal/lambdaapi", stdlibOnly},
		{mod + "internal/codezip", stdlibOnly},
		{mod + "internal/eventstream", stdlibOnly},
		{mod + "internal/placement", stdlibOnly},
		{mod + "internal/logs", []string{mod}},
		{mod + "internal/runtimeapi", []string{mod, "github.com/nats-io/"}},
		{mod + "internal/sandbox", []string{mod + "internal/worker", mod + "internal/invoke", mod + "internal/store", mod + "internal/broker", mod + "internal/api"}},
		{mod + "internal/sandbox/process", []string{mod + "internal/worker", mod + "internal/invoke", mod + "internal/store", mod + "internal/broker", mod + "internal/api"}},
		{mod + "internal/runtimes", []string{mod}},
		{mod + "internal/store", []string{"github.com/nats-io/nats-server/", mod + "internal/worker", mod + "internal/sandbox"}},
		{mod + "internal/worker", []string{"github.com/nats-io/", mod + "internal/sandbox/", mod + "internal/store", mod + "internal/invoke", mod + "internal/api", mod + "internal/server"}},
		{mod + "internal/invoke", []string{"github.com/nats-io/", mod + "internal/store", mod + "internal/api", mod + "internal/server", mod + "internal/sandbox/"}},
		{mod + "internal/async", []string{"github.com/nats-io/nats-server/", mod + "internal/store", mod + "internal/api", mod + "internal/server", mod + "internal/sandbox/"}},
		{mod + "internal/cluster", []string{"github.com/nats-io/nats-server/", mod + "internal/store", mod + "internal/api", mod + "internal/server", mod + "internal/sandbox/", mod + "internal/broker"}},
		{mod + "internal/grants", []string{"github.com/nats-io/nats-server/", mod}},
		{mod + "internal/api", []string{"github.com/nats-io/nats-server/", mod + "internal/sandbox/", mod + "internal/server"}},
		{mod + "cmd/hearth", []string{"github.com/aws/aws-lambda-go/"}},
		{mod + "internal/metrics", []string{mod + "internal/store", mod + "internal/api", mod + "internal/server", mod + "internal/sandbox/"}},
	}
	for _, r := range rules {
		for _, dep := range goList(t, "{{join .Deps \"\\n\"}}", r.pkg) {
			for _, bad := range r.banned {
				if strings.HasPrefix(dep, bad) {
					t.Errorf("%s depends on %s; not allowed (see docs/architecture.md)", r.pkg, dep)
				}
			}
		}
	}
	// Only broker imports the NATS server.
	for _, pkg := range goList(t, "{{.ImportPath}}", "./...") {
		if pkg == mod+"internal/broker" {
			continue
		}
		for _, imp := range goList(t, "{{join .Imports \"\\n\"}}", pkg) {
			if strings.HasPrefix(imp, "github.com/nats-io/nats-server/") {
				t.Errorf("%s imports %s; only internal/broker may", pkg, imp)
			}
		}
	}
	// The binary reaches subsystems only through internal/server.
	for _, imp := range goList(t, "{{join .Imports \"\\n\"}}", mod+"cmd/hearth") {
		if strings.HasPrefix(imp, mod) && imp != mod+"internal/server" && imp != mod+"internal/sandbox/linux" {
			t.Errorf("cmd/hearth imports %s; it may import only internal/server (and the linux init hook)", imp)
		}
	}
}

func goList(t *testing.T, format, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", format, pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// TestPackageDocs: every package has exactly one package doc comment, and
// no package has a grab-bag name.
func TestPackageDocs(t *testing.T) {
	for _, dir := range goList(t, "{{.Dir}}", "./...") {
		pkgs := parsePackageClauses(t, dir)
		for name, files := range pkgs {
			if strings.HasSuffix(name, "_test") {
				continue
			}
			switch name {
			case "util", "utils", "common", "helpers", "types", "model", "models":
				t.Errorf("%s: package name %q says nothing", dir, name)
			}
			docs, nonTest := 0, 0
			for fname := range files {
				if !strings.HasSuffix(fname, "_test.go") {
					nonTest++
				}
			}
			for fname, f := range files {
				// A package of tests only (test/e2e) documents itself in a
				// test file.
				if f.Doc != nil && (nonTest == 0 || !strings.HasSuffix(fname, "_test.go")) {
					docs++
				}
			}
			if docs != 1 {
				rel, _ := filepath.Rel(".", dir)
				t.Errorf("package %s (%s) has %d package doc comments; want 1", name, rel, docs)
			}
		}
	}
}

// parsePackageClauses parses the package clause and doc comment of every
// Go file in dir, grouped by package name.
func parsePackageClauses(t *testing.T, dir string) map[string]map[string]*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	pkgs := make(map[string]map[string]*ast.File)
	for _, fname := range names {
		f, err := parser.ParseFile(fset, fname, nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Fatal(err)
		}
		name := f.Name.Name
		if pkgs[name] == nil {
			pkgs[name] = make(map[string]*ast.File)
		}
		pkgs[name][fname] = f
	}
	return pkgs
}
