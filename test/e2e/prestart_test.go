package e2e

import (
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/go-cmp/cmp"
)

const stemLine = "bootstrap started from a stem"

// coldStemEnv starts a new environment of function with vars (a
// configuration change retires the old one) and returns the variables
// its handler sees, and whether it was started from a stem.
// Its init's output (initLine) must be in the cold invocation's log.
func coldStemEnv(t *testing.T, s *server, function, initLine string, vars map[string]string) (map[string]any, bool) {
	t.Helper()
	if _, err := s.Client.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String(function),
		Environment:  &types.Environment{Variables: vars},
	}); err != nil {
		t.Fatal(err)
	}
	s.settle(t, function)
	before := strings.Count(s.Log(), stemLine)
	r := s.invoke(t, function, map[string]any{"op": "env"})
	if r.FunctionError != "" || !initRE.MatchString(r.Log) {
		t.Fatalf("cold invoke: %s %s\n%s", r.FunctionError, r.Payload, r.Log)
	}
	if !strings.Contains(r.Log, initLine) {
		t.Errorf("cold invoke's log lacks the init's output %q:\n%s", initLine, r.Log)
	}
	env, _ := r.decode(t)["env"].(map[string]any)
	return env, strings.Count(s.Log(), stemLine) > before
}

// TestPrestart: with --prestart on (the default), under either driver,
// the hello Python and Node functions' cold starts come from stems once
// they have started (the first is ordinary), their handlers see the same
// variables as in an ordinary start, a second function served by the
// same key's stems sees none of the first's, and a function that sets a
// start variable (NODE_OPTIONS, PYTHONPATH...) starts the ordinary way.
func TestPrestart(t *testing.T) {
	for _, iso := range isolations() {
		t.Run(iso, func(t *testing.T) { testPrestart(t, iso) })
	}
}

func testPrestart(t *testing.T, isolation string) {
	s := startServer(t, "", "--isolation", isolation, "--prestart", "on")
	for _, tc := range []struct {
		name          string
		f             fn
		startVar, val string
	}{
		{"python", pythonFn(t), "PYTHONDONTWRITEBYTECODE", "1"},
		{"node", nodeFn(t), "NODE_OPTIONS", "--stack-trace-limit=20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			needRuntime(t, tc.f.runtime)
			name := "pre-" + tc.name
			tc.f.env = map[string]string{"ITER": "0", "SECRET": "first"}
			s.create(t, name, tc.f)
			var plain, stem map[string]any
			for i := 1; i <= 10 && stem == nil; i++ {
				env, st := coldStemEnv(t, s, name, tc.name+" init", map[string]string{"ITER": strconv.Itoa(i), "SECRET": "first"})
				if st {
					stem = env
				} else if plain == nil {
					plain = env
				}
			}
			if plain == nil || stem == nil {
				t.Fatalf("ordinary start seen: %v, start from a stem seen: %v; want both\n%s", plain != nil, stem != nil, s.Log())
			}
			volatile := []string{"ITER", "TMPDIR", "AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_LOG_STREAM_NAME", "_X_AMZN_TRACE_ID",
				"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"}
			for _, env := range []map[string]any{plain, stem} {
				for _, k := range volatile {
					delete(env, k)
				}
			}
			if d := cmp.Diff(plain, stem); d != "" {
				t.Errorf("variables of an environment started from a stem differ from an ordinary one's (-ordinary +stem):\n%s", d)
			}

			other := name + "-2"
			tc.f.env = map[string]string{"OTHER": "second"}
			s.create(t, other, tc.f)
			served := false
			for i := 1; i <= 10 && !served; i++ {
				env, st := coldStemEnv(t, s, other, tc.name+" init", map[string]string{"ITER": strconv.Itoa(i)})
				for v := range maps.Values(env) {
					if v == "first" {
						t.Errorf("%s sees %s's SECRET: %v", other, name, env)
					}
				}
				served = st
			}
			if !served {
				t.Errorf("%s was never started from a stem", other)
			}

			for i := 1; i <= 3; i++ {
				env, st := coldStemEnv(t, s, other, tc.name+" init", map[string]string{"ITER": strconv.Itoa(i), tc.startVar: tc.val})
				if st {
					t.Errorf("a function setting %s was started from a stem", tc.startVar)
				}
				if env[tc.startVar] != tc.val {
					t.Errorf("%s = %v", tc.startVar, env[tc.startVar])
				}
			}
		})
	}
}
