package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// runCluster prints the cluster's nodes as the api node at the endpoint
// hears them, then the workers it places invocations on.
func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := endpointFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var out struct {
		Clustered bool `json:"clustered"`
		Nodes     []struct {
			ID      string    `json:"id"`
			Roles   []string  `json:"roles"`
			Addr    string    `json:"addr"`
			Started time.Time `json:"started"`
			State   string    `json:"state"`
		} `json:"nodes"`
		Workers []struct {
			ID          string    `json:"id"`
			Addr        string    `json:"addr"`
			InPlacement bool      `json:"in_placement"`
			Draining    bool      `json:"draining"`
			MemoryMB    int       `json:"memory_mb"`
			BusyMB      int       `json:"busy_mb"`
			MaxEnvs     int       `json:"max_environments"`
			BusyEnvs    int       `json:"busy_environments"`
			IdleEnvs    int       `json:"idle_environments"`
			Deadline    time.Time `json:"heartbeat_deadline"`
			LeaseEnd    time.Time `json:"lease_end"`
		} `json:"workers"`
	}
	if err := getJSON(ctx, strings.TrimRight(resolveEndpoint(*endpoint, os.LookupEnv), "/")+"/_hearth/v1/cluster", &out); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if !out.Clustered {
		fmt.Fprintln(stdout, "not in a cluster: this server is the api, the worker and the poller")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLES\tAPI ADDRESS\tSTATE\tSTARTED")
	for _, n := range out.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.ID, strings.Join(n.Roles, ","), n.Addr, n.State, n.Started.Local().Format(time.DateTime))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tADDRESS\tSTATE\tENVS BUSY/IDLE/MAX\tMEMORY BUSY/TOTAL MB\tLEASE ENDS")
	for _, w := range out.Workers {
		state := "serving"
		switch {
		case w.Draining:
			state = "draining"
		case !w.InPlacement:
			state = "lost"
		}
		lease := "-"
		if !w.LeaseEnd.IsZero() {
			lease = w.LeaseEnd.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d/%d\t%d/%d\t%s\n", w.ID, w.Addr, state, w.BusyEnvs, w.IdleEnvs, w.MaxEnvs, w.BusyMB, w.MemoryMB, lease)
	}
	return tw.Flush()
}
