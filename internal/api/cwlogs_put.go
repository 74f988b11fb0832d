package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"hearth/internal/function"
	"hearth/internal/logs"
)

// The operations that make log groups and streams and put events of their
// own: what tools, agents and functions that log through an SDK call.

// PutLogEvents' limits, as CloudWatch Logs documents them: a batch holds
// at most 10,000 events and 1,048,576 bytes, counting each event's
// message in UTF-8 and 26 bytes; events may be up to 2 hours in the
// future and 14 days in the past; those accepted may not span more than
// 24 hours. Hearth keeps events of at most 256 KB (the documented limit
// until CloudWatch Logs raised it to 1 MB).
const (
	maxPutEvents    = 10000
	maxPutBytes     = 1048576
	maxEventMessage = 256 << 10
	putFuture       = 2 * time.Hour
	putPast         = 14 * 24 * time.Hour
	putSpan         = 24 * time.Hour
)

// maxPutLogsBody bounds a PutLogEvents request: a batch of 1,048,576
// bytes whose every byte JSON escapes (\u001f) and its members' names.
const maxPutLogsBody = 8 << 20

// logsBodyLimit is the body limit of r: def, or maxPutLogsBody for a
// PutLogEvents request.
func logsBodyLimit(r *http.Request, def int64) int64 {
	if r.Method == http.MethodPost && r.Header.Get("X-Amz-Target") == logsTarget+"PutLogEvents" {
		return maxPutLogsBody
	}
	return def
}

// logLabel is what the log store records as the name of account's group
// with key: nothing when the key says it.
func (a *API) logLabel(account, key, group string) string {
	if _, g, ok := function.ParseLogKey(key, a.cfg.Account); ok && g == group {
		return ""
	}
	return group
}

func (a *API) createLogGroup(r *http.Request, body []byte) (any, *logsError) {
	var in struct {
		LogGroupName  *string `json:"logGroupName"`
		LogGroupClass *string `json:"logGroupClass"`
	}
	if e := decodeLogs(body, &in); e != nil {
		return nil, e
	}
	if in.LogGroupName == nil {
		return nil, validationError("null", "logGroupName", "Member must not be null")
	}
	name := *in.LogGroupName
	if len(name) > 512 {
		// AWS's answer to a name over 512 characters (localstack's
		// validated test_create_log_group_invalid_name_length).
		return nil, invalidLogsParam("Invalid LogGroup or LogStream, both must have length less than or equal to 512.")
	}
	if !validLogGroupName(name) {
		return nil, validationError(name, "logGroupName", logGroupNameConstraint)
	}
	if c := in.LogGroupClass; c != nil && *c != "STANDARD" && *c != "INFREQUENT_ACCESS" {
		return nil, validationError(*c, "logGroupClass", "Member must satisfy enum value set: [STANDARD, INFREQUENT_ACCESS]")
	}
	if strings.HasPrefix(name, "aws/") {
		// The service reserves the prefix (its message: UNCONFIRMED).
		return nil, invalidLogsParam("Log group names cannot start with 'aws/'.")
	}
	account := a.account(r)
	key := function.LogKey(account, a.cfg.Account, name)
	if err := a.logs.CreateGroup(key, a.logLabel(account, key, name)); err != nil {
		if errors.Is(err, logs.ErrGroupExists) {
			return nil, &logsError{http.StatusBadRequest, "ResourceAlreadyExistsException", "The specified log group already exists"}
		}
		if errors.Is(err, logs.ErrTooManyGroups) {
			return nil, &logsError{http.StatusBadRequest, "LimitExceededException", "Resource limit exceeded: Hearth keeps at most " + strconv.Itoa(a.logs.MaxCreatedGroups()) + " log groups made by CreateLogGroup in an account."}
		}
		return nil, internalLogs(err)
	}
	return struct{}{}, nil
}

// validStreamName checks a log stream name against the model ([^:*]*, 1
// to 512 characters) and against what Hearth's log records can hold: no
// tab, newline or carriage return.
func validStreamName(s *string) *logsError {
	switch {
	case s == nil:
		return validationError("null", "logStreamName", "Member must not be null")
	case len(*s) < 1 || len(*s) > 512:
		return validationError(*s, "logStreamName", "Member must have length between 1 and 512")
	case strings.ContainsAny(*s, ":*"):
		return validationError(*s, "logStreamName", "Member must satisfy regular expression pattern: [^:*]*")
	case strings.ContainsAny(*s, "\t\r\n"):
		return invalidLogsParam("Hearth's log stream names cannot hold tabs or line breaks.")
	}
	return nil
}

func (a *API) createLogStream(r *http.Request, body []byte) (any, *logsError) {
	var in struct {
		LogGroupName  *string `json:"logGroupName"`
		LogStreamName *string `json:"logStreamName"`
	}
	if e := decodeLogs(body, &in); e != nil {
		return nil, e
	}
	if in.LogGroupName == nil {
		return nil, validationError("null", "logGroupName", "Member must not be null")
	}
	if e := validStreamName(in.LogStreamName); e != nil {
		return nil, e
	}
	_, key, e := a.resolveGroup(r, in.LogGroupName, nil)
	if e != nil {
		return nil, e
	}
	switch err := a.logs.CreateStream(key, *in.LogStreamName); {
	case errors.Is(err, logs.ErrStreamExists):
		return nil, &logsError{http.StatusBadRequest, "ResourceAlreadyExistsException", "The specified log stream already exists"}
	case errors.Is(err, logs.ErrTooManyStreams):
		return nil, &logsError{http.StatusBadRequest, "LimitExceededException", fmt.Sprintf("Resource limit exceeded: Hearth keeps at most %d log streams made by CreateLogStream in a log group.", logs.MaxCreatedStreams)}
	case err != nil:
		return nil, groupError(err)
	}
	return struct{}{}, nil
}

