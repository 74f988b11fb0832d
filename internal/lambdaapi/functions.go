package lambdaapi

import (
	"strconv"
	"time"
)

// TimeFormat is how Lambda prints string-typed timestamps such as
// FunctionConfiguration.LastModified: milliseconds and "+0000".
const TimeFormat = "2006-01-02T15:04:05.000-0700"

// FormatTime prints t in TimeFormat, in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// FunctionCode is the Code member of CreateFunction.
type FunctionCode struct {
	ZipFile         []byte  `json:"ZipFile,omitempty"` // base64 in JSON
	S3Bucket        *string `json:"S3Bucket,omitempty"`
	S3Key           *string `json:"S3Key,omitempty"`
	S3ObjectVersion *string `json:"S3ObjectVersion,omitempty"`
	ImageUri        *string `json:"ImageUri,omitempty"`
}

// Environment is the Environment member of requests.
type Environment struct {
	Variables map[string]string `json:"Variables"`
}

// EphemeralStorage is the EphemeralStorage member.
type EphemeralStorage struct {
	Size *int `json:"Size"`
}

// TracingConfig is the TracingConfig member.
type TracingConfig struct {
	Mode *string `json:"Mode"`
}

// LoggingConfig is the LoggingConfig member.
type LoggingConfig struct {
	LogFormat           *string `json:"LogFormat,omitempty"`
	ApplicationLogLevel *string `json:"ApplicationLogLevel,omitempty"`
	SystemLogLevel      *string `json:"SystemLogLevel,omitempty"`
	LogGroup            *string `json:"LogGroup,omitempty"`
}

// CreateFunctionInput is the body of CreateFunction. Pointers tell an
// omitted member from a zero one.
type CreateFunctionInput struct {
	FunctionName         *string           `json:"FunctionName"`
	Runtime              *string           `json:"Runtime"`
	Role                 *string           `json:"Role"`
	Handler              *string           `json:"Handler"`
	Code                 *FunctionCode     `json:"Code"`
	Description          *string           `json:"Description"`
	Timeout              *int              `json:"Timeout"`
	MemorySize           *int              `json:"MemorySize"`
	Publish              bool              `json:"Publish"`
	PackageType          *string           `json:"PackageType"`
	Environment          *Environment      `json:"Environment"`
	TracingConfig        *TracingConfig    `json:"TracingConfig"`
	Tags                 map[string]string `json:"Tags"`
	Layers               []string          `json:"Layers"`
	Architectures        []string          `json:"Architectures"`
	EphemeralStorage     *EphemeralStorage `json:"EphemeralStorage"`
	LoggingConfig        *LoggingConfig    `json:"LoggingConfig"`
	KMSKeyArn            *string           `json:"KMSKeyArn"`
	VpcConfig            *VpcConfig        `json:"VpcConfig"`
	DeadLetterConfig     *DeadLetterConfig `json:"DeadLetterConfig"`
	FileSystemConfigs    []any             `json:"FileSystemConfigs"`
	ImageConfig          any               `json:"ImageConfig"`
	SnapStart            *SnapStart        `json:"SnapStart"`
	CodeSigningConfigArn *string           `json:"CodeSigningConfigArn"`
}

// UpdateFunctionCodeInput is the body of UpdateFunctionCode.
type UpdateFunctionCodeInput struct {
	ZipFile         []byte   `json:"ZipFile"`
	S3Bucket        *string  `json:"S3Bucket"`
	S3Key           *string  `json:"S3Key"`
	S3ObjectVersion *string  `json:"S3ObjectVersion"`
	ImageUri        *string  `json:"ImageUri"`
	Architectures   []string `json:"Architectures"`
	Publish         bool     `json:"Publish"`
	DryRun          bool     `json:"DryRun"`
	RevisionId      *string  `json:"RevisionId"`
}

