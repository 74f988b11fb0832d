package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestAsyncAccountsShareFairly checks, through the real server, that an
// account with a backlog of slow events at its cap gets 429 while another
// account's event is still taken and runs ahead of that backlog, and that
// the cap holds across a kill -9.
func TestAsyncAccountsShareFairly(t *testing.T) {
	needAccounts(t)
	dir := t.TempDir()
	flags := []string{"--async-concurrency", "2", "--async-account-max-bytes", "32768"}
	s := startServer(t, dir, flags...)
	out, err := s.cli(t.Context(), "accounts", "create", "--id", "222222222222").Output()
	if err != nil {
		t.Fatalf("accounts create: %v", err)
	}
	ka := exportsOf(t, string(out))
	clientA := func(s *server) *lambda.Client {
		return lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(ka["AWS_ACCESS_KEY_ID"], ka["AWS_SECRET_ACCESS_KEY"], "")})
	}
	a := clientA(s)
	if _, err := a.CreateFunction(t.Context(), &lambda.CreateFunctionInput{
		FunctionName: aws.String("slow"), Runtime: "provided.al2023", Handler: aws.String("bootstrap"), Timeout: aws.Int32(10),
		Role: aws.String("arn:aws:iam::222222222222:role/x"), Code: &types.FunctionCode{ZipFile: goFnZip}}); err != nil {
		t.Fatal(err)
	}
	if err := lambda.NewFunctionActiveV2Waiter(a).Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String("slow")}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	s.create(t, "quick", goFn())
	s.putEventConfig(t, "quick", 0, queueARN("b-done"), "")

	payload := []byte(`{"op":"sleep","ms":500,"pad":"` + strings.Repeat("x", 1000) + `"}`)
	// fillA sends account A's events until one is refused, and returns how
	// many of tries were taken.
	fillA := func(a *lambda.Client, tries int) int {
		t.Helper()
		for i := range tries {
			_, err := a.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("slow"), InvocationType: types.InvocationTypeEvent, Payload: payload})
			if errCode(err) == "TooManyRequestsException" {
				return i
			}
			if err != nil {
				t.Fatalf("account A's event: %v", err)
			}
		}
		return tries
	}
	took := fillA(a, 1000)
	if took < 15 || took >= 32 {
		t.Fatalf("account A had %d events of 1 KB taken under a 32 KiB cap", took)
	}
	// B's event is taken, and runs ahead of A's backlog (which needs
	// about took/2 × 0.5 s), while most of that backlog still waits.
	s.event(t, "quick", `{"op":"echo"}`)
	if recs := records(t, s.receive(t, "b-done", 1, 30*time.Second)); len(recs) != 1 || recs[0].RequestContext.Condition != "Success" {
		t.Fatalf("account B's event: records %+v; want one Success", recs)
	}
	var st struct {
		Depth uint64 `json:"depth"`
	}
	resp, err := s.get(t, "/_hearth/v1/async")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Depth < uint64(took)/2 {
		t.Errorf("when account B's event had run, %d of account A's %d events were left; want B's to run ahead of most of them", st.Depth, took)
	}

	// A at its cap again; after a kill -9 it is still (nearly) at it.
	fillA(a, 1000)
	s.Kill()
	s = startServer(t, dir, flags...)
	a = clientA(s)
	if again := fillA(a, 10); again > 4 {
		t.Errorf("after kill -9, account A had %d of 10 more events taken; want its queued ones still counted against its cap", again)
	}
	s.event(t, "quick", `{"op":"echo"}`)
}
