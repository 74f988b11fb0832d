package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// apiCode returns the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestFunctionLifecycleAPI(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	f := pythonFn(t)
	needRuntime(t, f.runtime)

	out, err := s.Client.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("crud"),
		Runtime:      types.RuntimePython312,
		Handler:      aws.String("app.handler"),
		Role:         aws.String("arn:aws:iam::000000000000:role/e2e"),
		Code:         &types.FunctionCode{ZipFile: f.zip},
		Description:  aws.String("first"),
		Environment:  &types.Environment{Variables: map[string]string{"GREETING": "hi"}},
		Tags:         map[string]string{"team": "hearth"},
	})
	if err != nil {
		t.Fatalf("CreateFunction() = %v", err)
	}
	sum := sha256.Sum256(f.zip)
	if got, want := aws.ToString(out.CodeSha256), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		t.Errorf("CodeSha256 = %s; want %s", got, want)
	}
	if out.State != types.StatePending || out.CodeSize != int64(len(f.zip)) || aws.ToInt32(out.Timeout) != 3 ||
		aws.ToInt32(out.MemorySize) != 128 || aws.ToString(out.Version) != "$LATEST" || out.PackageType != types.PackageTypeZip {
		t.Errorf("CreateFunction() = state %s, size %d, timeout %d, memory %d, version %s, package %s",
			out.State, out.CodeSize, aws.ToInt32(out.Timeout), aws.ToInt32(out.MemorySize), aws.ToString(out.Version), out.PackageType)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000-0700", aws.ToString(out.LastModified)); err != nil {
		t.Errorf("LastModified %q is not in Lambda's format: %v", aws.ToString(out.LastModified), err)
	}
	waiter := lambda.NewFunctionActiveV2Waiter(s.Client, func(o *lambda.FunctionActiveV2WaiterOptions) { o.MinDelay = 50 * time.Millisecond })
	if err := waiter.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("crud")}, 30*time.Second); err != nil {
		t.Fatalf("function-active-v2 waiter: %v", err)
	}

	_, err = s.Client.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("crud"), Runtime: types.RuntimePython312, Handler: aws.String("app.handler"),
		Role: aws.String("arn:aws:iam::000000000000:role/e2e"), Code: &types.FunctionCode{ZipFile: f.zip},
	})
	var conflict *types.ResourceConflictException
	if !errors.As(err, &conflict) {
		t.Errorf("duplicate CreateFunction() = %v; want ResourceConflictException", err)
	}

	got, err := s.Client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:crud")})
	if err != nil {
		t.Fatalf("GetFunction(ARN) = %v", err)
	}
	if got.Configuration.State != types.StateActive || got.Configuration.LastUpdateStatus != types.LastUpdateStatusSuccessful {
		t.Errorf("GetFunction() state = %s / %s; want Active / Successful", got.Configuration.State, got.Configuration.LastUpdateStatus)
	}
	if got.Tags["team"] != "hearth" || got.Configuration.Environment.Variables["GREETING"] != "hi" {
		t.Errorf("GetFunction() tags %v, env %v", got.Tags, got.Configuration.Environment)
	}
	resp, err := http.Get(aws.ToString(got.Code.Location))
	if err != nil {
		t.Fatalf("download Code.Location: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, f.zip) {
		t.Errorf("Code.Location gave %d and %d bytes; want 200 and the uploaded zip", resp.StatusCode, len(body))
	}
	if resp, err := http.Get(strings.Replace(aws.ToString(got.Code.Location), "sig=", "sig=0", 1)); err == nil {
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("tampered Code.Location gave %d; want 403", resp.StatusCode)
		}
		resp.Body.Close()
	}

	tags, err := s.Client.ListTags(ctx, &lambda.ListTagsInput{Resource: got.Configuration.FunctionArn})
	if err != nil || tags.Tags["team"] != "hearth" {
		t.Errorf("ListTags() = %v, %v", tags, err)
	}

	// Update the configuration and see the function observe it.
	upd, err := s.Client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("crud"),
		Timeout:      aws.Int32(9),
		MemorySize:   aws.Int32(256),
		Description:  aws.String("second"),
		Environment:  &types.Environment{Variables: map[string]string{"GREETING": "hello"}},
		RevisionId:   got.Configuration.RevisionId,
	})
	if err != nil {
		t.Fatalf("UpdateFunctionConfiguration() = %v", err)
	}
	if aws.ToInt32(upd.Timeout) != 9 || aws.ToInt32(upd.MemorySize) != 256 || aws.ToString(upd.RevisionId) == aws.ToString(got.Configuration.RevisionId) {
		t.Errorf("UpdateFunctionConfiguration() = timeout %d memory %d revision unchanged=%v", aws.ToInt32(upd.Timeout), aws.ToInt32(upd.MemorySize), aws.ToString(upd.RevisionId) == aws.ToString(got.Configuration.RevisionId))
	}
	uw := lambda.NewFunctionUpdatedV2Waiter(s.Client, func(o *lambda.FunctionUpdatedV2WaiterOptions) { o.MinDelay = 50 * time.Millisecond })
	if err := uw.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("crud")}, 30*time.Second); err != nil {
		t.Fatalf("function-updated-v2 waiter: %v", err)
	}
	env, _ := s.invoke(t, "crud", map[string]any{"op": "env"}).decode(t)["env"].(map[string]any)
	if env["GREETING"] != "hello" || env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] != "256" {
		t.Errorf("after update the function sees GREETING=%v memory=%v; want hello, 256", env["GREETING"], env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
	}

	// A stale RevisionId is refused.
	_, err = s.Client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("crud"), Timeout: aws.Int32(5), RevisionId: got.Configuration.RevisionId,
	})
	var pre *types.PreconditionFailedException
	if !errors.As(err, &pre) {
		t.Errorf("update with a stale RevisionId = %v; want PreconditionFailedException", err)
	}

	// Update the code: the next invocation runs the new code.
	v2 := zipFiles(map[string]zipFile{"app.py": {data: []byte("def handler(event, context):\n    return {'version': 2}\n")}})
	code, err := s.Client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("crud"), ZipFile: v2})
	if err != nil {
		t.Fatalf("UpdateFunctionCode() = %v", err)
	}
	if code.CodeSize != int64(len(v2)) || aws.ToString(code.CodeSha256) == aws.ToString(out.CodeSha256) {
		t.Errorf("UpdateFunctionCode() = size %d sha %s", code.CodeSize, aws.ToString(code.CodeSha256))
	}
	if err := uw.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("crud")}, 30*time.Second); err != nil {
		t.Fatalf("function-updated-v2 waiter after code update: %v", err)
	}
	if r := s.invoke(t, "crud", map[string]any{}); string(r.Payload) != `{"version": 2}` {
		t.Errorf("after UpdateFunctionCode the function returned %s; want the new code's answer", r.Payload)
	}

	cfg, err := s.Client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("crud")})
	if err != nil || aws.ToString(cfg.Description) != "second" || aws.ToString(cfg.CodeSha256) != aws.ToString(code.CodeSha256) {
		t.Errorf("GetFunctionConfiguration() = %v, %v", cfg, err)
	}

	if _, err := s.Client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("crud")}); err != nil {
		t.Fatalf("DeleteFunction() = %v", err)
	}
	var nf *types.ResourceNotFoundException
	if _, err := s.Client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("crud")}); !errors.As(err, &nf) {
		t.Errorf("GetFunction() after delete = %v; want ResourceNotFoundException", err)
	}
	if _, err := s.Client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("crud")}); !errors.As(err, &nf) {
		t.Errorf("DeleteFunction() twice = %v; want ResourceNotFoundException", err)
	}
}

