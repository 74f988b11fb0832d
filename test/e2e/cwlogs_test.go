package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/go-cmp/cmp"
)

// logsClient is aws-sdk-go-v2's CloudWatch Logs client pointed at s.
func logsClient(s *server, creds aws.Credentials) *cloudwatchlogs.Client {
	return cloudwatchlogs.New(cloudwatchlogs.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Timeout: 2 * time.Minute, Transport: bufferedBodies{}},
	})
}

// bufferedBodies reads each response whole before handing it to the SDK.
// Under the race detector, aws-sdk-go-v2's CloudWatch Logs client now and
// then failed to read a FilterLogEvents body it had already received
// ("use of closed network connection" on its own side, with a 200 in
// hand); read at once, the same bodies arrived whole in every run, and a
// body left 200 ms before reading arrived whole too, so the server had
// sent it and kept the connection open.
type bufferedBodies struct{}

func (bufferedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	return res, nil
}

var streamNameRE = regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\[(\$LATEST|\d+)\][0-9a-f]{32}$`)

// TestCloudWatchLogs drives the CloudWatch Logs subset with
// aws-sdk-go-v2's client against the real server: groups, streams named
// as Lambda names them (the name the function sees in
// AWS_LAMBDA_LOG_STREAM_NAME), GetLogEvents paged both ways,
// FilterLogEvents with patterns, time ranges and its paginator,
// retention that survives a restart, and DeleteLogGroup.
func TestCloudWatchLogs(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	ctx := t.Context()
	cfg := s.create(t, "talker", goFn())
	account := strings.Split(aws.ToString(cfg.FunctionArn), ":")[4]
	var latest string
	for i := range 3 {
		res := s.invoke(t, "talker", map[string]any{"op": "print", "text": fmt.Sprint("hello-", i), "n": 2})
		latest = res.decode(t)["env_id"].(string)
	}
	if _, err := s.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("talker")}); err != nil {
		t.Fatal(err)
	}
	out, err := s.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("talker"), Qualifier: aws.String("1"),
		Payload: []byte(`{"op":"print","text":"from-version","n":1}`)})
	if err != nil || out.FunctionError != nil {
		t.Fatalf("invoke talker:1 = %v, %v", err, out)
	}
	var v1 struct {
		EnvID string `json:"env_id"`
	}
	if err := json.Unmarshal(out.Payload, &v1); err != nil {
		t.Fatal(err)
	}
	s.create(t, "other", goFn())
	s.invoke(t, "other", map[string]any{"op": "print", "text": "other"})

	cw := logsClient(s, s.creds)

	// Groups: every function that logged, by name, paged.
	var groups []cwtypes.LogGroup
	for p := cloudwatchlogs.NewDescribeLogGroupsPaginator(cw, &cloudwatchlogs.DescribeLogGroupsInput{Limit: aws.Int32(1)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.LogGroups) > 1 {
			t.Errorf("DescribeLogGroups(limit 1) returned %d groups", len(page.LogGroups))
		}
		groups = append(groups, page.LogGroups...)
	}
	var names []string
	for _, g := range groups {
		names = append(names, aws.ToString(g.LogGroupName))
	}
	if diff := cmp.Diff([]string{"/aws/lambda/other", "/aws/lambda/talker"}, names); diff != "" {
		t.Fatalf("log groups (-want +got):\n%s", diff)
	}
	g := groups[1]
	if want := "arn:aws:logs:us-east-1:" + account + ":log-group:/aws/lambda/talker"; aws.ToString(g.LogGroupArn) != want || aws.ToString(g.Arn) != want+":*" {
		t.Errorf("group ARNs = %s, %s; want %s and %[3]s:*", aws.ToString(g.LogGroupArn), aws.ToString(g.Arn), want)
	}
	if g.DeletionProtectionEnabled == nil || *g.DeletionProtectionEnabled || g.LogGroupClass != cwtypes.LogGroupClassStandard {
		t.Errorf("group = deletion protection %v, class %q; want false, as AWS lists it, and STANDARD", g.DeletionProtectionEnabled, g.LogGroupClass)
	}
	if aws.ToInt64(g.StoredBytes) == 0 || aws.ToInt64(g.CreationTime) == 0 || g.RetentionInDays != nil {
		t.Errorf("group = stored %d, created %d, retention %v; want bytes, a creation time and no retention",
			aws.ToInt64(g.StoredBytes), aws.ToInt64(g.CreationTime), g.RetentionInDays)
	}
	for _, tt := range []struct {
		in   cloudwatchlogs.DescribeLogGroupsInput
		want int
	}{
		{cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/aws/lambda/tal")}, 1},
		{cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/aws/lambda/x")}, 0},
		{cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePattern: aws.String("lambda")}, 2},
		{cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePattern: aws.String("ther")}, 1},
	} {
		out, err := cw.DescribeLogGroups(ctx, &tt.in)
		if err != nil || len(out.LogGroups) != tt.want {
			t.Errorf("DescribeLogGroups(prefix %q, pattern %q) = %d groups, %v; want %d", aws.ToString(tt.in.LogGroupNamePrefix),
				aws.ToString(tt.in.LogGroupNamePattern), len(out.LogGroups), err, tt.want)
		}
	}
	if _, err := cw.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{Limit: aws.Int32(51)}); errCode(err) != "InvalidParameterException" {
		t.Errorf("DescribeLogGroups(limit 51) = %v; want InvalidParameterException", err)
	}

	// Streams: one per environment, named as the function saw it.
	group := aws.String("/aws/lambda/talker")
	streams, err := cw.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: group})
	if err != nil {
		t.Fatal(err)
	}
	var streamNames []string
	for _, st := range streams.LogStreams {
		streamNames = append(streamNames, aws.ToString(st.LogStreamName))
		if !streamNameRE.MatchString(aws.ToString(st.LogStreamName)) {
			t.Errorf("stream name %q is not Lambda's", aws.ToString(st.LogStreamName))
		}
		if aws.ToInt64(st.FirstEventTimestamp) == 0 || aws.ToInt64(st.LastEventTimestamp) < aws.ToInt64(st.FirstEventTimestamp) {
			t.Errorf("stream %s: first %d, last %d", aws.ToString(st.LogStreamName), aws.ToInt64(st.FirstEventTimestamp), aws.ToInt64(st.LastEventTimestamp))
		}
	}
	wantStreams := []string{latest, v1.EnvID}
	slices.Sort(wantStreams)
	if diff := cmp.Diff(wantStreams, streamNames); diff != "" {
		t.Fatalf("streams (-want +got):\n%s", diff)
	}
	byArn, err := cw.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupIdentifier: g.Arn})
	if err != nil || len(byArn.LogStreams) != len(streamNames) {
		t.Errorf("DescribeLogStreams(group ARN %s) = %v, %v; want the same %d streams", aws.ToString(g.Arn), byArn, err, len(streamNames))
	}
	byTime, err := cw.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: group,
		OrderBy: cwtypes.OrderByLastEventTime, Descending: aws.Bool(true), Limit: aws.Int32(1)})
	if err != nil || len(byTime.LogStreams) != 1 || aws.ToString(byTime.LogStreams[0].LogStreamName) != v1.EnvID || byTime.NextToken == nil {
		t.Errorf("DescribeLogStreams(LastEventTime, descending, limit 1) = %v, %v; want the version's stream first, and a token", byTime, err)
	}
	if _, err := cw.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: group,
		OrderBy: cwtypes.OrderByLastEventTime, LogStreamNamePrefix: aws.String("2")}); errCode(err) != "InvalidParameterException" {
		t.Errorf("DescribeLogStreams(LastEventTime with a prefix) = %v; want InvalidParameterException", err)
	}
	if _, err := cw.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/lambda/nothing")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("DescribeLogStreams(unknown group) = %v; want ResourceNotFoundException", err)
	}

	// Every event of the $LATEST stream, as FilterLogEvents has them.
	all, err := cw.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: group, LogStreamNames: []string{latest}})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range all.Events {
		want = append(want, aws.ToString(e.Message))
	}
	// Each as the function printed it, with its newline, as Lambda stores
	// a line.
	for _, line := range []string{"hello-0 0\n", "hello-0 1\n", "hello-1 0\n", "hello-2 1\n"} {
		if !slices.Contains(want, line) {
			t.Errorf("stream %s lacks %q: %q", latest, line, want)
		}
	}
	if n := countPrefix(want, "REPORT RequestId: "); n != 3 {
		t.Errorf("stream %s has %d REPORT lines; want 3", latest, n)
	}

	// GetLogEvents forward from the head, two at a time, with the
	// paginator that stops when the token comes back unchanged.
	var fwd []string
	pages := 0
	for p := cloudwatchlogs.NewGetLogEventsPaginator(cw, &cloudwatchlogs.GetLogEventsInput{LogGroupName: group, LogStreamName: aws.String(latest),
		StartFromHead: aws.Bool(true), Limit: aws.Int32(2)}, func(o *cloudwatchlogs.GetLogEventsPaginatorOptions) { o.StopOnDuplicateToken = true }); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pages++; pages > 100 {
			t.Fatal("GetLogEvents paginator does not end")
		}
		for _, e := range page.Events {
			fwd = append(fwd, aws.ToString(e.Message))
		}
	}
	if diff := cmp.Diff(want, fwd); diff != "" {
		t.Errorf("GetLogEvents forward (-FilterLogEvents +GetLogEvents):\n%s", diff)
	}
	// Backward from the tail (the default), until the backward token comes
	// back unchanged.
	var bwd []string
	in := &cloudwatchlogs.GetLogEventsInput{LogGroupName: group, LogStreamName: aws.String(latest), Limit: aws.Int32(3)}
	first, err := cw.GetLogEvents(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(first.Events); n != 3 || aws.ToString(first.Events[2].Message) != want[len(want)-1] {
		t.Fatalf("GetLogEvents(limit 3) = %d events; want the last 3", n)
	}
	// Nothing newer: the forward token comes back as sent.
	again, err := cw.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: group, LogStreamName: aws.String(latest), NextToken: first.NextForwardToken})
	if err != nil || len(again.Events) != 0 || aws.ToString(again.NextForwardToken) != aws.ToString(first.NextForwardToken) {
		t.Errorf("GetLogEvents(forward token at the end) = %v, %v; want no events and the same token %s", again, err, aws.ToString(first.NextForwardToken))
	}
	page := first
	for range 100 {
		var msgs []string
		for _, e := range page.Events {
			msgs = append(msgs, aws.ToString(e.Message))
		}
		bwd = append(msgs, bwd...)
		tok := page.NextBackwardToken
		in.NextToken = tok
		if page, err = cw.GetLogEvents(ctx, in); err != nil {
			t.Fatal(err)
		}
		if aws.ToString(page.NextBackwardToken) == aws.ToString(tok) {
			if len(page.Events) != 0 {
				t.Errorf("GetLogEvents returned events with the backward token unchanged")
			}
			break
		}
	}
	if diff := cmp.Diff(want, bwd); diff != "" {
		t.Errorf("GetLogEvents backward (-FilterLogEvents +GetLogEvents):\n%s", diff)
	}
	if _, err := cw.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: group, LogStreamName: aws.String("2026/01/01/[$LATEST]00")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("GetLogEvents(unknown stream) = %v; want ResourceNotFoundException", err)
	}

	// FilterLogEvents: patterns and time ranges over both streams.
	filter := func(in cloudwatchlogs.FilterLogEventsInput) []cwtypes.FilteredLogEvent {
		t.Helper()
		in.LogGroupName = group
		var events []cwtypes.FilteredLogEvent
		for p := cloudwatchlogs.NewFilterLogEventsPaginator(cw, &in); p.HasMorePages(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("FilterLogEvents(%q): %v", aws.ToString(in.FilterPattern), err)
			}
			events = append(events, page.Events...)
		}
		return events
	}
	messages := func(events []cwtypes.FilteredLogEvent) []string {
		var out []string
		for _, e := range events {
			out = append(out, aws.ToString(e.Message))
		}
		return out
	}
	for _, tt := range []struct {
		pattern string
		want    []string
	}{
		{"hello-1", []string{"hello-1 0\n", "hello-1 1\n"}},
		{`"hello-1 1"`, []string{"hello-1 1\n"}},
		{`hello -"-1 " -"-2 "`, []string{"hello-0 0\n", "hello-0 1\n"}},
		{`?from-version ?"hello-2 1"`, []string{"hello-2 1\n", "from-version 0\n"}},
		{"nothing-like-this", nil},
	} {
		if diff := cmp.Diff(tt.want, messages(filter(cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String(tt.pattern)}))); diff != "" {
			t.Errorf("FilterLogEvents(%q) (-want +got):\n%s", tt.pattern, diff)
		}
	}
	everything := filter(cloudwatchlogs.FilterLogEventsInput{})
	paged := filter(cloudwatchlogs.FilterLogEventsInput{Limit: aws.Int32(3)})
	if diff := cmp.Diff(messages(everything), messages(paged)); diff != "" {
		t.Errorf("FilterLogEvents paged by 3 (-one page +paged):\n%s", diff)
	}
	ids := map[string]bool{}
	for i, e := range everything {
		if ids[aws.ToString(e.EventId)] {
			t.Errorf("event id %s repeats", aws.ToString(e.EventId))
		}
		ids[aws.ToString(e.EventId)] = true
		if i > 0 && aws.ToInt64(e.Timestamp) < aws.ToInt64(everything[i-1].Timestamp) {
			t.Errorf("events out of time order at %d", i)
		}
		if aws.ToString(e.EventId) != aws.ToString(paged[i].EventId) {
			t.Errorf("event %d has id %s in one page and %s when paged", i, aws.ToString(e.EventId), aws.ToString(paged[i].EventId))
		}
	}
	// A time range that starts at hello-1's first line and ends at the
	// last line of $LATEST.
	i1 := slices.IndexFunc(everything, func(e cwtypes.FilteredLogEvent) bool { return aws.ToString(e.Message) == "hello-1 0\n" })
	iv := slices.IndexFunc(everything, func(e cwtypes.FilteredLogEvent) bool { return aws.ToString(e.Message) == "from-version 0\n" })
	ranged := messages(filter(cloudwatchlogs.FilterLogEventsInput{StartTime: everything[i1].Timestamp, EndTime: everything[iv].Timestamp, FilterPattern: aws.String("hello")}))
	if slices.Contains(ranged, "hello-0 1\n") || !slices.Contains(ranged, "hello-1 0\n") || !slices.Contains(ranged, "hello-2 1\n") {
		t.Errorf("FilterLogEvents(from hello-1 0 to from-version 0) = %q; want hello-1 and hello-2 only", ranged)
	}
	if got := messages(filter(cloudwatchlogs.FilterLogEventsInput{LogStreamNamePrefix: aws.String(v1.EnvID[:len("2026/01/01/[1]")]), FilterPattern: aws.String("from")})); !slices.Equal(got, []string{"from-version 0\n"}) {
		t.Errorf("FilterLogEvents(prefix of the version's stream) = %q; want from-version 0", got)
	}
	// A Text-format function's lines are not JSON: a JSON pattern
	// matches none of them. Space-delimited patterns are refused.
	if got := messages(filter(cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String(`{ $.level = * || $.level NOT EXISTS }`)})); got != nil {
		t.Errorf("FilterLogEvents(JSON pattern) on text lines = %q; want none", got)
	}
	if _, err := cw.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: group, FilterPattern: aws.String(`[ip, user]`)}); errCode(err) != "InvalidParameterException" {
		t.Errorf("FilterLogEvents(space-delimited pattern) = %v; want InvalidParameterException", err)
	}

	// hearth logs reads the same log as before: "<time> <text>" lines.
	resp, err := s.get(t, "/_hearth/v1/functions/talker/logs?tail=2")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z END RequestId: \S+\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z REPORT RequestId: `).MatchString(body) {
		t.Errorf("hearth logs tail 2 = %q; want END and REPORT lines after their times", body)
	}

	// Retention: only the model's values, kept across a restart.
	if _, err := cw.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: group, RetentionInDays: aws.Int32(2)}); errCode(err) != "InvalidParameterException" {
		t.Errorf("PutRetentionPolicy(2 days) = %v; want InvalidParameterException", err)
	}
	if _, err := cw.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: group, RetentionInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cw.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String("/aws/lambda/nothing"), RetentionInDays: aws.Int32(7)}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("PutRetentionPolicy(unknown group) = %v; want ResourceNotFoundException", err)
	}
	s.Stop()
	// A group from before streams: a plain log whose events are 10 days
	// old, read as one stream until a retention of a week drops it.
	old := filepath.Join(dir, "logs", "ancient.log")
	if err := os.WriteFile(old, []byte("2025-01-01T00:00:00.000Z from before\n2025-01-01T00:00:01.000Z streams\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tenDays := time.Now().Add(-240 * time.Hour)
	os.Chtimes(old, tenDays, tenDays)
	s = startServer(t, dir)
	cw = logsClient(s, s.creds)
	gs, err := cw.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: group})
	if err != nil || len(gs.LogGroups) != 1 || aws.ToInt32(gs.LogGroups[0].RetentionInDays) != 7 {
		t.Errorf("after a restart DescribeLogGroups(talker) = %v, %v; want retention 7", gs, err)
	}
	ancient := aws.String("/aws/lambda/ancient")
	legacy, err := cw.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: ancient})
	if err != nil || len(legacy.Events) != 2 || aws.ToString(legacy.Events[1].Message) != "streams" || aws.ToInt64(legacy.Events[0].Timestamp) != 1735689600000 {
		t.Fatalf("FilterLogEvents(a log from before streams) = %v, %v; want its 2 lines", legacy, err)
	}
	if _, err := cw.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: ancient, RetentionInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	if expired, err := cw.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: ancient}); err != nil || len(expired.Events) != 0 {
		t.Errorf("FilterLogEvents(past retention) = %v, %v; want none", expired, err)
	}
	// The files go at the next eviction pass (every 10 s).
	deadline := time.Now().Add(30 * time.Second)
	for _, err := os.Stat(old); err == nil; _, err = os.Stat(old) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still there 30 s after its events expired", old)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, err := cw.DeleteRetentionPolicy(ctx, &cloudwatchlogs.DeleteRetentionPolicyInput{LogGroupName: group}); err != nil {
		t.Fatal(err)
	}
	if gs, err := cw.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: group}); err != nil || gs.LogGroups[0].RetentionInDays != nil {
		t.Errorf("after DeleteRetentionPolicy the group = %v, %v; want no retention", gs, err)
	}

	// DeleteLogGroup removes the files; the group is gone after.
	if _, err := cw.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String("/aws/lambda/other")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "logs", "other.log")); !os.IsNotExist(err) {
		t.Errorf("other.log after DeleteLogGroup: %v; want it gone", err)
	}
	if _, err := cw.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/other")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("FilterLogEvents(deleted group) = %v; want ResourceNotFoundException", err)
	}
	if _, err := cw.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String("/aws/lambda/other")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("DeleteLogGroup(deleted group) = %v; want ResourceNotFoundException", err)
	}
	// The function logs on, into a new group.
	s.invoke(t, "other", map[string]any{"op": "print", "text": "reborn"})
	if got := messages(filterOf(t, cw, "/aws/lambda/other")); !slices.Contains(got, "reborn 0\n") || slices.Contains(got, "other 0\n") {
		t.Errorf("the recreated group holds %q; want the new lines only", got)
	}
}

