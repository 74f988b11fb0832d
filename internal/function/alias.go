package function

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// Limits of versions and aliases.
const (
	MaxAliasLen = 128
	// MaxVersions bounds the published versions a function keeps at
	// once (Hearth's limit; Lambda bounds them by total code size).
	MaxVersions = 1000
)

// Alias is a named pointer to a published version (or $LATEST), with an
// optional second version that takes a share of the invocations.
type Alias struct {
	Account     string `json:"account"`
	Function    string `json:"function"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// Weights is RoutingConfig.AdditionalVersionWeights: at most one
	// other version and the share (0, 1) of invocations it takes.
	Weights    map[string]float64 `json:"weights,omitempty"`
	RevisionID string             `json:"revision_id"`
	Modified   time.Time          `json:"modified"`
	// EventInvoke is the alias's own asynchronous invocation
	// configuration, nil when none was put.
	EventInvoke *EventInvokeConfig `json:"event_invoke,omitempty"`
	// Provisioned is the alias's provisioned concurrency, kept on the
	// version it points to; nil when none was put.
	Provisioned *Provisioned `json:"provisioned,omitempty"`
}

// Pick returns the version an invocation through the alias runs: the
// additional version with its weight's probability, else the primary.
// r is a number in [0, 1); nil means a random one.
func (a *Alias) Pick(r *float64) string {
	if len(a.Weights) == 0 {
		return a.Version
	}
	x := rand.Float64()
	if r != nil {
		x = *r
	}
	for v, w := range a.Weights {
		if x < w {
			return v
		}
		x -= w
	}
	return a.Version
}

// ValidAliasName reports whether s is an alias name Lambda accepts:
// 1 to 128 characters of [a-zA-Z0-9-_], not all digits.
func ValidAliasName(s string) bool {
	if len(s) == 0 || len(s) > MaxAliasLen || IsVersionNumber(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}

// IsVersionNumber reports whether s names a published version: digits
// only, no leading zero, within Hearth's range.
func IsVersionNumber(s string) bool {
	if s == "" || len(s) > 10 || (s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// VersionNumber returns the number of a published version, 0 when s is
// not one.
func VersionNumber(s string) int {
	if !IsVersionNumber(s) {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}

// CheckWeights checks RoutingConfig.AdditionalVersionWeights against
// primary, the alias's FunctionVersion. The messages are AWS's own
// (recorded answers): the model sets no length on the map, so more than
// one entry is Lambda's own refusal, not a validation error.
func CheckWeights(primary string, weights map[string]float64) error {
	if len(weights) > 1 {
		return fmt.Errorf("Number of items in AdditionalVersionWeights cannot be greater than 1")
	}
	for v, w := range weights {
		if !IsVersionNumber(v) {
			return fmt.Errorf("1 validation error detected: Value '%s' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]", v)
		}
		if !(w >= 0 && w <= 1) {
			return fmt.Errorf("1 validation error detected: Value at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]")
		}
		if primary == Latest {
			return fmt.Errorf("$LATEST is not supported for an alias pointing to more than 1 version")
		}
		if v == primary {
			return fmt.Errorf("Invalid function version %s. Function version %s is already included in routing configuration.", v, v)
		}
	}
	return nil
}
