package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

// startURLServer starts hearth with a function URL listener on loopback.
func startURLServer(t testing.TB, flags ...string) *server {
	t.Helper()
	s := startServer(t, "", append([]string{"--url-addr", "127.0.0.1:0"}, flags...)...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.urlAddr == "" {
		t.Fatalf("hearth did not log its function URL listener:\n%s", s.stderr.String())
	}
	return s
}

var functionURLRE = regexp.MustCompile(`^http://([a-z0-9]{32})\.lambda-url\.us-east-1\.localhost:(\d+)/$`)

// urlReply is a response from a function URL.
type urlReply struct {
	Status int
	Header http.Header
	Body   []byte
}

// urlCall sends a request to the function URL furl (as the API returned
// it) at path: by its Host name, dialling the listener's loopback address
// the name resolves to, or by the path form. creds, when set, sign it
// (service lambda).
func (s *server) urlCall(t testing.TB, furl, method, path string, header http.Header, body []byte, pathForm bool, creds *aws.Credentials) urlReply {
	t.Helper()
	m := functionURLRE.FindStringSubmatch(furl)
	if m == nil {
		t.Fatalf("FunctionUrl %q does not have the form http://<32 of [a-z0-9]>.lambda-url.us-east-1.localhost:<port>/", furl)
	}
	s.mu.Lock()
	addr := s.urlAddr
	s.mu.Unlock()
	target := "http://" + addr + path
	if pathForm {
		target = "http://" + addr + "/_hearth/url/" + m[1] + path
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if !pathForm {
		u, _ := url.Parse(furl)
		req.Host = u.Host
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body == nil {
		req.Body, req.ContentLength = nil, 0
	}
	if creds != nil {
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(t.Context(), *creds, req, hex.EncodeToString(sum[:]), "lambda", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return urlReply{Status: res.StatusCode, Header: res.Header, Body: b}
}

// allowPublic adds the two statements AWS requires of a NONE URL since
// October 2025 (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html):
// lambda:InvokeFunctionUrl for a NONE URL, and lambda:InvokeFunction
// through a function URL only.
func (s *server) allowPublic(t testing.TB, name, qualifier string) {
	t.Helper()
	for _, in := range []*lambda.AddPermissionInput{
		{FunctionName: aws.String(name), StatementId: aws.String("public-url"),
			Action: aws.String("lambda:InvokeFunctionUrl"), Principal: aws.String("*"), FunctionUrlAuthType: types.FunctionUrlAuthTypeNone},
		{FunctionName: aws.String(name), StatementId: aws.String("public-invoke"),
			Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("*"), InvokedViaFunctionUrl: aws.Bool(true)},
	} {
		if qualifier != "" {
			in.Qualifier = aws.String(qualifier)
		}
		if _, err := s.Client.AddPermission(t.Context(), in); err != nil {
			t.Fatal(err)
		}
	}
}

// urlRefusedBody is what a function URL answers a request its resource
// policy refuses (localstack's validated
// test_lambda_permission_url_invocation).
const urlRefusedBody = `{"Message":"Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"}`

var lambdaTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$`)

// TestFunctionURLConfigOperations drives every URL configuration
// operation through aws-sdk-go-v2, on $LATEST and on an alias, with their
// errors: duplicates, missing functions, aliases and configurations,
// version numbers and $LATEST as qualifiers, bad enums; and checks that a
// URL goes with its alias and its function.
func TestFunctionURLConfigOperations(t *testing.T) {
	s := startURLServer(t)
	ctx := t.Context()
	c := s.NoRetry
	if _, err := c.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("nope"), AuthType: types.FunctionUrlAuthTypeNone}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("Create on a missing function = %v; want ResourceNotFoundException", err)
	}
	s.create(t, "urls", goFn())
	if _, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("urls")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("urls"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	cors := &types.Cors{AllowOrigins: []string{"https://example.com"}, AllowMethods: []string{"GET", "POST"},
		AllowHeaders: []string{"x-custom"}, ExposeHeaders: []string{"x-out"}, MaxAge: aws.Int32(300), AllowCredentials: aws.Bool(true)}
	created, err := c.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("urls"),
		AuthType: types.FunctionUrlAuthTypeNone, Cors: cors})
	if err != nil {
		t.Fatal(err)
	}
	if !functionURLRE.MatchString(aws.ToString(created.FunctionUrl)) {
		t.Errorf("FunctionUrl = %q; want http://<32 of [a-z0-9]>.lambda-url.us-east-1.localhost:<port>/", aws.ToString(created.FunctionUrl))
	}
	if got, want := aws.ToString(created.FunctionArn), "arn:aws:lambda:us-east-1:000000000000:function:urls"; got != want {
		t.Errorf("FunctionArn = %q; want %q", got, want)
	}
	if created.AuthType != types.FunctionUrlAuthTypeNone || created.InvokeMode != types.InvokeModeBuffered || !lambdaTimeRE.MatchString(aws.ToString(created.CreationTime)) {
		t.Errorf("Create = AuthType %q InvokeMode %q CreationTime %q; want NONE, BUFFERED (the default), Lambda's time form",
			created.AuthType, created.InvokeMode, aws.ToString(created.CreationTime))
	}
	if diff := cmp.Diff(cors, created.Cors, cmp.AllowUnexported(types.Cors{})); diff != "" {
		t.Errorf("Create's Cors (-given +answered):\n%s", diff)
	}
	if _, err := c.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("urls"), AuthType: types.FunctionUrlAuthTypeNone}); errCode(err) != "ResourceConflictException" ||
		!strings.Contains(err.Error(), "FunctionUrlConfig exists for this Lambda function") {
		t.Errorf("second Create = %v; want ResourceConflictException, FunctionUrlConfig exists", err)
	}
	for _, q := range []string{"1", "$LATEST"} {
		_, err := c.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("urls"), Qualifier: aws.String(q), AuthType: types.FunctionUrlAuthTypeNone})
		if errCode(err) != "ValidationException" || !strings.Contains(err.Error(), "Value '"+q+"' at 'qualifier' failed to satisfy constraint") {
			t.Errorf("Create with Qualifier %s = %v; want ValidationException at 'qualifier'", q, err)
		}
	}
	if _, err := c.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("urls:1"), AuthType: types.FunctionUrlAuthTypeNone}); errCode(err) != "ValidationException" {
		t.Errorf("Create on urls:1 = %v; want ValidationException", err)
	}
	if _, err := c.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("urls"), Qualifier: aws.String("ghost"), AuthType: types.FunctionUrlAuthTypeNone}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("Create on a missing alias = %v; want ResourceNotFoundException", err)
	}
	if _, err := c.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("urls"), Qualifier: aws.String("live"), AuthType: "OPEN"}); errCode(err) != "ValidationException" {
		t.Errorf("Create with AuthType OPEN = %v; want ValidationException", err)
	}
	aliased, err := c.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("urls"), Qualifier: aws.String("live"),
		AuthType: types.FunctionUrlAuthTypeAwsIam, InvokeMode: types.InvokeModeResponseStream})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(aliased.FunctionArn), "arn:aws:lambda:us-east-1:000000000000:function:urls:live"; got != want {
		t.Errorf("alias URL's FunctionArn = %q; want %q", got, want)
	}
	if aws.ToString(aliased.FunctionUrl) == aws.ToString(created.FunctionUrl) || aliased.InvokeMode != types.InvokeModeResponseStream {
		t.Errorf("alias URL = %q %q; want a URL of its own, RESPONSE_STREAM", aws.ToString(aliased.FunctionUrl), aliased.InvokeMode)
	}

	got, err := c.GetFunctionUrlConfig(ctx, &lambda.GetFunctionUrlConfigInput{FunctionName: aws.String("urls")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.FunctionUrl) != aws.ToString(created.FunctionUrl) || aws.ToString(got.CreationTime) != aws.ToString(created.CreationTime) ||
		!lambdaTimeRE.MatchString(aws.ToString(got.LastModifiedTime)) || got.AuthType != types.FunctionUrlAuthTypeNone {
		t.Errorf("Get = %+v; want Create's URL and time, and a LastModifiedTime", got)
	}
	if _, err := c.GetFunctionUrlConfig(ctx, &lambda.GetFunctionUrlConfigInput{FunctionName: aws.String("nope")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("Get on a missing function = %v; want ResourceNotFoundException", err)
	}

	time.Sleep(5 * time.Millisecond)
	updated, err := c.UpdateFunctionUrlConfig(ctx, &lambda.UpdateFunctionUrlConfigInput{FunctionName: aws.String("urls"),
		AuthType: types.FunctionUrlAuthTypeAwsIam, Cors: &types.Cors{AllowOrigins: []string{"*"}}})
	if err != nil {
		t.Fatal(err)
	}
	if updated.AuthType != types.FunctionUrlAuthTypeAwsIam || aws.ToString(updated.FunctionUrl) != aws.ToString(created.FunctionUrl) ||
		aws.ToString(updated.CreationTime) != aws.ToString(created.CreationTime) || aws.ToString(updated.LastModifiedTime) <= aws.ToString(got.LastModifiedTime) ||
		updated.InvokeMode != types.InvokeModeBuffered {
		t.Errorf("Update = %+v; want AWS_IAM, the same URL and CreationTime, a later LastModifiedTime, InvokeMode unchanged", updated)
	}
	if diff := cmp.Diff(&types.Cors{AllowOrigins: []string{"*"}}, updated.Cors, cmp.AllowUnexported(types.Cors{})); diff != "" {
		t.Errorf("Update's Cors replaces the whole (-want +got):\n%s", diff)
	}
	if _, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("urls"), Name: aws.String("bare"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateFunctionUrlConfig(ctx, &lambda.UpdateFunctionUrlConfigInput{FunctionName: aws.String("urls"), Qualifier: aws.String("bare"), AuthType: types.FunctionUrlAuthTypeNone}); errCode(err) != "ResourceNotFoundException" ||
		!strings.Contains(err.Error(), "The resource you requested does not exist.") {
		t.Errorf("Update on an alias without a URL = %v; want ResourceNotFoundException", err)
	}

	list, err := c.ListFunctionUrlConfigs(ctx, &lambda.ListFunctionUrlConfigsInput{FunctionName: aws.String("urls")})
	if err != nil {
		t.Fatal(err)
	}
	var arns []string
	for _, u := range list.FunctionUrlConfigs {
		arns = append(arns, aws.ToString(u.FunctionArn))
	}
	want := []string{"arn:aws:lambda:us-east-1:000000000000:function:urls", "arn:aws:lambda:us-east-1:000000000000:function:urls:live"}
	if diff := cmp.Diff(want, arns); diff != "" || list.NextMarker != nil {
		t.Errorf("List (-want +got):\n%s NextMarker %v", diff, list.NextMarker)
	}
	arns = nil
	p := lambda.NewListFunctionUrlConfigsPaginator(c, &lambda.ListFunctionUrlConfigsInput{FunctionName: aws.String("urls"), MaxItems: aws.Int32(1)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, u := range page.FunctionUrlConfigs {
			arns = append(arns, aws.ToString(u.FunctionArn))
		}
	}
	if diff := cmp.Diff(want, arns); diff != "" || pages != 2 {
		t.Errorf("List by one, %d pages (-want +got):\n%s", pages, diff)
	}
	if _, err := c.ListFunctionUrlConfigs(ctx, &lambda.ListFunctionUrlConfigsInput{FunctionName: aws.String("urls"), MaxItems: aws.Int32(51)}); errCode(err) != "ValidationException" {
		t.Errorf("List with MaxItems 51 = %v; want ValidationException", err)
	}

	if _, err := c.DeleteFunctionUrlConfig(ctx, &lambda.DeleteFunctionUrlConfigInput{FunctionName: aws.String("urls"), Qualifier: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetFunctionUrlConfig(ctx, &lambda.GetFunctionUrlConfigInput{FunctionName: aws.String("urls"), Qualifier: aws.String("live")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("Get after Delete = %v; want ResourceNotFoundException", err)
	}
	if _, err := c.DeleteFunctionUrlConfig(ctx, &lambda.DeleteFunctionUrlConfigInput{FunctionName: aws.String("urls"), Qualifier: aws.String("live")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("second Delete = %v; want ResourceNotFoundException", err)
	}

	// A URL goes with its alias: an alias made again under the name has none.
	if _, err := c.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("urls"), Qualifier: aws.String("bare"), AuthType: types.FunctionUrlAuthTypeNone}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: aws.String("urls"), Name: aws.String("bare")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("urls"), Name: aws.String("bare"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetFunctionUrlConfig(ctx, &lambda.GetFunctionUrlConfigInput{FunctionName: aws.String("urls"), Qualifier: aws.String("bare")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("Get on an alias deleted and made again = %v; want ResourceNotFoundException", err)
	}

	// And with its function: the URL stops answering, and a function
	// made again under the name has none.
	s.allowPublic(t, "urls", "")
	if _, err := c.UpdateFunctionUrlConfig(ctx, &lambda.UpdateFunctionUrlConfigInput{FunctionName: aws.String("urls"), AuthType: types.FunctionUrlAuthTypeNone}); err != nil {
		t.Fatal(err)
	}
	if r := s.urlCall(t, aws.ToString(created.FunctionUrl), "POST", "/", nil, []byte(`{"op":"echo"}`), false, nil); r.Status != 200 {
		t.Fatalf("the URL before DeleteFunction = %d %s; want 200", r.Status, r.Body)
	}
	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("urls")}); err != nil {
		t.Fatal(err)
	}
	if r := s.urlCall(t, aws.ToString(created.FunctionUrl), "POST", "/", nil, []byte(`{}`), false, nil); r.Status != 403 {
		t.Errorf("the URL after DeleteFunction = %d %s; want 403", r.Status, r.Body)
	}
	s.create(t, "urls", goFn())
	if _, err := c.GetFunctionUrlConfig(ctx, &lambda.GetFunctionUrlConfigInput{FunctionName: aws.String("urls")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("Get on a function deleted and made again = %v; want ResourceNotFoundException", err)
	}
}

// TestFunctionURLEvent invokes an aws-lambda-go function through its URL
// by Host name and by the path form, and checks every field of the
// payload format 2.0 event as events.LambdaFunctionURLRequest decodes it,
// a binary body both ways, cookies both ways, repeated headers and query
// keys, CORS, and the errors: no policy, a function error, a timeout, a
// body too large.
func TestFunctionURLEvent(t *testing.T) {
	s := startURLServer(t)
	ctx := t.Context()
	f := fn{runtime: "provided.al2023", handler: "bootstrap", zip: buildGoFunction(t, "gourl"), timeout: 2}
	s.create(t, "gourl", f)
	cfg, err := s.Client.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("gourl"), AuthType: types.FunctionUrlAuthTypeNone,
		Cors: &types.Cors{AllowOrigins: []string{"https://app.example"}, AllowMethods: []string{"GET", "POST"}, AllowHeaders: []string{"x-custom"},
			ExposeHeaders: []string{"x-custom"}, MaxAge: aws.Int32(600)}})
	if err != nil {
		t.Fatal(err)
	}
	furl := aws.ToString(cfg.FunctionUrl)
	id := functionURLRE.FindStringSubmatch(furl)[1]
	host := strings.TrimSuffix(strings.TrimPrefix(furl, "http://"), "/")

	if r := s.urlCall(t, furl, "GET", "/", nil, nil, false, nil); r.Status != 403 || string(r.Body) != urlRefusedBody ||
		r.Header.Get("X-Amzn-Errortype") != "AccessDeniedException" {
		t.Errorf("NONE URL without a policy = %d %s %v; want 403 %s AccessDeniedException", r.Status, r.Body, r.Header, urlRefusedBody)
	}
	// A statement for another auth type does not open a NONE URL.
	if _, err := s.Client.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String("gourl"), StatementId: aws.String("iam-only"),
		Action: aws.String("lambda:InvokeFunctionUrl"), Principal: aws.String("*"), FunctionUrlAuthType: types.FunctionUrlAuthTypeAwsIam}); err != nil {
		t.Fatal(err)
	}
	if r := s.urlCall(t, furl, "GET", "/", nil, nil, false, nil); r.Status != 403 {
		t.Errorf("NONE URL with a statement for AWS_IAM only = %d %s; want 403", r.Status, r.Body)
	}
	s.allowPublic(t, "gourl", "")

	hdr := http.Header{
		"User-Agent":   {"e2e-agent/1.0"},
		"X-Multi":      {"one", "two"},
		"Cookie":       {"c1=v1; c2=v2"},
		"Content-Type": {"application/json"},
	}
	before := time.Now()
	r := s.urlCall(t, furl, "POST", "/my/pa%20th?x=1&x=2&y=%C3%A9&empty=", hdr, []byte(`{"hello":"world"}`), false, nil)
	after := time.Now()
	if r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	var ev events.LambdaFunctionURLRequest
	if err := json.Unmarshal(r.Body, &ev); err != nil {
		t.Fatalf("the function's echo %s: %v", r.Body, err)
	}
	rc := ev.RequestContext
	// Lambda gives a request without a trace one of its own, in the
	// event's headers too (localstack's validated
	// test_lambda_url_echo_http_fixture_default records it).
	if tr := ev.Headers["x-amzn-trace-id"]; !regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$`).MatchString(tr) {
		t.Errorf("x-amzn-trace-id = %q; want a trace of the request's own, Root=1-<8 hex>-<24 hex>", tr)
	}
	delete(ev.Headers, "x-amzn-trace-id")
	if rc.TimeEpoch < before.UnixMilli() || rc.TimeEpoch > after.UnixMilli() {
		t.Errorf("timeEpoch %d not within the request (%d..%d)", rc.TimeEpoch, before.UnixMilli(), after.UnixMilli())
	}
	if got := time.UnixMilli(rc.TimeEpoch).UTC().Format("02/Jan/2006:15:04:05 +0000"); rc.Time != got {
		t.Errorf("time = %q; want %q (timeEpoch's)", rc.Time, got)
	}
	if rc.RequestID == "" || r.Header.Get("X-Amzn-Requestid") != rc.RequestID {
		t.Errorf("requestId %q, x-amzn-RequestId %q; want the same, not empty", rc.RequestID, r.Header.Get("X-Amzn-Requestid"))
	}
	port := functionURLRE.FindStringSubmatch(furl)[2]
	want := events.LambdaFunctionURLRequest{
		Version:        "2.0",
		RawPath:        "/my/pa%20th",
		RawQueryString: "x=1&x=2&y=%C3%A9&empty=",
		Cookies:        []string{"c1=v1", "c2=v2"},
		Headers: map[string]string{
			"user-agent": "e2e-agent/1.0", "x-multi": "one,two", "content-type": "application/json", "cookie": "c1=v1; c2=v2",
			"content-length": "17", "accept-encoding": "gzip", "host": host,
			"x-forwarded-for": "127.0.0.1", "x-forwarded-proto": "http", "x-forwarded-port": port,
		},
		QueryStringParameters: map[string]string{"x": "1,2", "y": "é", "empty": ""},
		RequestContext: events.LambdaFunctionURLRequestContext{
			AccountID: "anonymous", RequestID: rc.RequestID, APIID: id,
			DomainName: strings.Split(host, ":")[0], DomainPrefix: id, Time: rc.Time, TimeEpoch: rc.TimeEpoch,
			HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST", Path: "/my/pa th", Protocol: "HTTP/1.1",
				SourceIP: "127.0.0.1", UserAgent: "e2e-agent/1.0"},
		},
		Body:            `{"hello":"world"}`,
		IsBase64Encoded: false,
	}
	if diff := cmp.Diff(want, ev); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("a request without Origin got Access-Control-Allow-Origin %q", got)
	}

	// The path form reaches the same function; a binary body is base64.
	bin := []byte{0, 1, 2, 0xff, 0xfe, 'a'}
	r = s.urlCall(t, furl, "PUT", "/up", http.Header{"Content-Type": {"application/octet-stream"}, "Origin": {"https://app.example"}}, bin, true, nil)
	if r.Status != 200 {
		t.Fatalf("path form PUT = %d %s", r.Status, r.Body)
	}
	ev = events.LambdaFunctionURLRequest{}
	if err := json.Unmarshal(r.Body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.RawPath != "/up" || ev.RequestContext.HTTP.Method != "PUT" || !ev.IsBase64Encoded || ev.Body != base64.StdEncoding.EncodeToString(bin) ||
		ev.RequestContext.APIID != id || ev.RequestContext.DomainName != id+".lambda-url.us-east-1.127.0.0.1" {
		t.Errorf("path form event = rawPath %q method %q base64 %v body %q apiId %q domainName %q; want /up PUT true %q %s %s",
			ev.RawPath, ev.RequestContext.HTTP.Method, ev.IsBase64Encoded, ev.Body, ev.RequestContext.APIID, ev.RequestContext.DomainName,
			base64.StdEncoding.EncodeToString(bin), id, id+".lambda-url.us-east-1.127.0.0.1")
	}
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" || r.Header.Get("Access-Control-Expose-Headers") != "x-custom" {
		t.Errorf("CORS headers of an allowed origin's request = %v; want Allow-Origin https://app.example, Expose-Headers x-custom", r.Header)
	}

	// Responses: binary, cookies and headers.
	r = s.urlCall(t, furl, "GET", "/binary", nil, nil, false, nil)
	wantBin := make([]byte, 256)
	for i := range wantBin {
		wantBin[i] = byte(i)
	}
	if r.Status != 200 || !bytes.Equal(r.Body, wantBin) || r.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("binary response = %d %q %x; want 200 application/octet-stream, bytes 0..255", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	r = s.urlCall(t, furl, "GET", "/cookies", nil, nil, false, nil)
	if diff := cmp.Diff([]string{"a=1; Path=/", "b=2; Max-Age=60"}, r.Header.Values("Set-Cookie")); diff != "" || r.Status != 201 ||
		string(r.Body) != "made" || r.Header.Get("X-Custom") != "v1,v2" || r.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("cookies response = %d %q %v; want 201 made, X-Custom v1,v2, Set-Cookie (-want +got):\n%s", r.Status, r.Body, r.Header, diff)
	}

	// CORS preflight is answered from the configuration, without the function.
	pre := http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"x-custom"}}
	r = s.urlCall(t, furl, "OPTIONS", "/anything", pre, nil, false, nil)
	wantPre := map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Methods": "GET,POST",
		"Access-Control-Allow-Headers": "x-custom", "Access-Control-Max-Age": "600"}
	gotPre := map[string]string{}
	for k := range wantPre {
		gotPre[k] = r.Header.Get(k)
	}
	if diff := cmp.Diff(wantPre, gotPre); diff != "" || r.Status != 200 || len(r.Body) != 0 {
		t.Errorf("preflight = %d %q (-want +got):\n%s", r.Status, r.Body, diff)
	}
	pre.Set("Origin", "https://evil.example")
	if r = s.urlCall(t, furl, "OPTIONS", "/", pre, nil, false, nil); r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from an origin not allowed got Access-Control-Allow-Origin %q", r.Header.Get("Access-Control-Allow-Origin"))
	}

	// Errors.
	if r = s.urlCall(t, furl, "GET", "/error", nil, nil, false, nil); r.Status != 502 || string(r.Body) != "Internal Server Error" {
		t.Errorf("function error = %d %s; want 502 Internal Server Error", r.Status, r.Body)
	}
	if r = s.urlCall(t, furl, "GET", "/sleep", nil, nil, false, nil); r.Status != 504 {
		t.Errorf("timeout = %d %s; want 504", r.Status, r.Body)
	}
	big := bytes.Repeat([]byte("a"), 6*1024*1024+1)
	if r = s.urlCall(t, furl, "POST", "/", http.Header{"Content-Type": {"text/plain"}}, big, false, nil); r.Status != 413 {
		t.Errorf("a body over 6 MB = %d %s; want 413", r.Status, r.Body)
	}
	// Base64 makes a 5 MB binary body an event over 6 MB.
	if r = s.urlCall(t, furl, "POST", "/", http.Header{"Content-Type": {"application/octet-stream"}}, big[:5*1024*1024], false, nil); r.Status != 413 {
		t.Errorf("a 5 MB binary body = %d %s; want 413 (its event is over 6 MB)", r.Status, r.Body)
	}
	if r = s.urlCall(t, "http://"+strings.Repeat("z", 32)+".lambda-url.us-east-1.localhost:"+port+"/", "GET", "/", nil, nil, false, nil); r.Status != 403 || string(r.Body) != `{"Message":null}` ||
		r.Header.Get("X-Amzn-Errortype") != "AccessDeniedException" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("an unknown URL id = %d %s %v; want 403 {\"Message\":null} AccessDeniedException (as AWS answers)", r.Status, r.Body, r.Header)
	}

	// Reserved concurrency 0: throttled.
	if _, err := s.Client.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("gourl"), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	if r = s.urlCall(t, furl, "GET", "/", nil, nil, false, nil); r.Status != 429 {
		t.Errorf("reserved concurrency 0 = %d %s; want 429", r.Status, r.Body)
	}
}

