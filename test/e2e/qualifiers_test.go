package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/go-cmp/cmp"
)

// waitVersion waits with the SDK's PublishedVersionActive waiter.
func (s *server) waitVersion(t testing.TB, name, version string) {
	t.Helper()
	w := lambda.NewPublishedVersionActiveWaiter(s.Client, func(o *lambda.PublishedVersionActiveWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(t.Context(), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name), Qualifier: aws.String(version)}, 30*time.Second); err != nil {
		t.Fatalf("waiting for %s:%s to be active: %v", name, version, err)
	}
}

// waitUpdated waits with the SDK's FunctionUpdatedV2 waiter.
func (s *server) waitUpdated(t testing.TB, name string) {
	t.Helper()
	w := lambda.NewFunctionUpdatedV2Waiter(s.Client, func(o *lambda.FunctionUpdatedV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("waiting for the update of %s: %v", name, err)
	}
}

func (s *server) setEnv(t testing.TB, name, v string) {
	t.Helper()
	_, err := s.Client.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String(name), Environment: &types.Environment{Variables: map[string]string{"VER": v}},
	})
	if err != nil {
		t.Fatalf("UpdateFunctionConfiguration(%s) = %v", name, err)
	}
	s.waitUpdated(t, name)
}

// invokeQ invokes name with qualifier and returns the outcome and the
// handler's answer.
func (s *server) invokeQ(t testing.TB, name, qualifier string, event any) (*invoked, map[string]any) {
	t.Helper()
	payload, _ := json.Marshal(event)
	in := &lambda.InvokeInput{FunctionName: aws.String(name), Payload: payload, LogType: types.LogTypeTail}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	out, err := s.Client.Invoke(t.Context(), in)
	if err != nil {
		t.Fatalf("Invoke(%s, %q) = %v", name, qualifier, err)
	}
	r := &invoked{Status: out.StatusCode, Payload: out.Payload, Version: aws.ToString(out.ExecutedVersion)}
	if out.LogResult != nil {
		b, _ := decodeBase64(*out.LogResult)
		r.Log = string(b)
	}
	return r, r.decode(t)
}

func envOf(t testing.TB, m map[string]any) map[string]any {
	t.Helper()
	env, ok := m["env"].(map[string]any)
	if !ok {
		t.Fatalf("answer has no env: %v", m)
	}
	return env
}

