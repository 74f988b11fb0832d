package function

import (
	"fmt"
	"strings"
	"time"
)

// Defaults and ranges of a function's asynchronous invocation settings.
const (
	DefaultMaxRetryAttempts = 2
	MaxRetryAttempts        = 2
	DefaultMaxEventAge      = 21600 // seconds
	MinEventAge             = 60
	MaxEventAge             = 21600
	MaxDestinationLen       = 350
)

// EventInvokeConfig is how a function version handles asynchronous
// invocations: retries, the maximum event age and destinations. Nil
// pointers mean "not set" (the defaults apply, and the API omits them).
type EventInvokeConfig struct {
	MaximumRetryAttempts     *int      `json:"maximum_retry_attempts,omitempty"`
	MaximumEventAgeInSeconds *int      `json:"maximum_event_age,omitempty"`
	OnSuccess                string    `json:"on_success,omitempty"`
	OnFailure                string    `json:"on_failure,omitempty"`
	LastModified             time.Time `json:"last_modified"`
}

// Retries is the number of retries after a failed first attempt.
func (c *EventInvokeConfig) Retries() int {
	if c == nil || c.MaximumRetryAttempts == nil {
		return DefaultMaxRetryAttempts
	}
	return *c.MaximumRetryAttempts
}

// MaxAge is how old an event may grow before it is dropped.
func (c *EventInvokeConfig) MaxAge() time.Duration {
	if c == nil || c.MaximumEventAgeInSeconds == nil {
		return DefaultMaxEventAge * time.Second
	}
	return time.Duration(*c.MaximumEventAgeInSeconds) * time.Second
}

// Validate reports every problem with c, worded as Lambda's messages.
func (c *EventInvokeConfig) Validate() error {
	var errs []string
	if n := c.MaximumRetryAttempts; n != nil && (*n < 0 || *n > MaxRetryAttempts) {
		errs = append(errs, fmt.Sprintf("1 validation error detected: Value '%d' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value between 0 and %d", *n, MaxRetryAttempts))
	}
	if n := c.MaximumEventAgeInSeconds; n != nil && (*n < MinEventAge || *n > MaxEventAge) {
		errs = append(errs, fmt.Sprintf("1 validation error detected: Value '%d' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value between %d and %d", *n, MinEventAge, MaxEventAge))
	}
	for _, d := range []struct{ field, arn string }{{"onSuccess", c.OnSuccess}, {"onFailure", c.OnFailure}} {
		if d.arn == "" {
			continue
		}
		if err := ValidateDestination(d.arn); err != nil {
			errs = append(errs, fmt.Sprintf("The destination ARN %s for %s is invalid: %v", d.arn, d.field, err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &InvalidError{Problems: errs}
}

// DestinationKind is where a destination or dead-letter ARN delivers.
type DestinationKind uint8

const (
	_ DestinationKind = iota
	// DestinationFunction invokes a function asynchronously.
	DestinationFunction
	// DestinationQueue appends to a named Hearth queue; the ARN is an SQS
	// queue ARN and its last part is the queue name.
	DestinationQueue
)

// Destination is a parsed destination ARN.
type Destination struct {
	Kind DestinationKind
	// Name is the function (with its qualifier, if any) or queue name.
	Name      string
	Qualifier string
	// Region and Account are the ARN's; Hearth delivers only within its
	// own.
	Region, Account string
}

// ParseDestination parses the destination ARNs Hearth delivers to: Lambda
// function ARNs and SQS queue ARNs (served by Hearth's own queues).
func ParseDestination(arn string) (Destination, error) {
	if len(arn) == 0 || len(arn) > MaxDestinationLen {
		return Destination{}, fmt.Errorf("length must be 1 to %d", MaxDestinationLen)
	}
	parts := strings.Split(arn, ":")
	if len(parts) < 6 || parts[0] != "arn" {
		return Destination{}, fmt.Errorf("not an ARN")
	}
	switch parts[2] {
	case "lambda":
		ref, err := ParseRef(arn)
		if err != nil {
			return Destination{}, err
		}
		return Destination{Kind: DestinationFunction, Name: ref.Name, Qualifier: ref.Qualifier, Region: ref.Region, Account: ref.Account}, nil
	case "sqs":
		if len(parts) != 6 || !ValidQueueName(parts[5]) {
			return Destination{}, fmt.Errorf("malformed SQS queue ARN")
		}
		return Destination{Kind: DestinationQueue, Name: parts[5], Region: parts[3], Account: parts[4]}, nil
	}
	return Destination{}, fmt.Errorf("Hearth delivers to Lambda functions and SQS queue ARNs (Hearth queues) only, not %s", parts[2])
}

// ValidateDestination checks that arn is a destination Hearth delivers to.
func ValidateDestination(arn string) error {
	_, err := ParseDestination(arn)
	return err
}

// ValidQueueName reports whether s is a queue name: 1 to 80 characters of
// [a-zA-Z0-9_-], as SQS allows (FIFO's .fifo suffix is not supported).
func ValidQueueName(s string) bool {
	if len(s) == 0 || len(s) > 80 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}
