// Command hearth runs AWS-Lambda-style functions on your own machine.
//
//	hearth server [flags]            run the server (Lambda API on 127.0.0.1:9001)
//	hearth logs FUNCTION [--follow]  print a function's log
//	hearth async                     async queue depth, oldest age, counters
//	hearth console                   a one-time login link to the web console
//	hearth runtimes [--local]        the interpreter serving each runtime
//	hearth queue receive NAME        take messages from a Hearth queue
//	hearth credentials               the root key as shell exports
//	hearth accounts|keys ...         manage accounts and access keys
//
// Every server flag has a HEARTH_* environment equivalent: --data-dir is
// HEARTH_DATA_DIR, --idle-timeout is HEARTH_IDLE_TIMEOUT, and so on.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"hearth/internal/sandbox/linux"
)

func main() {
	// In a linux sandbox's init stage, this binary is the sandbox's pid 1;
	// the call does not return then.
	linux.RunInitIfRequested()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "hearth: %v\n", err)
		os.Exit(1)
	}
}

const usage = `usage: hearth <command> [flags]

commands:
  server            run the Hearth server
  logs FUNCTION     print a function's log (--follow to keep streaming)
  async             print the async queue's depth, oldest event age and counters
  cluster           list the workers an api node places invocations on (root key only)
  drain WORKER      make a worker of the cluster finish its invocations and exit (root key only)
  console           print a one-time login link to the web console (root key only)
  runtimes          list each runtime with the interpreter that serves it, or why none does
  queue receive Q   take messages from a named Hearth queue (async destinations)
  credentials       print the root credentials as shell exports: eval "$(hearth credentials)"
  accounts          create, list or delete accounts (root key only)
  keys              create, list or delete an account's access keys (root key only)
  roles             attach AWS credentials to an execution role (root key only)
  version           print the version

Run "hearth <command> -h" for a command's flags.
`

var version = "dev"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "server":
		return runServer(ctx, args[1:], stderr)
	case "logs":
		return runLogs(ctx, args[1:], stdout, stderr)
	case "async":
		return runAsync(ctx, args[1:], stdout, stderr)
	case "cluster":
		return runCluster(ctx, args[1:], stdout, stderr)
	case "drain":
		return runDrain(ctx, args[1:], stdout, stderr)
	case "queue":
		return runQueue(ctx, args[1:], stdout, stderr)
	case "console":
		return runConsole(ctx, args[1:], stdout, stderr)
	case "runtimes":
		return runRuntimes(ctx, args[1:], stdout, stderr)
	case "credentials":
		return runCredentials(args[1:], stdout, stderr)
	case "accounts":
		return runAccounts(ctx, args[1:], stdout, stderr)
	case "keys":
		return runKeys(ctx, args[1:], stdout, stderr)
	case "roles":
		return runRoles(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "hearth", version)
		return nil
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