// filterOf returns every event of a group.
func filterOf(t *testing.T, cw *cloudwatchlogs.Client, group string) []cwtypes.FilteredLogEvent {
	t.Helper()
	var events []cwtypes.FilteredLogEvent
	for p := cloudwatchlogs.NewFilterLogEventsPaginator(cw, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)}); p.HasMorePages(); {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("FilterLogEvents(%s): %v", group, err)
		}
		events = append(events, page.Events...)
	}
	return events
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// TestCloudWatchLogsAccounts checks that a caller sees only its own
// account's log groups, even where function names are the same.
func TestCloudWatchLogsAccounts(t *testing.T) {
	needAccounts(t)
	s := startServer(t, "")
	ctx := t.Context()
	s.create(t, "shared", goFn())
	s.invoke(t, "shared", map[string]any{"op": "print", "text": "root-secret"})
	out, err := s.cli(ctx, "accounts", "create", "--id", "222222222222").Output()
	if err != nil {
		t.Fatalf("accounts create: %v", err)
	}
	k := exportsOf(t, string(out))
	creds := aws.Credentials{AccessKeyID: k["AWS_ACCESS_KEY_ID"], SecretAccessKey: k["AWS_SECRET_ACCESS_KEY"]}
	b := logsClient(s, creds)
	groups, err := b.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
	if err != nil || len(groups.LogGroups) != 0 {
		t.Errorf("account B's DescribeLogGroups = %v, %v; want none", groups, err)
	}
	for name, call := range map[string]func() error{
		"FilterLogEvents": func() error {
			_, err := b.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/shared")})
			return err
		},
		"DescribeLogStreams by ARN": func() error {
			_, err := b.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupIdentifier: aws.String("arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/shared")})
			return err
		},
		"DeleteLogGroup": func() error {
			_, err := b.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String("/aws/lambda/shared")})
			return err
		},
	} {
		if err := call(); errCode(err) != "ResourceNotFoundException" {
			t.Errorf("account B's %s on A's group = %v; want ResourceNotFoundException", name, err)
		}
	}
	// B's own function of the same name has its own group.
	lb := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")})
	if _, err := lb.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("shared"), Runtime: "provided.al2023",
		Handler: aws.String("bootstrap"), Role: aws.String("arn:aws:iam::222222222222:role/x"), Code: &ltypes.FunctionCode{ZipFile: goFnZip}}); err != nil {
		t.Fatal(err)
	}
	if err := lambda.NewFunctionActiveV2Waiter(lb).Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("shared")}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if res, err := lb.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("shared"), Payload: []byte(`{"op":"print","text":"b-line"}`)}); err != nil || res.FunctionError != nil {
		t.Fatalf("B's invoke = %v, %v", res, err)
	}
	got := filterOf(t, b, "/aws/lambda/shared")
	var msgs []string
	for _, e := range got {
		msgs = append(msgs, aws.ToString(e.Message))
	}
	if !slices.Contains(msgs, "b-line 0\n") || slices.Contains(msgs, "root-secret 0\n") {
		t.Errorf("B's group holds %q; want B's lines only", msgs)
	}
	rootMsgs := filterOf(t, logsClient(s, s.creds), "/aws/lambda/shared")
	for _, e := range rootMsgs {
		if aws.ToString(e.Message) == "b-line 0\n" {
			t.Errorf("the default account's group holds B's line")
		}
	}
}

