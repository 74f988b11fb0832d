package e2e

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// provisionedPy reports how its environment was initialised and which
// environment it is (an id drawn at init), and the version it runs.
const provisionedPy = `import os, uuid
ENV = uuid.uuid4().hex
INIT = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
def handler(event, context):
    return {"init": INIT, "env": ENV, "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")}
`

func provisionedFn() fn {
	return fn{runtime: "python3.12", handler: "app.handler", zip: zipFiles(map[string]zipFile{"app.py": {data: []byte(provisionedPy)}})}
}

// wantAPIError checks err is the AWS error code with a message containing
// msg.
func wantAPIError(t *testing.T, op string, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), msg) {
		t.Errorf("%s = %v; want %s: %q", op, err, code, msg)
	}
}

// waitProvisionedReady polls GetProvisionedConcurrencyConfig until READY
// (the SDK has no waiter for it).
func (s *server) waitProvisionedReady(t testing.TB, name, qualifier string) *lambda.GetProvisionedConcurrencyConfigOutput {
	t.Helper()
	var out *lambda.GetProvisionedConcurrencyConfigOutput
	eventually(t, 60*time.Second, name+":"+qualifier+" provisioned concurrency READY", func() bool {
		var err error
		out, err = s.Client.GetProvisionedConcurrencyConfig(t.Context(), &lambda.GetProvisionedConcurrencyConfigInput{
			FunctionName: aws.String(name), Qualifier: aws.String(qualifier)})
		if err != nil {
			t.Fatalf("GetProvisionedConcurrencyConfig(%s:%s) = %v", name, qualifier, err)
		}
		if out.Status == types.ProvisionedConcurrencyStatusEnumFailed {
			t.Fatalf("provisioned concurrency of %s:%s FAILED: %s", name, qualifier, aws.ToString(out.StatusReason))
		}
		return out.Status == types.ProvisionedConcurrencyStatusEnumReady
	})
	return out
}

