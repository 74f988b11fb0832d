package function

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Limits and defaults Lambda documents for a function's configuration.
const (
	DefaultTimeout    = 3
	MinTimeout        = 1
	MaxTimeout        = 900
	DefaultMemory     = 128
	MinMemory         = 128
	MaxMemory         = 10240
	DefaultEphemeral  = 512
	MinEphemeral      = 512
	MaxEphemeral      = 10240
	MaxDescription    = 256
	MaxHandler        = 128
	MaxEnvironmentLen = 4096
	MaxTags           = 50
	MaxTagKeyLen      = 128
	MaxTagValueLen    = 256
)

// States of a function version (Lambda's State field).
const (
	StatePending  = "Pending"
	StateActive   = "Active"
	StateInactive = "Inactive"
	StateFailed   = "Failed"
)

// Values of LastUpdateStatus.
const (
	UpdateInProgress = "InProgress"
	UpdateSuccessful = "Successful"
	UpdateFailed     = "Failed"
)

// Config is the configuration of one function version as Hearth stores it.
// The zero value is not valid; build one and call Validate.
type Config struct {
	// Account is the 12-digit id of the account that owns the function;
	// with Name it identifies the function.
	Account     string `json:"account"`
	Name        string `json:"name"`
	Version     string `json:"version"` // Latest or "N"
	Runtime     string `json:"runtime"`
	Handler     string `json:"handler"`
	Role        string `json:"role"`
	Description string `json:"description,omitempty"`
	Timeout     int    `json:"timeout"`     // seconds
	MemorySize  int    `json:"memory_size"` // MB
	Ephemeral   int    `json:"ephemeral"`   // MB of /tmp
	// Environment is nil when none was given, and empty (not nil) when an
	// Environment without variables was: AWS then shows {"Variables": {}}.
	Environment map[string]string `json:"environment"`
	// EnvironmentOrder is the order the request gave the variables in,
	// for the size message (not stored).
	EnvironmentOrder []string          `json:"-"`
	Arch             string            `json:"arch"` // x86_64 or arm64
	TracingMode      string            `json:"tracing_mode,omitempty"`
	LogFormat        string            `json:"log_format,omitempty"` // Text or JSON
	Tags             map[string]string `json:"tags,omitempty"`
	// DeadLetterTarget receives asynchronous events that failed
	// (DeadLetterConfig.TargetArn).
	DeadLetterTarget string `json:"dead_letter_target,omitempty"`
	// EventInvoke is the asynchronous invocation configuration, nil when
	// none was put. Changing it changes no RevisionId.
	EventInvoke *EventInvokeConfig `json:"event_invoke,omitempty"`
	// ReservedConcurrency is the function's reserved concurrency, nil
	// when none is reserved. Changing it changes no RevisionId.
	ReservedConcurrency *int `json:"reserved_concurrency,omitempty"`
	// Provisioned is a published version's own provisioned concurrency,
	// nil when none was put (never on $LATEST).
	Provisioned *Provisioned `json:"provisioned,omitempty"`

	// ApplicationLogLevel and SystemLogLevel are LoggingConfig's levels as
	// the caller set them; empty when unset. Only JSON allows them; see
	// LogLevels for the levels in force.
	ApplicationLogLevel string `json:"application_log_level,omitempty"`
	SystemLogLevel      string `json:"system_log_level,omitempty"`
	// LogGroup is LoggingConfig.LogGroup as the caller set it; empty for
	// Lambda's default, /aws/lambda/NAME (see LogGroupName).
	LogGroup string `json:"log_group,omitempty"`

	// CodeSha256 is the base64 SHA-256 of the deployment package, also the
	// key of the zip in the code store.
	CodeSha256 string `json:"code_sha256"`
	CodeSize   int64  `json:"code_size"` // bytes of the zip
	// CodeUnzipped is the package's size unpacked (0 if stored before
	// Hearth recorded it), counted with the layers' against MaxUnzipped.
	CodeUnzipped int64 `json:"code_unzipped,omitempty"`
	// Layers are the function's layer versions in order: later ones
	// overwrite earlier ones' files in /opt.
	Layers []LayerRef `json:"layers,omitempty"`

	RevisionID   string    `json:"revision_id"`
	LastModified time.Time `json:"last_modified"`

	// LastVersion is, on $LATEST, the highest version number published
	// so far; numbers are never reused.
	LastVersion int `json:"last_version,omitempty"`
	// PublishedFrom is, on a published version, the RevisionId $LATEST
	// had when it was published: publishing it again publishes nothing.
	PublishedFrom string `json:"published_from,omitempty"`

	State                      string `json:"state"`
	StateReason                string `json:"state_reason,omitempty"`
	StateReasonCode            string `json:"state_reason_code,omitempty"`
	LastUpdateStatus           string `json:"last_update_status"`
	LastUpdateStatusReason     string `json:"last_update_status_reason,omitempty"`
	LastUpdateStatusReasonCode string `json:"last_update_status_reason_code,omitempty"`
}