// boto3Logs pages through a server's log groups, one group's streams and
// its events with boto3's paginators, a page of one or two at a time.
const boto3Logs = `
import boto3, json, os, sys
c = boto3.client("logs", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
g = sys.argv[1]
pages = lambda op, key, **kw: [x for p in c.get_paginator(op).paginate(**kw) for x in p[key]]
print(json.dumps({
    "groups": [x["logGroupName"] for x in pages("describe_log_groups", "logGroups", PaginationConfig={"PageSize": 1})],
    "streams": [x["logStreamName"] for x in pages("describe_log_streams", "logStreams", logGroupName=g, PaginationConfig={"PageSize": 1})],
    "events": [x["message"] for x in pages("filter_log_events", "events", logGroupName=g, PaginationConfig={"PageSize": 2})],
}))
`

// TestCloudWatchLogsBoto3 checks that boto3's paginators walk Hearth's
// groups, streams and events to the same lists as aws-sdk-go-v2.
func TestCloudWatchLogsBoto3(t *testing.T) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("python3 with boto3 not available:", err)
	}
	s := startServer(t, "")
	for _, name := range []string{"a", "b", "c"} {
		s.create(t, name, goFn())
		for range 2 {
			s.invoke(t, name, map[string]any{"op": "print", "text": "line of " + name, "n": 3})
		}
	}
	cmd := exec.CommandContext(t.Context(), "python3", "-c", boto3Logs, "/aws/lambda/b")
	cmd.Env = append(os.Environ(), "ENDPOINT="+s.URL, "AWS_ACCESS_KEY_ID="+s.creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+s.creds.SecretAccessKey)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("boto3: %v", err)
	}
	var got struct{ Groups, Streams, Events []string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("boto3 printed %q: %v", out, err)
	}
	if diff := cmp.Diff([]string{"/aws/lambda/a", "/aws/lambda/b", "/aws/lambda/c"}, got.Groups); diff != "" {
		t.Errorf("boto3's groups (-want +got):\n%s", diff)
	}
	cw := logsClient(s, s.creds)
	streams, err := cw.DescribeLogStreams(t.Context(), &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/lambda/b")})
	if err != nil {
		t.Fatal(err)
	}
	var wantStreams []string
	for _, st := range streams.LogStreams {
		wantStreams = append(wantStreams, aws.ToString(st.LogStreamName))
	}
	if diff := cmp.Diff(wantStreams, got.Streams); diff != "" || len(got.Streams) == 0 {
		t.Errorf("boto3's streams (-aws-sdk-go-v2 +boto3):\n%s", diff)
	}
	var wantEvents []string
	for _, e := range filterOf(t, cw, "/aws/lambda/b") {
		wantEvents = append(wantEvents, aws.ToString(e.Message))
	}
	if diff := cmp.Diff(wantEvents, got.Events); diff != "" || countPrefix(got.Events, "line of b") != 6 {
		t.Errorf("boto3's events (-aws-sdk-go-v2 +boto3):\n%s", diff)
	}
}

