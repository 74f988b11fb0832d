package lambdaapi

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error is an AWS-style API error. Code travels in the X-Amzn-ErrorType
// header and the body is a JSON object with Type and the message.
type Error struct {
	Status  int
	Code    string
	Type    string // "User" for 4xx, "Service" for 5xx
	Message string
	// Reason is set for TooManyRequestsException.
	Reason string
	// RetryAfter, in seconds, is sent as Retry-After when positive.
	RetryAfter int
	// BodyType also names Code in the body's __type member, where clients
	// of AWS's JSON protocols look for it (rest-json clients read the
	// X-Amzn-ErrorType header).
	BodyType bool
	// Bare sends the body {"Message":null}, as AWS's front end does for
	// AccessDeniedException.
	Bare bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// WithMessage returns a copy of e that carries msg.
func (e *Error) WithMessage(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

// MarshalJSON writes the body. The model spells the message member
// "message" for some exceptions and "Message" for others, and
// aws-sdk-go-v2's typed decoders match it case-sensitively, so the body
// carries both with the same text.
func (e *Error) MarshalJSON() ([]byte, error) {
	if e.Bare {
		return []byte(`{"Message":null}`), nil
	}
	body := struct {
		BodyType     string `json:"__type,omitempty"`
		Type         string `json:"Type"`
		Message      string `json:"message"`
		MessageUpper string `json:"Message"`
		Reason       string `json:"Reason,omitempty"`
	}{"", e.Type, e.Message, e.Message, e.Reason}
	if e.BodyType {
		body.BodyType = e.Code
	}
	return json.Marshal(body)
}

// Write sends e as an HTTP response with the given request id.
func (e *Error) Write(w http.ResponseWriter, requestID string) {
	b, _ := json.Marshal(e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-Errortype", e.Code)
	h.Set("X-Amzn-Requestid", requestID)
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	w.Write(b)
}

func userError(status int, code string) *Error {
	return &Error{Status: status, Code: code, Type: "User"}
}

// The exceptions Hearth answers with, from the Lambda model.
var (
	ErrInvalidParameter      = userError(http.StatusBadRequest, "InvalidParameterValueException")
	ErrInvalidRequestContent = userError(http.StatusBadRequest, "InvalidRequestContentException")
	ErrNotFound              = userError(http.StatusNotFound, "ResourceNotFoundException")
	ErrConflict              = userError(http.StatusConflict, "ResourceConflictException")
	ErrPreconditionFailed    = userError(http.StatusPreconditionFailed, "PreconditionFailedException")
	ErrTooManyRequests       = userError(http.StatusTooManyRequests, "TooManyRequestsException")
	ErrRequestTooLarge       = userError(http.StatusRequestEntityTooLarge, "RequestTooLargeException")
	ErrEntityTooLarge        = userError(http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException")
	ErrUnsupportedMediaType  = userError(http.StatusUnsupportedMediaType, "UnsupportedMediaTypeException")
	ErrCodeStorageExceeded   = userError(http.StatusBadRequest, "CodeStorageExceededException")
	ErrPolicyLengthExceeded  = userError(http.StatusBadRequest, "PolicyLengthExceededException")
	ErrProvisionedNotFound   = userError(http.StatusNotFound, "ProvisionedConcurrencyConfigNotFoundException")
	ErrUnknownOperation      = &Error{Status: http.StatusNotFound, Code: "UnknownOperationException", Type: "User", BodyType: true}
	ErrAccessDenied          = &Error{Status: http.StatusForbidden, Code: "AccessDeniedException", Bare: true}
	// ErrForbidden is AccessDeniedException with a message: Hearth's own
	// refusals (a browser origin, a foreign Host name).
	ErrForbidden          = userError(http.StatusForbidden, "AccessDeniedException")
	ErrService            = &Error{Status: http.StatusInternalServerError, Code: "ServiceException", Type: "Service"}
	ErrServiceUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: "ServiceException", Type: "Service"}
)

// Reasons of TooManyRequestsException.
const (
	ReasonConcurrentLimit = "ConcurrentInvocationLimitExceeded"
	ReasonReservedLimit   = "ReservedFunctionConcurrentInvocationLimitExceeded"
)
