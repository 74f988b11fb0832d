package lambdaapi

// Headers of the Invoke API.
const (
	HeaderInvocationType  = "X-Amz-Invocation-Type"
	HeaderLogType         = "X-Amz-Log-Type"
	HeaderClientContext   = "X-Amz-Client-Context"
	HeaderFunctionError   = "X-Amz-Function-Error"
	HeaderLogResult       = "X-Amz-Log-Result"
	HeaderExecutedVersion = "X-Amz-Executed-Version"
	HeaderRequestID       = "X-Amzn-Requestid"
	// HeaderTraceID is the caller's X-Ray trace header, which the
	// invocation continues.
	HeaderTraceID = "X-Amzn-Trace-Id"
)

// Invocation types.
const (
	InvocationRequestResponse = "RequestResponse"
	InvocationEvent           = "Event"
	InvocationDryRun          = "DryRun"
)

// Payload limits of Invoke, in bytes.
const (
	MaxSyncPayload     = 6 * 1024 * 1024 // 6,291,456
	MaxClientContext   = 3583
	MaxAsyncPayload    = 1024 * 1024
	MaxInvokeAsyncArgs = 256 * 1024
)