// TestCLILogs runs the aws CLI's logs commands against Hearth:
// filter-log-events with a pattern, the error for a missing group, and,
// with CLI v2, logs tail.
func TestCLILogs(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("no aws CLI on this machine")
	}
	s := startServer(t, "")
	s.create(t, "f", goFn())
	s.invoke(t, "f", map[string]any{"op": "print", "text": "needle", "n": 2})
	aws := func(args ...string) (string, error) {
		cmd := exec.CommandContext(t.Context(), "aws", append(args, "--endpoint-url", s.URL, "--region", "us-east-1")...)
		cmd.Env = append(s.credEnv(), "AWS_MAX_ATTEMPTS=1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := aws("logs", "filter-log-events", "--log-group-name", "/aws/lambda/f", "--filter-pattern", `"needle 1"`, "--query", "events[].message", "--output", "text")
	if err != nil || strings.TrimSpace(out) != "needle 1" {
		t.Errorf("aws logs filter-log-events = %v:\n%s\nwant needle 1", err, out)
	}
	out, err = aws("logs", "filter-log-events", "--log-group-name", "/aws/lambda/missing")
	if err == nil || !strings.Contains(out, "An error occurred (ResourceNotFoundException)") {
		t.Errorf("aws logs filter-log-events on a missing group = %v:\n%s\nwant ResourceNotFoundException", err, out)
	}
	out, err = aws("logs", "tail", "/aws/lambda/f", "--since", "1h", "--format", "short")
	if strings.Contains(out, "Invalid choice") {
		t.Log("aws CLI v1 has no logs tail")
		return
	}
	if err != nil || !strings.Contains(out, "needle 0\n") || !strings.Contains(out, "needle 1\n") || !strings.Contains(out, "REPORT RequestId: ") {
		t.Errorf("aws logs tail = %v:\n%s\nwant the function's lines", err, out)
	}
}

// TestCloudWatchLogsJSONFilter filters the records of a function with
// LogFormat JSON by JSON filter patterns, through aws-sdk-go-v2's client:
// its platform records are JSON ({"type":"platform.start","record":…})
// and match selectors on them, while its plain stdout lines are not JSON
// and match no JSON pattern.
func TestCloudWatchLogsJSONFilter(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	s.create(t, "jsonlog", goFn())
	if _, err := s.Client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName:  aws.String("jsonlog"),
		LoggingConfig: &ltypes.LoggingConfig{LogFormat: ltypes.LogFormatJson},
	}); err != nil {
		t.Fatal(err)
	}
	if err := lambda.NewFunctionUpdatedV2Waiter(s.Client).Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("jsonlog")}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		r := s.invoke(t, "jsonlog", map[string]any{"op": "print", "text": fmt.Sprint("plain-", i)})
		ids = append(ids, str(t, r.decode(t), "request_id"))
	}
	cw := logsClient(s, s.creds)
	filter := func(pattern string) ([]map[string]any, []string) {
		t.Helper()
		in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/jsonlog"), FilterPattern: aws.String(pattern)}
		var recs []map[string]any
		var plain []string
		for p := cloudwatchlogs.NewFilterLogEventsPaginator(cw, in); p.HasMorePages(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("FilterLogEvents(%q): %v", pattern, err)
			}
			for _, e := range page.Events {
				var m map[string]any
				if json.Unmarshal([]byte(aws.ToString(e.Message)), &m) != nil {
					plain = append(plain, aws.ToString(e.Message))
					continue
				}
				recs = append(recs, m)
			}
		}
		return recs, plain
	}
	all, plain := filter("")
	if len(all) < 6 || !slices.Contains(plain, "plain-0 0\n") || !slices.Contains(plain, "plain-2 0\n") {
		t.Fatalf("unfiltered: %d JSON records and plain lines %q; want platform records and the printed lines", len(all), plain)
	}
	requestIDs := func(recs []map[string]any) []string {
		var out []string
		for _, m := range recs {
			rec, _ := m["record"].(map[string]any)
			id, _ := rec["requestId"].(string)
			out = append(out, id)
		}
		return out
	}
	types := func(recs []map[string]any) map[string]int {
		out := map[string]int{}
		for _, m := range recs {
			typ, _ := m["type"].(string)
			out[typ]++
		}
		return out
	}
	for _, tt := range []struct {
		pattern string
		types   map[string]int // the records' types, nil for none
		ids     []string       // their request ids, when checked
	}{
		{`{ $.type = "platform.start" }`, map[string]int{"platform.start": 3}, ids},
		{`{ $.type = "platform.start" && $.record.requestId = "` + ids[1] + `" }`, map[string]int{"platform.start": 1}, ids[1:2]},
		{`{ $.type = platform.report && $.record.metrics.memorySizeMB = 128 && $.record.metrics.durationMs >= 0 }`, map[string]int{"platform.report": 3}, ids},
		{`{ $.record.metrics.memorySizeMB > 128 }`, nil, nil},
		{`{ ($.type = "platform.start" || $.type = "platform.report") && $.record.requestId != "` + ids[0] + `" }`,
			map[string]int{"platform.start": 2, "platform.report": 2}, nil},
		{`{ $.type = "*.start" }`, map[string]int{"platform.start": 3}, nil},
		{`{ $.type = "nothing*" }`, nil, nil},
		{`{ $.record.nothing NOT EXISTS && $.type = platform.start }`, map[string]int{"platform.start": 3}, nil},
		{`{ $.record IS NULL }`, nil, nil},
	} {
		recs, plain := filter(tt.pattern)
		if len(plain) != 0 {
			t.Errorf("FilterLogEvents(%q) returned plain lines %q; a JSON pattern matches only JSON", tt.pattern, plain)
		}
		got := types(recs)
		if len(got) == 0 {
			got = nil
		}
		if diff := cmp.Diff(tt.types, got); diff != "" {
			t.Errorf("FilterLogEvents(%q) record types (-want +got):\n%s", tt.pattern, diff)
		}
		if tt.ids != nil {
			if diff := cmp.Diff(tt.ids, requestIDs(recs)); diff != "" {
				t.Errorf("FilterLogEvents(%q) request ids (-want +got):\n%s", tt.pattern, diff)
			}
		}
	}
	// Every record that is JSON has a type: NOT EXISTS on it finds none,
	// and NOT EXISTS on a field none has finds exactly the JSON records.
	if recs, _ := filter(`{ $.type NOT EXISTS }`); len(recs) != 0 {
		t.Errorf("{ $.type NOT EXISTS } = %v; want none", recs)
	}
	if recs, _ := filter(`{ $.nothing NOT EXISTS }`); len(recs) != len(all) {
		t.Errorf("{ $.nothing NOT EXISTS } = %d records; want all %d JSON records", len(recs), len(all))
	}
	for _, tt := range []struct{ pattern, message string }{
		{`{ $.type = }`, "Invalid filter pattern"},
		{`{ $.latency > fast }`, "Invalid filter pattern"},
		{`{ ((($.a = 1) }`, "Invalid filter pattern"},
		{`{ $.type = "platform.start"`, "If a filter pattern starts with '{' it must end with '}'"},
	} {
		_, err := cw.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/jsonlog"), FilterPattern: aws.String(tt.pattern)})
		if errCode(err) != "InvalidParameterException" || !strings.Contains(err.Error(), "InvalidParameterException: "+tt.message) {
			t.Errorf("FilterLogEvents(%q) = %v; want InvalidParameterException: %s", tt.pattern, err, tt.message)
		}
	}
}