// TestVersionsAndAliases publishes versions, invokes them by qualifier and
// qualified name, routes an alias by weight and deletes what it made,
// through aws-sdk-go-v2 and its waiters.
func TestVersionsAndAliases(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	f := pythonFn(t)
	created, err := s.Client.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("vf"), Runtime: types.Runtime(f.runtime), Handler: aws.String(f.handler),
		Role: aws.String("arn:aws:iam::000000000000:role/e2e"), Code: &types.FunctionCode{ZipFile: f.zip},
		Environment: &types.Environment{Variables: map[string]string{"VER": "one"}}, Publish: true,
	})
	if err != nil {
		t.Fatalf("CreateFunction(Publish) = %v", err)
	}
	if aws.ToString(created.Version) != "1" || !strings.HasSuffix(aws.ToString(created.FunctionArn), ":function:vf:1") {
		t.Errorf("CreateFunction(Publish) = version %q, arn %q; want version 1 and its ARN", aws.ToString(created.Version), aws.ToString(created.FunctionArn))
	}
	fa := lambda.NewFunctionActiveV2Waiter(s.Client, func(o *lambda.FunctionActiveV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	})
	if err := fa.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("vf")}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	s.waitVersion(t, "vf", "1")

	s.setEnv(t, "vf", "two")
	v2, err := s.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("vf"), Description: aws.String("second")})
	if err != nil || aws.ToString(v2.Version) != "2" || aws.ToString(v2.Description) != "second" {
		t.Fatalf("PublishVersion = %+v, %v; want version 2 described 'second'", v2, err)
	}
	again, err := s.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("vf")})
	if err != nil || aws.ToString(again.Version) != "2" {
		t.Errorf("PublishVersion with nothing changed = %v, %v; want version 2 again", aws.ToString(again.Version), err)
	}
	_, err = s.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("vf"), RevisionId: aws.String("stale")})
	if code := apiCode(err); code != "PreconditionFailedException" {
		t.Errorf("PublishVersion(stale RevisionId) = %v; want PreconditionFailedException", err)
	}
	s.waitVersion(t, "vf", "2")

	// Every version, $LATEST first, one a page.
	var listed []string
	pg := lambda.NewListVersionsByFunctionPaginator(s.Client, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String("vf"), MaxItems: aws.Int32(1)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range out.Versions {
			listed = append(listed, aws.ToString(v.Version)+" "+aws.ToString(v.FunctionArn)[strings.LastIndex(aws.ToString(v.FunctionArn), ":function:"):])
		}
	}
	if diff := cmp.Diff([]string{"$LATEST :function:vf", "1 :function:vf:1", "2 :function:vf:2"}, listed); diff != "" {
		t.Errorf("ListVersionsByFunction (-want +got):\n%s", diff)
	}

	var all []string
	fp := lambda.NewListFunctionsPaginator(s.Client, &lambda.ListFunctionsInput{FunctionVersion: types.FunctionVersionAll, MaxItems: aws.Int32(2)})
	for fp.HasMorePages() {
		out, err := fp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range out.Functions {
			all = append(all, aws.ToString(f.FunctionName)+":"+aws.ToString(f.Version))
		}
	}
	if diff := cmp.Diff([]string{"vf:$LATEST", "vf:1", "vf:2"}, all); diff != "" {
		t.Errorf("ListFunctions(FunctionVersion ALL) (-want +got):\n%s", diff)
	}

	// Each version runs its own configuration in its own environments.
	for _, tc := range []struct{ name, qualifier, wantV, wantVersion, arnSuffix string }{
		{"vf", "1", "one", "1", ":vf:1"},
		{"vf:2", "", "two", "2", ":vf:2"},
		{"vf", "", "two", "$LATEST", ":vf"},
		{"arn:aws:lambda:us-east-1:000000000000:function:vf:1", "", "one", "1", ":vf:1"},
	} {
		r, m := s.invokeQ(t, tc.name, tc.qualifier, map[string]any{"op": "env"})
		env := envOf(t, m)
		if env["VER"] != tc.wantV || env["AWS_LAMBDA_FUNCTION_VERSION"] != tc.wantVersion || r.Version != tc.wantVersion {
			t.Errorf("Invoke(%s, %q): VER=%v, AWS_LAMBDA_FUNCTION_VERSION=%v, X-Amz-Executed-Version %q; want %s, %s", tc.name, tc.qualifier, env["VER"], env["AWS_LAMBDA_FUNCTION_VERSION"], r.Version, tc.wantV, tc.wantVersion)
		}
		if arn, _ := m["function_arn"].(string); !strings.HasSuffix(arn, tc.arnSuffix) {
			t.Errorf("Invoke(%s, %q): invoked ARN %q; want it to end %s", tc.name, tc.qualifier, arn, tc.arnSuffix)
		}
		if !strings.Contains(r.Log, "Version: "+tc.wantVersion+"\n") {
			t.Errorf("Invoke(%s, %q): log %q; want a START line with Version: %s", tc.name, tc.qualifier, r.Log, tc.wantVersion)
		}
	}
	got, err := s.Client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("vf"), Qualifier: aws.String("1")})
	if err != nil || aws.ToString(got.Version) != "1" || got.Environment.Variables["VER"] != "one" {
		t.Errorf("GetFunctionConfiguration(:1) = %+v, %v", got, err)
	}
	_, err = s.Client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("vf"), Qualifier: aws.String("9")})
	if code := apiCode(err); code != "ResourceNotFoundException" || !strings.Contains(err.Error(), "Function not found: arn:aws:lambda:us-east-1:000000000000:function:vf:9") {
		t.Errorf("GetFunction(:9) = %v; want ResourceNotFoundException naming vf:9", err)
	}

	// Updating $LATEST leaves version 2's warm environment alone.
	_, before := s.invokeQ(t, "vf", "2", map[string]any{"op": "echo"})
	s.setEnv(t, "vf", "three")
	_, after := s.invokeQ(t, "vf", "2", map[string]any{"op": "echo"})
	if before["pid"] != after["pid"] {
		t.Errorf("version 2 ran in pid %v, then %v after $LATEST was updated; want the same warm environment", before["pid"], after["pid"])
	}

	// An alias with 30% on version 2.
	alias, err := s.Client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("vf"), Name: aws.String("live"), FunctionVersion: aws.String("1"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.3}}})
	if err != nil || aws.ToString(alias.AliasArn) != "arn:aws:lambda:us-east-1:000000000000:function:vf:live" {
		t.Fatalf("CreateAlias = %+v, %v", alias, err)
	}
	_, err = s.Client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("vf"), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	if code := apiCode(err); code != "ResourceConflictException" {
		t.Errorf("CreateAlias(live) again = %v; want ResourceConflictException", err)
	}
	const n = 400
	counts := map[string]int{}
	for range n {
		r, m := s.invokeQ(t, "vf", "live", map[string]any{"op": "echo"})
		counts[r.Version]++
		if arn, _ := m["function_arn"].(string); !strings.HasSuffix(arn, ":vf:live") {
			t.Fatalf("invoked ARN through the alias = %q; want it to end :vf:live", arn)
		}
		if !strings.Contains(r.Log, "Version: "+r.Version+"\n") {
			t.Fatalf("log %q does not name the executed version %s", r.Log, r.Version)
		}
	}
	if share := float64(counts["2"]) / n; counts["1"]+counts["2"] != n || share < 0.22 || share > 0.38 {
		t.Errorf("through the alias: %v; want about 30%% on version 2", counts)
	}

	_, err = s.Client.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("vf"), Name: aws.String("live"), FunctionVersion: aws.String("2"), RevisionId: aws.String("stale")})
	if code := apiCode(err); code != "PreconditionFailedException" {
		t.Errorf("UpdateAlias(stale RevisionId) = %v; want PreconditionFailedException", err)
	}
	_, err = s.Client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("vf"), Qualifier: aws.String("2")})
	if code := apiCode(err); code != "ResourceConflictException" {
		t.Errorf("DeleteFunction(:2) while an alias routes to it = %v; want ResourceConflictException", err)
	}
	upd, err := s.Client.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("vf"), Name: aws.String("live"), FunctionVersion: aws.String("2"),
		RoutingConfig: &types.AliasRoutingConfiguration{}, RevisionId: alias.RevisionId})
	if err != nil || aws.ToString(upd.FunctionVersion) != "2" || upd.RoutingConfig != nil || aws.ToString(upd.RevisionId) == aws.ToString(alias.RevisionId) {
		t.Fatalf("UpdateAlias(promote 2) = %+v, %v", upd, err)
	}
	if r, _ := s.invokeQ(t, "vf", "live", map[string]any{}); r.Version != "2" {
		t.Errorf("after promotion the alias ran version %q; want 2", r.Version)
	}
	byVersion, err := s.Client.ListAliases(ctx, &lambda.ListAliasesInput{FunctionName: aws.String("vf"), FunctionVersion: aws.String("1")})
	if err != nil || len(byVersion.Aliases) != 0 {
		t.Errorf("ListAliases(FunctionVersion 1) = %+v, %v; want none", byVersion, err)
	}
	if _, err := s.Client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("vf"), Qualifier: aws.String("1")}); err != nil {
		t.Errorf("DeleteFunction(:1) = %v", err)
	}
	_, err = s.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("vf:1")})
	if code := apiCode(err); code != "ResourceNotFoundException" {
		t.Errorf("Invoke(vf:1) after deleting it = %v; want ResourceNotFoundException", err)
	}

	// Bad input.
	for _, tc := range []struct {
		in   *lambda.CreateAliasInput
		code string
	}{
		{&lambda.CreateAliasInput{FunctionName: aws.String("vf"), Name: aws.String("123"), FunctionVersion: aws.String("2")}, "ValidationException"},
		{&lambda.CreateAliasInput{FunctionName: aws.String("vf"), Name: aws.String("w"), FunctionVersion: aws.String("$LATEST"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.5}}}, "InvalidParameterValueException"},
		{&lambda.CreateAliasInput{FunctionName: aws.String("vf"), Name: aws.String("w"), FunctionVersion: aws.String("2"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"3": 1.5}}}, "ValidationException"},
		{&lambda.CreateAliasInput{FunctionName: aws.String("vf"), Name: aws.String("w"), FunctionVersion: aws.String("7")}, "ResourceNotFoundException"},
	} {
		if _, err := s.Client.CreateAlias(ctx, tc.in); apiCode(err) != tc.code {
			t.Errorf("CreateAlias(%s -> %s, %v) = %v; want %s", aws.ToString(tc.in.Name), aws.ToString(tc.in.FunctionVersion), tc.in.RoutingConfig, err, tc.code)
		}
	}

	// A weighted alias's versions must share the execution role.
	if _, err := s.Client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("vf"), Role: aws.String("arn:aws:iam::000000000000:role/other")}); err != nil {
		t.Fatal(err)
	}
	s.waitUpdated(t, "vf")
	v3, err := s.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("vf")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("vf"), Name: aws.String("live"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{aws.ToString(v3.Version): 0.1}}})
	if code := apiCode(err); code != "InvalidParameterValueException" || !strings.Contains(err.Error(), "execution role") {
		t.Errorf("UpdateAlias(weight on a version with another role) = %v; want InvalidParameterValueException about the role", err)
	}

	// Deleting the function deletes its versions and aliases.
	if _, err := s.Client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("vf")}); err != nil {
		t.Fatal(err)
	}
	s.create(t, "vf", pythonFn(t))
	vs, err := s.Client.ListVersionsByFunction(ctx, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String("vf")})
	if err != nil || len(vs.Versions) != 1 {
		t.Errorf("ListVersionsByFunction after delete and create = %d versions, %v; want $LATEST only", len(vs.Versions), err)
	}
	if _, err := s.Client.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("vf"), Name: aws.String("live")}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("GetAlias(live) after delete and create = %v; want ResourceNotFoundException", err)
	}
}

