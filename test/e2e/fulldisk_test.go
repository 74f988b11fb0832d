package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// smallDataDir mounts a tmpfs of size bytes and returns it; t.Cleanup
// unmounts it.
func smallDataDir(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small filesystem needs root")
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file in dir until the filesystem is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	return p
}

func createFn(ctx context.Context, c *lambda.Client, name string) error {
	_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      types.Runtime("provided.al2023"),
		Handler:      aws.String("bootstrap"),
		Role:         aws.String("arn:aws:iam::000000000000:role/e2e"),
		Code:         &types.FunctionCode{ZipFile: goFnZip},
	})
	return err
}

func eventInvoke(ctx context.Context, c *lambda.Client, name string) error {
	_, err := c.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(name), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"op":"echo"}`),
	})
	return err
}

// asyncSucceeded returns the async queue's count of events that succeeded.
func asyncSucceeded(t *testing.T, s *server) int64 {
	t.Helper()
	resp, err := s.get(t, "/_hearth/v1/async")
	if err != nil {
		t.Fatalf("GET async stats = %v", err)
	}
	defer resp.Body.Close()
	var st struct {
		Succeeded int64 `json:"succeeded"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("decode async stats: %v", err)
	}
	return st.Succeeded
}

// wantStorageFull checks that err is the AWS error for a full disk: a 503
// ServiceException (which SDKs retry) whose message names the directory.
func wantStorageFull(t *testing.T, op string, err error, dir string) {
	t.Helper()
	var re *awshttp.ResponseError
	var ae smithy.APIError
	if !errors.As(err, &re) || !errors.As(err, &ae) {
		t.Errorf("%s on a full disk = %v; want a 503 ServiceException", op, err)
		return
	}
	if re.HTTPStatusCode() != http.StatusServiceUnavailable || ae.ErrorCode() != "ServiceException" ||
		!strings.Contains(ae.ErrorMessage(), dir) || !strings.Contains(ae.ErrorMessage(), "bytes free") {
		t.Errorf("%s on a full disk = %d %s %q; want 503 ServiceException naming %s and its free bytes",
			op, re.HTTPStatusCode(), ae.ErrorCode(), ae.ErrorMessage(), dir)
	}
}

// A full data directory answers writes with an AWS error that says so, the
// log says what is full, and once space is freed the server takes writes
// again by itself.
func TestFullDiskRecovers(t *testing.T) {
	dir := smallDataDir(t, "64m")
	s := startServer(t, dir, "--isolation", "process")
	s.create(t, "before", goFn())
	if err := eventInvoke(t.Context(), s.NoRetry, "before"); err != nil {
		t.Fatalf("Event invoke before the disk is full = %v", err)
	}

	filler := fill(t, dir)
	// Small writes may still fit in pages already allocated; within a few
	// attempts the server must know the disk is full.
	var createErr, invokeErr error
	for i := range 10 {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		createErr = createFn(ctx, s.NoRetry, fmt.Sprint("during-", i))
		invokeErr = eventInvoke(ctx, s.NoRetry, "before")
		cancel()
		if createErr != nil && invokeErr != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	wantStorageFull(t, "CreateFunction", createErr, dir)
	wantStorageFull(t, "Invoke(Event)", invokeErr, dir)
	if !strings.Contains(s.Log(), `msg="storage full or failing: refusing writes until it recovers" component=broker dir=`+dir) {
		t.Errorf("server log lacks a line saying that %s is full", dir)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	succeeded := asyncSucceeded(t, s)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := createFn(t.Context(), s.NoRetry, "after")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CreateFunction 30s after space was freed = %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, err := s.Client.GetFunction(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String("after")}); err != nil {
		t.Errorf("GetFunction(after) = %v", err)
	}
	if err := eventInvoke(t.Context(), s.NoRetry, "before"); err != nil {
		t.Fatalf("Event invoke after space was freed = %v", err)
	}
	// The queue takes and runs the event: the poller survived the restart.
	for deadline := time.Now().Add(30 * time.Second); asyncSucceeded(t, s) <= succeeded; {
		if time.Now().After(deadline) {
			t.Fatal("no async event succeeded within 30s of space being freed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.invoke(t, "before", map[string]any{"op": "echo"})
}
