package lambdaapi

import "strings"

// runtimeEnum is the enum value set AWS's CreateFunction quotes when it
// refuses a Runtime, in AWS's order (recorded from AWS's answers). It is
// not the model's enum: the model still lists retired runtimes.
var runtimeEnum = []string{
	"nodejs20.x", "python3.14", "provided.al2023", "python3.12", "python3.13", "nodejs24.x", "nodejs22.x", "java25",
	"python3.10", "python3.11", "java21", "ruby3.3", "ruby3.4", "ruby3.2", "python3.8", "python3.9", "java17",
	"nodejs16.x", "dotnet10", "dotnet8", "java11", "dotnet6", "nodejs18.x", "provided.al2", "java8.al2",
}

// layerRuntimeFilter is the set AWS checks the CompatibleRuntime filter
// of ListLayers against, in AWS's order (recorded: TestLambdaLayer::
// test_layer_exceptions, list_layers_exc_compatibleruntime_invalid). It
// is the service's own list, longer than the model's enum.
var layerRuntimeFilter = []string{
	"ruby3.5", "ruby2.6", "dotnetcore1.0", "python3.7", "nodejs8.10", "nasa", "ruby2.7", "python2.7-greengrass", "dotnetcore2.0",
	"python3.8", "java21", "dotnet6", "dotnetcore2.1", "python3.9", "java11", "nodejs6.10", "provided", "dotnetcore3.1", "dotnet8",
	"java25", "java17", "nodejs", "nodejs4.3", "java8.al2", "go1.x", "dotnet10", "nodejs20.x", "go1.9", "byol", "nodejs10.x",
	"provided.al2023", "nodejs22.x", "python3.10", "java8", "nodejs12.x", "python3.11", "nodejs24.x", "nodejs8.x", "python3.12",
	"nodejs14.x", "nodejs8.9", "nodejs26.x", "python3.13", "python3.14", "nodejs16.x", "python3.15", "provided.al2",
	"nodejs4.3-edge", "nodejs18.x", "ruby3.2", "python3.4", "ruby3.3", "ruby3.4", "ruby2.5", "python3.6", "python2.7",
}

// CheckRuntime answers a Runtime parameter as AWS does, outside the model
// validation. A runtime the model lists but AWS no longer accepts (java8,
// go1.x, provided, python3.7, ...) gets the deprecation message; any
// other value outside AWS's set, a wrong case included, is an
// InvalidParameterValueException worded like a validation failure but
// without the "1 validation error detected: " prefix and without quotes
// around the value: surprising, but that is AWS's text. Nil means AWS
// accepts rt; whether this host runs it is the caller's question.
func CheckRuntime(rt string) *Error {
	if contains(runtimeEnum, rt) {
		return nil
	}
	if contains(RuntimeEnum(), rt) {
		return ErrInvalidParameter.WithMessage("The runtime parameter of " + rt + " is no longer supported for creating or updating AWS Lambda functions. " +
			"We recommend you use a supported runtime while creating or updating functions.")
	}
	return ErrInvalidParameter.WithMessage("Value " + rt + " at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [" +
		strings.Join(runtimeEnum, ", ") + "] or be a valid ARN")
}
