package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	// testdata/gocaller loads the SDK's default config; importing it here
	// keeps it in go.mod.
	_ "github.com/aws/aws-sdk-go-v2/config"
)

// TestAuthOutcomes calls the server with aws-sdk-go-v2's real signer and
// every kind of wrong credential.
func TestAuthOutcomes(t *testing.T) {
	s := startServer(t, "", "--isolation", "process")
	client := func(id, secret, region string) *lambda.Client {
		return lambda.New(lambda.Options{
			Region:           region,
			BaseEndpoint:     aws.String(s.URL),
			Credentials:      credentials.NewStaticCredentialsProvider(id, secret, ""),
			RetryMaxAttempts: 1,
		})
	}
	for _, tt := range []struct {
		name string
		c    *lambda.Client
		want string // error code; "" for success
	}{
		{"good", client(s.creds.AccessKeyID, s.creds.SecretAccessKey, "us-east-1"), ""},
		{"wrong secret", client(s.creds.AccessKeyID, "x"+s.creds.SecretAccessKey[1:], "us-east-1"), "InvalidSignatureException"},
		{"unknown key", client("AKIAIOSFODNN7EXAMPLE", s.creds.SecretAccessKey, "us-east-1"), "UnrecognizedClientException"},
		{"wrong region", client(s.creds.AccessKeyID, s.creds.SecretAccessKey, "eu-west-1"), "InvalidSignatureException"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.ListFunctions(t.Context(), &lambda.ListFunctionsInput{})
			if got := errCode(err); got != tt.want {
				t.Errorf("ListFunctions: error code %q (%v); want %q", got, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), s.creds.SecretAccessKey) {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}

	t.Run("skewed clock", func(t *testing.T) {
		// The SDK has no clock to set: its signer, at a time 10 minutes
		// off.
		for _, skew := range []time.Duration{-10 * time.Minute, 10 * time.Minute} {
			req, _ := http.NewRequest("GET", s.URL+"/2015-03-31/functions", nil)
			if err := v4.NewSigner().SignHTTP(t.Context(), s.creds, req, emptySHA256, "lambda", "us-east-1", time.Now().Add(skew)); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-Errortype") != "InvalidSignatureException" || !strings.Contains(string(b), "Signature ") {
				t.Errorf("signed %v off = %d %s %s; want 403 InvalidSignatureException", skew, resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), b)
			}
		}
	})

	t.Run("missing", func(t *testing.T) {
		resp, err := http.Get(s.URL + "/2015-03-31/functions")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-Errortype") != "MissingAuthenticationTokenException" {
			t.Errorf("unsigned request = %d %s; want 403 MissingAuthenticationTokenException", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"))
		}
		if resp, err := http.Get(s.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
			t.Errorf("/healthz unsigned = %v %v; want 200", resp, err)
		}
	})

	t.Run("tampered body", func(t *testing.T) {
		s.create(t, "tamper", goFn())
		body := []byte(`{"op":"echo"}`)
		req, _ := http.NewRequest("POST", s.URL+"/2015-03-31/functions/tamper/invocations", bytes.NewReader(body))
		s.sign(req, body)
		req.Body = io.NopCloser(strings.NewReader(`{"op":"exit"}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-Errortype") != "InvalidSignatureException" {
			t.Errorf("tampered invoke = %d %s; want 403 InvalidSignatureException", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"))
		}
	})

	t.Run("tampered upload", func(t *testing.T) {
		// A code upload streams to disk while it is hashed: a tampered one
		// is refused before anything is created.
		body, _ := json.Marshal(map[string]any{"FunctionName": "tampered", "Runtime": "provided.al2023", "Handler": "bootstrap",
			"Role": "arn:aws:iam::000000000000:role/e2e", "Code": map[string]any{"ZipFile": goFnZip}})
		req, _ := http.NewRequest("POST", s.URL+"/2015-03-31/functions", bytes.NewReader(body))
		s.sign(req, body)
		body[len(body)-3] ^= 1 // inside the last member
		req.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-Errortype") != "InvalidSignatureException" {
			t.Errorf("tampered CreateFunction = %d %s; want 403 InvalidSignatureException", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"))
		}
		_, err = s.Client.GetFunction(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String("tampered")})
		if got := errCode(err); got != "ResourceNotFoundException" {
			t.Errorf("GetFunction after a refused CreateFunction: %v; want ResourceNotFoundException", err)
		}
	})
}

func errCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return err.Error()
}

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// TestGetCallerIdentity asks STS who is calling, with aws-sdk-go-v2 and
// with the aws CLI (botocore's query protocol).
func TestGetCallerIdentity(t *testing.T) {
	s := startServer(t, "", "--isolation", "process")
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL),
		Credentials: credentials.NewStaticCredentialsProvider(s.creds.AccessKeyID, s.creds.SecretAccessKey, "")})
	out, err := c.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(out.Arn)+" "+aws.ToString(out.Account)+" "+aws.ToString(out.UserId),
		"arn:aws:iam::000000000000:root 000000000000 000000000000"; got != want {
		t.Errorf("GetCallerIdentity = %q; want %q", got, want)
	}
	bad := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "x", "")})
	if _, err := bad.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); errCode(err) != "InvalidClientTokenId" {
		t.Errorf("GetCallerIdentity with an unknown key: %v; want InvalidClientTokenId", err)
	}

	// The JSON 1.0 form of the same operation.
	body := []byte("{}")
	req, _ := http.NewRequest("POST", s.URL+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AWSSecurityTokenServiceV20110615.GetCallerIdentity")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(t.Context(), s.creds, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var j struct{ Account, Arn, UserId string }
	if err := json.Unmarshal(b, &j); err != nil || resp.StatusCode != 200 || j.Arn != "arn:aws:iam::000000000000:root" {
		t.Errorf("GetCallerIdentity (JSON 1.0) = %d %s; want 200 with the root ARN", resp.StatusCode, b)
	}

	// A presigned GetCallerIdentity URL, as tools that prove an identity
	// to a third party hand it over.
	preq, _ := http.NewRequest("GET", s.URL+"/?Action=GetCallerIdentity&Version=2011-06-15", nil)
	u, _, err := v4.NewSigner().PresignHTTP(t.Context(), s.creds, preq, emptySHA256, "sts", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(u); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "<Arn>arn:aws:iam::000000000000:root</Arn>") {
			t.Errorf("presigned GetCallerIdentity = %d %s; want 200 with the root ARN", resp.StatusCode, b)
		}
	}
	if resp, err := http.Get(strings.Replace(u, "X-Amz-Signature=", "X-Amz-Signature=0", 1)); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != 403 && resp.StatusCode != 400 {
			t.Errorf("presigned URL with a broken signature = %d; want refused", resp.StatusCode)
		}
	}

	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("no aws CLI")
	}
	cmd := exec.CommandContext(t.Context(), "aws", "sts", "get-caller-identity", "--endpoint-url", s.URL, "--region", "us-east-1", "--output", "json")
	cmd.Env = append(s.credEnv(), "AWS_MAX_ATTEMPTS=1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	b, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws sts get-caller-identity: %v\n%s", err, b)
	}
	var id struct{ Account, Arn string }
	if err := json.Unmarshal(b, &id); err != nil || id.Account != "000000000000" || id.Arn != "arn:aws:iam::000000000000:root" {
		t.Errorf("aws sts get-caller-identity = %s (%v); want account 000000000000, arn ...:root", b, err)
	}
}

// TestAccountsAndKeys manages accounts and keys with the CLI, as root,
// and checks that other keys may not.
func TestAccountsAndKeys(t *testing.T) {
	needAccounts(t)
	s := startServer(t, "")
	// hearth credentials reads the file the server wrote.
	out, err := exec.Command(hearthBin, "credentials", "--data-dir", s.DataDir).Output()
	if err != nil {
		t.Fatalf("hearth credentials: %v", err)
	}
	if want := "export AWS_ACCESS_KEY_ID=" + s.creds.AccessKeyID + " AWS_SECRET_ACCESS_KEY=" + s.creds.SecretAccessKey; !strings.Contains(string(out), want) {
		t.Errorf("hearth credentials = %q; want it to contain %q", out, want)
	}
	if fi, err := os.Stat(filepath.Join(s.DataDir, "credentials")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: %v %v; want mode 0600", fi.Mode(), err)
	}
	// The server's log names the file, never the secret.
	if strings.Contains(s.Log(), s.creds.SecretAccessKey) {
		t.Errorf("the server logged the root secret")
	}
	if !strings.Contains(s.Log(), filepath.Join(s.DataDir, "credentials")) {
		t.Errorf("the server's log does not say where the credentials are")
	}

	out, err = s.cli(t.Context(), "accounts", "create", "--id", "111111111111", "--name", "team-a").Output()
	if err != nil {
		t.Fatalf("accounts create: %v", err)
	}
	env := exportsOf(t, string(out))
	list, err := s.cli(t.Context(), "accounts", "list").Output()
	if err != nil || !strings.Contains(string(list), "111111111111") || !strings.Contains(string(list), "team-a") {
		t.Errorf("accounts list = %s, %v; want team-a", list, err)
	}
	// The new account's key works, and says who it is.
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL),
		Credentials: credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], "")})
	id, err := c.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != "111111111111" || !strings.HasPrefix(aws.ToString(id.Arn), "arn:aws:iam::111111111111:user/") {
		t.Errorf("GetCallerIdentity with the new key = %+v, %v", id, err)
	}
	// It is not root: it may not manage accounts.
	cmd := exec.CommandContext(t.Context(), hearthBin, "accounts", "list", "--endpoint-url", s.URL)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+env["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY="+env["AWS_SECRET_ACCESS_KEY"], "AWS_SESSION_TOKEN=")
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "403") {
		t.Errorf("accounts list with a non-root key = %s, %v; want refused", b, err)
	}
	// Nor see every account's environments.
	req, _ := http.NewRequest("GET", s.URL+"/_hearth/v1/environments", nil)
	if err := v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: env["AWS_ACCESS_KEY_ID"], SecretAccessKey: env["AWS_SECRET_ACCESS_KEY"]},
		req, emptySHA256, "lambda", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("environments with a non-root key = %v %v; want 403", resp, err)
	} else {
		resp.Body.Close()
	}

	if b, err := s.cli(t.Context(), "keys", "create", "--account", "111111111111", "--root").CombinedOutput(); err == nil || !strings.Contains(string(b), "default account") {
		t.Errorf("keys create --root for another account = %s, %v; want refused", b, err)
	}
	out, err = s.cli(t.Context(), "keys", "create", "--account", "111111111111", "--name", "ci").Output()
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	second := exportsOf(t, string(out))
	keys, err := s.cli(t.Context(), "keys", "list", "--account", "111111111111").Output()
	if err != nil || !strings.Contains(string(keys), second["AWS_ACCESS_KEY_ID"]) || strings.Contains(string(keys), second["AWS_SECRET_ACCESS_KEY"]) {
		t.Errorf("keys list = %s, %v; want the new key without its secret", keys, err)
	}
	if b, err := s.cli(t.Context(), "keys", "delete", "--account", "111111111111", second["AWS_ACCESS_KEY_ID"]).CombinedOutput(); err != nil {
		t.Fatalf("keys delete: %v %s", err, b)
	}
	c2 := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(second["AWS_ACCESS_KEY_ID"], second["AWS_SECRET_ACCESS_KEY"], "")})
	if _, err := c2.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); errCode(err) != "InvalidClientTokenId" {
		t.Errorf("a deleted key: %v; want InvalidClientTokenId", err)
	}
	if b, err := s.cli(t.Context(), "accounts", "delete", "111111111111").CombinedOutput(); err != nil {
		t.Fatalf("accounts delete: %v %s", err, b)
	}
	if _, err := c.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); errCode(err) != "InvalidClientTokenId" {
		t.Errorf("a key of a deleted account: %v; want InvalidClientTokenId", err)
	}

	// Keys survive a restart.
	s.Stop()
	s2 := startServer(t, s.DataDir, "--isolation", "process")
	if s2.creds != s.creds {
		t.Errorf("root key changed across a restart")
	}
	if _, err := s2.Client.ListFunctions(t.Context(), &lambda.ListFunctionsInput{}); err != nil {
		t.Errorf("ListFunctions after restart: %v", err)
	}
}

// exportsOf parses "export K=V K=V" lines.
func exportsOf(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(line, "export ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
	}
	if m["AWS_ACCESS_KEY_ID"] == "" || m["AWS_SECRET_ACCESS_KEY"] == "" {
		t.Fatalf("no credentials in %q", out)
	}
	return m
}

// TestAuthNoneOnlyOnLoopback checks that --auth none refuses a network
// address unless insisted on, and serves unsigned requests on loopback.
func TestAuthNoneOnlyOnLoopback(t *testing.T) {
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	cmd := exec.Command(hearthBin, "server", "--auth", "none", "--addr", "0.0.0.0:0", "--data-dir", t.TempDir(), "--isolation", "process")
	cmd.Env = serverEnv()
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "--auth-none-on-network") {
		t.Errorf("--auth none on 0.0.0.0 = %v %s; want refused, naming --auth-none-on-network", err, b)
	}
	s := startServer(t, "", "--isolation", "process", "--auth", "none")
	resp, err := http.Get(s.URL + "/2015-03-31/functions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("unsigned ListFunctions under --auth none = %d; want 200", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, "credentials")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("--auth none wrote credentials: %v", err)
	}
	// A function still finds credentials in its environment, as on Lambda
	// (lambda-api.md, Appendix E), but no endpoint: the API is out of its
	// reach.
	s.create(t, "nonefn", goFn())
	r := s.invoke(t, "nonefn", map[string]any{"op": "env"})
	var got struct{ Env map[string]string }
	if err := json.Unmarshal(r.Payload, &got); err != nil {
		t.Fatalf("reply %s: %v", r.Payload, err)
	}
	env := got.Env
	if !strings.HasPrefix(env["AWS_ACCESS_KEY_ID"], "ASIA") || env["AWS_SECRET_ACCESS_KEY"] == "" || env["AWS_SESSION_TOKEN"] == "" {
		t.Errorf("environment credentials under --auth none = %q %q %q; want ASIA... with a secret and a session token",
			env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"])
	}
	if v, ok := env["AWS_ENDPOINT_URL_LAMBDA"]; ok {
		t.Errorf("AWS_ENDPOINT_URL_LAMBDA = %q under --auth none; want none", v)
	}
}

// TestFunctionCallsHearth runs functions that call Hearth's Lambda API
// (and STS) with their environment's credentials, found by the SDK as on
// Lambda: a Go function with aws-sdk-go-v2 and a Python one with boto3.
func TestFunctionCallsHearth(t *testing.T) {
	s := startServer(t, "")
	s.create(t, "callee", goFn())
	t.Run("go", func(t *testing.T) {
		s.create(t, "gocaller", fn{runtime: "provided.al2023", handler: "bootstrap", zip: buildGoFunction(t, "gocaller"), timeout: 30})
		checkCaller(t, s, "gocaller")
	})
	t.Run("python", func(t *testing.T) {
		needRuntime(t, "python3.12")
		zip := boto3Zip(t)
		s.create(t, "pycaller", fn{runtime: "python3.12", handler: "app.handler", zip: zip, timeout: 30, memory: 512})
		checkCaller(t, s, "pycaller")
	})
}

// TestEnvironmentCredentials checks what an environment is given: its own
// temporary credentials, valid while it lives and for its account only,
// never in the server's log, and the endpoint it reaches Hearth on.
func TestEnvironmentCredentials(t *testing.T) {
	s := startServer(t, "", "--isolation", "process")
	s.create(t, "envfn", goFn())
	r := s.invoke(t, "envfn", map[string]any{"op": "env"})
	var got struct{ Env map[string]string }
	if err := json.Unmarshal(r.Payload, &got); err != nil {
		t.Fatal(err)
	}
	env := got.Env
	if !strings.HasPrefix(env["AWS_ACCESS_KEY_ID"], "ASIA") || env["AWS_SECRET_ACCESS_KEY"] == "" || env["AWS_SESSION_TOKEN"] == "" {
		t.Fatalf("environment credentials = %q %q; want ASIA... with a secret and a session token", env["AWS_ACCESS_KEY_ID"], env["AWS_SESSION_TOKEN"])
	}
	if env["AWS_ENDPOINT_URL_LAMBDA"] != s.URL || env["AWS_ENDPOINT_URL_STS"] != s.URL || env["AWS_ENDPOINT_URL_LOGS"] != s.URL {
		t.Errorf("AWS_ENDPOINT_URL_LAMBDA, _STS, _LOGS = %q, %q, %q; want %q", env["AWS_ENDPOINT_URL_LAMBDA"], env["AWS_ENDPOINT_URL_STS"], env["AWS_ENDPOINT_URL_LOGS"], s.URL)
	}
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"])})
	id, err := c.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Arn) != "arn:aws:sts::000000000000:assumed-role/e2e/envfn" {
		t.Errorf("GetCallerIdentity with the environment's credentials = %v, %v", id, err)
	}
	// Without the token, the key is not one.
	c2 := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], "")})
	if _, err := c2.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); errCode(err) != "InvalidClientTokenId" {
		t.Errorf("the environment's key without its token: %v; want InvalidClientTokenId", err)
	}
	if strings.Contains(s.Log(), env["AWS_SECRET_ACCESS_KEY"]) || strings.Contains(s.Log(), env["AWS_SESSION_TOKEN"]) {
		t.Errorf("the server logged an environment's secret")
	}
	// Deleting the function ends its environments, and their credentials
	// with them.
	if _, err := s.Client.DeleteFunction(t.Context(), &lambda.DeleteFunctionInput{FunctionName: aws.String("envfn")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
		if errCode(err) == "InvalidClientTokenId" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("credentials of a destroyed environment still accepted 30 s later: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func checkCaller(t *testing.T, s *server, name string) {
	t.Helper()
	r := s.invoke(t, name, map[string]any{"target": "callee", "payload": map[string]any{"op": "echo"}})
	if r.FunctionError != "" {
		t.Fatalf("%s: %s %s\n%s", name, r.FunctionError, r.Payload, r.Log)
	}
	var got struct {
		Status  int
		Payload string
		Arn     string
		Account string
	}
	if err := json.Unmarshal(r.Payload, &got); err != nil {
		t.Fatalf("%s answered %s: %v", name, r.Payload, err)
	}
	if got.Status != 200 || !strings.Contains(got.Payload, `"op":"echo"`) {
		t.Errorf("%s's Invoke of callee = %d %s; want 200 and the echo", name, got.Status, got.Payload)
	}
	if want := "arn:aws:sts::000000000000:assumed-role/e2e/" + name; got.Arn != want || got.Account != "000000000000" {
		t.Errorf("%s's GetCallerIdentity = %s %s; want %s 000000000000", name, got.Arn, got.Account, want)
	}
}

// buildGoFunction builds testdata/<dir> into a zipped bootstrap.
func buildGoFunction(t testing.TB, dir string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/"+dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", dir, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return zipFiles(map[string]zipFile{"bootstrap": {data: b, mode: 0o755}})
}

// boto3Zip zips testdata/pycaller with boto3 and what it needs, taken
// from a Python installation of this host that has it (Lambda's Python
// runtimes ship boto3; Hearth's use the host's interpreters, which need
// not). The botocore models are cut to Lambda's and STS's.
func boto3Zip(t *testing.T) []byte {
	t.Helper()
	site := ""
	candidates, _ := filepath.Glob(filepath.Join(os.Getenv("HOME"), ".pyenv/versions/*/bin/python3"))
	candidates = append([]string{"python3"}, candidates...)
	for _, py := range candidates {
		out, err := exec.Command(py, "-c", "import boto3, os; print(os.path.dirname(os.path.dirname(boto3.__file__)))").Output()
		if err == nil {
			site = strings.TrimSpace(string(out))
			break
		}
	}
	if site == "" {
		t.Skip("no Python on this host has boto3 to vendor")
	}
	files := map[string]zipFile{}
	app, err := os.ReadFile("testdata/pycaller/app.py")
	if err != nil {
		t.Fatal(err)
	}
	files["app.py"] = zipFile{data: app}
	for _, pkg := range []string{"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"} {
		root := filepath.Join(site, pkg)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(site, p)
			if d.IsDir() {
				if d.Name() == "__pycache__" {
					return filepath.SkipDir
				}
				if parent := filepath.Dir(rel); parent == filepath.Join("botocore", "data") && d.Name() != "lambda" && d.Name() != "sts" {
					return filepath.SkipDir
				}
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files[filepath.ToSlash(rel)] = zipFile{data: b}
			return nil
		})
		if err != nil {
			t.Fatalf("vendor %s: %v", pkg, err)
		}
	}
	return zipFiles(files)
}

// TestRoleCredentials attaches AWS credentials to an execution role: the
// environments of that role's functions (of the role's account) receive
// them, and no listing, log or configuration shows the secret.
func TestRoleCredentials(t *testing.T) {
	s := startServer(t, "", "--isolation", "process")
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	set := func(arn string) {
		cmd := exec.CommandContext(t.Context(), hearthBin, "roles", "set", arn, "--from-env", "--endpoint-url", s.URL)
		cmd.Env = append(os.Environ(), "HEARTH_DATA_DIR="+s.DataDir, "HEARTH_ACCESS_KEY_ID=",
			"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY="+secret, "AWS_SESSION_TOKEN=")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("roles set %s: %v\n%s", arn, err, b)
		}
	}
	set("arn:aws:iam::000000000000:role/real")
	set("arn:aws:iam::999999999999:role/foreign")
	list, err := s.cli(t.Context(), "roles", "list").Output()
	if err != nil || !strings.Contains(string(list), "arn:aws:iam::000000000000:role/real") || strings.Contains(string(list), secret) {
		t.Errorf("roles list = %s, %v; want the role, without its secret", list, err)
	}
	envOf := func(name, role string) map[string]string {
		_, err := s.Client.CreateFunction(t.Context(), &lambda.CreateFunctionInput{
			FunctionName: aws.String(name), Runtime: "provided.al2023", Handler: aws.String("bootstrap"),
			Role: aws.String(role), Code: &types.FunctionCode{ZipFile: goFnZip}})
		if err != nil {
			t.Fatal(err)
		}
		w := lambda.NewFunctionActiveV2Waiter(s.Client)
		if err := w.Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		var got struct{ Env map[string]string }
		if err := json.Unmarshal(s.invoke(t, name, map[string]any{"op": "env"}).Payload, &got); err != nil {
			t.Fatal(err)
		}
		return got.Env
	}
	env := envOf("real", "arn:aws:iam::000000000000:role/real")
	if env["AWS_ACCESS_KEY_ID"] != "AKIAIOSFODNN7EXAMPLE" || env["AWS_SECRET_ACCESS_KEY"] != secret {
		t.Errorf("a function of the role got key %q; want the attached AKIAIOSFODNN7EXAMPLE", env["AWS_ACCESS_KEY_ID"])
	}
	if _, ok := env["AWS_ENDPOINT_URL_LAMBDA"]; ok {
		t.Errorf("a function with AWS credentials is pointed at Hearth (AWS_ENDPOINT_URL_LAMBDA=%s)", env["AWS_ENDPOINT_URL_LAMBDA"])
	}
	// A role of another account is not this account's to use.
	if env := envOf("foreign", "arn:aws:iam::999999999999:role/foreign"); !strings.HasPrefix(env["AWS_ACCESS_KEY_ID"], "ASIA") {
		t.Errorf("a function naming another account's role got key %q; want Hearth's own", env["AWS_ACCESS_KEY_ID"])
	}
	cfg, err := s.Client.GetFunction(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String("real")})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(cfg.Configuration); strings.Contains(string(b), secret) {
		t.Errorf("GetFunction shows the role's secret")
	}
	if strings.Contains(s.Log(), secret) {
		t.Errorf("the server logged the role's secret")
	}
	if b, err := s.cli(t.Context(), "roles", "delete", "arn:aws:iam::000000000000:role/real").CombinedOutput(); err != nil {
		t.Fatalf("roles delete: %v %s", err, b)
	}
}

// TestAccountConcurrency checks that an account at its concurrency limit
// is throttled while another account's invocations still run, and that
// GetAccountSettings answers for the caller's account.
func TestAccountConcurrency(t *testing.T) {
	needAccounts(t)
	s := startServer(t, "", "--concurrency", "4", "--account-concurrency", "1")
	out, err := s.cli(t.Context(), "accounts", "create", "--id", "222222222222").Output()
	if err != nil {
		t.Fatalf("accounts create: %v", err)
	}
	kb := exportsOf(t, string(out))
	b := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(kb["AWS_ACCESS_KEY_ID"], kb["AWS_SECRET_ACCESS_KEY"], "")})
	f := goFn()
	f.timeout = 10
	s.create(t, "slow-a", f)
	if _, err := b.CreateFunction(t.Context(), &lambda.CreateFunctionInput{
		FunctionName: aws.String("fn-b"), Runtime: "provided.al2023", Handler: aws.String("bootstrap"),
		Role: aws.String("arn:aws:iam::222222222222:role/x"), Code: &types.FunctionCode{ZipFile: goFnZip}}); err != nil {
		t.Fatal(err)
	}
	if err := lambda.NewFunctionActiveV2Waiter(b).Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String("fn-b")}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	s.invoke(t, "slow-a", map[string]any{"op": "echo"}) // warm
	// A long invocation, tried until it is not the one throttled; the
	// probes race it until one of them is.
	done := make(chan error, 1)
	go func() {
		for {
			_, err := s.tryInvoke(t.Context(), s.NoRetry, "slow-a", map[string]any{"op": "sleep", "ms": 3000})
			if errCode(err) != "TooManyRequestsException" {
				done <- err
				return
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := s.tryInvoke(t.Context(), s.NoRetry, "slow-a", map[string]any{"op": "echo"})
		if errCode(err) == "TooManyRequestsException" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("account A's invocations while a long one runs: never throttled (last: %v); want TooManyRequestsException", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r, err := s.tryInvoke(t.Context(), b, "fn-b", map[string]any{"op": "echo"}); err != nil || r.Status != 200 {
		t.Errorf("account B's invocation while A is at its limit: %v %v; want 200", r, err)
	}
	if err := <-done; err != nil {
		t.Errorf("account A's long invocation: %v", err)
	}
	settings, err := b.GetAccountSettings(t.Context(), &lambda.GetAccountSettingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := settings.AccountLimit.ConcurrentExecutions; got != 1 {
		t.Errorf("GetAccountSettings ConcurrentExecutions = %d; want 1", got)
	}
	if got := settings.AccountUsage.FunctionCount; got != 1 {
		t.Errorf("GetAccountSettings FunctionCount for account B = %d; want 1 (its own)", got)
	}
}

// needAccounts skips a test that serves several accounts where the server
// cannot: only the linux driver (root) keeps accounts apart.
func needAccounts(t *testing.T) {
	t.Helper()
	if defaultIsolation() != "linux" {
		t.Skip("several accounts need --isolation linux (root)")
	}
}

// TestProcessDriverServesOneAccount checks that a server whose sandboxes
// cannot keep accounts apart refuses a second account, both when asked to
// create one and when its data directory already has one, saying to use
// --isolation linux.
func TestProcessDriverServesOneAccount(t *testing.T) {
	s := startServer(t, "", "--isolation", "process")
	out, err := s.cli(t.Context(), "accounts", "create", "--id", "333333333333").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--isolation linux") {
		t.Errorf("accounts create under the process driver = %v %s; want refused, naming --isolation linux", err, out)
	}
	if list, err := s.cli(t.Context(), "accounts", "list").Output(); err != nil || strings.Contains(string(list), "333333333333") {
		t.Errorf("accounts list = %s, %v; want no 333333333333", list, err)
	}
	dir := s.DataDir
	s.Stop()
	if defaultIsolation() != "linux" {
		return // the rest makes the second account under linux
	}
	s = startServer(t, dir)
	if out, err := s.cli(t.Context(), "accounts", "create", "--id", "333333333333").CombinedOutput(); err != nil {
		t.Fatalf("accounts create under linux: %v %s", err, out)
	}
	s.Stop()
	cmd := exec.Command(hearthBin, "server", "--addr", "127.0.0.1:0", "--data-dir", dir, "--isolation", "process")
	cmd.Env = serverEnv()
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "2 accounts") || !strings.Contains(string(b), "--isolation linux") {
		t.Errorf("process driver on a data directory with 2 accounts = %v %s; want refused, naming --isolation linux", err, b)
	}
}

// TestCrossAccountPolicy checks that another account reaches a function
// only as its resource-based policy allows: Invoke once AddPermission
// grants lambda:InvokeFunction to its account id, GetFunction once it
// grants lambda:GetFunction, nothing else ever, and nothing again once the
// permission is removed. By name alone it sees only its own functions.
func TestCrossAccountPolicy(t *testing.T) {
	needAccounts(t)
	s := startServer(t, "")
	out, err := s.cli(t.Context(), "accounts", "create", "--id", "444444444444").Output()
	if err != nil {
		t.Fatalf("accounts create: %v", err)
	}
	kb := exportsOf(t, string(out))
	b := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(kb["AWS_ACCESS_KEY_ID"], kb["AWS_SECRET_ACCESS_KEY"], "")})
	s.create(t, "shared", goFn())
	arn := "arn:aws:lambda:us-east-1:000000000000:function:shared"
	invokeB := func() error {
		_, err := s.tryInvoke(t.Context(), b, arn, map[string]any{"op": "echo", "v": 1})
		return err
	}
	getB := func() error {
		_, err := b.GetFunction(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(arn)})
		return err
	}
	if err := invokeB(); errCode(err) != "AccessDeniedException" {
		t.Errorf("B invokes A's function without permission = %v; want AccessDeniedException", err)
	}
	if _, err := s.tryInvoke(t.Context(), b, "shared", map[string]any{"op": "echo"}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("B invokes \"shared\" by name = %v; want ResourceNotFoundException (its own account has none)", err)
	}
	if _, err := s.Client.AddPermission(t.Context(), &lambda.AddPermissionInput{FunctionName: aws.String("shared"),
		StatementId: aws.String("b-invoke"), Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("444444444444")}); err != nil {
		t.Fatal(err)
	}
	r, err := s.tryInvoke(t.Context(), b, arn, map[string]any{"op": "echo", "v": 1})
	if err != nil || r.Status != 200 || !strings.Contains(string(r.Payload), `"function_arn":"`+arn+`"`) {
		t.Errorf("B invokes A's function with permission = %v, %v; want 200 from A's function", r, err)
	}
	if err := getB(); errCode(err) != "AccessDeniedException" {
		t.Errorf("B gets A's function with only InvokeFunction granted = %v; want AccessDeniedException", err)
	}
	if _, err := b.DeleteFunction(t.Context(), &lambda.DeleteFunctionInput{FunctionName: aws.String(arn)}); errCode(err) != "AccessDeniedException" {
		t.Errorf("B deletes A's function = %v; want AccessDeniedException", err)
	}
	if _, err := s.Client.AddPermission(t.Context(), &lambda.AddPermissionInput{FunctionName: aws.String("shared"),
		StatementId: aws.String("b-get"), Action: aws.String("lambda:GetFunction"), Principal: aws.String("arn:aws:iam::444444444444:root")}); err != nil {
		t.Fatal(err)
	}
	if err := getB(); err != nil {
		t.Errorf("B gets A's function with GetFunction granted = %v", err)
	}
	for _, sid := range []string{"b-invoke", "b-get"} {
		if _, err := s.Client.RemovePermission(t.Context(), &lambda.RemovePermissionInput{FunctionName: aws.String("shared"), StatementId: aws.String(sid)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := invokeB(); errCode(err) != "AccessDeniedException" {
		t.Errorf("B invokes after RemovePermission = %v; want AccessDeniedException", err)
	}
	if err := getB(); errCode(err) != "AccessDeniedException" {
		t.Errorf("B gets after RemovePermission = %v; want AccessDeniedException", err)
	}
	// A function B's policy cannot name: one that does not exist answers
	// the same as one that does.
	if _, err := s.tryInvoke(t.Context(), b, "arn:aws:lambda:us-east-1:000000000000:function:nothing", map[string]any{}); errCode(err) != "AccessDeniedException" {
		t.Errorf("B invokes a function A does not have = %v; want AccessDeniedException", err)
	}
}
