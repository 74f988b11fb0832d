package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// runAsync prints the async queue's statistics.
func runAsync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("async", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := endpointFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var s map[string]any
	if err := getJSON(ctx, strings.TrimRight(resolveEndpoint(*endpoint, os.LookupEnv), "/")+"/_hearth/v1/async", &s); err != nil {
		return fmt.Errorf("async: %w", err)
	}
	order := []string{"depth", "oldest_age_seconds", "in_flight", "enqueued", "succeeded", "failed", "retried", "throttled", "expired", "dropped", "delivered"}
	for _, k := range order {
		fmt.Fprintf(stdout, "%-20s %v\n", k, s[k])
	}
	return nil
}

// runQueue reads messages from a named Hearth queue (the destinations and
// dead-letter queues of async invocations). Messages read are removed.
func runQueue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("queue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := endpointFlag(fs)
	max := fs.Int("max", 10, "most messages to take")
	wait := fs.Duration("wait", 0, "how long to wait for a first message (up to 20s)")
	if len(args) < 2 || args[0] != "receive" {
		return errors.New("queue: usage: hearth queue receive NAME [--max N] [--wait 5s]")
	}
	name := args[1]
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	u := strings.TrimRight(resolveEndpoint(*endpoint, os.LookupEnv), "/") + "/_hearth/v1/queues/" + url.PathEscape(name) + "/messages?max=" + strconv.Itoa(*max) + "&wait=" + wait.String()
	var out struct {
		Messages []struct {
			Body       json.RawMessage   `json:"body"`
			Attributes map[string]string `json:"attributes"`
			Sent       time.Time         `json:"sent"`
		} `json:"messages"`
	}
	if err := getJSON(ctx, u, &out); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	enc := json.NewEncoder(stdout)
	for _, m := range out.Messages {
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	return nil
}

func getJSON(ctx context.Context, u string, v any) error {
	resp, err := do(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, v)
}