// TestFunctionURLResponses checks the response mapping with a Python
// function: inferred from a bare string, object and number, structured
// with headers and cookies, and 502 for a malformed one or an error.
func TestFunctionURLResponses(t *testing.T) {
	needRuntime(t, "python3.12")
	s := startURLServer(t)
	s.create(t, "pyurl", fn{runtime: "python3.12", handler: "app.handler", zip: zipDir(t, "pyurl")})
	cfg, err := s.Client.CreateFunctionUrlConfig(t.Context(), &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("pyurl"), AuthType: types.FunctionUrlAuthTypeNone})
	if err != nil {
		t.Fatal(err)
	}
	s.allowPublic(t, "pyurl", "")
	furl := aws.ToString(cfg.FunctionUrl)
	for _, tc := range []struct {
		path        string
		status      int
		contentType string
		body        string
		cookies     []string
	}{
		{"/string", 200, "application/json", `"Hello, world!"`, nil},
		{"/json", 200, "application/json", `{"message": "Hello, world!"}`, nil},
		{"/number", 200, "application/json", `42`, nil},
		{"/structured", 202, "text/html", `<p>hi</p>`, []string{"c=3; HttpOnly"}},
		{"/malformed", 502, "application/json", "Internal Server Error", nil},
		{"/error", 502, "application/json", "Internal Server Error", nil},
	} {
		r := s.urlCall(t, furl, "GET", tc.path, nil, nil, false, nil)
		if r.Status != tc.status || r.Header.Get("Content-Type") != tc.contentType || string(r.Body) != tc.body ||
			!cmp.Equal(tc.cookies, r.Header.Values("Set-Cookie"), cmpEmpty) {
			t.Errorf("%s = %d %q %q cookies %q; want %d %q %q %q", tc.path, r.Status, r.Header.Get("Content-Type"), r.Body,
				r.Header.Values("Set-Cookie"), tc.status, tc.contentType, tc.body, tc.cookies)
		}
		if tc.path == "/structured" && r.Header.Get("X-Count") != "3" {
			t.Errorf("/structured's X-Count = %q; want 3 (a number as text)", r.Header.Get("X-Count"))
		}
	}
	// The Python function sees the event as JSON too: a form post is base64.
	r := s.urlCall(t, furl, "POST", "/echo?a=b", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("k=v&k2=v2"), true, nil)
	var ev map[string]any
	if err := json.Unmarshal(r.Body, &ev); err != nil {
		t.Fatalf("echo %d %s: %v", r.Status, r.Body, err)
	}
	if ev["isBase64Encoded"] != true || ev["body"] != base64.StdEncoding.EncodeToString([]byte("k=v&k2=v2")) || ev["rawQueryString"] != "a=b" {
		t.Errorf("form post event = %v; want isBase64Encoded, base64 body, rawQueryString a=b", ev)
	}
	if _, ok := ev["requestContext"].(map[string]any)["timeEpoch"].(float64); !ok {
		t.Errorf("timeEpoch = %#v; want a JSON number", ev["requestContext"].(map[string]any)["timeEpoch"])
	}

	// In RESPONSE_STREAM mode a function that answers buffered has its
	// result streamed as it is, not mapped (AWS's answer, which
	// localstack's test_lambda_url_echo_invoke[RESPONSE_STREAM] reads);
	// a function error is still 502.
	if _, err := s.Client.UpdateFunctionUrlConfig(t.Context(), &lambda.UpdateFunctionUrlConfigInput{FunctionName: aws.String("pyurl"),
		InvokeMode: types.InvokeModeResponseStream}); err != nil {
		t.Fatal(err)
	}
	r = s.urlCall(t, furl, "GET", "/structured", nil, nil, false, nil)
	var res map[string]any
	if err := json.Unmarshal(r.Body, &res); err != nil || r.Status != 200 || res["statusCode"] != float64(202) || res["body"] != "<p>hi</p>" ||
		len(r.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("RESPONSE_STREAM /structured = %d %q Set-Cookie %q; want 200 and the result's JSON as the body", r.Status, r.Body, r.Header.Values("Set-Cookie"))
	}
	if r = s.urlCall(t, furl, "GET", "/error", nil, nil, false, nil); r.Status != 502 {
		t.Errorf("RESPONSE_STREAM /error = %d %q; want 502", r.Status, r.Body)
	}
}