// UpdateFunctionConfigurationInput is the body of
// UpdateFunctionConfiguration. Only members present change.
type UpdateFunctionConfigurationInput struct {
	Role              *string           `json:"Role"`
	Handler           *string           `json:"Handler"`
	Description       *string           `json:"Description"`
	Timeout           *int              `json:"Timeout"`
	MemorySize        *int              `json:"MemorySize"`
	Environment       *Environment      `json:"Environment"`
	Runtime           *string           `json:"Runtime"`
	TracingConfig     *TracingConfig    `json:"TracingConfig"`
	RevisionId        *string           `json:"RevisionId"`
	Layers            []string          `json:"Layers"`
	EphemeralStorage  *EphemeralStorage `json:"EphemeralStorage"`
	LoggingConfig     *LoggingConfig    `json:"LoggingConfig"`
	KMSKeyArn         *string           `json:"KMSKeyArn"`
	VpcConfig         *VpcConfig        `json:"VpcConfig"`
	DeadLetterConfig  *DeadLetterConfig `json:"DeadLetterConfig"`
	FileSystemConfigs []any             `json:"FileSystemConfigs"`
	ImageConfig       any               `json:"ImageConfig"`
	SnapStart         *SnapStart        `json:"SnapStart"`
}

// VpcConfig is accepted and echoed empty; Hearth has no VPCs.
type VpcConfig struct {
	SubnetIds        []string `json:"SubnetIds"`
	SecurityGroupIds []string `json:"SecurityGroupIds"`
	VpcId            string   `json:"VpcId,omitempty"`
}

// DeadLetterConfig is the DeadLetterConfig member.
type DeadLetterConfig struct {
	TargetArn *string `json:"TargetArn,omitempty"`
}

// SnapStart is the SnapStart member.
type SnapStart struct {
	ApplyOn            string `json:"ApplyOn,omitempty"`
	OptimizationStatus string `json:"OptimizationStatus,omitempty"`
}

// EnvironmentResponse is FunctionConfiguration.Environment.
type EnvironmentResponse struct {
	Variables map[string]string `json:"Variables"`
}

// EphemeralStorageResponse is FunctionConfiguration.EphemeralStorage.
type EphemeralStorageResponse struct {
	Size int `json:"Size"`
}

// TracingConfigResponse is FunctionConfiguration.TracingConfig.
type TracingConfigResponse struct {
	Mode string `json:"Mode"`
}

// LoggingConfigResponse is FunctionConfiguration.LoggingConfig.
type LoggingConfigResponse struct {
	LogFormat string `json:"LogFormat"`
	LogGroup  string `json:"LogGroup"`
	// The levels are present with LogFormat JSON only.
	ApplicationLogLevel string `json:"ApplicationLogLevel,omitempty"`
	SystemLogLevel      string `json:"SystemLogLevel,omitempty"`
}

// FunctionConfiguration is Lambda's description of a function version.
type FunctionConfiguration struct {
	FunctionName               string                   `json:"FunctionName"`
	FunctionArn                string                   `json:"FunctionArn"`
	Runtime                    string                   `json:"Runtime,omitempty"`
	Role                       string                   `json:"Role"`
	Handler                    string                   `json:"Handler,omitempty"`
	CodeSize                   int64                    `json:"CodeSize"`
	Description                string                   `json:"Description"`
	Timeout                    int                      `json:"Timeout"`
	MemorySize                 int                      `json:"MemorySize"`
	LastModified               string                   `json:"LastModified"`
	CodeSha256                 string                   `json:"CodeSha256"`
	Version                    string                   `json:"Version"`
	Environment                *EnvironmentResponse     `json:"Environment,omitempty"`
	DeadLetterConfig           *DeadLetterConfig        `json:"DeadLetterConfig,omitempty"`
	Layers                     []Layer                  `json:"Layers,omitempty"`
	TracingConfig              TracingConfigResponse    `json:"TracingConfig"`
	RevisionId                 string                   `json:"RevisionId"`
	State                      string                   `json:"State,omitempty"`
	StateReason                string                   `json:"StateReason,omitempty"`
	StateReasonCode            string                   `json:"StateReasonCode,omitempty"`
	LastUpdateStatus           string                   `json:"LastUpdateStatus,omitempty"`
	LastUpdateStatusReason     string                   `json:"LastUpdateStatusReason,omitempty"`
	LastUpdateStatusReasonCode string                   `json:"LastUpdateStatusReasonCode,omitempty"`
	PackageType                string                   `json:"PackageType"`
	Architectures              []string                 `json:"Architectures"`
	EphemeralStorage           EphemeralStorageResponse `json:"EphemeralStorage"`
	SnapStart                  SnapStart                `json:"SnapStart"`
	LoggingConfig              LoggingConfigResponse    `json:"LoggingConfig"`
	RuntimeVersionConfig       *RuntimeVersionConfig    `json:"RuntimeVersionConfig,omitempty"`
}

