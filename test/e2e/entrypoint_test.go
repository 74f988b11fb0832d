package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// foreign is the Lambda architecture this host's processor cannot run, and
// its GOARCH.
func foreign(t testing.TB) (arch, goarch string) {
	switch runtime.GOARCH {
	case "amd64":
		return "arm64", "arm64"
	case "arm64":
		return "x86_64", "amd64"
	}
	t.Skipf("no Lambda architecture for GOARCH %s", runtime.GOARCH)
	return "", ""
}

var foreignFn struct {
	once sync.Once
	zip  []byte
	err  error
}

// foreignGoFnZip is testdata/gofn built for the foreign architecture.
func foreignGoFnZip(t testing.TB) []byte {
	t.Helper()
	_, goarch := foreign(t)
	foreignFn.once.Do(func() {
		dir, err := os.MkdirTemp("", "hearth-e2e-foreign-")
		if err != nil {
			foreignFn.err = err
			return
		}
		defer os.RemoveAll(dir)
		boot := filepath.Join(dir, "bootstrap")
		cmd := exec.Command("go", "build", "-o", boot, "./testdata/gofn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
		if out, err := cmd.CombinedOutput(); err != nil {
			foreignFn.err = fmt.Errorf("build go function for %s: %v\n%s", goarch, err, out)
			return
		}
		b, err := os.ReadFile(boot)
		foreignFn.zip, foreignFn.err = zipFiles(map[string]zipFile{"bootstrap": {data: b, mode: 0o755}}), err
	})
	if foreignFn.err != nil {
		t.Fatal(foreignFn.err)
	}
	return foreignFn.zip
}

// TestUnexecutableBootstrap: a bootstrap the kernel refuses (a #! naming a
// missing interpreter, a Go binary for another architecture) fails each
// invocation at once with Runtime.InvalidEntrypoint, an async event of it
// ends in its failure destination, and the server still stops within its
// shutdown timeout. Run as root, the server uses the linux driver, where
// the exec happens inside the sandbox's init.
func TestUnexecutableBootstrap(t *testing.T) {
	s := startServer(t, "", "--shutdown-timeout", "5s", "--async-retry-base", "100ms")
	if os.Geteuid() == 0 && !strings.Contains(s.Log(), `msg="sandbox driver" driver=linux`) {
		t.Error("running as root, the server did not pick the linux driver")
	}
	cases := []struct {
		name, want string
		zip        []byte
	}{
		{"interp", "no such file or directory", zipFiles(map[string]zipFile{"bootstrap": {data: []byte("#!/nonexistent/interp\necho never\n"), mode: 0o755}})},
		{"foreign", "exec format error", foreignGoFnZip(t)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := goFn()
			f.zip, f.timeout = c.zip, 3
			s.create(t, "noexec-"+c.name, f)
			for attempt := 1; attempt <= 2; attempt++ {
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				began := time.Now()
				r, err := s.tryInvoke(ctx, s.NoRetry, "noexec-"+c.name, map[string]any{"op": "echo"})
				cancel()
				if err != nil {
					t.Fatalf("attempt %d: Invoke() = %v after %v; want an answer at once", attempt, err, time.Since(began))
				}
				if d := time.Since(began); d > 3*time.Second {
					t.Errorf("attempt %d: Invoke() took %v; want an answer at once", attempt, d)
				}
				typ, msg := errorDoc(t, r)
				wantMsg := " Error: fork/exec /var/task/bootstrap: " + c.want
				if typ != "Runtime.InvalidEntrypoint" || !strings.HasPrefix(msg, "RequestId: ") || !strings.HasSuffix(msg, wantMsg) {
					t.Errorf("attempt %d: error = %s %q; want Runtime.InvalidEntrypoint \"RequestId: <id>%s\"", attempt, typ, msg, wantMsg)
				}
				// As on Lambda: the init phase's failure, its retry's within
				// the invocation, then the invocation's lines.
				order := []string{"Phase: init\tStatus: error\tError Type: Runtime.InvalidEntrypoint",
					"Phase: invoke\tStatus: error\tError Type: Runtime.InvalidEntrypoint", "START RequestId:", wantMsg, "REPORT RequestId:"}
				for i, at := 0, 0; i < len(order); i++ {
					j := strings.Index(r.Log[at:], order[i])
					if j < 0 {
						t.Errorf("attempt %d: log tail lacks %q after %q:\n%s", attempt, order[i], order[max(i-1, 0)], r.Log)
						break
					}
					at += j + len(order[i])
				}
			}
			if envs := s.environments(t); len(envs) != 0 {
				t.Errorf("environments after failed starts = %v; want none", envs)
			}

			// An event ends as a function error: retried, then delivered
			// to the failure destination.
			s.putEventConfig(t, "noexec-"+c.name, 1, "", queueARN("noexec-failed-"+c.name))
			s.event(t, "noexec-"+c.name, `{"op":"echo"}`)
			recs := records(t, s.receive(t, "noexec-failed-"+c.name, 1, 30*time.Second))
			if len(recs) != 1 {
				t.Fatalf("%d failure records; want 1", len(recs))
			}
			if r := recs[0]; r.RequestContext.Condition != "RetriesExhausted" || r.RequestContext.ApproximateInvokeCount != 2 ||
				r.ResponseContext == nil || r.ResponseContext.FunctionError != "Unhandled" ||
				!strings.Contains(string(r.ResponsePayload), "Runtime.InvalidEntrypoint") {
				t.Errorf("failure record = %+v, payload %s; want RetriesExhausted after 2 attempts with Runtime.InvalidEntrypoint", r, r.ResponsePayload)
			}
		})
	}

	began := time.Now()
	s.Stop()
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("shutdown took %v; want it within --shutdown-timeout 5s", d)
	}
}

