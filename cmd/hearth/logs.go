package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
)

func runLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := endpointFlag(fs)
	follow := fs.Bool("follow", false, "keep streaming new lines")
	fs.BoolVar(follow, "f", false, "shorthand for --follow")
	tail := fs.Int("tail", 0, "print only the last N lines (0: all)")
	// Accept the function name before or after the flags.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		return errors.New("logs: usage: hearth logs FUNCTION [--follow] [--tail N]")
	}
	u := strings.TrimRight(resolveEndpoint(*endpoint, os.LookupEnv), "/") + "/_hearth/v1/functions/" + url.PathEscape(name) + "/logs?tail=" + strconv.Itoa(*tail)
	if *follow {
		u += "&follow=true"
	}
	resp, err := do(ctx, "GET", u, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("logs: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("logs: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if _, err := io.Copy(stdout, resp.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs: %w", err)
	}
	return nil
}
