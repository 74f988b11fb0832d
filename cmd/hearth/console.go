package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// runConsole asks the server, signed with a root key, for a one-time
// login link to its web console and prints it. The link is good for two
// minutes; opening it gives the browser a session cookie.
func runConsole(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := endpointFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	base := strings.TrimRight(resolveEndpoint(*endpoint, os.LookupEnv), "/")
	resp, err := do(ctx, "POST", base+"/_hearth/v1/console/logins", []byte("{}"))
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("console: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var out struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	fmt.Fprintln(stdout, base+out.Path)
	return nil
}
