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

const forkedLine = "bootstrap forked by a zygote"

// coldEnv starts a new environment of function with vars (a
// configuration change retires the old one) and returns the variables
// its handler sees, and whether a zygote forked it.
func coldEnv(t *testing.T, s *server, function string, vars map[string]string) (map[string]any, bool) {
	t.Helper()
	if _, err := s.Client.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String(function),
		Environment:  &types.Environment{Variables: vars},
	}); err != nil {
		t.Fatal(err)
	}
	s.settle(t, function)
	before := strings.Count(s.Log(), forkedLine)
	r := s.invoke(t, function, map[string]any{"op": "env"})
	if r.FunctionError != "" || !initRE.MatchString(r.Log) {
		t.Fatalf("cold invoke: %s %s\n%s", r.FunctionError, r.Payload, r.Log)
	}
	env, _ := r.decode(t)["env"].(map[string]any)
	return env, strings.Count(s.Log(), forkedLine) > before
}

// TestZygotePython: with --zygote on, a Python function's cold starts are
// forked from a zygote once it has started (the first are ordinary), its
// handler sees the same variables as in an ordinary start, and a second
// function forked from the same zygote sees none of the first's.
func TestZygotePython(t *testing.T) {
	f := pythonFn(t)
	needRuntime(t, f.runtime)
	s := startServer(t, "", "--isolation", "process", "--zygote", "on")
	f.env = map[string]string{"ITER": "0", "SECRET": "first"}
	s.create(t, "zy", f)
	var plain, forked map[string]any
	for i := 1; i <= 10 && forked == nil; i++ {
		env, z := coldEnv(t, s, "zy", map[string]string{"ITER": strconv.Itoa(i), "SECRET": "first"})
		if z {
			forked = env
		} else if plain == nil {
			plain = env
		}
	}
	if plain == nil || forked == nil {
		t.Fatalf("ordinary start seen: %v, forked start seen: %v; want both\n%s", plain != nil, forked != nil, s.Log())
	}
	// What differs between any two environments.
	volatile := []string{"ITER", "TMPDIR", "AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_LOG_STREAM_NAME", "_X_AMZN_TRACE_ID",
		"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"}
	for _, env := range []map[string]any{plain, forked} {
		for _, k := range volatile {
			delete(env, k)
		}
	}
	if d := cmp.Diff(plain, forked); d != "" {
		t.Errorf("variables of a forked environment differ from an ordinary one's (-ordinary +forked):\n%s", d)
	}

	f.env = map[string]string{"OTHER": "second"}
	s.create(t, "zy2", f)
	for i := 1; i <= 10; i++ {
		env, z := coldEnv(t, s, "zy2", map[string]string{"ITER": strconv.Itoa(i)})
		for v := range maps.Values(env) {
			if v == "first" {
				t.Errorf("zy2 sees zy's SECRET: %v", env)
			}
		}
		if z {
			return
		}
	}
	t.Errorf("zy2 was never forked by a zygote")
}

// TestZygoteFallbackWrapper: a Python function with
// AWS_LAMBDA_EXEC_WRAPPER starts the ordinary way.
func TestZygoteFallbackWrapper(t *testing.T) {
	f := pythonFn(t)
	needRuntime(t, f.runtime)
	s := startServer(t, "", "--isolation", "process", "--zygote", "on")
	s.create(t, "zyw", f)
	for i := 1; i <= 4; i++ {
		_, z := coldEnv(t, s, "zyw", map[string]string{"ITER": strconv.Itoa(i)}) // starts the zygote
		if z {
			break
		}
	}
	for i := 1; i <= 3; i++ {
		env, z := coldEnv(t, s, "zyw", map[string]string{"ITER": strconv.Itoa(i), "AWS_LAMBDA_EXEC_WRAPPER": "/usr/bin/env"})
		if z {
			t.Errorf("a wrapped start was forked by a zygote")
		}
		if env["AWS_LAMBDA_EXEC_WRAPPER"] != "/usr/bin/env" {
			t.Errorf("AWS_LAMBDA_EXEC_WRAPPER = %v", env["AWS_LAMBDA_EXEC_WRAPPER"])
		}
	}
}
