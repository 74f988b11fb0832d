package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
)

// runDrain asks a worker of the cluster, through an api node, to drain:
// it stops taking invocations (the api nodes place them on other
// workers), finishes those in flight, tears its environments down and
// exits 0. With --wait it returns once the worker has left the cluster.
func runDrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := endpointFlag(fs)
	wait := fs.Bool("wait", false, "return only once the worker has left the cluster")
	timeout := fs.Duration("timeout", 16*time.Minute, "with --wait: give up after this long (an invocation may run 15 minutes)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("drain: usage: hearth drain WORKER [--wait] (hearth cluster lists the workers)")
	}
	id := pos[0]
	base := strings.TrimRight(resolveEndpoint(*endpoint, os.LookupEnv), "/")
	resp, err := do(ctx, "POST", base+"/_hearth/v1/cluster/workers/"+url.PathEscape(id)+"/drain", nil)
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	b, err := readAnswer(resp)
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	var out struct {
		InFlight int `json:"in_flight"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	fmt.Fprintf(stdout, "worker %s drains: it takes no new invocations and exits once its %d in flight have finished\n", id, out.InFlight)
	if !*wait {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	for {
		var cl struct {
			Workers []struct {
				ID string `json:"id"`
			} `json:"workers"`
		}
		if err := getJSON(ctx, base+"/_hearth/v1/cluster", &cl); err != nil {
			return fmt.Errorf("drain: %w", err)
		}
		listed := false
		for _, w := range cl.Workers {
			listed = listed || w.ID == id
		}
		if !listed {
			fmt.Fprintf(stdout, "worker %s has left the cluster\n", id)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: worker %s still in the cluster: %w", id, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
