package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/go-cmp/cmp"
)

func eventMessages(events []cwtypes.FilteredLogEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, aws.ToString(e.Message))
	}
	return out
}

// groupNames lists the caller's log groups whose names start with prefix
// (all when empty), through DescribeLogGroups' paginator.
func groupNames(t *testing.T, cw *cloudwatchlogs.Client, prefix string) []string {
	t.Helper()
	in := &cloudwatchlogs.DescribeLogGroupsInput{}
	if prefix != "" {
		in.LogGroupNamePrefix = aws.String(prefix)
	}
	var names []string
	for p := cloudwatchlogs.NewDescribeLogGroupsPaginator(cw, in); p.HasMorePages(); {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("DescribeLogGroups(%q): %v", prefix, err)
		}
		for _, g := range page.LogGroups {
			names = append(names, aws.ToString(g.LogGroupName))
		}
	}
	return names
}

// TestLoggingCustomGroup (issue 14): a function's LoggingConfig.LogGroup
// decides where its lines go. Two functions share a group; the default
// group is not made; the group is read by DescribeLogGroups,
// FilterLogEvents and GetLogEvents under its own name; LogType Tail and
// hearth logs are unchanged; deleting a function leaves the group, which
// the other function writes on; UpdateFunctionConfiguration moves a
// function's lines; DeleteLogGroup removes the group.
func TestLoggingCustomGroup(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	const shared = "/shared/app.logs"
	for _, name := range []string{"lg-a", "lg-b"} {
		f := goFn()
		if _, err := s.Client.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: aws.String(name), Runtime: ltypes.Runtime(f.runtime), Handler: aws.String(f.handler),
			Role: aws.String("arn:aws:iam::000000000000:role/e2e"), Code: &ltypes.FunctionCode{ZipFile: f.zip},
			LoggingConfig: &ltypes.LoggingConfig{LogGroup: aws.String(shared)},
		}); err != nil {
			t.Fatalf("CreateFunction(%s) = %v", name, err)
		}
	}
	got, err := s.Client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("lg-a")})
	if err != nil || aws.ToString(got.LoggingConfig.LogGroup) != shared {
		t.Fatalf("GetFunctionConfiguration(lg-a) = %v, %v; want LogGroup %s", got, err, shared)
	}
	ra := s.invoke(t, "lg-a", map[string]any{"op": "print", "text": "from-a"})
	rb := s.invoke(t, "lg-b", map[string]any{"op": "print", "text": "from-b"})
	// LogType Tail is the invocation's own, whatever the group.
	if !strings.Contains(ra.Log, "from-a 0") || strings.Contains(ra.Log, "from-b") || !strings.Contains(rb.Log, "from-b 0") {
		t.Errorf("tails: lg-a %q, lg-b %q; want each its own lines", ra.Log, rb.Log)
	}

	cw := logsClient(s, s.creds)
	if diff := cmp.Diff([]string{shared}, groupNames(t, cw, "")); diff != "" {
		t.Errorf("log groups (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{shared}, groupNames(t, cw, "/shared/")); diff != "" {
		t.Errorf("log groups with prefix /shared/ (-want +got):\n%s", diff)
	}
	msgs := eventMessages(filterOf(t, cw, shared))
	for _, want := range []string{"from-a 0\n", "from-b 0\n"} {
		if !slices.Contains(msgs, want) {
			t.Errorf("FilterLogEvents(%s) lacks %q: %q", shared, want, msgs)
		}
	}
	if n := countPrefix(msgs, "START RequestId:"); n != 2 {
		t.Errorf("FilterLogEvents(%s) has %d START lines; want 2 (one per function)", shared, n)
	}
	// Streams are named as Lambda names them; GetLogEvents reads one.
	streams, err := cw.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String(shared)})
	if err != nil || len(streams.LogStreams) != 2 {
		t.Fatalf("DescribeLogStreams(%s) = %v, %v; want 2 streams", shared, streams, err)
	}
	var inStreams []string
	for _, st := range streams.LogStreams {
		if !streamNameRE.MatchString(aws.ToString(st.LogStreamName)) {
			t.Errorf("stream %q is not named as Lambda names streams", aws.ToString(st.LogStreamName))
		}
		ev, err := cw.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(shared),
			LogStreamName: st.LogStreamName, StartFromHead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ev.Events {
			inStreams = append(inStreams, aws.ToString(e.Message))
		}
	}
	if !slices.Contains(inStreams, "from-a 0\n") || !slices.Contains(inStreams, "from-b 0\n") {
		t.Errorf("GetLogEvents over the streams of %s: %q; want both functions' lines", shared, inStreams)
	}
	if _, err := cw.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/lg-a")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("FilterLogEvents(/aws/lambda/lg-a) = %v; want ResourceNotFoundException (the function logs elsewhere)", err)
	}

	// hearth logs NAME shows the function's group.
	out, err := s.cli(ctx, "logs", "lg-a").Output()
	if err != nil || !strings.Contains(string(out), "from-a 0") {
		t.Errorf("hearth logs lg-a = %q, %v; want the function's lines", out, err)
	}

	// Deleting a function leaves its group; the other writes on.
	if _, err := s.Client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("lg-a")}); err != nil {
		t.Fatal(err)
	}
	s.invoke(t, "lg-b", map[string]any{"op": "print", "text": "after-delete"})
	msgs = eventMessages(filterOf(t, cw, shared))
	if !slices.Contains(msgs, "from-a 0\n") || !slices.Contains(msgs, "after-delete 0\n") {
		t.Errorf("after deleting lg-a, %s holds %q; want lg-a's lines kept and lg-b's new one", shared, msgs)
	}

	// UpdateFunctionConfiguration moves later lines to the new group.
	if _, err := s.Client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("lg-b"),
		LoggingConfig: &ltypes.LoggingConfig{LogGroup: aws.String("/moved/b")}}); err != nil {
		t.Fatal(err)
	}
	waitUpdated(t, s.Client, "lg-b")
	s.invoke(t, "lg-b", map[string]any{"op": "print", "text": "moved"})
	if msgs := eventMessages(filterOf(t, cw, "/moved/b")); !slices.Contains(msgs, "moved 0\n") || slices.Contains(msgs, "after-delete 0\n") {
		t.Errorf("/moved/b holds %q; want the line written after the move only", msgs)
	}
	if msgs := eventMessages(filterOf(t, cw, shared)); slices.Contains(msgs, "moved 0\n") {
		t.Errorf("%s holds a line written after lg-b moved: %q", shared, msgs)
	}

	// DeleteLogGroup removes it.
	if _, err := cw.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(shared)}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/moved/b"}, groupNames(t, cw, "")); diff != "" {
		t.Errorf("log groups after DeleteLogGroup (-want +got):\n%s", diff)
	}

	// Deleting the last function of a group closes the group's file (a
	// churn of functions with groups of their own would otherwise keep a
	// file open for each); the group stays.
	if open := openLogFiles(t, s); !slices.Contains(open, "~%moved%b.log") {
		t.Fatalf("open log files %q; want /moved/b's, lg-b being alive", open)
	}
	if _, err := s.Client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("lg-b")}); err != nil {
		t.Fatal(err)
	}
	if open := openLogFiles(t, s); slices.Contains(open, "~%moved%b.log") {
		t.Errorf("open log files %q after deleting the group's last function; want /moved/b's closed", open)
	}
	if diff := cmp.Diff([]string{"/moved/b"}, groupNames(t, cw, "")); diff != "" {
		t.Errorf("log groups after deleting lg-b (-want +got):\n%s", diff)
	}
}

