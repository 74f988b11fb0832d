package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"hearth/internal/server"
)

// runRuntimes lists every runtime id with the interpreter that serves it,
// or why none does: as the running server resolved them, or (--local) as a
// server started here with the same --runtime flags would.
func runRuntimes(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("runtimes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := endpointFlag(fs)
	local := fs.Bool("local", false, "resolve the interpreters on this host instead of asking the server")
	asJSON := fs.Bool("json", false, "print the list as JSON")
	var cfg server.Config
	runtimeFlag(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		return fmt.Errorf("runtimes: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("runtimes: unexpected argument %q", fs.Arg(0))
	}
	var out struct {
		Runtimes []server.RuntimeStatus `json:"runtimes"`
	}
	if *local {
		sts, err := server.ResolveRuntimes(ctx, cfg)
		if err != nil {
			return fmt.Errorf("runtimes: %w", err)
		}
		out.Runtimes = sts
	} else if err := getJSON(ctx, strings.TrimRight(resolveEndpoint(*endpoint, os.LookupEnv), "/")+"/_hearth/v1/runtimes", &out); err != nil {
		return fmt.Errorf("runtimes: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUNTIME\tVERSION\tINTERPRETER")
	for _, st := range out.Runtimes {
		switch {
		case !st.Available:
			fmt.Fprintf(tw, "%s\t-\tunavailable: %s\n", st.Runtime, st.Reason)
		case st.Interpreter == "":
			fmt.Fprintf(tw, "%s\t-\tthe package's bootstrap\n", st.Runtime)
		default:
			fmt.Fprintf(tw, "%s\t%s\t%s\n", st.Runtime, st.Version, st.Interpreter)
		}
	}
	return tw.Flush()
}