type rejectedInfo struct {
	TooNewLogEventStartIndex *int `json:"tooNewLogEventStartIndex,omitempty"`
	TooOldLogEventEndIndex   *int `json:"tooOldLogEventEndIndex,omitempty"`
	ExpiredLogEventEndIndex  *int `json:"expiredLogEventEndIndex,omitempty"`
}

// putLogEvents appends a batch to a stream made by CreateLogStream (or
// one a function writes). A batch out of time order, or spanning more
// than 24 hours, fails whole; events too far in the future or past, or
// older than the group's retention, are left out and reported in
// rejectedLogEventsInfo, the others stored. Since they are in time order,
// the too old and expired ones come first and the too new ones last: the
// end indexes are exclusive (the number of events rejected) and the start
// index is that of the first too new event (how clients read them:
// UNCONFIRMED).
func (a *API) putLogEvents(r *http.Request, body []byte) (any, *logsError) {
	var in struct {
		LogGroupName  *string `json:"logGroupName"`
		LogStreamName *string `json:"logStreamName"`
		LogEvents     []struct {
			Timestamp *int64  `json:"timestamp"`
			Message   *string `json:"message"`
		} `json:"logEvents"`
		SequenceToken *string `json:"sequenceToken"` // ignored, as the service now ignores it
	}
	if e := decodeLogs(body, &in); e != nil {
		return nil, e
	}
	if in.LogGroupName == nil {
		return nil, validationError("null", "logGroupName", "Member must not be null")
	}
	if e := validStreamName(in.LogStreamName); e != nil {
		return nil, e
	}
	switch n := len(in.LogEvents); {
	case in.LogEvents == nil:
		return nil, validationError("null", "logEvents", "Member must not be null")
	case n < 1:
		return nil, validationError("[]", "logEvents", "Member must have length greater than or equal to 1")
	case n > maxPutEvents:
		return nil, validationError(fmt.Sprintf("[%d events]", n), "logEvents", fmt.Sprintf("Member must have length less than or equal to %d", maxPutEvents))
	}
	size := 0
	for i, ev := range in.LogEvents {
		member := fmt.Sprintf("logEvents.%d.member.", i+1)
		if ev.Timestamp == nil {
			return nil, validationError("null", member+"timestamp", "Member must not be null")
		}
		if ev.Message == nil {
			return nil, validationError("null", member+"message", "Member must not be null")
		}
		if len(*ev.Message) < 1 {
			return nil, validationError("", member+"message", "Member must have length greater than or equal to 1")
		}
		// Measured as stored: a message with line breaks is stored
		// escaped, a little longer.
		if n := eventSize(logs.StoredLen(*ev.Message)); n > maxEventMessage {
			return nil, invalidLogsParam(fmt.Sprintf("Log event too large: %d bytes exceeds limit of %d", n, maxEventMessage))
		}
		size += eventSize(len(*ev.Message))
		if i > 0 && *ev.Timestamp < *in.LogEvents[i-1].Timestamp {
			return nil, invalidLogsParam("Log events in a single PutLogEvents request must be in chronological order.")
		}
	}
	if size > maxPutBytes {
		return nil, invalidLogsParam(fmt.Sprintf("Upload too large: %d bytes exceeds limit of %d", size, maxPutBytes))
	}
	_, key, e := a.resolveGroup(r, in.LogGroupName, nil)
	if e != nil {
		return nil, e
	}
	stream := *in.LogStreamName
	ok, err := a.logs.HasStream(key, stream)
	if err != nil {
		return nil, internalLogs(err)
	}
	if !ok {
		return nil, errNoLogStream
	}
	now := time.Now()
	newest, oldest := now.Add(putFuture).UnixMilli(), now.Add(-putPast).UnixMilli()
	expired := a.logs.Cutoff(key)
	var rej rejectedInfo
	events := make([]logs.Event, 0, len(in.LogEvents))
	for i, ev := range in.LogEvents {
		ts := *ev.Timestamp
		switch {
		case ts < oldest:
			end := i + 1
			rej.TooOldLogEventEndIndex = &end
		case ts < expired:
			end := i + 1
			rej.ExpiredLogEventEndIndex = &end
		case ts > newest:
			if rej.TooNewLogEventStartIndex == nil {
				start := i
				rej.TooNewLogEventStartIndex = &start
			}
		default:
			events = append(events, logs.Event{Time: ts, Message: *ev.Message})
		}
	}
	if len(events) > 1 && events[len(events)-1].Time-events[0].Time > putSpan.Milliseconds() {
		return nil, invalidLogsParam("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
	}
	if len(events) > 0 {
		a.logs.Log(key, a.logLabel(a.account(r), key, *in.LogGroupName)).Put(stream, events)
	}
	var resp struct {
		NextSequenceToken string        `json:"nextSequenceToken"`
		Rejected          *rejectedInfo `json:"rejectedLogEventsInfo,omitempty"`
	}
	// No longer needed by any client, but still answered.
	resp.NextSequenceToken = fmt.Sprintf("%056d", now.UnixNano())
	if rej != (rejectedInfo{}) {
		resp.Rejected = &rej
	}
	return resp, nil
}