// TestAsyncThroughAlias: an event sent through an alias runs a version the
// alias routes to, and the destination's record names the alias's ARN.
func TestAsyncThroughAlias(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	s.create(t, "af", pythonFn(t))
	v, err := s.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("af")})
	if err != nil {
		t.Fatal(err)
	}
	s.waitVersion(t, "af", aws.ToString(v.Version))
	if _, err := s.Client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("af"), Name: aws.String("prod"), FunctionVersion: v.Version}); err != nil {
		t.Fatal(err)
	}
	// The alias has its own event invoke config; $LATEST's sends elsewhere.
	s.putEventConfig(t, "af", 0, queueARN("af-latest"), "")
	put, err := s.Client.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("af"), Qualifier: aws.String("prod"),
		MaximumRetryAttempts: aws.Int32(0), DestinationConfig: &types.DestinationConfig{OnSuccess: &types.OnSuccess{Destination: aws.String(queueARN("af-ok"))}}})
	if err != nil || aws.ToString(put.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:af:prod" {
		t.Fatalf("PutFunctionEventInvokeConfig(prod) = %+v, %v", put, err)
	}
	list, err := s.Client.ListFunctionEventInvokeConfigs(ctx, &lambda.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String("af")})
	if err != nil || len(list.FunctionEventInvokeConfigs) != 2 {
		t.Errorf("ListFunctionEventInvokeConfigs = %+v, %v; want $LATEST's and prod's", list, err)
	}
	out, err := s.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("af"), Qualifier: aws.String("prod"),
		InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"op":"echo"}`)})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("Invoke(Event, prod) = %v", err)
	}
	recs := records(t, s.receive(t, "af-ok", 1, 30*time.Second))
	if len(recs) != 1 {
		t.Fatalf("got %d records; want 1", len(recs))
	}
	r := recs[0]
	if r.RequestContext.FunctionArn != "arn:aws:lambda:us-east-1:000000000000:function:af:prod" || r.ResponseContext == nil || r.ResponseContext.ExecutedVersion != "1" {
		t.Errorf("record = %+v, %+v; want the alias's ARN and executed version 1", r.RequestContext, r.ResponseContext)
	}
	if got := s.receive(t, "af-latest", 1, 500*time.Millisecond); len(got) != 0 {
		t.Errorf("$LATEST's destination got %d records of an event sent to the alias", len(got))
	}
}

// TestPolicies adds, reads and removes resource-based policy statements
// on a function and an alias.
func TestPolicies(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	s.create(t, "pf", goFn())
	_, err := s.Client.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String("pf")})
	if code := apiCode(err); code != "ResourceNotFoundException" {
		t.Errorf("GetPolicy with none = %v; want ResourceNotFoundException", err)
	}
	add, err := s.Client.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String("pf"), StatementId: aws.String("s3"),
		Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("s3.amazonaws.com"),
		SourceArn: aws.String("arn:aws:s3:::bucket"), SourceAccount: aws.String("000000000000")})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Sid":"s3","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:000000000000:function:pf","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::bucket"},"StringEquals":{"AWS:SourceAccount":"000000000000"}}}`
	if aws.ToString(add.Statement) != want {
		t.Errorf("AddPermission statement = %s; want %s", aws.ToString(add.Statement), want)
	}
	_, err = s.Client.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String("pf"), StatementId: aws.String("s3"),
		Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("sns.amazonaws.com")})
	if code := apiCode(err); code != "ResourceConflictException" {
		t.Errorf("AddPermission with a taken Sid = %v; want ResourceConflictException", err)
	}
	if _, err := s.Client.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String("pf"), StatementId: aws.String("acct"),
		Action: aws.String("lambda:GetFunction"), Principal: aws.String("111122223333")}); err != nil {
		t.Fatal(err)
	}
	pol, err := s.Client.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String("pf")})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version   string
		Id        string
		Statement []struct {
			Sid       string
			Principal any
			Resource  string
		}
	}
	if err := json.Unmarshal([]byte(aws.ToString(pol.Policy)), &doc); err != nil {
		t.Fatalf("policy %q: %v", aws.ToString(pol.Policy), err)
	}
	if doc.Version != "2012-10-17" || doc.Id != "default" || len(doc.Statement) != 2 || doc.Statement[1].Sid != "acct" ||
		!cmp.Equal(doc.Statement[1].Principal, any(map[string]any{"AWS": "arn:aws:iam::111122223333:root"})) || aws.ToString(pol.RevisionId) == "" {
		t.Errorf("GetPolicy = %s (revision %q)", aws.ToString(pol.Policy), aws.ToString(pol.RevisionId))
	}
	_, err = s.Client.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String("pf"), StatementId: aws.String("s3"), RevisionId: aws.String("stale")})
	if code := apiCode(err); code != "PreconditionFailedException" {
		t.Errorf("RemovePermission(stale RevisionId) = %v; want PreconditionFailedException", err)
	}
	if _, err := s.Client.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String("pf"), StatementId: aws.String("s3"), RevisionId: pol.RevisionId}); err != nil {
		t.Errorf("RemovePermission(s3) = %v", err)
	}
	if _, err := s.Client.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String("pf"), StatementId: aws.String("s3")}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("RemovePermission(s3) again = %v; want ResourceNotFoundException", err)
	}

	// On an alias: its own policy, naming the alias.
	v, err := s.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("pf")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("pf"), Name: aws.String("live"), FunctionVersion: v.Version}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String("pf"), Qualifier: aws.String("live"), StatementId: aws.String("s3"),
		Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("s3.amazonaws.com")}); err != nil {
		t.Fatalf("AddPermission(live, s3) = %v; want a Sid free on the alias", err)
	}
	ap, err := s.Client.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String("pf:live")})
	if err != nil || !strings.Contains(aws.ToString(ap.Policy), `"Resource":"arn:aws:lambda:us-east-1:000000000000:function:pf:live"`) {
		t.Errorf("GetPolicy(pf:live) = %s, %v; want the statement on the alias", aws.ToString(ap.Policy), err)
	}
	if _, err := s.Client.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String("pf"), Qualifier: aws.String("nope")}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("GetPolicy(unknown alias) = %v; want ResourceNotFoundException", err)
	}
}