// TestFunctionURLTraceHeader checks that a function URL request's
// X-Amzn-Trace-Id continues into the invocation as an Invoke's does: the
// function gets the caller's trace (aws-lambda-go's _X_AMZN_TRACE_ID and
// context, from Lambda-Runtime-Trace-Id), by Host name and by the path
// form, in BUFFERED and RESPONSE_STREAM mode; a request without one gets a
// trace of its own.
func TestFunctionURLTraceHeader(t *testing.T) {
	s := startURLServer(t)
	s.create(t, "tracedurl", fn{runtime: "provided.al2023", handler: "bootstrap", zip: buildGoFunction(t, "gourl"), timeout: 5})
	s.allowPublic(t, "tracedurl", "")
	own := regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$`)
	for _, mode := range []types.InvokeMode{types.InvokeModeBuffered, types.InvokeModeResponseStream} {
		cfg, err := s.Client.CreateFunctionUrlConfig(t.Context(), &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("tracedurl"),
			AuthType: types.FunctionUrlAuthTypeNone, InvokeMode: mode})
		if err != nil {
			t.Fatal(err)
		}
		furl := aws.ToString(cfg.FunctionUrl)
		trace := func(header http.Header, pathForm bool) (env, ctx string) {
			t.Helper()
			r := s.urlCall(t, furl, "GET", "/trace", header, nil, pathForm, nil)
			// In RESPONSE_STREAM mode the body is the function's response
			// as it wrote it, the reply in its "body".
			var got struct{ Env, Ctx, Body string }
			err := json.Unmarshal(r.Body, &got)
			if err == nil && got.Body != "" {
				err = json.Unmarshal([]byte(got.Body), &got)
			}
			if r.Status != 200 || err != nil {
				t.Fatalf("%s: GET /trace = %d %s", mode, r.Status, r.Body)
			}
			return got.Env, got.Ctx
		}
		for _, pathForm := range []bool{false, true} {
			given := fmt.Sprintf("Root=1-%08x-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1", time.Now().Unix())
			if env, ctx := trace(http.Header{"X-Amzn-Trace-Id": {given}}, pathForm); env != given || ctx != given {
				t.Errorf("%s (path form %v): the function saw trace %q (env), %q (context); want the caller's %q", mode, pathForm, env, ctx, given)
			}
			env, ctx := trace(nil, pathForm)
			if !own.MatchString(env) || ctx != env || strings.Contains(env, given[5:40]) {
				t.Errorf("%s (path form %v): without a caller's trace the function saw %q (env), %q (context); want a trace of its own", mode, pathForm, env, ctx)
			}
		}
		if _, err := s.Client.DeleteFunctionUrlConfig(t.Context(), &lambda.DeleteFunctionUrlConfigInput{FunctionName: aws.String("tracedurl")}); err != nil {
			t.Fatal(err)
		}
	}
}

var cmpEmpty = cmp.Comparer(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) })

// TestFunctionURLIAM checks AWS_IAM URLs: unsigned requests and
// signatures that do not hold are refused, the function's own account is
// let in with requestContext.authorizer.iam naming the signer, another
// account only once the resource policy grants it
// lambda:InvokeFunctionUrl.
func TestFunctionURLIAM(t *testing.T) {
	s := startURLServer(t)
	ctx := t.Context()
	s.create(t, "iamurl", fn{runtime: "provided.al2023", handler: "bootstrap", zip: buildGoFunction(t, "gourl")})
	cfg, err := s.Client.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("iamurl"), AuthType: types.FunctionUrlAuthTypeAwsIam})
	if err != nil {
		t.Fatal(err)
	}
	furl := aws.ToString(cfg.FunctionUrl)
	if r := s.urlCall(t, furl, "GET", "/", nil, nil, false, nil); r.Status != 403 || string(r.Body) != `{"Message":"Forbidden"}` {
		t.Errorf("unsigned = %d %s; want 403 Forbidden", r.Status, r.Body)
	}
	wrong := s.creds
	wrong.SecretAccessKey = "not-the-secret"
	if r := s.urlCall(t, furl, "GET", "/", nil, nil, false, &wrong); r.Status != 403 || r.Header.Get("X-Amzn-Errortype") != "InvalidSignatureException" {
		t.Errorf("signed with a wrong secret = %d %s %v; want 403 InvalidSignatureException", r.Status, r.Body, r.Header)
	}
	for _, pathForm := range []bool{false, true} {
		r := s.urlCall(t, furl, "POST", "/signed", http.Header{"Content-Type": {"text/plain"}}, []byte("signed body"), pathForm, &s.creds)
		if r.Status != 200 {
			t.Fatalf("signed by the owner (path form %v) = %d %s", pathForm, r.Status, r.Body)
		}
		var ev events.LambdaFunctionURLRequest
		if err := json.Unmarshal(r.Body, &ev); err != nil {
			t.Fatal(err)
		}
		wantIAM := &events.LambdaFunctionURLRequestContextAuthorizerIAMDescription{AccessKey: s.creds.AccessKeyID, AccountID: "000000000000",
			CallerID: "000000000000", UserARN: "arn:aws:iam::000000000000:root", UserID: "000000000000"}
		if ev.RequestContext.Authorizer == nil {
			t.Fatalf("signed request's event has no authorizer: %s", r.Body)
		}
		if diff := cmp.Diff(wantIAM, ev.RequestContext.Authorizer.IAM); diff != "" || ev.RequestContext.AccountID != "000000000000" || ev.Body != "signed body" {
			t.Errorf("authorizer.iam (-want +got):\n%s accountId %q body %q", diff, ev.RequestContext.AccountID, ev.Body)
		}
	}
	// An alias's URL invokes through the alias, and its policy is the
	// alias's own: the function's statement does not open it.
	if _, err := s.Client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("iamurl"), Name: aws.String("live"), FunctionVersion: aws.String("$LATEST")}); err != nil {
		t.Fatal(err)
	}
	live, err := s.Client.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("iamurl"), Qualifier: aws.String("live"), AuthType: types.FunctionUrlAuthTypeNone})
	if err != nil {
		t.Fatal(err)
	}
	s.allowPublic(t, "iamurl", "")
	if r := s.urlCall(t, aws.ToString(live.FunctionUrl), "GET", "/", nil, nil, false, nil); r.Status != 403 {
		t.Errorf("alias URL with only the function's public statement = %d %s; want 403", r.Status, r.Body)
	}
	s.allowPublic(t, "iamurl", "live")
	if r := s.urlCall(t, aws.ToString(live.FunctionUrl), "GET", "/binary", nil, nil, true, nil); r.Status != 200 || len(r.Body) != 256 {
		t.Errorf("alias URL with the alias's public statement = %d %q; want 200 and the function's 256 bytes", r.Status, r.Body)
	}
	if defaultIsolation() != "linux" {
		return // another account needs the linux driver
	}
	out, err := s.cli(ctx, "accounts", "create", "--id", "444444444444").Output()
	if err != nil {
		t.Fatalf("accounts create: %v", err)
	}
	kb := exportsOf(t, string(out))
	other := aws.Credentials{AccessKeyID: kb["AWS_ACCESS_KEY_ID"], SecretAccessKey: kb["AWS_SECRET_ACCESS_KEY"]}
	if r := s.urlCall(t, furl, "GET", "/", nil, nil, false, &other); r.Status != 403 {
		t.Errorf("signed by another account = %d %s; want 403", r.Status, r.Body)
	}
	if _, err := s.Client.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String("iamurl"), StatementId: aws.String("other"),
		Action: aws.String("lambda:InvokeFunctionUrl"), Principal: aws.String("444444444444"), FunctionUrlAuthType: types.FunctionUrlAuthTypeAwsIam}); err != nil {
		t.Fatal(err)
	}
	// Since October 2025 the account needs lambda:InvokeFunction too
	// (allowPublic granted it to everyone, through a URL, above).
	if _, err := s.Client.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String("iamurl"), StatementId: aws.String("public-invoke")}); err != nil {
		t.Fatal(err)
	}
	if r := s.urlCall(t, furl, "GET", "/", nil, nil, false, &other); r.Status != 403 || string(r.Body) != urlRefusedBody {
		t.Errorf("another account with lambda:InvokeFunctionUrl only = %d %s; want 403 %s", r.Status, r.Body, urlRefusedBody)
	}
	if _, err := s.Client.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String("iamurl"), StatementId: aws.String("other-invoke"),
		Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("444444444444"), InvokedViaFunctionUrl: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	r := s.urlCall(t, furl, "GET", "/", nil, nil, false, &other)
	var ev events.LambdaFunctionURLRequest
	json.Unmarshal(r.Body, &ev)
	if r.Status != 200 || ev.RequestContext.Authorizer == nil || ev.RequestContext.Authorizer.IAM.AccountID != "444444444444" {
		t.Errorf("another account with permission = %d %s; want 200, authorizer.iam.accountId 444444444444", r.Status, r.Body)
	}
}

// TestFunctionURLInvokePermission checks Lambda's authorization model of
// October 2025 (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html):
// AddPermission's InvokedViaFunctionUrl stores the condition
// {"Bool":{"lambda:InvokedViaFunctionUrl":"true"}} and GetPolicy shows it;
// a NONE URL answers only when the policy allows everyone both
// lambda:InvokeFunctionUrl and lambda:InvokeFunction, and AWS's 403 with
// either alone; FunctionUrlAuthType on another action is refused with
// Lambda's message; and the statement limited to function URLs lets no
// other account use the Invoke API.
func TestFunctionURLInvokePermission(t *testing.T) {
	s := startURLServer(t)
	ctx := t.Context()
	s.create(t, "pub", fn{runtime: "provided.al2023", handler: "bootstrap", zip: buildGoFunction(t, "gourl")})
	cfg, err := s.Client.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("pub"), AuthType: types.FunctionUrlAuthTypeNone})
	if err != nil {
		t.Fatal(err)
	}
	furl := aws.ToString(cfg.FunctionUrl)
	get := func() urlReply { return s.urlCall(t, furl, "GET", "/", nil, nil, false, nil) }
	const arn = "arn:aws:lambda:us-east-1:000000000000:function:pub"

	// FunctionUrlAuthType goes with lambda:InvokeFunctionUrl only.
	_, err = s.NoRetry.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String("pub"), StatementId: aws.String("wrong"),
		Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("*"), FunctionUrlAuthType: types.FunctionUrlAuthTypeNone})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterValueException" ||
		ae.ErrorMessage() != "FunctionUrlAuthType is only supported for lambda:InvokeFunctionUrl action" {
		t.Errorf("AddPermission(InvokeFunction, FunctionUrlAuthType NONE) = %v; want InvalidParameterValueException: FunctionUrlAuthType is only supported for lambda:InvokeFunctionUrl action", err)
	}
	if _, err := s.NoRetry.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String("pub")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("GetPolicy after a refused AddPermission = %v; want ResourceNotFoundException", err)
	}

	// lambda:InvokeFunctionUrl alone no longer opens a new URL.
	urlOut, err := s.Client.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String("pub"), StatementId: aws.String("FunctionURLAllowPublicAccess"),
		Action: aws.String("lambda:InvokeFunctionUrl"), Principal: aws.String("*"), FunctionUrlAuthType: types.FunctionUrlAuthTypeNone})
	if err != nil {
		t.Fatal(err)
	}
	if r := get(); r.Status != 403 || string(r.Body) != urlRefusedBody || r.Header.Get("X-Amzn-Errortype") != "AccessDeniedException" {
		t.Errorf("NONE URL with lambda:InvokeFunctionUrl only = %d %s; want 403 %s", r.Status, r.Body, urlRefusedBody)
	}

	// The second statement of AWS's docs: InvokeFunction through a URL.
	viaOut, err := s.Client.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String("pub"), StatementId: aws.String("FunctionURLAllowInvokeAction"),
		Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("*"), InvokedViaFunctionUrl: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	const wantURL = `{"Sid":"FunctionURLAllowPublicAccess","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunctionUrl","Resource":"` + arn +
		`","Condition":{"StringEquals":{"lambda:FunctionUrlAuthType":"NONE"}}}`
	const wantVia = `{"Sid":"FunctionURLAllowInvokeAction","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction","Resource":"` + arn +
		`","Condition":{"Bool":{"lambda:InvokedViaFunctionUrl":"true"}}}`
	if got := aws.ToString(urlOut.Statement); got != wantURL {
		t.Errorf("AddPermission(InvokeFunctionUrl) statement = %s; want %s", got, wantURL)
	}
	if got := aws.ToString(viaOut.Statement); got != wantVia {
		t.Errorf("AddPermission(InvokedViaFunctionUrl) statement = %s; want %s", got, wantVia)
	}
	pol, err := s.Client.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String("pub")})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Version":"2012-10-17","Id":"default","Statement":[` + wantURL + `,` + wantVia + `]}`; aws.ToString(pol.Policy) != want {
		t.Errorf("GetPolicy = %s; want %s", aws.ToString(pol.Policy), want)
	}
	if r := get(); r.Status != 200 {
		t.Errorf("NONE URL with both statements = %d %s; want 200", r.Status, r.Body)
	}

	// lambda:InvokeFunction alone does not open it either.
	if _, err := s.Client.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String("pub"), StatementId: aws.String("FunctionURLAllowPublicAccess")}); err != nil {
		t.Fatal(err)
	}
	if r := get(); r.Status != 403 || string(r.Body) != urlRefusedBody {
		t.Errorf("NONE URL with lambda:InvokeFunction only = %d %s; want 403 %s", r.Status, r.Body, urlRefusedBody)
	}

	// The statement that lets everyone invoke through the URL lets nobody
	// use the Invoke API.
	if defaultIsolation() != "linux" {
		return // another account needs the linux driver
	}
	out, err := s.cli(ctx, "accounts", "create", "--id", "444444444444").Output()
	if err != nil {
		t.Fatalf("accounts create: %v", err)
	}
	kb := exportsOf(t, string(out))
	b := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(kb["AWS_ACCESS_KEY_ID"], kb["AWS_SECRET_ACCESS_KEY"], "")})
	if _, err := s.tryInvoke(ctx, b, arn, map[string]any{}); errCode(err) != "AccessDeniedException" {
		t.Errorf("another account invokes with only the statement limited to function URLs = %v; want AccessDeniedException", err)
	}
}