// WithDefaults fills the fields Lambda defaults when a caller omits them.
func (c Config) WithDefaults() Config {
	if c.Version == "" {
		c.Version = Latest
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MemorySize == 0 {
		c.MemorySize = DefaultMemory
	}
	if c.Ephemeral == 0 {
		c.Ephemeral = DefaultEphemeral
	}
	if c.Arch == "" {
		c.Arch = "x86_64"
	}
	if c.TracingMode == "" {
		c.TracingMode = "PassThrough"
	}
	if c.LogFormat == "" {
		c.LogFormat = "Text"
	}
	return c
}

// TimeoutDuration is Timeout as a duration.
func (c *Config) TimeoutDuration() time.Duration { return time.Duration(c.Timeout) * time.Second }

// Invocable reports whether the version can take invocations now.
func (c *Config) Invocable() bool {
	return c.State == StateActive || c.State == StateInactive
}

// ErrInvalidConfig matches, with errors.Is, every error Validate returns.
var ErrInvalidConfig = errors.New("invalid function configuration")

// InvalidError lists the problems Validate found, worded as Lambda's
// InvalidParameterValueException messages.
type InvalidError struct {
	Problems []string
}

func (e *InvalidError) Error() string { return strings.Join(e.Problems, "; ") }

// Is makes errors.Is(err, ErrInvalidConfig) hold.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalidConfig }

var (
	roleRE   = regexp.MustCompile(`^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$`)
	envKeyRE = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9_])+$`)
)

// ReservedEnv lists the environment variables Lambda sets itself and
// refuses in a function's configuration.
var ReservedEnv = []string{
	"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
	"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
	"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
	"AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL", "AWS_LAMBDA_MAX_CONCURRENCY",
}

// Validate reports every problem with c, each naming the parameter the way
// Lambda's error messages do. The runtime identifier is checked by the
// runtime catalogue, not here.
func (c *Config) Validate() error {
	var errs []string
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	if !ValidName(c.Name) {
		bad("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]{1,64}", c.Name)
	}
	if !roleRE.MatchString(c.Role) {
		bad("1 validation error detected: Value '%s' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+", c.Role)
	}
	if c.Handler == "" || len(c.Handler) > MaxHandler || strings.ContainsAny(c.Handler, " \t\r\n") {
		bad("1 validation error detected: Value '%s' at 'handler' failed to satisfy constraint: Member must satisfy regular expression pattern: [^\\s]+ and have length between 1 and %d", c.Handler, MaxHandler)
	}
	if c.Timeout < MinTimeout || c.Timeout > MaxTimeout {
		bad("1 validation error detected: Value '%d' at 'timeout' failed to satisfy constraint: Member must have value between %d and %d", c.Timeout, MinTimeout, MaxTimeout)
	}
	if c.MemorySize < MinMemory || c.MemorySize > MaxMemory {
		bad("1 validation error detected: Value '%d' at 'memorySize' failed to satisfy constraint: Member must have value between %d and %d", c.MemorySize, MinMemory, MaxMemory)
	}
	if c.Ephemeral < MinEphemeral || c.Ephemeral > MaxEphemeral {
		bad("1 validation error detected: Value '%d' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value between %d and %d", c.Ephemeral, MinEphemeral, MaxEphemeral)
	}
	if len(c.Description) > MaxDescription {
		bad("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to %d", MaxDescription)
	}
	if c.Arch != "x86_64" && c.Arch != "arm64" {
		bad("1 validation error detected: Value '[%s]' at 'architectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]", c.Arch)
	}
	if c.TracingMode != "PassThrough" && c.TracingMode != "Active" {
		bad("1 validation error detected: Value '%s' at 'tracingConfig.mode' failed to satisfy constraint: Member must satisfy enum value set: [Active, PassThrough]", c.TracingMode)
	}
	if c.LogFormat != "Text" && c.LogFormat != "JSON" {
		bad("1 validation error detected: Value '%s' at 'loggingConfig.logFormat' failed to satisfy constraint: Member must satisfy enum value set: [JSON, Text]", c.LogFormat)
	}
	errs = append(errs, validateLogLevels(c)...)
	if c.DeadLetterTarget != "" {
		if d, err := ParseDestination(c.DeadLetterTarget); err != nil || d.Kind != DestinationQueue {
			bad("The provided target ARN %s for the dead-letter queue is not supported: Hearth accepts SQS queue ARNs (Hearth queues)", c.DeadLetterTarget)
		}
	}
	if err := validateEnvironment(c.Environment, c.EnvironmentOrder); err != nil {
		errs = append(errs, err.Error())
	}
	if err := ValidateTags(c.Tags); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) == 0 {
		return nil
	}
	return &InvalidError{Problems: errs}
}

// ValidateTags checks a function's tags against Lambda's limits: at most
// 50, keys of 1 to 128 characters, values of at most 256.
func ValidateTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return &InvalidError{Problems: []string{"Number of tags exceeds resource tag limit."}}
	}
	for k, v := range tags {
		if len(k) == 0 || len(k) > MaxTagKeyLen || len(v) > MaxTagValueLen {
			return &InvalidError{Problems: []string{fmt.Sprintf("Tag keys must be 1 to %d characters and values at most %d.", MaxTagKeyLen, MaxTagValueLen)}}
		}
	}
	return nil
}

// validateEnvironment checks the variables' names, that none is reserved,
// and their size, which Lambda measures on the compact JSON of the map and
// quotes in its message. (AWS keeps the request's key order in that
// string; Hearth's maps have none, so the keys are sorted.)
func validateEnvironment(env map[string]string, order []string) error {
	var reserved []string
	for k := range env {
		if !envKeyRE.MatchString(k) {
			return fmt.Errorf("1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]")
		}
		if slices.Contains(ReservedEnv, k) {
			reserved = append(reserved, k)
		}
	}
	if len(reserved) > 0 {
		slices.Sort(reserved)
		return fmt.Errorf("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", strings.Join(reserved, ", "))
	}
	return CheckEnvironmentSize(env, order)
}

// CheckEnvironmentSize checks the 4 KB limit on a function's variables,
// which Lambda measures on the compact JSON of the Variables map, keys in
// the order the request gave them (order; sorted when it is nil), and
// quotes that string in its message.
func CheckEnvironmentSize(env map[string]string, order []string) error {
	if measured := environmentJSON(env, order); len(measured) > MaxEnvironmentLen {
		return &InvalidError{Problems: []string{"Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: " + string(measured)}}
	}
	return nil
}

// Log levels of LoggingConfig (LogFormat JSON only).
var (
	ApplicationLogLevels = []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
	SystemLogLevels      = []string{"DEBUG", "INFO", "WARN"}
)

// LogGroupName is the log group the function's logs belong to: the one
// configured, else Lambda's /aws/lambda/NAME.
func (c *Config) LogGroupName() string {
	if c.LogGroup != "" {
		return c.LogGroup
	}
	return "/aws/lambda/" + c.Name
}

// LogLevels returns the application and system log levels in force: with
// LogFormat JSON the configured ones, INFO when unset (what Lambda reports);
// with Text none.
func (c *Config) LogLevels() (application, system string) {
	if c.LogFormat != "JSON" {
		return "", ""
	}
	application, system = c.ApplicationLogLevel, c.SystemLogLevel
	if application == "" {
		application = "INFO"
	}
	if system == "" {
		system = "INFO"
	}
	return application, system
}

func validateLogLevels(c *Config) []string {
	var errs []string
	if c.ApplicationLogLevel != "" && !slices.Contains(ApplicationLogLevels, c.ApplicationLogLevel) {
		errs = append(errs, fmt.Sprintf("1 validation error detected: Value '%s' at 'loggingConfig.applicationLogLevel' failed to satisfy constraint: Member must satisfy enum value set: [%s]", c.ApplicationLogLevel, strings.Join(ApplicationLogLevels, ", ")))
	}
	if c.SystemLogLevel != "" && !slices.Contains(SystemLogLevels, c.SystemLogLevel) {
		errs = append(errs, fmt.Sprintf("1 validation error detected: Value '%s' at 'loggingConfig.systemLogLevel' failed to satisfy constraint: Member must satisfy enum value set: [%s]", c.SystemLogLevel, strings.Join(SystemLogLevels, ", ")))
	}
	if c.LogFormat == "Text" && (c.ApplicationLogLevel != "" || c.SystemLogLevel != "") {
		errs = append(errs, `LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your request or change the LogFormat to "Json" and try again.`)
	}
	return errs
}

func environmentJSON(env map[string]string, order []string) []byte {
	keys := order
	if len(keys) != len(env) {
		keys = make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		slices.Sort(keys)
	}
	var buf bytes.Buffer
	str := func(s string) {
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		buf.Truncate(buf.Len() - 1) // Encode's newline
	}
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		str(k)
		buf.WriteByte(':')
		str(env[k])
	}
	buf.WriteByte('}')
	return buf.Bytes()
}