// TestForeignArchitectureRefused: a function for an architecture the
// host's processor cannot run is refused by CreateFunction and
// UpdateFunctionCode, naming both architectures, instead of failing every
// invocation.
func TestForeignArchitectureRefused(t *testing.T) {
	arch, _ := foreign(t)
	s := startServer(t, "")
	in := &lambda.CreateFunctionInput{
		FunctionName:  aws.String("foreign"),
		Runtime:       types.RuntimeProvidedal2023,
		Handler:       aws.String("bootstrap"),
		Role:          aws.String("arn:aws:iam::000000000000:role/e2e"),
		Code:          &types.FunctionCode{ZipFile: goFnZip},
		Architectures: []types.Architecture{types.Architecture(arch)},
	}
	_, err := s.Client.CreateFunction(t.Context(), in)
	if code := apiCode(err); code != "InvalidParameterValueException" || !strings.Contains(err.Error(), "architecture "+arch+" cannot run") {
		t.Errorf("CreateFunction(Architectures [%s]) = %v; want InvalidParameterValueException naming %s", arch, err, arch)
	}
	if _, err := s.Client.GetFunction(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String("foreign")}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("GetFunction after a refused create = %v; want ResourceNotFoundException", err)
	}

	in.Architectures = nil
	s.create(t, "native", fn{runtime: string(in.Runtime), handler: "bootstrap", zip: goFnZip})
	_, err = s.Client.UpdateFunctionCode(t.Context(), &lambda.UpdateFunctionCodeInput{
		FunctionName: aws.String("native"), ZipFile: goFnZip, Architectures: []types.Architecture{types.Architecture(arch)},
	})
	if code := apiCode(err); code != "InvalidParameterValueException" || !strings.Contains(err.Error(), arch) {
		t.Errorf("UpdateFunctionCode(Architectures [%s]) = %v; want InvalidParameterValueException naming %s", arch, err, arch)
	}
	out, err := s.Client.GetFunction(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String("native")})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Configuration.Architectures; len(got) != 1 || got[0] == types.Architecture(arch) {
		t.Errorf("Architectures after the refused update = %v; want the host's", got)
	}
	if r := s.invoke(t, "native", map[string]any{"op": "echo"}); r.FunctionError != "" {
		t.Errorf("invoke after the refused update = %s %s; want success", r.FunctionError, r.Payload)
	}
}