// TestCloudWatchLogsWire checks the JSON 1.1 protocol's edges by hand: the
// signature must be scoped to service logs, a malformed body and an
// operation Hearth does not serve get 400 with the code in __type, a
// group name cannot reach outside the logs, and the operations answer in
// application/x-amz-json-1.1.
func TestCloudWatchLogsWire(t *testing.T) {
	s := startServer(t, "")
	send := func(service, target, body string) (int, string, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), "POST", s.URL+"/", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", target)
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(t.Context(), s.creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("%s: body: %v", target, err)
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), out
	}
	for _, tt := range []struct {
		service, target, body string
		status                int
		code                  string
	}{
		{"logs", "Logs_20140328.DescribeLogGroups", `{}`, 200, ""},
		{"lambda", "Logs_20140328.DescribeLogGroups", `{}`, 403, "InvalidSignatureException"},
		{"logs", "Logs_20140328.DescribeLogGroups", `{"limit":`, 400, "SerializationException"},
		{"logs", "Logs_20140328.StartLiveTail", `{}`, 400, "UnknownOperationException"},
		{"logs", "Logs_20140328.GetLogEvents", `{"logGroupName":"/aws/lambda/none","logStreamName":"s"}`, 400, "ResourceNotFoundException"},
		{"logs", "Logs_20140328.GetLogEvents", `{"logGroupName":"/aws/lambda/../../etc","logStreamName":"s"}`, 400, "ResourceNotFoundException"},
		{"logs", "Logs_20140328.GetLogEvents", `{"logGroupName":"/aws/lambda/a b","logStreamName":"s"}`, 400, "InvalidParameterException"},
	} {
		status, ctype, body := send(tt.service, tt.target, tt.body)
		if status != tt.status || tt.code != "" && body["__type"] != tt.code {
			t.Errorf("%s signed for %s with %s = %d %v; want %d %s", tt.target, tt.service, tt.body, status, body, tt.status, tt.code)
		}
		if status != 403 && tt.code != "UnknownOperationException" && ctype != "application/x-amz-json-1.1" {
			t.Errorf("%s answered with Content-Type %q; want application/x-amz-json-1.1", tt.target, ctype)
		}
	}
	// Codes and messages as AWS answers them (recorded by localstack's
	// validated tests).
	for _, tt := range []struct {
		target, body, code, message string
	}{
		{"Logs_20140328.DescribeLogStreams", `{"logGroupName":"/aws/lambda/f","logGroupIdentifier":"/aws/lambda/f"}`,
			"ValidationException", "LogGroup name and LogGroup ARN are mutually exclusive parameters."},
		{"Logs_20140328.CreateLogGroup", `{"logGroupName":"` + strings.Repeat("a", 513) + `"}`,
			"InvalidParameterException", "Invalid LogGroup or LogStream, both must have length less than or equal to 512."},
	} {
		status, _, body := send("logs", tt.target, tt.body)
		if status != 400 || body["__type"] != tt.code || body["message"] != tt.message {
			t.Errorf("%s with %s = %d %v; want 400 %s %q", tt.target, tt.body, status, body, tt.code, tt.message)
		}
	}
}