// openLogFiles lists the log files the server holds open, by name.
func openLogFiles(t *testing.T, s *server) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", s.cmd.Process.Pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err == nil && strings.HasPrefix(target, filepath.Join(s.DataDir, "logs")+"/") {
			out = append(out, filepath.Base(target))
		}
	}
	return out
}

// TestCWLogsPutLogEvents (issue 14): what tools and agents call to log
// on their own: CreateLogGroup, CreateLogStream and PutLogEvents with the
// service's limits and errors, read back by GetLogEvents,
// FilterLogEvents and DescribeLogStreams, and kept across a restart.
func TestCWLogsPutLogEvents(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	ctx := t.Context()
	cw := logsClient(s, s.creds)
	const group, stream = "/tools/agent", "host-1/app"

	if _, err := cw.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("CreateLogStream in a missing group = %v; want ResourceNotFoundException", err)
	}
	if _, err := cw.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cw.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); errCode(err) != "ResourceAlreadyExistsException" {
		t.Errorf("CreateLogGroup twice = %v; want ResourceAlreadyExistsException", err)
	}
	if _, err := cw.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("bad name")}); errCode(err) != "InvalidParameterException" {
		t.Errorf("CreateLogGroup(\"bad name\") = %v; want InvalidParameterException", err)
	}
	// An empty group exists: listed, and found by FilterLogEvents.
	if diff := cmp.Diff([]string{group}, groupNames(t, cw, "/tools")); diff != "" {
		t.Errorf("log groups (-want +got):\n%s", diff)
	}
	if ev := filterOf(t, cw, group); len(ev) != 0 {
		t.Errorf("FilterLogEvents on a new group = %v; want none", ev)
	}
	put := func(events ...cwtypes.InputLogEvent) (*cloudwatchlogs.PutLogEventsOutput, error) {
		return cw.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream), LogEvents: events})
	}
	now := time.Now().UnixMilli()
	ev := func(ms int64, msg string) cwtypes.InputLogEvent {
		return cwtypes.InputLogEvent{Timestamp: aws.Int64(ms), Message: aws.String(msg)}
	}
	if _, err := put(ev(now, "x")); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("PutLogEvents to a missing stream = %v; want ResourceNotFoundException", err)
	}
	if _, err := cw.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cw.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); errCode(err) != "ResourceAlreadyExistsException" {
		t.Errorf("CreateLogStream twice = %v; want ResourceAlreadyExistsException", err)
	}
	// A stream with no events: described, without event times.
	ds, err := cw.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String(group)})
	if err != nil || len(ds.LogStreams) != 1 || aws.ToString(ds.LogStreams[0].LogStreamName) != stream ||
		ds.LogStreams[0].FirstEventTimestamp != nil || aws.ToInt64(ds.LogStreams[0].CreationTime) == 0 {
		t.Errorf("DescribeLogStreams on a new stream = %+v, %v; want %s with a creation time and no event times", ds, err, stream)
	}
	if _, err := cw.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); err != nil {
		t.Errorf("GetLogEvents on a new, empty stream = %v; want no events", err)
	}

	// The errors of a batch, each failing it whole.
	for _, tt := range []struct {
		name   string
		events []cwtypes.InputLogEvent
		code   string
	}{
		{"out of order", []cwtypes.InputLogEvent{ev(now, "b"), ev(now-1, "a")}, "InvalidParameterException"},
		{"spanning more than 24 hours", []cwtypes.InputLogEvent{ev(now-25*3600*1000, "a"), ev(now, "b")}, "InvalidParameterException"},
		{"over 1,048,576 bytes", []cwtypes.InputLogEvent{ev(now, strings.Repeat("a", 200_000)), ev(now, strings.Repeat("b", 200_000)),
			ev(now, strings.Repeat("c", 200_000)), ev(now, strings.Repeat("d", 200_000)), ev(now, strings.Repeat("e", 200_000)),
			ev(now, strings.Repeat("f", 48_447))}, "InvalidParameterException"},
		{"an empty message", []cwtypes.InputLogEvent{ev(now, "")}, "InvalidParameterException"},
		{"no events", []cwtypes.InputLogEvent{}, "InvalidParameterException"},
		{"over 10,000 events", slices.Repeat([]cwtypes.InputLogEvent{ev(now, "x")}, 10001), "InvalidParameterException"},
	} {
		if _, err := put(tt.events...); errCode(err) != tt.code {
			t.Errorf("PutLogEvents with %s = %v; want %s", tt.name, err, tt.code)
		}
	}
	// A batch of exactly 1,048,576 bytes is accepted.
	if _, err := put(ev(now-10, strings.Repeat("a", 200_000)), ev(now-10, strings.Repeat("b", 200_000)), ev(now-10, strings.Repeat("c", 200_000)),
		ev(now-10, strings.Repeat("d", 200_000)), ev(now-10, strings.Repeat("e", 200_000)), ev(now-10, strings.Repeat("f", 48_420))); err != nil {
		t.Errorf("PutLogEvents of 1,048,576 bytes = %v", err)
	}

	// Too old and too new events are left out and reported; the others
	// are stored with their own times, line breaks and all.
	day := int64(24 * 3600 * 1000)
	res, err := put(ev(now-15*day, "too old 1"), ev(now-15*day+1, "too old 2"), ev(now-5000, "first\nsecond \\n line"), ev(now-4000, "third"),
		ev(now+3*3600*1000, "too new"))
	if err != nil {
		t.Fatal(err)
	}
	ri := res.RejectedLogEventsInfo
	if ri == nil || aws.ToInt32(ri.TooOldLogEventEndIndex) != 2 || aws.ToInt32(ri.TooNewLogEventStartIndex) != 4 || ri.ExpiredLogEventEndIndex != nil {
		t.Errorf("rejectedLogEventsInfo = %+v; want tooOldLogEventEndIndex 2, tooNewLogEventStartIndex 4", ri)
	}
	type evt struct {
		Time int64
		Msg  string
	}
	var events []evt
	for p := cloudwatchlogs.NewGetLogEventsPaginator(cw, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group),
		LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true)}, func(o *cloudwatchlogs.GetLogEventsPaginatorOptions) {
		o.StopOnDuplicateToken = true // the service's end: the token sent comes back
	}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			if len(aws.ToString(e.Message)) < 100 {
				events = append(events, evt{aws.ToInt64(e.Timestamp), aws.ToString(e.Message)})
			}
		}
	}
	if diff := cmp.Diff([]evt{{now - 5000, "first\nsecond \\n line"}, {now - 4000, "third"}}, events); diff != "" {
		t.Errorf("GetLogEvents after PutLogEvents (-want +got):\n%s", diff)
	}
	var fe []cwtypes.FilteredLogEvent
	for p := cloudwatchlogs.NewFilterLogEventsPaginator(cw, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group),
		FilterPattern: aws.String("third"), StartTime: aws.Int64(now - 60_000)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fe = append(fe, page.Events...)
	}
	if len(fe) != 1 || aws.ToString(fe[0].LogStreamName) != stream {
		t.Errorf("FilterLogEvents(third) = %+v; want the one event, of stream %s", fe, stream)
	}

	// A group with a retention expires what is older than it.
	if _, err := cw.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String(group), RetentionInDays: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	res, err = put(ev(now-2*day, "expired"), ev(now, "fresh"))
	if err != nil || res.RejectedLogEventsInfo == nil || aws.ToInt32(res.RejectedLogEventsInfo.ExpiredLogEventEndIndex) != 1 {
		t.Errorf("PutLogEvents with an event older than the retention = %+v, %v; want expiredLogEventEndIndex 1", res, err)
	}

	// A function's default group takes events too, and a created group
	// and stream outlive a restart.
	if _, err := cw.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/aws/lambda/not-yet")}); err != nil {
		t.Fatal(err)
	}
	long := "/" + strings.Repeat("very-long.name/", 33) // 496 characters: too long for a file name
	if _, err := cw.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(long)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cw.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(long), LogStreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cw.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(long), LogStreamName: aws.String("s"),
		LogEvents: []cwtypes.InputLogEvent{ev(now, "in a long group")}}); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s = startServer(t, dir)
	cw = logsClient(s, s.creds)
	want := []string{long, "/aws/lambda/not-yet", group}
	slices.Sort(want)
	if diff := cmp.Diff(want, groupNames(t, cw, "")); diff != "" {
		t.Errorf("log groups after a restart (-want +got):\n%s", diff)
	}
	if msgs := eventMessages(filterOf(t, cw, long)); !slices.Equal(msgs, []string{"in a long group"}) {
		t.Errorf("the long group holds %q after a restart", msgs)
	}
	ds, err = cw.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/lambda/not-yet")})
	if err != nil || len(ds.LogStreams) != 0 {
		t.Errorf("DescribeLogStreams(/aws/lambda/not-yet) = %+v, %v; want an empty group", ds, err)
	}
	if _, err := cw.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); errCode(err) != "ResourceAlreadyExistsException" {
		t.Errorf("CreateLogStream of a stream made before a restart = %v; want ResourceAlreadyExistsException", err)
	}
	if _, err := cw.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	if _, err := put(ev(now, "gone")); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("PutLogEvents to a deleted group = %v; want ResourceNotFoundException", err)
	}
}

