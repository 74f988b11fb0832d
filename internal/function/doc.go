// Package function holds Hearth's domain values for Lambda functions: names,
// qualifiers and ARNs, a function version's configuration, and the rules
// that configuration must satisfy. It imports nothing from the project, so
// every layer can share it; wire formats live in lambdaapi.
package function
