package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// TestClusterLogChanges: what a client changes through one api node's
// CloudWatch Logs API (a group and a stream created, events put, a
// retention set, a group deleted), the other api node answers too, for
// groups made by CreateLogGroup and for a function's own group.
func TestClusterLogChanges(t *testing.T) {
	url := startNATS(t)
	common := []string{"--nats-url", url, "--isolation", "process"}
	startServer(t, "", append([]string{"--roles", "worker"}, common...)...)
	a := startServer(t, "", append([]string{"--roles", "api,poller"}, common...)...)
	b := startServer(t, "", append([]string{"--roles", "api"}, common...)...)
	ctx := t.Context()
	cwA, cwB := logsClient(a, a.creds), logsClient(b, b.creds)

	const group, stream = "/repl/tools", "host-1"
	if _, err := cwA.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cwA.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	if _, err := cwA.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
		LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
		LogEvents: []cwtypes.InputLogEvent{{Timestamp: aws.Int64(now - 1), Message: aws.String("first")}, {Timestamp: aws.Int64(now), Message: aws.String("second\nline")}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := cwA.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String(group), RetentionInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}

	retention := func(cw *cloudwatchlogs.Client, name string) (int32, bool) {
		out, err := cw.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeLogGroups: %v", err)
		}
		for _, g := range out.LogGroups {
			if aws.ToString(g.LogGroupName) == name {
				return aws.ToInt32(g.RetentionInDays), true
			}
		}
		return 0, false
	}
	eventually(t, 10*time.Second, "the other api node has the group with its retention", func() bool {
		days, ok := retention(cwB, group)
		return ok && days == 7
	})
	var got []string
	eventually(t, 10*time.Second, "the other api node has the events put", func() bool {
		out, err := cwB.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true)})
		if err != nil {
			return false
		}
		got = got[:0]
		for _, e := range out.Events {
			got = append(got, aws.ToString(e.Message))
		}
		return slices.Equal(got, []string{"first", "second\nline"})
	})

	// A function's own group: its lines come from the worker to both
	// api nodes; a retention set through one holds on the other.
	a.create(t, "logged", goFn())
	if r := a.invoke(t, "logged", map[string]any{"op": "echo"}); r.FunctionError != "" {
		t.Fatalf("invoke: %s %s", r.FunctionError, r.Payload)
	}
	fnGroup := "/aws/lambda/logged"
	eventually(t, 10*time.Second, "both api nodes have the function's group", func() bool {
		_, okA := retention(cwA, fnGroup)
		_, okB := retention(cwB, fnGroup)
		return okA && okB
	})
	if _, err := cwB.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String(fnGroup), RetentionInDays: aws.Int32(14)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the first api node has the function group's retention", func() bool {
		days, _ := retention(cwA, fnGroup)
		return days == 14
	})

	if _, err := cwB.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the first api node no longer has the deleted group", func() bool {
		_, ok := retention(cwA, group)
		return !ok
	})
}
