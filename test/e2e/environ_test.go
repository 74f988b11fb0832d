package e2e

import (
	"maps"
	"slices"
	"testing"
)

// awsEnviron is the environment AWS Lambda gave a function that set one
// variable of its own (TEST_KEY), by runtime: the names, and the values
// that do not vary. Recorded in January 2026 (localstack's
// test_lambda_common.snapshot.json, test_introspection_invoke, validated
// against AWS). "" is a value that varies (credentials, ids, addresses).
var awsEnviron = map[string]map[string]string{
	"python3.12": withCommon(map[string]string{
		"AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
		"PWD":               "/var/task",
		"PYTHONPATH":        "/var/runtime",
		"SHLVL":             "0",
	}),
	"nodejs20.x": withCommon(map[string]string{
		"AWS_EXECUTION_ENV": "AWS_Lambda_nodejs20.x",
		"NODE_PATH":         "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task",
		"PWD":               "/var/task",
		"SHLVL":             "0",
	}),
	"provided.al2023": withCommon(map[string]string{}),
}

func withCommon(m map[string]string) map[string]string {
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_NAME": "", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand", "AWS_LAMBDA_LOG_GROUP_NAME": "", "AWS_LAMBDA_LOG_STREAM_NAME": "",
		"AWS_LAMBDA_RUNTIME_API": "", "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR", "AWS_XRAY_DAEMON_ADDRESS": "",
		"_AWS_XRAY_DAEMON_ADDRESS": "", "_AWS_XRAY_DAEMON_PORT": "2000", "_HANDLER": "", "_X_AMZN_TRACE_ID": "",
		"LAMBDA_RUNTIME_DIR": "/var/runtime", "LAMBDA_TASK_ROOT": "/var/task", "LANG": "en_US.UTF-8", "TZ": ":UTC",
		// lambda-api.md §6.3's values; AWS's images add /var/lang/{bin,lib}
		// in front, where their interpreters live.
		"PATH":            "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LD_LIBRARY_PATH": "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
		"TEST_KEY":        "TEST_VAL",
	} {
		m[k] = v
	}
	return m
}

// hearthEnviron is what Hearth adds on purpose, by name: the endpoint its
// SDKs reach it at, TMPDIR (the process driver's /tmp is elsewhere),
// AWS_ACCESS_KEY (lambda-api.md §6.3 lists it; AWS gave it only to java8.al2
// and java11 in the recording) and PWD for every runtime (Appendix E);
// LC_CTYPE is Python's own (locale coercion, PEP 538) where the host's
// sandbox lacks en_US.UTF-8, as AWS's images do.
var hearthEnviron = []string{"AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_LOGS",
	"TMPDIR", "AWS_ACCESS_KEY", "PWD", "LC_CTYPE"}

// TestRuntimeEnvironmentAsAWS compares the whole environment a function
// sees with the one AWS gave the same runtime: every variable AWS sets is
// there (with its value where it does not vary), and nothing else is but
// what Hearth adds on purpose.
func TestRuntimeEnvironmentAsAWS(t *testing.T) {
	s := startServer(t, "")
	for _, rc := range runtimeCases {
		t.Run(rc.name, func(t *testing.T) {
			f := rc.fn(t)
			needRuntime(t, f.runtime)
			want, ok := awsEnviron[f.runtime]
			if !ok {
				t.Skipf("no AWS recording for %s", f.runtime)
			}
			f.env = map[string]string{"TEST_KEY": "TEST_VAL"}
			name := "env-" + rc.name
			s.create(t, name, f)
			got := map[string]string{}
			for k, v := range s.invoke(t, name, map[string]any{"op": "env"}).decode(t)["env"].(map[string]any) {
				got[k], _ = v.(string)
			}
			for _, k := range slices.Sorted(maps.Keys(want)) {
				v, ok := got[k]
				switch {
				case !ok:
					t.Errorf("%s is not set; AWS sets it (%q)", k, want[k])
				case want[k] != "" && v != want[k]:
					t.Errorf("%s = %q; AWS gives %q", k, v, want[k])
				}
			}
			for _, k := range slices.Sorted(maps.Keys(got)) {
				if _, ok := want[k]; !ok && !slices.Contains(hearthEnviron, k) {
					t.Errorf("%s=%q is set; AWS does not set it", k, got[k])
				}
			}
		})
	}
}