// TestPublishSurvivesKill9: the server is killed while versions are being
// published; after a restart every version listed is whole and invocable,
// and numbers are not reused.
func TestPublishSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.create(t, "kf", goFn())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, err := s.Client.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{
				FunctionName: aws.String("kf"), Description: aws.String(strings.Repeat("d", i%200))})
			if err != nil {
				return
			}
			if _, err := s.Client.PublishVersion(t.Context(), &lambda.PublishVersionInput{FunctionName: aws.String("kf")}); err != nil {
				return
			}
		}
	})
	eventually(t, 30*time.Second, "a few versions published", func() bool {
		out, err := s.NoRetry.ListVersionsByFunction(t.Context(), &lambda.ListVersionsByFunctionInput{FunctionName: aws.String("kf")})
		return err == nil && len(out.Versions) > 4
	})
	s.Kill()
	close(stop)
	wg.Wait()

	s = startServer(t, dir)
	ctx := t.Context()
	var highest int
	pg := lambda.NewListVersionsByFunctionPaginator(s.Client, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String("kf")})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range out.Versions {
			if aws.ToString(v.CodeSha256) == "" || aws.ToString(v.Handler) != "bootstrap" || aws.ToString(v.RevisionId) == "" {
				t.Errorf("version %s after the kill is not whole: %+v", aws.ToString(v.Version), v)
			}
			if n, err := strconv.Atoi(aws.ToString(v.Version)); err == nil && n > highest {
				highest = n
			}
		}
	}
	last := aws.String(strconv.Itoa(highest))
	s.waitVersion(t, "kf", *last)
	if r, _ := s.invokeQ(t, "kf", *last, map[string]any{}); r.Version != *last {
		t.Errorf("Invoke(kf:%s) ran version %q", *last, r.Version)
	}
	if _, err := s.Client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("kf"), Description: aws.String("after")}); err != nil {
		t.Fatal(err)
	}
	s.waitUpdated(t, "kf")
	v, err := s.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("kf")})
	if err != nil || aws.ToString(v.Version) != strconv.Itoa(highest+1) {
		t.Errorf("PublishVersion after the restart = %q, %v; want %d", aws.ToString(v.Version), err, highest+1)
	}
}

