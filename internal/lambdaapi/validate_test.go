package lambdaapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func body(t *testing.T, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

const roleRE = `arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`

// TestValidate checks the fields of every operation Hearth serves against
// the limits of lambda-api.md and the model, with AWS's wording (messages
// marked "recorded" are AWS's own answers).
func TestValidate(t *testing.T) {
	const create = `"FunctionName":"f","Role":"arn:aws:iam::000000000000:role/r","Code":{"ZipFile":"UEs="}`
	labels := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	fn := labels(map[string]string{"FunctionName": "f", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:f"})
	tests := []struct {
		name   string
		op     string
		body   string
		label  func(string) string
		query  url.Values
		header http.Header
		code   string // "" when valid
		msg    string
	}{
		{name: "valid create", op: "CreateFunction", body: `{` + create + `,"Runtime":"python3.12","Handler":"app.h","Timeout":900,"MemorySize":10240}`},
		{"timeout 0", "CreateFunction", `{` + create + `,"Timeout":0}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"timeout 901", "CreateFunction", `{` + create + `,"Timeout":901}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"},
		{"memory 127", "CreateFunction", `{` + create + `,"MemorySize":127}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value '127' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"},
		{"memory 10241", "CreateFunction", `{` + create + `,"MemorySize":10241}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value '10241' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240"},
		{"ephemeral 511", "CreateFunction", `{` + create + `,"EphemeralStorage":{"Size":511}}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value '511' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value greater than or equal to 512"},
		{"ephemeral 10241 on update", "UpdateFunctionConfiguration", `{"EphemeralStorage":{"Size":10241}}`, fn, nil, nil, "ValidationException",
			"1 validation error detected: Value '10241' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value less than or equal to 10240"},
		{"ephemeral without size", "CreateFunction", `{` + create + `,"EphemeralStorage":{}}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value null at 'ephemeralStorage.size' failed to satisfy constraint: Member must not be null"},
		{"description 257", "UpdateFunctionConfiguration", `{"Description":"` + strings.Repeat("d", 257) + `"}`, fn, nil, nil, "ValidationException",
			"1 validation error detected: Value '" + strings.Repeat("d", 257) + "' at 'description' failed to satisfy constraint: Member must have length less than or equal to 256"},
		{"handler with a space", "CreateFunction", `{` + create + `,"Handler":"a b"}`, nil, nil, nil, "ValidationException",
			`1 validation error detected: Value 'a b' at 'handler' failed to satisfy constraint: Member must satisfy regular expression pattern: [^\s]+`},
		{"handler 129", "CreateFunction", `{` + create + `,"Handler":"` + strings.Repeat("h", 129) + `"}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value '" + strings.Repeat("h", 129) + "' at 'handler' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"role r1 (recorded)", "CreateFunction", `{"FunctionName":"f","Role":"r1","Code":{}}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: " + roleRE},
		{"name with colons", "CreateFunction", `{"FunctionName":"invalid:function:name","Role":"arn:aws:iam::000000000000:role/r","Code":{}}`, nil, nil, nil, "ValidationException",
			`1 validation error detected: Value 'invalid:function:name' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`},
		{"name of 141", "CreateFunction", `{"FunctionName":"` + strings.Repeat("a", 141) + `","Role":"arn:aws:iam::000000000000:role/r","Code":{}}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value '" + strings.Repeat("a", 141) + "' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 140"},
		{"missing members in model order", "CreateFunction", `{}`, nil, nil, nil, "ValidationException",
			"3 validation errors detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'role' failed to satisfy constraint: Member must not be null; Value null at 'code' failed to satisfy constraint: Member must not be null"},
		{"two failures in model order", "CreateFunction", `{"Timeout":0,"FunctionName":"f","Role":"r1","Code":{}}`, nil, nil, nil, "ValidationException",
			"2 validation errors detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: " + roleRE +
				"; Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"two architectures (recorded)", "CreateFunction", `{` + create + `,"Architectures":["x86_64","arm64"]}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1"},
		{"upper-case architecture (recorded)", "UpdateFunctionCode", `{"Architectures":["X86_64"]}`, fn, nil, nil, "ValidationException",
			"1 validation error detected: Value '[X86_64]' at 'architectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"},
		{"no architectures", "CreateFunction", `{` + create + `,"Architectures":[]}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value '[]' at 'architectures' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"snapstart (recorded)", "CreateFunction", `{` + create + `,"SnapStart":{"ApplyOn":"invalidOption"}}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value 'invalidOption' at 'snapStart.applyOn' failed to satisfy constraint: Member must satisfy enum value set: [PublishedVersions, None]"},
		{"tracing mode", "UpdateFunctionConfiguration", `{"TracingConfig":{"Mode":"On"}}`, fn, nil, nil, "ValidationException",
			"1 validation error detected: Value 'On' at 'tracingConfig.mode' failed to satisfy constraint: Member must satisfy enum value set: [Active, PassThrough]"},
		{"package type", "CreateFunction", `{` + create + `,"PackageType":"zip"}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value 'zip' at 'packageType' failed to satisfy constraint: Member must satisfy enum value set: [Zip, Image]"},
		{"log format", "CreateFunction", `{` + create + `,"LoggingConfig":{"LogFormat":"XML"}}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value 'XML' at 'loggingConfig.logFormat' failed to satisfy constraint: Member must satisfy enum value set: [JSON, Text]"},
		{"application log level", "CreateFunction", `{` + create + `,"LoggingConfig":{"ApplicationLogLevel":"LOUD"}}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value 'LOUD' at 'loggingConfig.applicationLogLevel' failed to satisfy constraint: Member must satisfy enum value set: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]"},
		{"environment key", "CreateFunction", `{` + create + `,"Environment":{"Variables":{"1A":"x"}}}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"},
		{"dead-letter target", "CreateFunction", `{` + create + `,"DeadLetterConfig":{"TargetArn":"queue"}}`, nil, nil, nil, "ValidationException",
			"1 validation error detected: Value 'queue' at 'deadLetterConfig.targetArn' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()"},
		{"layer arn", "CreateFunction", `{` + create + `,"Layers":["arn:aws:lambda:us-east-1:000000000000:layer:l"]}`, nil, nil, nil, "ValidationException",
			`1 validation error detected: Value '[arn:aws:lambda:us-east-1:000000000000:layer:l]' at 'layers' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 140, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+, Member must not be null]`},
		{"runtime is left to CheckRuntime", "CreateFunction", `{` + create + `,"Runtime":"PYTHON3.9"}`, nil, nil, nil, "", ""},
		{"wrong JSON type", "CreateFunction", `{` + create + `,"Timeout":"3"}`, nil, nil, nil, "InvalidRequestContentException",
			`Could not parse request body into json: Cannot deserialize value of type Integer from String (field "Timeout")`},
		{"fractional integer", "CreateFunction", `{` + create + `,"MemorySize":128.5}`, nil, nil, nil, "InvalidRequestContentException",
			`Could not parse request body into json: Cannot deserialize value of type Integer from Number (field "MemorySize")`},
		{"get with a long name is not a validation error", "GetFunction", "", labels(map[string]string{"FunctionName": strings.Repeat("a", 100)}), nil, nil, "", ""},
		{"get with a name of 257", "GetFunction", "", labels(map[string]string{"FunctionName": strings.Repeat("a", 257)}), nil, nil, "ValidationException",
			"1 validation error detected: Value '" + strings.Repeat("a", 257) + "' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 256"},
		{"qualifier pattern", "GetFunctionConfiguration", "", fn, url.Values{"Qualifier": {"a?b"}}, nil, "ValidationException",
			`1 validation error detected: Value 'a?b' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: \$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+`},
		{"list functions version (recorded)", "ListFunctions", "", nil, url.Values{"FunctionVersion": {"invalid"}}, nil, "ValidationException",
			"1 validation error detected: Value 'invalid' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]"},
		{"list functions max items", "ListFunctions", "", nil, url.Values{"MaxItems": {"0"}}, nil, "ValidationException",
			"1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"event invoke configs max items", "ListFunctionEventInvokeConfigs", "", fn, url.Values{"MaxItems": {"51"}}, nil, "ValidationException",
			"1 validation error detected: Value '51' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 50"},
		{"invocation type", "Invoke", "", fn, nil, http.Header{"X-Amz-Invocation-Type": {"Later"}}, "ValidationException",
			"1 validation error detected: Value 'Later' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"},
		{"log type", "Invoke", "", fn, nil, http.Header{"X-Amz-Log-Type": {"All"}}, "ValidationException",
			"1 validation error detected: Value 'All' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"},
		{"retries 3", "PutFunctionEventInvokeConfig", `{"MaximumRetryAttempts":3}`, fn, nil, nil, "ValidationException",
			"1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2"},
		{"event age 59", "UpdateFunctionEventInvokeConfig", `{"MaximumEventAgeInSeconds":59}`, fn, nil, nil, "ValidationException",
			"1 validation error detected: Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"},
		{"destination pattern", "PutFunctionEventInvokeConfig", `{"DestinationConfig":{"OnFailure":{"Destination":"queue"}}}`, fn, nil, nil, "ValidationException",
			`1 validation error detected: Value 'queue' at 'destinationConfig.onFailure.destination' failed to satisfy constraint: Member must satisfy regular expression pattern: $|kafka://([^.]([a-zA-Z0-9\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)`},
		{"untag without keys (recorded)", "UntagResource", "", fn, url.Values{}, nil, "ValidationException",
			"1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"},
		{"tag without tags", "TagResource", `{}`, fn, nil, nil, "ValidationException",
			"1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null"},
		{"tag value with a comma (recorded)", "TagResource", `{"Tags":{"Creator":"X-XXX123,XXXX-XXXX,9,XXXX,XXXX-XXXX"}}`, fn, nil, nil, "ValidationException",
			`1 validation error detected: Value '{Creator=X-XXX123,XXXX-XXXX,9,XXXX,XXXX-XXXX}' at 'tags' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$]`},
		{"tag value of 257", "CreateFunction", `{` + create + `,"Tags":{"k":"` + strings.Repeat("v", 257) + `"}}`, nil, nil, nil, "ValidationException",
			`1 validation error detected: Value '{k=` + strings.Repeat("v", 257) + `}' at 'tags' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$]`},
		{"tag key with a hash", "TagResource", `{"Tags":{"a#b":"v"}}`, fn, nil, nil, "ValidationException",
			`1 validation error detected: Value '{a#b=v}' at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$]`},
		{"tag key of 129", "TagResource", `{"Tags":{"` + strings.Repeat("k", 129) + `":"v"}}`, fn, nil, nil, "ValidationException",
			`1 validation error detected: Value '{` + strings.Repeat("k", 129) + `=v}' at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$]`},
		{name: "tags in letters, spaces and symbols", op: "TagResource", body: `{"Tags":{"Équipe a:b/c=d+e-f@g_h.i":"Ünïcode 123 :/=+-@_.","empty":""}}`, label: fn},
		{name: "untag a key stored before tags were checked", op: "UntagResource", label: fn, query: url.Values{"tagKeys": {"a#b"}}},
		{"tag resource pattern", "ListTags", "", labels(map[string]string{"Resource": "arn:aws:something"}), nil, nil, "ValidationException",
			`1 validation error detected: Value 'arn:aws:something' at 'resource' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)`},
		{"routing weight 2 (recorded)", "CreateAlias", `{"Name":"a","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":2}}}`, fn, nil, nil, "ValidationException",
			"1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]"},
		{"routing weight -1 (recorded)", "UpdateAlias", `{"RoutingConfig":{"AdditionalVersionWeights":{"2":-1}}}`, labels(map[string]string{"FunctionName": "f", "Name": "a"}), nil, nil, "ValidationException",
			"1 validation error detected: Value '{2=-1.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]"},
		{"routing weight 2e7 (Java's Double.toString)", "CreateAlias", `{"Name":"a","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":20000000}}}`, fn, nil, nil, "ValidationException",
			"1 validation error detected: Value '{2=2.0E7}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]"},
		{"layer runtimes and architectures (recorded)", "PublishLayerVersion", `{"Content":{"ZipFile":"UEs="},"CompatibleRuntimes":["invalidruntime"],"CompatibleArchitectures":["invalidarch"]}`,
			labels(map[string]string{"LayerName": "l"}), nil, nil, "ValidationException",
			"2 validation errors detected: Value '[invalidruntime]' at 'compatibleRuntimes' failed to satisfy constraint: Member must satisfy enum value set: [nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, java25, python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2]; Value '[invalidarch]' at 'compatibleArchitectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"},
		{"layer runtimes partly valid (recorded)", "PublishLayerVersion", `{"Content":{"ZipFile":"UEs="},"CompatibleRuntimes":["invalidruntime","invalidruntime2","nodejs20.x"],"CompatibleArchitectures":["invalidarch","x86_64"]}`,
			labels(map[string]string{"LayerName": "l"}), nil, nil, "ValidationException",
			"2 validation errors detected: Value '[invalidruntime, invalidruntime2, nodejs20.x]' at 'compatibleRuntimes' failed to satisfy constraint: Member must satisfy enum value set: [nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, java25, python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2]; Value '[invalidarch, x86_64]' at 'compatibleArchitectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"},
		{"list layers by an unknown runtime (recorded)", "ListLayers", "", nil, url.Values{"CompatibleRuntime": {"runtimedoesnotexist"}}, nil, "ValidationException",
			"1 validation error detected: Value 'runtimedoesnotexist' at 'compatibleRuntime' failed to satisfy constraint: Member must satisfy enum value set: [ruby3.5, ruby2.6, dotnetcore1.0, python3.7, nodejs8.10, nasa, ruby2.7, python2.7-greengrass, dotnetcore2.0, python3.8, java21, dotnet6, dotnetcore2.1, python3.9, java11, nodejs6.10, provided, dotnetcore3.1, dotnet8, java25, java17, nodejs, nodejs4.3, java8.al2, go1.x, dotnet10, nodejs20.x, go1.9, byol, nodejs10.x, provided.al2023, nodejs22.x, python3.10, java8, nodejs12.x, python3.11, nodejs24.x, nodejs8.x, python3.12, nodejs14.x, nodejs8.9, nodejs26.x, python3.13, python3.14, nodejs16.x, python3.15, provided.al2, nodejs4.3-edge, nodejs18.x, ruby3.2, python3.4, ruby3.3, ruby3.4, ruby2.5, python3.6, python2.7]"},
		{name: "list layers by a runtime the service knows", op: "ListLayers", query: url.Values{"CompatibleRuntime": {"python3.15"}}},
		{name: "layer runtimes valid", op: "PublishLayerVersion", body: `{"Content":{"ZipFile":"UEs="},"CompatibleRuntimes":["python3.12","nodejs20.x"]}`, label: labels(map[string]string{"LayerName": "l"})},
		{"url invoke mode (recorded)", "CreateFunctionUrlConfig", `{"AuthType":"NONE","InvokeMode":"UNKNOWN"}`, fn, nil, nil, "ValidationException",
			"1 validation error detected: Value 'UNKNOWN' at 'invokeMode' failed to satisfy constraint: Member must satisfy enum value set: [RESPONSE_STREAM, BUFFERED]"},
		{"s3 bucket ending in a dot", "UpdateFunctionCode", `{"S3Bucket":"bucket."}`, fn, nil, nil, "ValidationException",
			`1 validation error detected: Value 'bucket.' at 's3Bucket' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9A-Za-z\.\-_]*(?<!\.)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{Label: tt.label, Query: tt.query, Header: tt.header}
			if tt.label == nil {
				req.Label = fn
			}
			if tt.body != "" {
				req.Body = body(t, tt.body)
			}
			err := Validate(tt.op, req)
			switch {
			case tt.code == "" && err != nil:
				t.Errorf("Validate() = %v; want nil", err)
			case tt.code != "" && err == nil:
				t.Errorf("Validate() = nil; want %s %q", tt.code, tt.msg)
			case err != nil && (err.Code != tt.code || err.Message != tt.msg):
				t.Errorf("Validate() = %s %q\nwant          %s %q", err.Code, err.Message, tt.code, tt.msg)
			}
		})
	}
}

func TestCheckRuntime(t *testing.T) {
	enum := "[nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, java25, python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2]"
	tests := []struct{ runtime, msg string }{
		{"python3.12", ""},
		{"provided.al2023", ""},
		{"PYTHON3.9", "Value PYTHON3.9 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: " + enum + " or be a valid ARN"},
		{"non-existent-runtime", "Value non-existent-runtime at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: " + enum + " or be a valid ARN"},
		{"python3.7", "The runtime parameter of python3.7 is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions."},
		{"go1.x", "The runtime parameter of go1.x is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions."},
	}
	for _, tt := range tests {
		err := CheckRuntime(tt.runtime)
		got := ""
		if err != nil {
			got = err.Message
			if err.Code != "InvalidParameterValueException" {
				t.Errorf("CheckRuntime(%s) code = %s; want InvalidParameterValueException", tt.runtime, err.Code)
			}
		}
		if got != tt.msg {
			t.Errorf("CheckRuntime(%s) = %q\nwant %q", tt.runtime, got, tt.msg)
		}
	}
}

// TestModelPatternsCompile checks that every pattern of the table has a Go
// equivalent (gen_model.py's OVERRIDES give one where RE2 differs).
func TestModelPatternsCompile(t *testing.T) {
	for name, s := range modelShapes {
		if s.pattern == "" {
			continue
		}
		p := s.pattern
		if s.re2 != "" {
			p = s.re2
		}
		if _, err := regexp.Compile("^(?:" + p + ")$"); err != nil {
			t.Errorf("shape %s: pattern %q does not compile: %v", name, p, err)
		}
	}
}

func TestUnknownOperationBody(t *testing.T) {
	b, err := json.Marshal(ErrUnknownOperation.WithMessage("m"))
	if err != nil || !bytes.Contains(b, []byte(`"__type":"UnknownOperationException"`)) {
		t.Errorf("body = %s, %v; want __type", b, err)
	}
	b, _ = json.Marshal(ErrNotFound.WithMessage("m"))
	if bytes.Contains(b, []byte("__type")) {
		t.Errorf("ResourceNotFoundException body = %s; want no __type (AWS sends none)", b)
	}
}

// BenchmarkValidateInvoke measures what the model check adds to every
// Invoke.
func BenchmarkValidateInvoke(b *testing.B) {
	req := Request{
		Label:  func(string) string { return "arn:aws:lambda:us-east-1:000000000000:function:my-function" },
		Query:  url.Values{"Qualifier": {"$LATEST"}},
		Header: http.Header{"X-Amz-Invocation-Type": {"RequestResponse"}, "X-Amz-Log-Type": {"Tail"}},
	}
	for b.Loop() {
		if err := Validate("Invoke", req); err != nil {
			b.Fatal(err)
		}
	}
}

// TestValidateRepeatedInvoke checks that validating the same Invoke again
// (every invocation of a function) neither rebuilds its messages' paths
// nor runs the ARN pattern's backtracking match again, and that a value
// that does not match is still refused after one that did.
func TestValidateRepeatedInvoke(t *testing.T) {
	name := "my-function"
	req := Request{
		Label:  func(string) string { return name },
		Query:  url.Values{"Qualifier": {"$LATEST"}},
		Header: http.Header{"X-Amz-Invocation-Type": {"RequestResponse"}},
	}
	if err := Validate("Invoke", req); err != nil {
		t.Fatalf("Validate(%q) = %v", name, err)
	}
	if got := testing.AllocsPerRun(100, func() { Validate("Invoke", req) }); got > 8 {
		t.Errorf("validating the same Invoke again allocates %v times; want at most 8", got)
	}
	name = "my function!"
	err := Validate("Invoke", req)
	if err == nil || !strings.Contains(err.Error(), "Value 'my function!' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern") {
		t.Errorf("Validate(%q) = %v; want the pattern failure at 'functionName'", name, err)
	}
	name = "my-function"
	if err := Validate("Invoke", req); err != nil {
		t.Errorf("Validate(%q) after a failure = %v", name, err)
	}
}