// BenchmarkFunctionURL: sequential warm requests through a function URL
// (NONE, unsigned; AWS_IAM, signed) as a ratio to direct signed Invokes of
// the same aws-lambda-go function in the same run, interleaved in rounds
// of 100. The function answers a small structured response either way.
//
//	go test -run XXX -bench FunctionURL -benchtime 2000x ./test/e2e/
func BenchmarkFunctionURL(b *testing.B) {
	s := benchServer(b, "--url-addr", "127.0.0.1:0")
	defer s.Stop()
	f := fn{runtime: "provided.al2023", handler: "bootstrap", zip: buildGoFunction(b, "gourl"), memory: oneVCPU}
	s.create(b, "benchurl", f)
	if _, err := s.Client.CreateAlias(b.Context(), &lambda.CreateAliasInput{FunctionName: aws.String("benchurl"), Name: aws.String("iam"), FunctionVersion: aws.String("$LATEST")}); err != nil {
		b.Fatal(err)
	}
	none, err := s.Client.CreateFunctionUrlConfig(b.Context(), &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("benchurl"), AuthType: types.FunctionUrlAuthTypeNone})
	if err != nil {
		b.Fatal(err)
	}
	iam, err := s.Client.CreateFunctionUrlConfig(b.Context(), &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("benchurl"), Qualifier: aws.String("iam"), AuthType: types.FunctionUrlAuthTypeAwsIam})
	if err != nil {
		b.Fatal(err)
	}
	s.allowPublic(b, "benchurl", "")
	s.mu.Lock()
	addr := s.urlAddr
	s.mu.Unlock()
	plain := &http.Transport{MaxIdleConnsPerHost: 4}
	direct := &http.Client{Transport: signing{s: s, base: plain}}
	invokeURL := s.URL + "/2015-03-31/functions/benchurl/invocations"
	get := func(c *http.Client, furl string) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/bench", nil)
		req.Host = strings.TrimSuffix(strings.TrimPrefix(furl, "http://"), "/")
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok" {
			b.Fatalf("GET %s/bench = %d %s", furl, resp.StatusCode, body)
		}
	}
	public := &http.Client{Transport: plain}
	signed := &http.Client{Transport: signing{s: s, base: plain}}
	call := map[string]func(){
		"invoke":   func() { post(b, direct, invokeURL, []byte(`{"rawPath":"/bench"}`)) },
		"url-none": func() { get(public, aws.ToString(none.FunctionUrl)) },
		"url-iam":  func() { get(signed, aws.ToString(iam.FunctionUrl)) },
	}
	order := []string{"invoke", "url-none", "url-iam"}
	for _, k := range order {
		call[k]() // warm
	}
	rounds := map[string][]time.Duration{}
	b.ResetTimer()
	for left := b.N; left > 0; left -= 100 {
		n := min(left, 100)
		for _, k := range order {
			rounds[k] = append(rounds[k], p50(n, call[k]))
		}
	}
	b.StopTimer()
	med := map[string]time.Duration{}
	for _, k := range order {
		slices.Sort(rounds[k])
		med[k] = rounds[k][len(rounds[k])/2]
		b.ReportMetric(float64(med[k].Microseconds()), k+"-p50-µs")
	}
	b.ReportMetric(float64(med["url-none"])/float64(med["invoke"]), "none-x-invoke")
	b.ReportMetric(float64(med["url-iam"])/float64(med["invoke"]), "iam-x-invoke")
}
