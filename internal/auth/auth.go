// Package auth authenticates requests to Hearth's APIs with AWS Signature
// Version 4 and keeps the accounts and access keys they are signed with.
//
// There are three kinds of credentials:
//
//   - long-term access keys (AKIA...), stored durably (Keys); a root key
//     may also manage accounts and keys;
//   - temporary credentials (ASIA... with a session token) that Hearth
//     issues to each execution environment for the lifetime of that
//     environment (Sessions); they act for the function's account;
//   - nothing, under --auth none, where every request acts as the default
//     account's root.
//
// Signatures are recomputed with aws-sdk-go-v2's own signer, never with a
// signer of Hearth's, and compared in constant time.
package auth

import (
	"context"
	"net/http"
)

// Caller is who signed a request.
type Caller struct {
	Account string // 12-digit account id
	ARN     string // arn:aws:iam::ACCOUNT:root, ...:user/NAME, or arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
	UserID  string // as STS GetCallerIdentity answers it
	Root    bool   // may manage accounts and keys
	KeyID   string // the access key id the request was signed with; "" under --auth none
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerOf returns the caller ctx carries, or nil.
func CallerOf(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// Error is an authentication failure, with the code and message AWS's
// front end answers (lambda-api.md §C.3). Messages never carry a secret.
type Error struct {
	Status  int
	Code    string // for the rest-json APIs (Lambda)
	STSCode string // the query protocol's code for the same failure
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// The failures, by kind.
var (
	errMissing = &Error{Status: http.StatusForbidden, Code: "MissingAuthenticationTokenException", STSCode: "MissingAuthenticationToken",
		Message: "Missing Authentication Token"}
	errUnknownKey = &Error{Status: http.StatusForbidden, Code: "UnrecognizedClientException", STSCode: "InvalidClientTokenId",
		Message: "The security token included in the request is invalid."}
	errSignature = &Error{Status: http.StatusForbidden, Code: "InvalidSignatureException", STSCode: "SignatureDoesNotMatch",
		Message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
)

func incomplete(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "IncompleteSignatureException", STSCode: "IncompleteSignature", Message: msg}
}

func invalidSignature(msg string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "InvalidSignatureException", STSCode: "SignatureDoesNotMatch", Message: msg}
}

// Forbidden is the failure of an authenticated caller that may not do
// what it asked.
func Forbidden(msg string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "AccessDeniedException", STSCode: "AccessDenied", Message: msg}
}
