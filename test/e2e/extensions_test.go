package e2e

import (
	"strings"
	"testing"
)

// AWS_LAMBDA_EXEC_WRAPPER starts a managed runtime through the wrapper,
// whose environment the handler sees; the runtime starts in the task root
// with PWD saying so, and the X-Ray variables are present. A wrapper that
// does not exist fails init with Runtime.ExitError, exit status 127.
func TestExecWrapperAndEnvironment(t *testing.T) {
	app := []byte(`import os
def handler(event, context):
    keys = ["WRAPPED_BY", "WRAPPER_ARGS", "PWD", "AWS_XRAY_CONTEXT_MISSING", "AWS_XRAY_DAEMON_ADDRESS",
            "_AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_PORT"]
    out = {k: os.environ.get(k) for k in keys}
    out["cwd"] = os.getcwd()
    out["task_root"] = os.environ["LAMBDA_TASK_ROOT"]
    return out
`)
	wrapper := []byte("#!/bin/bash\nexport WRAPPED_BY=wrapper.sh\nexport WRAPPER_ARGS=$#\nexec \"$@\"\n")
	for _, iso := range isolations() {
		t.Run(iso, func(t *testing.T) {
			s := startServer(t, "", "--isolation", iso)
			f := fn{runtime: "python3.12", handler: "app.handler",
				zip: zipFiles(map[string]zipFile{"app.py": {data: app}, "wrapper.sh": {data: wrapper, mode: 0o755}}),
				env: map[string]string{"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper.sh"}}
			s.create(t, "wrapped", f)
			r := s.invoke(t, "wrapped", map[string]any{})
			if r.FunctionError != "" {
				t.Fatalf("Invoke() = %s %s", r.FunctionError, r.Payload)
			}
			got := r.decode(t)
			for k, want := range map[string]string{
				"WRAPPED_BY": "wrapper.sh", "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
				"AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000", "_AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129",
				"_AWS_XRAY_DAEMON_PORT": "2000",
			} {
				if got[k] != want {
					t.Errorf("%s = %v; want %q", k, got[k], want)
				}
			}
			if got["WRAPPER_ARGS"] == "0" || got["WRAPPER_ARGS"] == nil {
				t.Errorf("WRAPPER_ARGS = %v; want the runtime's command as the wrapper's arguments", got["WRAPPER_ARGS"])
			}
			if got["cwd"] != got["task_root"] || got["PWD"] != got["task_root"] {
				t.Errorf("cwd %v, PWD %v; want both the task root %v", got["cwd"], got["PWD"], got["task_root"])
			}
			if iso == "linux" && got["cwd"] != "/var/task" {
				t.Errorf("cwd = %v; want /var/task", got["cwd"])
			}

			f.env = map[string]string{"AWS_LAMBDA_EXEC_WRAPPER": "/opt/no-such-wrapper"}
			s.create(t, "badwrapper", f)
			r = s.invoke(t, "badwrapper", map[string]any{})
			typ, msg := errorDoc(t, r)
			if typ != "Runtime.ExitError" || !strings.HasSuffix(msg, "Error: Runtime exited with error: exit status 127") {
				t.Errorf("missing wrapper: %s %q; want Runtime.ExitError, exit status 127", typ, msg)
			}
		})
	}
}