// TestLogEventsKeepNewlines checks the messages of a Text-format
// function's events as CloudWatch Logs has Lambda's (lambda-api.md §7.1):
// each line the function printed, through each runtime's own client, and
// each of Lambda's lines keeps the newline it ended in ("START RequestId:
// … Version: $LATEST\n", "REPORT RequestId: …\tMax Memory Used: 38 MB\t\n"),
// and the invocation's LogResult is those events end to end, one newline
// between lines, as the environment wrote them.
func TestLogEventsKeepNewlines(t *testing.T) {
	s := startServer(t, "")
	cw := logsClient(s, s.creds)
	for _, c := range []struct {
		name    string
		fn      func(testing.TB) fn
		event   map[string]any
		printed []string // regexps of lines the function wrote, newline included
	}{
		{"go", func(testing.TB) fn { return goFn() }, map[string]any{"op": "print", "text": "printed", "n": 2},
			[]string{`^printed 0\n$`, `^printed 1\n$`}},
		{"python", pythonFn, map[string]any{"op": "log"},
			[]string{`^handling log count 1\n$`, `^\[WARNING\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t[0-9a-f-]{36}\twarning via logging\n$`}},
		{"node", nodeFn, map[string]any{"op": "log"},
			[]string{`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t[0-9a-f-]{36}\tINFO\thandling log count 1\n$`,
				`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t[0-9a-f-]{36}\tWARN\twarning via console\n$`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.fn(t)
			needRuntime(t, f.runtime)
			name := "newlines-" + c.name
			s.create(t, name, f)
			r := s.invoke(t, name, c.event)
			if r.FunctionError != "" {
				t.Fatalf("invoke: %s %s", r.FunctionError, r.Payload)
			}
			var msgs []string
			for _, e := range filterOf(t, cw, "/aws/lambda/"+name) {
				msgs = append(msgs, aws.ToString(e.Message))
			}
			for _, p := range c.printed {
				if !slices.ContainsFunc(msgs, regexp.MustCompile(p).MatchString) {
					t.Errorf("events %q; want one matching %q", msgs, p)
				}
			}
			for _, want := range []*regexp.Regexp{
				regexp.MustCompile(`^INIT_START Runtime Version: \S+\tRuntime Version ARN: \S+\n$`),
				regexp.MustCompile(`^START RequestId: [0-9a-f-]{36} Version: \$LATEST\n$`),
				regexp.MustCompile(`^END RequestId: [0-9a-f-]{36}\n$`),
				regexp.MustCompile(`^REPORT RequestId: [0-9a-f-]{36}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t\n$`),
			} {
				if !slices.ContainsFunc(msgs, want.MatchString) {
					t.Errorf("events %q; want one matching %q", msgs, want)
				}
			}
			// One invocation of one environment: its LogResult is the
			// whole stream.
			if joined := strings.Join(msgs, ""); r.Log != joined || strings.Contains(r.Log, "\n\n") {
				t.Errorf("LogResult\n%q\nwant the events end to end\n%q", r.Log, joined)
			}
			// Patterns match as before: a term, and a phrase at a line's end.
			if got := eventMessages(filter(t, cw, "/aws/lambda/"+name, `"END RequestId"`)); len(got) != 1 || !strings.HasSuffix(got[0], "\n") {
				t.Errorf("FilterLogEvents(END RequestId) = %q; want the END line", got)
			}
		})
	}
}

// filter returns the events of a group that match pattern.
func filter(t *testing.T, cw *cloudwatchlogs.Client, group, pattern string) []cwtypes.FilteredLogEvent {
	t.Helper()
	out, err := cw.FilterLogEvents(t.Context(), &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), FilterPattern: aws.String(pattern)})
	if err != nil {
		t.Fatalf("FilterLogEvents(%s, %q) = %v", group, pattern, err)
	}
	return out.Events
}
