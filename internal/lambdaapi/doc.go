// Package lambdaapi holds AWS Lambda's wire formats: the JSON shapes of the
// management API's requests and responses, Lambda's timestamp encodings and
// the table of AWS error codes with their HTTP statuses. It imports nothing
// from the project; package api converts between these shapes and Hearth's
// domain values.
package lambdaapi
