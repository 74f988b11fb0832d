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
	"text/tabwriter"
	"time"

	"hearth/internal/server"
)

// runCredentials prints the root credentials from the data directory as
// shell exports: eval "$(hearth credentials)".
func runCredentials(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("credentials", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data-dir", defaultDataDir(), "the server's data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	path := server.CredentialsFile(*dir)
	c, err := server.ReadCredentials(path)
	if err != nil {
		return fmt.Errorf("credentials: %w (the server writes this file on its first start with --auth sigv4; run this command as the server's user)", err)
	}
	fmt.Fprintf(stdout, "export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s", c.AccessKeyID, c.SecretAccessKey)
	if c.Region != "" {
		fmt.Fprintf(stdout, " AWS_DEFAULT_REGION=%s", c.Region)
	}
	// A session token left from other credentials would be sent along and
	// refused.
	fmt.Fprintln(stdout, "\nunset AWS_SESSION_TOKEN")
	return nil
}

// runAccounts is hearth accounts create|list|delete.
func runAccounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "accounts: usage: hearth accounts create [--id ID] [--name NAME] | list | delete ID"
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("accounts "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := endpointFlag(fs)
	id := fs.String("id", "", "create: the 12-digit account id (default: random)")
	name := fs.String("name", "", "create: a name for the account")
	sub := args[0]
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	base := strings.TrimRight(resolveEndpoint(*endpoint, os.LookupEnv), "/") + "/_hearth/v1/accounts"
	switch sub {
	case "list":
		var out struct {
			Accounts []account `json:"accounts"`
		}
		if err := call(ctx, "GET", base, nil, &out); err != nil {
			return fmt.Errorf("accounts list: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCOUNT\tNAME\tCREATED")
		for _, a := range out.Accounts {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.ID, a.Name, a.Created.Format("2006-01-02T15:04:05Z"))
		}
		return tw.Flush()
	case "create":
		body, _ := json.Marshal(map[string]string{"id": *id, "name": *name})
		var out struct {
			Account account    `json:"account"`
			Key     createdKey `json:"key"`
		}
		if err := call(ctx, "POST", base, body, &out); err != nil {
			return fmt.Errorf("accounts create: %w", err)
		}
		fmt.Fprintf(stderr, "created account %s; its first access key (the secret is shown only now):\n", out.Account.ID)
		out.Key.print(stdout)
		return nil
	case "delete":
		if len(pos) != 1 {
			return errors.New(usage)
		}
		if err := call(ctx, "DELETE", base+"/"+url.PathEscape(pos[0]), nil, nil); err != nil {
			return fmt.Errorf("accounts delete: %w", err)
		}
		return nil
	}
	return errors.New(usage)
}

// account is an account as the API lists it.
type account struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

type createdKey struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	Account         string `json:"account"`
}

func (k createdKey) print(w io.Writer) {
	fmt.Fprintf(w, "export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s\n", k.AccessKeyID, k.SecretAccessKey)
}

// runKeys is hearth keys create|list|delete --account ID.
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "keys: usage: hearth keys create --account ID [--name NAME] [--root] | list --account ID | delete --account ID KEY_ID"
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := endpointFlag(fs)
	account := fs.String("account", "", "the account id (required)")
	name := fs.String("name", "", "create: the IAM user name the key's caller ARN shows")
	root := fs.Bool("root", false, "create: a root key, which may manage accounts and keys")
	sub := args[0]
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	if *account == "" {
		return errors.New(usage)
	}
	base := strings.TrimRight(resolveEndpoint(*endpoint, os.LookupEnv), "/") + "/_hearth/v1/accounts/" + url.PathEscape(*account) + "/keys"
	switch sub {
	case "list":
		var out struct {
			Keys []struct {
				AccessKeyID string `json:"access_key_id"`
				Name        string `json:"name"`
				Root        bool   `json:"root"`
				Created     string `json:"created"`
			} `json:"keys"`
		}
		if err := call(ctx, "GET", base, nil, &out); err != nil {
			return fmt.Errorf("keys list: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCESS KEY ID\tNAME\tROOT\tCREATED")
		for _, k := range out.Keys {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", k.AccessKeyID, k.Name, k.Root, k.Created)
		}
		return tw.Flush()
	case "create":
		body, _ := json.Marshal(map[string]any{"name": *name, "root": *root})
		var out createdKey
		if err := call(ctx, "POST", base, body, &out); err != nil {
			return fmt.Errorf("keys create: %w", err)
		}
		out.print(stdout)
		return nil
	case "delete":
		if len(pos) != 1 {
			return errors.New(usage)
		}
		if err := call(ctx, "DELETE", base+"/"+url.PathEscape(pos[0]), nil, nil); err != nil {
			return fmt.Errorf("keys delete: %w", err)
		}
		return nil
	}
	return errors.New(usage)
}

// call sends a signed request and decodes the JSON answer into out, if
// not nil.
func call(ctx context.Context, method, u string, body []byte, out any) error {
	resp, err := do(ctx, method, u, body)
	if err != nil {
		return err
	}
	b, err := readAnswer(resp)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// parseInterleaved parses flags wherever they are among the positional
// arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// runRoles is hearth roles set|list|delete: AWS credentials attached to
// execution roles, which the environments of functions with that role
// receive instead of Hearth's own.
func runRoles(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "roles: usage: hearth roles set ROLE_ARN --from-env | list | delete ROLE_ARN\n" +
		"  set --from-env takes AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN from the environment;\n" +
		"  the request to Hearth is then signed with HEARTH_ACCESS_KEY_ID/HEARTH_SECRET_ACCESS_KEY or the data directory's root credentials"
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("roles "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := endpointFlag(fs)
	fromEnv := fs.Bool("from-env", false, "set: take the credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN")
	sub := args[0]
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	base := strings.TrimRight(resolveEndpoint(*endpoint, os.LookupEnv), "/") + "/_hearth/v1/roles"
	switch sub {
	case "list":
		var out struct {
			Roles []struct {
				ARN         string `json:"arn"`
				AccessKeyID string `json:"access_key_id"`
				Temporary   bool   `json:"temporary"`
				Created     string `json:"created"`
			} `json:"roles"`
		}
		if err := call(ctx, "GET", base, nil, &out); err != nil {
			return fmt.Errorf("roles list: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ROLE\tACCESS KEY ID\tTEMPORARY\tSET")
		for _, r := range out.Roles {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", r.ARN, r.AccessKeyID, r.Temporary, r.Created)
		}
		return tw.Flush()
	case "set":
		if len(pos) != 1 || !*fromEnv {
			return errors.New(usage)
		}
		id, secret, token := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")
		if id == "" || secret == "" {
			return errors.New("roles set: --from-env needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
		body, _ := json.Marshal(map[string]string{"arn": pos[0], "access_key_id": id, "secret_access_key": secret, "session_token": token})
		resp, err := doSigned(ctx, "PUT", base, body, false)
		if err != nil {
			return fmt.Errorf("roles set: %w", err)
		}
		if _, err := readAnswer(resp); err != nil {
			return fmt.Errorf("roles set: %w", err)
		}
		fmt.Fprintf(stderr, "environments of functions with role %s now receive access key %s\n", pos[0], id)
		return nil
	case "delete":
		if len(pos) != 1 {
			return errors.New(usage)
		}
		if err := call(ctx, "DELETE", base+"?arn="+url.QueryEscape(pos[0]), nil, nil); err != nil {
			return fmt.Errorf("roles delete: %w", err)
		}
		return nil
	}
	return errors.New(usage)
}