// TestAccountsDoNotSeeEachOther: a function belongs to the account that
// created it. The same data directory served as another account shows
// none of the first's functions, lets it create its own of the same name,
// and the first account finds its own unchanged afterwards.
func TestAccountsDoNotSeeEachOther(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.create(t, "mine", goFn())
	if _, err := s.Client.PublishVersion(t.Context(), &lambda.PublishVersionInput{FunctionName: aws.String("mine")}); err != nil {
		t.Fatal(err)
	}
	s.Stop()

	s = startServer(t, dir, "--account-id", "111111111111")
	ctx := t.Context()
	_, err := s.Client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("mine")})
	if code := apiCode(err); code != "ResourceNotFoundException" || !strings.Contains(err.Error(), "arn:aws:lambda:us-east-1:111111111111:function:mine") {
		t.Errorf("another account's GetFunction(mine) = %v; want ResourceNotFoundException in its own account", err)
	}
	if _, err := s.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("mine:1")}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("another account's Invoke(mine:1) = %v; want ResourceNotFoundException", err)
	}
	list, err := s.Client.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	if err != nil || len(list.Functions) != 0 {
		t.Errorf("another account's ListFunctions = %d functions, %v; want none", len(list.Functions), err)
	}
	f := goFn()
	f.timeout = 7
	s.create(t, "mine", f)
	s.Stop()

	s = startServer(t, dir)
	got, err := s.Client.GetFunction(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String("mine")})
	if err != nil || aws.ToInt32(got.Configuration.Timeout) != 3 || !strings.Contains(aws.ToString(got.Configuration.FunctionArn), ":000000000000:") {
		t.Fatalf("GetFunction(mine) back in the first account = %+v, %v; want its own (timeout 3)", got, err)
	}
	if r, _ := s.invokeQ(t, "mine", "1", map[string]any{}); r.Version != "1" {
		t.Errorf("Invoke(mine:1) = version %q; want 1", r.Version)
	}
}