// TestCWLogsFilterBounded (issue 14): FilterLogEvents reads a bounded
// part of a group per call, as the service does, and says where to go on:
// a poll of a large group answers at once with a nextToken, and paging on
// finds every match exactly once.
func TestCWLogsFilterBounded(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	cw := logsClient(s, s.creds)
	const group = "/big/group"
	if _, err := cw.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cw.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	for b := range 4 {
		events := make([]cwtypes.InputLogEvent, 0, 1000)
		for i := range 1000 {
			msg := fmt.Sprintf("batch %d event %d %s", b, i, strings.Repeat("x", 900))
			if b == 3 && i == 999 {
				msg = "needle"
			}
			events = append(events, cwtypes.InputLogEvent{Timestamp: aws.Int64(now), Message: aws.String(msg)})
		}
		if _, err := cw.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String("s"), LogEvents: events}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := cw.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), FilterPattern: aws.String("needle")})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Events) != 0 || first.NextToken == nil {
		t.Errorf("the first page of a 3.7 MB group = %d events, nextToken %v; want none yet, and a nextToken", len(first.Events), first.NextToken)
	}
	var found []string
	pages := 0
	for p := cloudwatchlogs.NewFilterLogEventsPaginator(cw, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), FilterPattern: aws.String("needle")}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		found = append(found, eventMessages(page.Events)...)
	}
	if !slices.Equal(found, []string{"needle"}) || pages < 4 {
		t.Errorf("paging FilterLogEvents(needle) found %q in %d pages; want the needle once, in at least 4 pages", found, pages)
	}
	// Without a pattern, pages of 10,000 events at most 1 MB each: every
	// event once.
	if n := len(filterOf(t, cw, group)); n != 4000 {
		t.Errorf("FilterLogEvents over the group returned %d events; want 4000", n)
	}
}

// TestCWLogsCreateLogGroupBounded: CreateLogGroup cannot make the server
// hold log groups without bound: past --logs-max-groups per account the
// SDK gets LimitExceededException, and DeleteLogGroup makes room again.
func TestCWLogsCreateLogGroupBounded(t *testing.T) {
	s := startServer(t, t.TempDir(), "--logs-max-groups", "2")
	ctx := t.Context()
	cw := logsClient(s, s.creds)
	for _, g := range []string{"/bound/a", "/bound/b"} {
		if _, err := cw.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(g)}); err != nil {
			t.Fatalf("CreateLogGroup(%s): %v", g, err)
		}
	}
	_, err := cw.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/bound/c")})
	if errCode(err) != "LimitExceededException" {
		t.Fatalf("third CreateLogGroup = %v; want LimitExceededException", err)
	}
	if _, err := cw.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String("/bound/a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cw.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/bound/c")}); err != nil {
		t.Fatalf("CreateLogGroup after DeleteLogGroup: %v", err)
	}
}
