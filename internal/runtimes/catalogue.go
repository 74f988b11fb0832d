// Package runtimes is the catalogue of Lambda runtime identifiers Hearth
// runs, and it carries Hearth's own runtime interface clients for Python
// and Node.js, embedded in the binary. The clients speak the Runtime API
// like any third-party runtime; nothing here talks to them directly.
//
// Custom runtimes (provided.al2023, provided.al2) run the package's own
// bootstrap. A managed runtime runs on a host interpreter of exactly its
// version (python3.12 on a 3.12.x, nodejs22.x on a 22.x), named by the
// operator or found by a Search and resolved once when the host is set up.
// Hearth runs the real executable, never a version manager's shim, which
// would cost hundreds of milliseconds per start and pick its own version.
package runtimes

import (
	"slices"
	"strings"
)

// Kind is the family of a runtime.
type Kind uint8

const (
	_ Kind = iota
	Provided
	Python
	Node
)

func (k Kind) String() string {
	switch k {
	case Provided:
		return "provided"
	case Python:
		return "python"
	case Node:
		return "node"
	}
	return "unknown"
}

// Runtime is one entry of the catalogue.
type Runtime struct {
	ID   string // as in FunctionConfiguration.Runtime
	Kind Kind
}

// ExecutionEnv is AWS_EXECUTION_ENV for the runtime; custom runtimes have
// none.
func (r Runtime) ExecutionEnv() string {
	if r.Kind == Provided {
		return ""
	}
	return "AWS_Lambda_" + r.ID
}

var catalogue = map[string]Kind{
	"provided.al2023": Provided,
	"provided.al2":    Provided,
	"provided":        Provided,
	"python3.9":       Python,
	"python3.10":      Python,
	"python3.11":      Python,
	"python3.12":      Python,
	"python3.13":      Python,
	"python3.14":      Python,
	"nodejs18.x":      Node,
	"nodejs20.x":      Node,
	"nodejs22.x":      Node,
	"nodejs24.x":      Node,
}

// Lookup returns the runtime named id.
func Lookup(id string) (Runtime, bool) {
	k, ok := catalogue[id]
	return Runtime{ID: id, Kind: k}, ok
}

// IDs lists every runtime identifier Hearth accepts, sorted.
func IDs() []string {
	ids := make([]string, 0, len(catalogue))
	for id := range catalogue {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// UnsupportedMessage is the InvalidParameterValueException text for a
// runtime Hearth does not run.
func UnsupportedMessage(id string) string {
	return "The runtime parameter of " + id + " is either not supported or is no longer supported by this Hearth server. Supported runtimes: " +
		strings.Join(IDs(), ", ")
}
