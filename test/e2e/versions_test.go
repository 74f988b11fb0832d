package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Functions that report the interpreter they run on. The Python one uses
// 3.12's type statement when it runs as python3.12 or later, a syntax error
// on 3.11.
const (
	versionPy = `import os, sys
if sys.version_info >= (3, 12):
    exec("type Number = int")
def handler(event, context):
    return {"version": "%d.%d.%d" % sys.version_info[:3], "exec_env": os.environ.get("AWS_EXECUTION_ENV")}
`
	versionPy312 = "type Number = int\n" + versionPy
	versionJS    = `exports.handler = async () => ({version: process.versions.node, exec_env: process.env.AWS_EXECUTION_ENV});
`
)

func versionFn(runtime string) fn {
	switch {
	case strings.HasPrefix(runtime, "python3.12"), strings.HasPrefix(runtime, "python3.13"), strings.HasPrefix(runtime, "python3.14"):
		return fn{runtime: runtime, handler: "app.handler", zip: zipFiles(map[string]zipFile{"app.py": {data: []byte(versionPy312)}})}
	case strings.HasPrefix(runtime, "python"):
		return fn{runtime: runtime, handler: "app.handler", zip: zipFiles(map[string]zipFile{"app.py": {data: []byte(versionPy)}})}
	}
	return fn{runtime: runtime, handler: "index.handler", zip: zipFiles(map[string]zipFile{"index.js": {data: []byte(versionJS)}})}
}

// series is the version a runtime id promises: "3.12", "22".
func series(runtime string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(runtime, "python"), "nodejs"), ".x")
}

// TestRuntimeVersions checks that every managed runtime the server offers
// runs on an interpreter of exactly its version (AWS_EXECUTION_ENV claims
// it), that the ones it cannot serve are refused by CreateFunction and
// UpdateFunctionConfiguration with the reason and the fix, and that
// `hearth runtimes` lists both.
func TestRuntimeVersions(t *testing.T) {
	s := startServer(t, "")
	resp, err := s.get(t, "/_hearth/v1/runtimes")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	served, err := decodeRuntimes(body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /_hearth/v1/runtimes = %d %s: %v", resp.StatusCode, body, err)
	}

	var missing []string
	for _, id := range []string{"python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
		"nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x"} {
		st, ok := served[id]
		if !ok {
			t.Errorf("/_hearth/v1/runtimes does not list %s", id)
			continue
		}
		if !st.Available {
			missing = append(missing, id)
			continue
		}
		t.Run(id, func(t *testing.T) {
			if !strings.HasPrefix(st.Version+".", series(id)+".") {
				t.Fatalf("%s is served by %s %s", id, st.Interpreter, st.Version)
			}
			name := "v-" + strings.ReplaceAll(id, ".", "-")
			s.create(t, name, versionFn(id))
			r := s.invoke(t, name, map[string]any{})
			if r.FunctionError != "" {
				t.Fatalf("%s: %s %s\n%s", id, r.FunctionError, r.Payload, r.Log)
			}
			m := r.decode(t)
			if v, _ := m["version"].(string); !strings.HasPrefix(v+".", series(id)+".") || v != st.Version {
				t.Errorf("%s ran on version %v; want %s (the listed %s)", id, m["version"], series(id), st.Version)
			}
			if m["exec_env"] != "AWS_Lambda_"+id {
				t.Errorf("%s: AWS_EXECUTION_ENV = %v", id, m["exec_env"])
			}
		})
	}
	// CI installs these; elsewhere they may be missing.
	for _, id := range []string{"python3.12", "nodejs20.x", "nodejs22.x"} {
		if !served[id].Available {
			needRuntime(t, id) // fails under HEARTH_REQUIRE_RUNTIMES
		}
	}

	// `hearth runtimes` prints the server's list.
	out, err := s.cli(t.Context(), "runtimes").CombinedOutput()
	if err != nil {
		t.Fatalf("hearth runtimes: %v\n%s", err, out)
	}
	for id, st := range served {
		want := id + " "
		if st.Available && st.Interpreter != "" {
			want = fmt.Sprintf("%s %s %s", id, st.Version, st.Interpreter)
		} else if !st.Available {
			want = id + " - unavailable: "
		}
		if !strings.Contains(strings.Join(strings.Fields(string(out)), " "), want) {
			t.Errorf("hearth runtimes lacks %q:\n%s", want, out)
		}
	}

	if len(missing) == 0 {
		t.Log("this host serves every managed runtime; no refusal to check")
		return
	}
	id := missing[0]
	want := "--runtime " + id + "="
	_, err = s.Client.CreateFunction(t.Context(), &lambda.CreateFunctionInput{
		FunctionName: aws.String("refused"),
		Runtime:      types.Runtime(id),
		Handler:      aws.String("app.handler"),
		Role:         aws.String("arn:aws:iam::000000000000:role/e2e"),
		Code:         &types.FunctionCode{ZipFile: versionFn(id).zip},
	})
	if apiCode(err) != "InvalidParameterValueException" || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "no ") {
		t.Errorf("CreateFunction(%s) = %v; want InvalidParameterValueException saying what is missing and %q", id, err, want)
	}
	s.create(t, "to-update", goFn())
	_, err = s.Client.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("to-update"),
		Runtime:      types.Runtime(id),
		Handler:      aws.String("app.handler"),
	})
	if apiCode(err) != "InvalidParameterValueException" || !strings.Contains(err.Error(), want) {
		t.Errorf("UpdateFunctionConfiguration(Runtime %s) = %v; want InvalidParameterValueException with %q", id, err, want)
	}
}