func TestListFunctionsPaginates(t *testing.T) {
	s := startServer(t, "")
	for i := range 7 {
		s.create(t, fmt.Sprintf("list-%d", i), goFn())
	}
	var names []string
	pages := 0
	p := lambda.NewListFunctionsPaginator(s.Client, &lambda.ListFunctionsInput{MaxItems: aws.Int32(3)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Functions) > 3 {
			t.Errorf("page of %d items; MaxItems was 3", len(page.Functions))
		}
		for _, f := range page.Functions {
			names = append(names, aws.ToString(f.FunctionName))
		}
	}
	want := "list-0 list-1 list-2 list-3 list-4 list-5 list-6"
	if got := strings.Join(names, " "); got != want || pages != 3 {
		t.Errorf("paginated ListFunctions = %q in %d pages; want %q in 3", got, pages, want)
	}
	acct, err := s.Client.GetAccountSettings(t.Context(), &lambda.GetAccountSettingsInput{})
	if err != nil || acct.AccountUsage.FunctionCount != 7 || acct.AccountLimit.ConcurrentExecutions != 1000 {
		t.Errorf("GetAccountSettings() = %+v, %v", acct, err)
	}
}

func TestBadInput(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	good := goFn()
	good.memory, good.timeout = 1024, 30 // enough CPU to parse a 6 MB event promptly
	s.create(t, "good", good)
	create := func(name, runtime string, zip []byte, mutate func(*lambda.CreateFunctionInput)) error {
		in := &lambda.CreateFunctionInput{
			FunctionName: aws.String(name), Runtime: types.Runtime(runtime), Handler: aws.String("app.handler"),
			Role: aws.String("arn:aws:iam::000000000000:role/e2e"), Code: &types.FunctionCode{ZipFile: zip},
		}
		if mutate != nil {
			mutate(in)
		}
		_, err := s.NoRetry.CreateFunction(ctx, in)
		return err
	}
	okZip := zipFiles(map[string]zipFile{"app.py": {data: []byte("def handler(e, c): return 1\n")}})
	bomb := zipFiles(map[string]zipFile{"zeros": {data: make([]byte, 300<<20)}})
	// Model constraints (patterns, ranges) are ValidationExceptions, as
	// AWS answers them; Lambda's own checks InvalidParameterValueException.
	tests := []struct {
		name string
		err  error
		code string
		msg  string
	}{
		{"not a zip", create("bad1", "python3.12", []byte("this is not a zip"), nil), "InvalidParameterValueException", "Could not unzip"},
		{"path traversal", create("bad2", "python3.12", zipFiles(map[string]zipFile{"../../etc/evil": {data: []byte("x")}}), nil), "InvalidParameterValueException", "Could not unzip"},
		{"absolute path", create("bad3", "python3.12", zipFiles(map[string]zipFile{"/etc/evil": {data: []byte("x")}}), nil), "InvalidParameterValueException", "Could not unzip"},
		{"zip bomb", create("bad4", "python3.12", bomb, nil), "InvalidParameterValueException", "Unzipped size must be smaller than 262144000 bytes"},
		// Each link alone stays inside; followed one through the other,
		// up climbs out of the package.
		{"symlink chain", create("bad10", "provided.al2023", zipFiles(map[string]zipFile{
			"d/l":       {data: []byte(".."), mode: fs.ModeSymlink | 0o777},
			"up":        {data: []byte("d/l/.."), mode: fs.ModeSymlink | 0o777},
			"bootstrap": {data: []byte("up/etc/bootstrap"), mode: fs.ModeSymlink | 0o777},
		}), nil), "InvalidParameterValueException", "Could not unzip"},
		{"unsupported runtime", create("bad5", "java21", okZip, nil), "InvalidParameterValueException", "java21"},
		{"memory too small", create("bad6", "python3.12", okZip, func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(64) }), "ValidationException", "memorySize"},
		{"timeout too long", create("bad7", "python3.12", okZip, func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(901) }), "ValidationException", "timeout"},
		{"reserved env", create("bad8", "python3.12", okZip, func(in *lambda.CreateFunctionInput) {
			in.Environment = &types.Environment{Variables: map[string]string{"AWS_REGION": "x"}}
		}), "InvalidParameterValueException", "reserved keys"},
		{"bad name", create("bad name!", "python3.12", okZip, nil), "ValidationException", "functionName"},
		{"bad role", create("bad9", "python3.12", okZip, func(in *lambda.CreateFunctionInput) { in.Role = aws.String("nope") }), "ValidationException", "role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := apiCode(tt.err); got != tt.code || !strings.Contains(tt.err.Error(), tt.msg) {
				t.Errorf("error = %v; want %s mentioning %q", tt.err, tt.code, tt.msg)
			}
		})
	}
	list, err := s.Client.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	if err != nil || len(list.Functions) != 1 {
		t.Errorf("after rejected creates ListFunctions() = %d functions, %v; want only the good one", len(list.Functions), err)
	}

	t.Run("unknown function", func(t *testing.T) {
		var nf *types.ResourceNotFoundException
		_, err := s.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("missing")})
		if !errors.As(err, &nf) || !strings.Contains(aws.ToString(nf.Message), "Function not found: arn:aws:lambda:us-east-1:000000000000:function:missing") {
			t.Errorf("Invoke(missing) = %v; want ResourceNotFoundException with Lambda's message", err)
		}
		for name, call := range map[string]func() error{
			"GetFunction": func() error {
				_, err := s.Client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("missing")})
				return err
			},
			"UpdateFunctionCode": func() error {
				_, err := s.Client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("missing"), ZipFile: okZip})
				return err
			},
			"DeleteFunction": func() error {
				_, err := s.Client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("missing")})
				return err
			},
			"Invoke version": func() error {
				_, err := s.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("good"), Qualifier: aws.String("7")})
				return err
			},
		} {
			if err := call(); !errors.As(err, &nf) {
				t.Errorf("%s = %v; want ResourceNotFoundException", name, err)
			}
		}
	})

	t.Run("payloads", func(t *testing.T) {
		_, err := s.NoRetry.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("good"), Payload: []byte("{not json")})
		var ic *types.InvalidRequestContentException
		if !errors.As(err, &ic) {
			t.Errorf("Invoke(malformed JSON) = %v; want InvalidRequestContentException", err)
		}
		huge := append(append([]byte(`{"op":"echo","pad":"`), bytes.Repeat([]byte("a"), 6<<20)...), '"', '}')
		_, err = s.NoRetry.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("good"), Payload: huge})
		var tl *types.RequestTooLargeException
		if !errors.As(err, &tl) {
			t.Errorf("Invoke(6 MB + 1) = %v; want RequestTooLargeException", err)
		}
		exact := append(append([]byte(`{"op":"sleep","ms":0,"pad":"`), bytes.Repeat([]byte("a"), 6<<20-30)...), '"', '}')
		exact = append(exact, bytes.Repeat([]byte(" "), 6<<20-len(exact))...)
		if r, err := s.tryInvoke(ctx, s.NoRetry, "good", exact); err != nil || r.FunctionError != "" {
			t.Errorf("Invoke(exactly 6 MB) = %v, %v; want success", err, r)
		}
		if r := s.invoke(t, "good", []byte{}); r.FunctionError != "" {
			t.Errorf("Invoke(empty payload) = %s; want success", r.Payload)
		}
	})

	t.Run("malformed management requests", func(t *testing.T) {
		for _, body := range []string{`{`, `{"FunctionName": 5}`, `[1,2]`, `{"Timeout":"x","FunctionName":"f"}`} {
			resp, err := s.post(t, "/2015-03-31/functions", "application/json", []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-Errortype") != "InvalidRequestContentException" || !strings.Contains(string(b), `"message"`) {
				t.Errorf("POST %s = %d %s %s; want 400 InvalidRequestContentException", body, resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), b)
			}
		}
	})

	t.Run("dry run", func(t *testing.T) {
		out, err := s.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("good"), InvocationType: types.InvocationTypeDryRun})
		if err != nil || out.StatusCode != 204 {
			t.Errorf("DryRun = %v, %v; want 204", out, err)
		}
	})
}