// TestProvisionedConcurrency covers the four operations, the environments'
// initialization type, warm first invocations without Init Duration, an
// alias moved to another version without a cold start, the limits, and a
// restart.
func TestProvisionedConcurrency(t *testing.T) {
	needRuntime(t, "python3.12")
	s := startServer(t, "")
	ctx := t.Context()
	c := s.Client
	const name = "pc"
	s.create(t, name, provisionedFn())
	v1, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	put := func(qualifier string, n int32) (*lambda.PutProvisionedConcurrencyConfigOutput, error) {
		return c.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{
			FunctionName: aws.String(name), Qualifier: aws.String(qualifier), ProvisionedConcurrentExecutions: aws.Int32(n)})
	}

	_, err = put("$LATEST", 1)
	wantAPIError(t, "Put($LATEST)", err, "InvalidParameterValueException", "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
	_, err = c.GetProvisionedConcurrencyConfig(ctx, &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String(name), Qualifier: v1.Version})
	var nf *types.ProvisionedConcurrencyConfigNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("Get before Put = %v; want ProvisionedConcurrencyConfigNotFoundException", err)
	}
	_, err = put("9", 1)
	wantAPIError(t, "Put(9)", err, "ResourceNotFoundException", "Function not found")
	_, err = put("1", 901)
	wantAPIError(t, "Put(901)", err, "InvalidParameterValueException", "decreases account's UnreservedConcurrentExecution below its minimum value of [100]")

	out, err := put("1", 2)
	if err != nil {
		t.Fatalf("PutProvisionedConcurrencyConfig = %v", err)
	}
	if aws.ToInt32(out.RequestedProvisionedConcurrentExecutions) != 2 || out.Status == types.ProvisionedConcurrencyStatusEnumFailed {
		t.Errorf("Put = requested %d, status %s; want 2, IN_PROGRESS or READY", aws.ToInt32(out.RequestedProvisionedConcurrentExecutions), out.Status)
	}
	if _, err := time.Parse("2006-01-02T15:04:05-0700", aws.ToString(out.LastModified)); err != nil {
		t.Errorf("LastModified = %q: %v", aws.ToString(out.LastModified), err)
	}
	got := s.waitProvisionedReady(t, name, "1")
	if aws.ToInt32(got.AllocatedProvisionedConcurrentExecutions) != 2 || aws.ToInt32(got.AvailableProvisionedConcurrentExecutions) != 2 {
		t.Errorf("Get = allocated %d, available %d; want 2, 2", aws.ToInt32(got.AllocatedProvisionedConcurrentExecutions), aws.ToInt32(got.AvailableProvisionedConcurrentExecutions))
	}
	settings, err := c.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if n := aws.ToInt32(settings.AccountLimit.UnreservedConcurrentExecutions); n != 998 {
		t.Errorf("UnreservedConcurrentExecutions = %d; want 998 (1000 less 2 provisioned)", n)
	}

	// The first invocation of the version is warm, in a provisioned
	// environment; $LATEST is on-demand.
	r := s.invoke(t, name+":1", map[string]any{})
	if m := r.decode(t); m["init"] != "provisioned-concurrency" {
		t.Errorf("invoke of :1 = %v; want init provisioned-concurrency", m)
	}
	// The environment's init logged ahead of traffic, in its log stream
	// only: the first invocation's tail has no INIT_START.
	if !strings.Contains(r.Log, "REPORT RequestId:") || strings.Contains(r.Log, "Init Duration") || strings.Contains(r.Log, "INIT_START") {
		t.Errorf("log of :1 = %q; want a REPORT without Init Duration, and no INIT_START", r.Log)
	}
	r = s.invoke(t, name, map[string]any{})
	if m := r.decode(t); m["init"] != "on-demand" || !strings.Contains(r.Log, "Init Duration") || !strings.HasPrefix(r.Log, "INIT_START Runtime Version: python:3.12.v1\t") {
		t.Errorf("invoke of $LATEST = %v, log %q; want on-demand with INIT_START and an Init Duration", m, r.Log)
	}

	list, err := c.ListProvisionedConcurrencyConfigs(ctx, &lambda.ListProvisionedConcurrencyConfigsInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.ProvisionedConcurrencyConfigs) != 1 || !strings.HasSuffix(aws.ToString(list.ProvisionedConcurrencyConfigs[0].FunctionArn), ":function:pc:1") {
		t.Errorf("List = %+v; want version 1's", list.ProvisionedConcurrencyConfigs)
	}

	// An alias to the same version cannot have one too; once the
	// version's is deleted it can.
	if _, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	_, err = put("live", 1)
	wantAPIError(t, "Put(live) while version 1 has one", err, "ResourceConflictException", "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version")
	if _, err := c.DeleteProvisionedConcurrencyConfig(ctx, &lambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String(name), Qualifier: aws.String("1")}); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	_, err = c.DeleteProvisionedConcurrencyConfig(ctx, &lambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String(name), Qualifier: aws.String("1")})
	if !errors.As(err, &nf) {
		t.Errorf("second Delete = %v; want ProvisionedConcurrencyConfigNotFoundException", err)
	}
	if _, err := put("live", 1); err != nil {
		t.Fatalf("Put(live) = %v", err)
	}
	s.waitProvisionedReady(t, name, "live")

	// Reserved concurrency bounds it, both ways.
	_, err = c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(name), ReservedConcurrentExecutions: aws.Int32(0)})
	wantAPIError(t, "PutFunctionConcurrency(0) under provisioned 1", err, "InvalidParameterValueException", " ReservedConcurrentExecutions  0 should not be lower than function's total provisioned concurrency [1].")
	if _, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(name), ReservedConcurrentExecutions: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	_, err = put("live", 2)
	wantAPIError(t, "Put(live, 2) over reserved 1", err, "InvalidParameterValueException", "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function")
	if rc, err := c.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(name)}); err != nil || aws.ToInt32(rc.ReservedConcurrentExecutions) != 1 {
		t.Errorf("GetFunctionConcurrency = %+v, %v; want 1", rc, err)
	}
	if _, err := c.DeleteFunctionConcurrency(ctx, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}

	// Moving the alias moves its provisioned environment, started before
	// the switch: the first invocation through it after is warm.
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), Description: aws.String("v2")}); err != nil {
		t.Fatal(err)
	}
	waitUpdated(t, c, name)
	v2, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: v2.Version}); err != nil {
		t.Fatalf("UpdateAlias = %v", err)
	}
	r = s.invoke(t, name+":live", map[string]any{})
	if m := r.decode(t); m["init"] != "provisioned-concurrency" || m["version"] != aws.ToString(v2.Version) || strings.Contains(r.Log, "Init Duration") {
		t.Errorf("first invoke through the moved alias = %v, log %q; want version 2, provisioned, no Init Duration", m, r.Log)
	}
	eventually(t, 30*time.Second, "version 1's provisioned environment retired", func() bool {
		for _, e := range s.environments(t) {
			if e["function"] == name && e["version"] == "1" && e["state"] != "destroying" {
				return false
			}
		}
		return true
	})

	// Two configurations, listed a page at a time.
	if _, err := put("1", 1); err != nil {
		t.Fatalf("Put(1) = %v", err)
	}
	pages := lambda.NewListProvisionedConcurrencyConfigsPaginator(c, &lambda.ListProvisionedConcurrencyConfigsInput{FunctionName: aws.String(name), MaxItems: aws.Int32(1)})
	var arns []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.ProvisionedConcurrencyConfigs) != 1 {
			t.Errorf("page = %+v; want 1 item", page.ProvisionedConcurrencyConfigs)
		}
		for _, it := range page.ProvisionedConcurrencyConfigs {
			arns = append(arns, aws.ToString(it.FunctionArn))
		}
	}
	if len(arns) != 2 || !strings.HasSuffix(arns[0], ":pc:1") || !strings.HasSuffix(arns[1], ":pc:live") {
		t.Errorf("listed %v; want pc:1 then pc:live", arns)
	}
	if _, err := c.DeleteProvisionedConcurrencyConfig(ctx, &lambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String(name), Qualifier: aws.String("1")}); err != nil {
		t.Fatalf("Delete(1) = %v", err)
	}

	// A function whose init fails: FAILED, with the reason.
	s.create(t, "pcfail", fn{runtime: "python3.12", handler: "app.handler", zip: zipFiles(map[string]zipFile{"app.py": {data: []byte("raise Exception('boom')\n")}})})
	if _, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("pcfail")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{
		FunctionName: aws.String("pcfail"), Qualifier: aws.String("1"), ProvisionedConcurrentExecutions: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "pcfail:1 FAILED", func() bool {
		out, err := c.GetProvisionedConcurrencyConfig(ctx, &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String("pcfail"), Qualifier: aws.String("1")})
		if err != nil {
			t.Fatal(err)
		}
		if out.Status == types.ProvisionedConcurrencyStatusEnumFailed && aws.ToString(out.StatusReason) != "FUNCTION_ERROR_INIT_FAILURE" {
			t.Errorf("StatusReason = %q; want FUNCTION_ERROR_INIT_FAILURE", aws.ToString(out.StatusReason))
		}
		return out.Status == types.ProvisionedConcurrencyStatusEnumFailed
	})
	// Its log is what Lambda's init leaves, in one log stream: INIT_START,
	// what the init wrote and INIT_REPORT, and no START, END or REPORT,
	// since no invocation ran.
	var initLog []string
	eventually(t, 30*time.Second, "pcfail's INIT_REPORT logged", func() bool {
		out, err := logsClient(s, s.creds).FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/pcfail")})
		if err != nil {
			t.Fatalf("FilterLogEvents(/aws/lambda/pcfail) = %v", err)
		}
		streams := map[string]bool{}
		initLog = initLog[:0]
		for _, e := range out.Events {
			streams[aws.ToString(e.LogStreamName)] = true
			initLog = append(initLog, aws.ToString(e.Message))
		}
		if len(streams) > 1 {
			t.Fatalf("pcfail's log has %d streams; want the one of its environment:\n%s", len(streams), strings.Join(initLog, "\n"))
		}
		return slices.ContainsFunc(initLog, func(l string) bool { return strings.HasPrefix(l, "INIT_REPORT") })
	})
	last := initLog[len(initLog)-1]
	if !strings.HasPrefix(initLog[0], "INIT_START Runtime Version: python:3.12.") || !slices.ContainsFunc(initLog, func(l string) bool { return strings.Contains(l, "boom") }) ||
		!regexp.MustCompile(`^INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: init\tStatus: error\tError Type: \S+\n$`).MatchString(last) {
		t.Errorf("pcfail's log:\n%s\nwant INIT_START, the init's error, and INIT_REPORT last", strings.Join(initLog, "\n"))
	}
	for _, l := range initLog {
		if strings.HasPrefix(l, "START ") || strings.HasPrefix(l, "END ") || strings.HasPrefix(l, "REPORT ") || strings.HasPrefix(l, "RequestId: ") {
			t.Errorf("pcfail's log has %q; want no invocation's lines", l)
		}
	}

	// A restart brings the provisioned environment back.
	s.Stop()
	s = startServer(t, s.DataDir)
	c = s.Client
	got = s.waitProvisionedReady(t, name, "live")
	if aws.ToInt32(got.RequestedProvisionedConcurrentExecutions) != 1 {
		t.Errorf("after restart: requested %d; want 1", aws.ToInt32(got.RequestedProvisionedConcurrentExecutions))
	}
	r = s.invoke(t, name+":live", map[string]any{})
	if m := r.decode(t); m["init"] != "provisioned-concurrency" || strings.Contains(r.Log, "Init Duration") {
		t.Errorf("first invoke after restart = %v, log %q; want provisioned, no Init Duration", m, r.Log)
	}
	if _, err := c.DeleteProvisionedConcurrencyConfig(ctx, &lambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String(name), Qualifier: aws.String("live")}); err != nil {
		t.Fatalf("Delete(live) = %v", err)
	}
	list, err = c.ListProvisionedConcurrencyConfigs(ctx, &lambda.ListProvisionedConcurrencyConfigsInput{FunctionName: aws.String(name)})
	if err != nil || len(list.ProvisionedConcurrencyConfigs) != 0 {
		t.Errorf("List after Delete = %+v, %v; want none", list, err)
	}
}