// RuntimeVersionConfig is FunctionConfiguration.RuntimeVersionConfig.
type RuntimeVersionConfig struct {
	RuntimeVersionArn string `json:"RuntimeVersionArn"`
}

// FunctionCodeLocation is GetFunction's Code member.
type FunctionCodeLocation struct {
	RepositoryType string `json:"RepositoryType"`
	Location       string `json:"Location"`
}

// GetFunctionOutput is GetFunction's response.
type GetFunctionOutput struct {
	Configuration FunctionConfiguration `json:"Configuration"`
	Code          FunctionCodeLocation  `json:"Code"`
	Tags          map[string]string     `json:"Tags,omitempty"`
	Concurrency   *Concurrency          `json:"Concurrency,omitempty"`
}

// ListFunctionsOutput is ListFunctions' response.
type ListFunctionsOutput struct {
	Functions  []FunctionConfiguration `json:"Functions"`
	NextMarker string                  `json:"NextMarker,omitempty"`
}

// AccountLimit is GetAccountSettings' AccountLimit.
type AccountLimit struct {
	CodeSizeUnzipped               int64 `json:"CodeSizeUnzipped"`
	CodeSizeZipped                 int64 `json:"CodeSizeZipped"`
	ConcurrentExecutions           int   `json:"ConcurrentExecutions"`
	TotalCodeSize                  int64 `json:"TotalCodeSize"`
	UnreservedConcurrentExecutions int   `json:"UnreservedConcurrentExecutions"`
}

// AccountUsage is GetAccountSettings' AccountUsage.
type AccountUsage struct {
	FunctionCount int   `json:"FunctionCount"`
	TotalCodeSize int64 `json:"TotalCodeSize"`
}

// GetAccountSettingsOutput is GetAccountSettings' response.
type GetAccountSettingsOutput struct {
	AccountLimit AccountLimit `json:"AccountLimit"`
	AccountUsage AccountUsage `json:"AccountUsage"`
}

// OnDestination is one side of a DestinationConfig; Destination is absent
// when that side is not set (the service answers {}).
type OnDestination struct {
	Destination *string `json:"Destination,omitempty"`
}

// DestinationConfig is an event invoke config's destinations.
type DestinationConfig struct {
	OnSuccess *OnDestination `json:"OnSuccess,omitempty"`
	OnFailure *OnDestination `json:"OnFailure,omitempty"`
}

// EventInvokeConfigInput is the body of Put/UpdateFunctionEventInvokeConfig.
type EventInvokeConfigInput struct {
	MaximumRetryAttempts     *int               `json:"MaximumRetryAttempts"`
	MaximumEventAgeInSeconds *int               `json:"MaximumEventAgeInSeconds"`
	DestinationConfig        *DestinationConfig `json:"DestinationConfig"`
}

// FunctionEventInvokeConfig is the event invoke config as returned.
// LastModified is a JSON number of epoch seconds (a Date shape).
type FunctionEventInvokeConfig struct {
	LastModified             EpochSeconds      `json:"LastModified"`
	FunctionArn              string            `json:"FunctionArn"`
	MaximumRetryAttempts     *int              `json:"MaximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int              `json:"MaximumEventAgeInSeconds,omitempty"`
	DestinationConfig        DestinationConfig `json:"DestinationConfig"`
}

// ListFunctionEventInvokeConfigsOutput is that operation's response.
type ListFunctionEventInvokeConfigsOutput struct {
	FunctionEventInvokeConfigs []FunctionEventInvokeConfig `json:"FunctionEventInvokeConfigs"`
	NextMarker                 string                      `json:"NextMarker,omitempty"`
}

// EpochSeconds encodes a time as a JSON number of seconds since the epoch
// with millisecond fraction, as Lambda's Date-shaped members are
// (aws-sdk-go-v2 rejects a string there).
type EpochSeconds time.Time

// MarshalJSON implements json.Marshaler.
func (e EpochSeconds) MarshalJSON() ([]byte, error) {
	ms := time.Time(e).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)), nil
}
