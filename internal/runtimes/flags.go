package runtimes

// Interpreter arguments for the embedded clients. The clients document why
// each flag is safe in their own headers.
var (
	pythonArgs = []string{"$LAMBDA_RUNTIME_DIR/bootstrap.py"}
	nodeArgs   = []string{"--max-http-header-size=81920", "$LAMBDA_RUNTIME_DIR/bootstrap.mjs"}
)