func waitUpdated(t testing.TB, c *lambda.Client, name string) {
	t.Helper()
	w := lambda.NewFunctionUpdatedV2Waiter(c, func(o *lambda.FunctionUpdatedV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("waiting for %s's update: %v", name, err)
	}
}

// BenchmarkProvisionedFirstInvoke times the first invocation of a version
// with provisioned concurrency against the first invocation of another
// version of the same code without (a cold start), in alternating order,
// and reports their ratio. Publishing, provisioning and waiting for READY
// are outside the timing.
func BenchmarkProvisionedFirstInvoke(b *testing.B) {
	for _, iso := range isolations() {
		s := benchServer(b, "--isolation", iso)
		for _, br := range benchRuntimes {
			f := br.fn(b)
			if !hostRuntimes(b)[f.runtime].Available {
				continue
			}
			name := "prov-" + br.name
			s.create(b, name, f)
			b.Run(iso+"/"+br.name, func(b *testing.B) {
				ctx := b.Context()
				c := s.httpClient()
				var cold, warm []time.Duration
				i := 0
				publish := func() string {
					i++
					_, err := s.Client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
						FunctionName: aws.String(name),
						Environment:  &types.Environment{Variables: map[string]string{"ITER": strconv.Itoa(i)}},
					})
					if err != nil {
						b.Fatal(err)
					}
					waitUpdated(b, s.Client, name)
					v, err := s.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
					if err != nil {
						b.Fatal(err)
					}
					s.waitVersion(b, name, aws.ToString(v.Version))
					return aws.ToString(v.Version)
				}
				first := func(version string) time.Duration {
					start := time.Now()
					post(b, c, s.URL+"/2015-03-31/functions/"+name+":"+version+"/invocations", benchPayload)
					return time.Since(start)
				}
				for b.Loop() {
					b.StopTimer()
					coldV, provV := publish(), publish()
					if _, err := s.Client.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{
						FunctionName: aws.String(name), Qualifier: aws.String(provV), ProvisionedConcurrentExecutions: aws.Int32(1)}); err != nil {
						b.Fatal(err)
					}
					s.waitProvisionedReady(b, name, provV)
					time.Sleep(100 * time.Millisecond) // let the start's work settle
					b.StartTimer()
					if i%4 == 0 {
						warm = append(warm, first(provV))
						cold = append(cold, first(coldV))
					} else {
						cold = append(cold, first(coldV))
						warm = append(warm, first(provV))
					}
					b.StopTimer()
					for _, v := range []string{coldV, provV} {
						if _, err := s.Client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String(v)}); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
				}
				slices.Sort(cold)
				slices.Sort(warm)
				pc, pw := cold[len(cold)/2], warm[len(warm)/2]
				b.ReportMetric(float64(pc.Microseconds())/1000, "cold-p50-ms")
				b.ReportMetric(float64(pw.Microseconds())/1000, "provisioned-p50-ms")
				b.ReportMetric(float64(pw)/float64(pc), "provisioned/cold")
			})
		}
		s.Stop()
	}
}

