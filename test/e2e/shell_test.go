package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// The bootstrap and handler of AWS's custom-runtime tutorial ("Building a
// custom runtime", docs.aws.amazon.com/lambda/latest/dg/runtimes-walkthrough.html),
// verbatim: #!/bin/sh with bash's options and bash's function syntax, since
// /bin/sh is bash on Amazon Linux.
const (
	tutorialBootstrap = `#!/bin/sh

set -euo pipefail

# Initialization - load function handler
source $LAMBDA_TASK_ROOT/"$(echo $_HANDLER | cut -d. -f1).sh"

# Processing
while true
do
  HEADERS="$(mktemp)"
  # Get an event. The HTTP request will block until one is received
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")

  # Extract request ID by scraping response headers received above
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)

  # Run the handler function from the script
  RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EVENT_DATA")

  # Send the response
  curl "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response"  -d "$RESPONSE"
done
`
	tutorialHandler = `function handler () {
  EVENT_DATA=$1
  echo "$EVENT_DATA" 1>&2;
  RESPONSE="Echoing request: '$EVENT_DATA'"

  echo $RESPONSE
}
`
)

// TestAWSTutorialRuntime runs the tutorial's custom runtime unchanged under
// linux isolation, on a host whose /bin/sh is not bash.
func TestAWSTutorialRuntime(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the tutorial's bootstrap needs curl, which this host lacks")
	}
	s := linuxServer(t)
	s.create(t, "tutorial", fn{runtime: "provided.al2023", handler: "function.handler", zip: zipFiles(map[string]zipFile{
		"bootstrap":   {data: []byte(tutorialBootstrap), mode: 0o755},
		"function.sh": {data: []byte(tutorialHandler), mode: 0o755},
	})})
	r := s.invoke(t, "tutorial", map[string]any{"text": "Hello"})
	if r.FunctionError != "" || string(r.Payload) != `Echoing request: '{"text":"Hello"}'` {
		t.Errorf("Invoke = %s %s; want the tutorial's echo\nlog:\n%s", r.FunctionError, r.Payload, r.Log)
	}
	if !strings.Contains(r.Log, `{"text":"Hello"}`) {
		t.Errorf("log lacks the event the handler wrote to stderr:\n%s", r.Log)
	}
}