// TestPublishOnCodeUpdateAndAliasPages: UpdateFunctionCode with Publish
// answers with the new version; ListAliases pages through every alias.
func TestPublishOnCodeUpdateAndAliasPages(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	s.create(t, "cu", goFn())
	out, err := s.Client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("cu"), ZipFile: goFnZip, Publish: true})
	if err != nil || aws.ToString(out.Version) != "1" || !strings.HasSuffix(aws.ToString(out.FunctionArn), ":cu:1") {
		t.Fatalf("UpdateFunctionCode(Publish) = version %q, arn %q, %v; want version 1", aws.ToString(out.Version), aws.ToString(out.FunctionArn), err)
	}
	s.waitVersion(t, "cu", "1")
	var want []string
	for _, name := range []string{"a1", "a2", "a3", "a4", "a5"} {
		if _, err := s.Client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("cu"), Name: aws.String(name), FunctionVersion: aws.String("1")}); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	var got []string
	pages := 0
	pg := lambda.NewListAliasesPaginator(s.Client, &lambda.ListAliasesInput{FunctionName: aws.String("cu"), MaxItems: aws.Int32(2)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range page.Aliases {
			got = append(got, aws.ToString(a.Name))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" || pages != 3 {
		t.Errorf("ListAliases in %d pages (-want +got):\n%s", pages, diff)
	}
}

// TestEventInvokeConfigPages: ListFunctionEventInvokeConfigs pages by
// Marker and MaxItems like every other list (lambda-api.md 1.1), so the
// SDK's paginator sees each config once: $LATEST's, the versions', then
// the aliases'.
func TestEventInvokeConfigPages(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	s.create(t, "ep", goFn())
	v, err := s.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("ep")})
	if err != nil {
		t.Fatal(err)
	}
	s.waitVersion(t, "ep", aws.ToString(v.Version))
	for _, name := range []string{"a1", "a2"} {
		if _, err := s.Client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("ep"), Name: aws.String(name), FunctionVersion: v.Version}); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for _, q := range []string{"$LATEST", "1", "a1", "a2"} {
		put, err := s.Client.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("ep"), Qualifier: aws.String(q),
			MaximumRetryAttempts: aws.Int32(1)})
		if err != nil {
			t.Fatalf("PutFunctionEventInvokeConfig(%s) = %v", q, err)
		}
		want = append(want, aws.ToString(put.FunctionArn))
	}
	var got []string
	pages := 0
	pg := lambda.NewListFunctionEventInvokeConfigsPaginator(s.Client, &lambda.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String("ep"), MaxItems: aws.Int32(3)})
	for pg.HasMorePages() && pages < 10 {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range page.FunctionEventInvokeConfigs {
			got = append(got, aws.ToString(c.FunctionArn))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" || pages != 2 {
		t.Errorf("ListFunctionEventInvokeConfigs in %d pages (-want +got):\n%s", pages, diff)
	}
	_, err = s.Client.ListFunctionEventInvokeConfigs(ctx, &lambda.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String("ep"), Marker: aws.String("!!")})
	if code := errCode(err); code != "InvalidParameterValueException" {
		t.Errorf("ListFunctionEventInvokeConfigs(Marker !!) = %v; want InvalidParameterValueException", err)
	}
}