// TestProvisionedConcurrencyIsCarvedOut checks that a function's
// provisioned concurrency comes out of what the account's other functions
// share, and stays its own while they use all of theirs.
func TestProvisionedConcurrencyIsCarvedOut(t *testing.T) {
	s := startServer(t, "", "--concurrency", "20")
	ctx := t.Context()
	s.create(t, "hog", goFn())
	s.create(t, "pcown", goFn())
	if _, err := s.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("pcown")}); err != nil {
		t.Fatal(err)
	}
	// A tenth of 20 stays unreserved: 18 leaves 2, 19 would leave 1.
	_, err := s.Client.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{
		FunctionName: aws.String("pcown"), Qualifier: aws.String("1"), ProvisionedConcurrentExecutions: aws.Int32(19)})
	wantAPIError(t, "Put(19) of 20", err, "InvalidParameterValueException", "below its minimum value of [2]")
	if _, err := s.Client.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{
		FunctionName: aws.String("pcown"), Qualifier: aws.String("1"), ProvisionedConcurrentExecutions: aws.Int32(18)}); err != nil {
		t.Fatalf("Put(18) = %v", err)
	}
	settings, err := s.Client.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil || aws.ToInt32(settings.AccountLimit.UnreservedConcurrentExecutions) != 2 {
		t.Errorf("UnreservedConcurrentExecutions = %v, %v; want 2", settings.AccountLimit.UnreservedConcurrentExecutions, err)
	}
	// hog gets the 2 left, not a third.
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := s.tryInvoke(context.Background(), s.NoRetry, "hog", map[string]any{"op": "sleep", "ms": 2000})
			errs <- err
		}()
	}
	eventually(t, 10*time.Second, "two invocations of hog running", func() bool {
		n := 0
		for _, e := range s.environments(t) {
			if e["function"] == "hog" && e["state"] == "busy" {
				n++
			}
		}
		return n == 2
	})
	_, err = s.tryInvoke(ctx, s.NoRetry, "hog", map[string]any{"op": "echo"})
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonConcurrentInvocationLimitExceeded {
		t.Errorf("third invoke of hog = %v; want TooManyRequestsException (ConcurrentInvocationLimitExceeded)", err)
	}
	// pcown's own are still there.
	if r, err := s.tryInvoke(ctx, s.NoRetry, "pcown:1", map[string]any{"op": "echo"}); err != nil || r.FunctionError != "" {
		t.Errorf("invoke of the provisioned function meanwhile = %+v, %v", r, err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("invoke of hog = %v", err)
		}
	}
}
