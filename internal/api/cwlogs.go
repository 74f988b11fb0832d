package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"hearth/internal/function"
	"hearth/internal/lambdaapi"
	"hearth/internal/logs"
)

// logsTarget starts the X-Amz-Target of CloudWatch Logs' JSON 1.1
// protocol. Hearth serves the subset log tools use (lambda-api.md C.1) on
// its own endpoint, over the log store: the group /aws/lambda/NAME is
// function NAME's log, in the caller's account, unless its LoggingConfig
// names another group; tools make groups and streams and put events of
// their own (CreateLogGroup, CreateLogStream, PutLogEvents).
const logsTarget = "Logs_20140328."

// logsOps are the CloudWatch Logs operations Hearth serves.
var logsOps = map[string]func(a *API, r *http.Request, body []byte) (any, *logsError){
	"DescribeLogGroups":     (*API).describeLogGroups,
	"DescribeLogStreams":    (*API).describeLogStreams,
	"GetLogEvents":          (*API).getLogEvents,
	"FilterLogEvents":       (*API).filterLogEvents,
	"PutRetentionPolicy":    (*API).putRetentionPolicy,
	"DeleteRetentionPolicy": (*API).deleteRetentionPolicy,
	"DeleteLogGroup":        (*API).deleteLogGroup,
	"CreateLogGroup":        (*API).createLogGroup,
	"CreateLogStream":       (*API).createLogStream,
	"PutLogEvents":          (*API).putLogEvents,
}

// logsError is an error of the JSON 1.1 protocol: the code in __type.
type logsError struct {
	status int
	code   string
	msg    string
}

func invalidLogsParam(msg string) *logsError {
	return &logsError{http.StatusBadRequest, "InvalidParameterException", msg}
}

// validationError is how CloudWatch Logs words a value the model refuses.
func validationError(value any, member, constraint string) *logsError {
	return invalidLogsParam(fmt.Sprintf("1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: %s", value, member, constraint))
}

var (
	errNoLogGroup  = &logsError{http.StatusBadRequest, "ResourceNotFoundException", "The specified log group does not exist."}
	errNoLogStream = &logsError{http.StatusBadRequest, "ResourceNotFoundException", "The specified log stream does not exist."}
	errBadToken    = invalidLogsParam("The specified nextToken is invalid.")
)

// serveLogs answers a CloudWatch Logs request (POST / with a Logs_
// target). An operation Hearth does not serve is UnknownOperationException.
func (a *API) serveLogs(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), logsTarget)
	h, ok := logsOps[op]
	if !ok || r.Method != http.MethodPost {
		a.unknownOperation(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, logsBodyLimit(r, maxOtherBody)))
	if err != nil {
		a.logsReply(w, r, nil, &logsError{http.StatusBadRequest, "SerializationException", "Could not read the request body: " + err.Error()})
		return
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	out, lerr := h(a, r, body)
	a.logsReply(w, r, out, lerr)
}

func (a *API) logsReply(w http.ResponseWriter, r *http.Request, out any, e *logsError) {
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set(lambdaapi.HeaderRequestID, requestID(r))
	if e != nil {
		if e.status >= 500 {
			a.log.Error("logs request failed", "request_id", requestID(r), "err", e.msg)
		}
		b, _ := json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}{e.code, e.msg})
		w.WriteHeader(e.status)
		w.Write(b)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		a.logsReply(w, r, nil, &logsError{http.StatusInternalServerError, "ServiceUnavailableException", err.Error()})
		return
	}
	w.Write(b)
}

// decodeLogs decodes a request body; a malformed one is a
// SerializationException, as the service answers it.
func decodeLogs(body []byte, v any) *logsError {
	if err := json.Unmarshal(body, v); err != nil {
		return &logsError{http.StatusBadRequest, "SerializationException", "Could not parse the request body: " + err.Error()}
	}
	return nil
}

func internalLogs(err error) *logsError {
	return &logsError{http.StatusInternalServerError, "ServiceUnavailableException", err.Error()}
}

// validLogGroupName reports whether s satisfies the model's pattern for
// log group names, [\.\-_/#A-Za-z0-9]+ of at most 512 characters.
func validLogGroupName(s string) bool {
	if len(s) == 0 || len(s) > 512 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-_/#", c) >= 0) {
			return false
		}
	}
	return true
}

const logGroupNameConstraint = `Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+`

func (a *API) logGroupArn(account, group string) string {
	return "arn:aws:logs:" + a.cfg.Region + ":" + account + ":log-group:" + group
}

// resolveGroup finds the log group a request names by logGroupName or
// logGroupIdentifier (a name or an ARN), in the caller's account, and
// returns its group name and the name of its log.
func (a *API) resolveGroup(r *http.Request, name, ident *string) (string, string, *logsError) {
	switch {
	case name != nil && ident != nil:
		// AWS's code and text (localstack's validated
		// test_describe_log_streams_with_log_group_identifier).
		return "", "", &logsError{http.StatusBadRequest, "ValidationException", "LogGroup name and LogGroup ARN are mutually exclusive parameters."}
	case name == nil && ident == nil:
		return "", "", invalidLogsParam("Either LogGroupName or LogGroupIdentifier must be specified.")
	}
	account := a.account(r)
	var group string
	if name != nil {
		if !validLogGroupName(*name) {
			return "", "", validationError(*name, "logGroupName", logGroupNameConstraint)
		}
		group = *name
	} else {
		group = *ident
		if rest, ok := strings.CutPrefix(group, "arn:"); ok {
			// arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]
			parts := strings.SplitN(rest, ":", 6)
			if len(parts) != 6 || parts[1] != "logs" || parts[4] != "log-group" {
				return "", "", invalidLogsParam("The specified logGroupIdentifier is not a valid log group ARN.")
			}
			if parts[2] != a.cfg.Region || parts[3] != account {
				return "", "", errNoLogGroup
			}
			group = strings.TrimSuffix(parts[5], ":*")
		}
		if !validLogGroupName(group) {
			return "", "", validationError(*ident, "logGroupIdentifier", `Member must satisfy regular expression pattern: [\w#+=/:,.@-]*`)
		}
	}
	logName := function.LogKey(account, a.cfg.Account, group)
	if _, err := a.logs.Group(logName); err != nil {
		if errors.Is(err, logs.ErrNoGroup) {
			return "", "", errNoLogGroup
		}
		return "", "", internalLogs(err)
	}
	return group, logName, nil
}

// checkLimit checks an optional limit against the model's range and
// returns it, or def when absent.
func checkLimit(limit *int, max, def int) (int, *logsError) {
	if limit == nil {
		return def, nil
	}
	if *limit < 1 {
		return 0, validationError(*limit, "limit", "Member must have value greater than or equal to 1")
	}
	if *limit > max {
		return 0, validationError(*limit, "limit", "Member must have value less than or equal to "+strconv.Itoa(max))
	}
	return *limit, nil
}

// A page token of the listing operations: the key of the last item
// returned, opaque to clients.
func encodeKey(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("k:" + key))
}

func decodeKey(tok *string) (string, bool, *logsError) {
	if tok == nil {
		return "", false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*tok)
	key, ok := strings.CutPrefix(string(b), "k:")
	if err != nil || !ok {
		return "", false, errBadToken
	}
	return key, true, nil
}

type logGroupOut struct {
	LogGroupName      string `json:"logGroupName"`
	CreationTime      int64  `json:"creationTime"`
	RetentionInDays   *int   `json:"retentionInDays,omitempty"`
	MetricFilterCount int    `json:"metricFilterCount"`
	Arn               string `json:"arn"`
	StoredBytes       int64  `json:"storedBytes"`
	LogGroupClass     string `json:"logGroupClass"`
	LogGroupArn       string `json:"logGroupArn"`
	// DeletionProtectionEnabled is always false: Hearth has no deletion
	// protection, and AWS has listed the field (false by default) since
	// late 2025.
	DeletionProtectionEnabled bool `json:"deletionProtectionEnabled"`
}

func (a *API) describeLogGroups(r *http.Request, body []byte) (any, *logsError) {
	var in struct {
		LogGroupNamePrefix  *string `json:"logGroupNamePrefix"`
		LogGroupNamePattern *string `json:"logGroupNamePattern"`
		NextToken           *string `json:"nextToken"`
		Limit               *int    `json:"limit"`
	}
	if e := decodeLogs(body, &in); e != nil {
		return nil, e
	}
	limit, e := checkLimit(in.Limit, 50, 50)
	if e != nil {
		return nil, e
	}
	if in.LogGroupNamePrefix != nil && in.LogGroupNamePattern != nil {
		return nil, invalidLogsParam("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
	}
	if p := in.LogGroupNamePrefix; p != nil && !validLogGroupName(*p) {
		return nil, validationError(*p, "logGroupNamePrefix", logGroupNameConstraint)
	}
	if p := in.LogGroupNamePattern; p != nil && *p != "" && !validLogGroupName(*p) {
		return nil, validationError(*p, "logGroupNamePattern", `Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]*`)
	}
	after, paged, e := decodeKey(in.NextToken)
	if e != nil {
		return nil, e
	}
	all, err := a.logs.Groups()
	if err != nil {
		return nil, internalLogs(err)
	}
	account := a.account(r)
	var groups []logGroupOut
	for _, g := range all {
		acct, name, ok := function.ParseLogKey(g.Name, a.cfg.Account)
		if acct != account {
			continue // a caller sees its own account's groups only
		}
		if g.Label != "" {
			name = g.Label
		} else if !ok {
			continue // a group known by its hash alone: its name was lost
		}
		if p := in.LogGroupNamePrefix; p != nil && !strings.HasPrefix(name, *p) {
			continue
		}
		if p := in.LogGroupNamePattern; p != nil && !strings.Contains(name, *p) {
			continue
		}
		if paged && name <= after {
			continue
		}
		out := logGroupOut{LogGroupName: name, CreationTime: g.Created, Arn: a.logGroupArn(account, name) + ":*",
			StoredBytes: g.StoredBytes, LogGroupClass: "STANDARD", LogGroupArn: a.logGroupArn(account, name)}
		if g.RetentionDays > 0 {
			out.RetentionInDays = &g.RetentionDays
		}
		groups = append(groups, out)
	}
	slices.SortFunc(groups, func(x, y logGroupOut) int { return strings.Compare(x.LogGroupName, y.LogGroupName) })
	var resp struct {
		LogGroups []logGroupOut `json:"logGroups"`
		NextToken *string       `json:"nextToken,omitempty"`
	}
	resp.LogGroups = []logGroupOut{}
	if len(groups) > limit {
		groups = groups[:limit]
		tok := encodeKey(groups[limit-1].LogGroupName)
		resp.NextToken = &tok
	}
	resp.LogGroups = append(resp.LogGroups, groups...)
	return resp, nil
}

// logStreamOut is a stream as DescribeLogStreams describes it; a stream
// made by CreateLogStream that has no events yet has no event times.
type logStreamOut struct {
	LogStreamName       string `json:"logStreamName"`
	CreationTime        int64  `json:"creationTime"`
	FirstEventTimestamp *int64 `json:"firstEventTimestamp,omitempty"`
	LastEventTimestamp  *int64 `json:"lastEventTimestamp,omitempty"`
	LastIngestionTime   *int64 `json:"lastIngestionTime,omitempty"`
	Arn                 string `json:"arn"`
	StoredBytes         int64  `json:"storedBytes"`
}

func (a *API) describeLogStreams(r *http.Request, body []byte) (any, *logsError) {
	var in struct {
		LogGroupName        *string `json:"logGroupName"`
		LogGroupIdentifier  *string `json:"logGroupIdentifier"`
		LogStreamNamePrefix *string `json:"logStreamNamePrefix"`
		OrderBy             *string `json:"orderBy"`
		Descending          bool    `json:"descending"`
		NextToken           *string `json:"nextToken"`
		Limit               *int    `json:"limit"`
	}
	if e := decodeLogs(body, &in); e != nil {
		return nil, e
	}
	limit, e := checkLimit(in.Limit, 50, 50)
	if e != nil {
		return nil, e
	}
	byTime := false
	if in.OrderBy != nil {
		switch *in.OrderBy {
		case "LogStreamName":
		case "LastEventTime":
			byTime = true
		default:
			return nil, validationError(*in.OrderBy, "orderBy", "Member must satisfy enum value set: [LogStreamName, LastEventTime]")
		}
	}
	if byTime && in.LogStreamNamePrefix != nil {
		return nil, invalidLogsParam("Cannot order by LastEventTime with a logStreamNamePrefix.")
	}
	group, logName, e := a.resolveGroup(r, in.LogGroupName, in.LogGroupIdentifier)
	if e != nil {
		return nil, e
	}
	after, paged, e := decodeKey(in.NextToken)
	if e != nil {
		return nil, e
	}
	type times struct{ first, last int64 }
	byName := map[string]*times{}
	err := a.logs.Reader(logName).Scan(0, func(rec logs.Record) bool {
		s := byName[string(rec.Stream)]
		if s == nil {
			if in.LogStreamNamePrefix != nil && !strings.HasPrefix(string(rec.Stream), *in.LogStreamNamePrefix) {
				return true
			}
			s = &times{first: rec.Time}
			byName[string(rec.Stream)] = s
		}
		// Events put with their own times may be older than those
		// before them.
		s.first, s.last = min(s.first, rec.Time), max(s.last, rec.Time)
		return true
	})
	if err != nil {
		return nil, internalLogs(err)
	}
	created := a.logs.CreatedStreams(logName)
	account := a.account(r)
	streams := make([]logStreamOut, 0, len(byName)+len(created))
	for name, t := range byName {
		s := logStreamOut{LogStreamName: name, CreationTime: t.first, FirstEventTimestamp: &t.first,
			LastEventTimestamp: &t.last, LastIngestionTime: &t.last, Arn: a.logGroupArn(account, group) + ":log-stream:" + name}
		if c, ok := created[name]; ok {
			s.CreationTime = c
		}
		streams = append(streams, s)
	}
	for name, c := range created {
		if byName[name] != nil || in.LogStreamNamePrefix != nil && !strings.HasPrefix(name, *in.LogStreamNamePrefix) {
			continue
		}
		streams = append(streams, logStreamOut{LogStreamName: name, CreationTime: c, Arn: a.logGroupArn(account, group) + ":log-stream:" + name})
	}
	// key orders the streams as asked; a page token is the last key
	// returned.
	key := func(s logStreamOut) string {
		if byTime {
			return fmt.Sprintf("%020d/%s", deref(s.LastEventTimestamp), s.LogStreamName)
		}
		return s.LogStreamName
	}
	order := func(x, y string) int {
		if in.Descending {
			return strings.Compare(y, x)
		}
		return strings.Compare(x, y)
	}
	slices.SortFunc(streams, func(x, y logStreamOut) int { return order(key(x), key(y)) })
	if paged {
		streams = slices.DeleteFunc(streams, func(s logStreamOut) bool { return order(key(s), after) <= 0 })
	}
	var resp struct {
		LogStreams []logStreamOut `json:"logStreams"`
		NextToken  *string        `json:"nextToken,omitempty"`
	}
	if len(streams) > limit {
		streams = streams[:limit]
		tok := encodeKey(key(streams[limit-1]))
		resp.NextToken = &tok
	}
	resp.LogStreams = streams
	return resp, nil
}

// maxEventBytes bounds the events of one GetLogEvents or FilterLogEvents
// answer, as the service does: 1 MB, counting 26 bytes per event.
const maxEventBytes = 1 << 20

func eventSize(n int) int { return n + 26 }

type outputEvent struct {
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

// getLogEvents pages through one stream. A forward token f/N reads the
// events at position N or later, a backward token b/N those before N; at
// either end the token sent comes back unchanged, which is how clients
// know they have everything.
func (a *API) getLogEvents(r *http.Request, body []byte) (any, *logsError) {
	var in struct {
		LogGroupName       *string `json:"logGroupName"`
		LogGroupIdentifier *string `json:"logGroupIdentifier"`
		LogStreamName      *string `json:"logStreamName"`
		StartTime          *int64  `json:"startTime"`
		EndTime            *int64  `json:"endTime"`
		NextToken          *string `json:"nextToken"`
		Limit              *int    `json:"limit"`
		StartFromHead      bool    `json:"startFromHead"`
	}
	if e := decodeLogs(body, &in); e != nil {
		return nil, e
	}
	limit, e := checkLimit(in.Limit, 10000, 10000)
	if e != nil {
		return nil, e
	}
	if in.LogStreamName == nil {
		return nil, validationError("null", "logStreamName", "Member must not be null")
	}
	if e := checkTimes(in.StartTime, in.EndTime); e != nil {
		return nil, e
	}
	_, logName, e := a.resolveGroup(r, in.LogGroupName, in.LogGroupIdentifier)
	if e != nil {
		return nil, e
	}
	forward, pos := in.StartFromHead, int64(0)
	if in.NextToken != nil {
		var ok bool
		forward, pos, ok = parseEventToken(*in.NextToken)
		if !ok {
			return nil, errBadToken
		}
	}
	stream := []byte(*in.LogStreamName)
	match := func(rec logs.Record) bool {
		return string(rec.Stream) == string(stream) &&
			(in.StartTime == nil || rec.Time >= *in.StartTime) && (in.EndTime == nil || rec.Time < *in.EndTime)
	}
	type found struct {
		pos int64
		ev  outputEvent
	}
	var got []found
	size, seen := 0, false
	var err error
	fl := a.logs.Reader(logName)
	if forward {
		err = fl.Scan(pos, func(rec logs.Record) bool {
			if string(rec.Stream) == string(stream) {
				seen = true
			}
			if !match(rec) {
				return true
			}
			if len(got) == limit || size+eventSize(len(rec.Message)) > maxEventBytes {
				return false
			}
			size += eventSize(len(rec.Message))
			got = append(got, found{rec.Pos, outputEvent{rec.Time, string(rec.Message), rec.Time}})
			return true
		})
	} else {
		// The newest events before pos: keep the last limit of them.
		err = fl.Scan(0, func(rec logs.Record) bool {
			if in.NextToken != nil && rec.Pos >= pos {
				return false
			}
			if string(rec.Stream) == string(stream) {
				seen = true
			}
			if !match(rec) {
				return true
			}
			got = append(got, found{rec.Pos, outputEvent{rec.Time, string(rec.Message), rec.Time}})
			size += eventSize(len(rec.Message))
			for len(got) > limit || size > maxEventBytes {
				size -= eventSize(len(got[0].ev.Message))
				got = got[1:]
			}
			return true
		})
	}
	if err != nil {
		return nil, internalLogs(err)
	}
	if _, made := a.logs.CreatedStreams(logName)[*in.LogStreamName]; in.NextToken == nil && !seen && !made {
		return nil, errNoLogStream
	}
	var resp struct {
		Events            []outputEvent `json:"events"`
		NextForwardToken  string        `json:"nextForwardToken"`
		NextBackwardToken string        `json:"nextBackwardToken"`
	}
	resp.Events = make([]outputEvent, 0, len(got))
	for _, f := range got {
		resp.Events = append(resp.Events, f.ev)
	}
	if len(got) > 0 {
		resp.NextForwardToken = eventToken(true, got[len(got)-1].pos+1)
		resp.NextBackwardToken = eventToken(false, got[0].pos)
		return resp, nil
	}
	// Nothing (more) in this direction: the token sent comes back.
	switch {
	case in.NextToken != nil:
		resp.NextForwardToken, resp.NextBackwardToken = eventToken(true, pos), eventToken(false, pos)
		if forward {
			resp.NextForwardToken = *in.NextToken
		} else {
			resp.NextBackwardToken = *in.NextToken
		}
	default:
		resp.NextForwardToken, resp.NextBackwardToken = eventToken(true, 0), eventToken(false, 0)
	}
	return resp, nil
}

// eventToken is a GetLogEvents token, shaped like the service's
// (f/<56 digits>/s).
func eventToken(forward bool, pos int64) string {
	d := "b"
	if forward {
		d = "f"
	}
	return fmt.Sprintf("%s/%056d/s", d, pos)
}

func parseEventToken(s string) (forward bool, pos int64, ok bool) {
	switch {
	case strings.HasPrefix(s, "f/"):
		forward = true
	case strings.HasPrefix(s, "b/"):
	default:
		return false, 0, false
	}
	digits := strings.TrimSuffix(s[2:], "/s")
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 0 {
		return false, 0, false
	}
	return forward, n, true
}

func checkTimes(start, end *int64) *logsError {
	if start != nil && *start < 0 {
		return validationError(*start, "startTime", "Member must have value greater than or equal to 0")
	}
	if end != nil && *end < 0 {
		return validationError(*end, "endTime", "Member must have value greater than or equal to 0")
	}
	return nil
}

// filterScanBytes bounds the stored events one FilterLogEvents call reads
// (about 26 bytes each besides their stream and text): a poll without a
// token, which starts at the group's oldest event, costs at most this
// much before it answers, and pages on with nextToken.
const filterScanBytes = 1 << 20

type filteredEvent struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

// filterLogEvents searches a group's events, all streams interleaved in
// the order they were stored. nextToken comes while more events may
// match (see filterScanBytes); event ids are
// positions, stable for a given line, which aws logs tail --follow relies
// on to drop what it printed.
func (a *API) filterLogEvents(r *http.Request, body []byte) (any, *logsError) {
	var in struct {
		LogGroupName        *string  `json:"logGroupName"`
		LogGroupIdentifier  *string  `json:"logGroupIdentifier"`
		LogStreamNames      []string `json:"logStreamNames"`
		LogStreamNamePrefix *string  `json:"logStreamNamePrefix"`
		StartTime           *int64   `json:"startTime"`
		EndTime             *int64   `json:"endTime"`
		FilterPattern       *string  `json:"filterPattern"`
		NextToken           *string  `json:"nextToken"`
		Limit               *int     `json:"limit"`
	}
	if e := decodeLogs(body, &in); e != nil {
		return nil, e
	}
	limit, e := checkLimit(in.Limit, 10000, 10000)
	if e != nil {
		return nil, e
	}
	if in.LogStreamNames != nil && (len(in.LogStreamNames) < 1 || len(in.LogStreamNames) > 100) {
		return nil, validationError(in.LogStreamNames, "logStreamNames", "Member must have length less than or equal to 100")
	}
	if in.LogStreamNames != nil && in.LogStreamNamePrefix != nil {
		return nil, invalidLogsParam("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
	}
	if e := checkTimes(in.StartTime, in.EndTime); e != nil {
		return nil, e
	}
	var pattern *logs.Pattern
	if in.FilterPattern != nil {
		if len(*in.FilterPattern) > 1024 {
			return nil, validationError(*in.FilterPattern, "filterPattern", "Member must have length less than or equal to 1024")
		}
		p, err := logs.ParsePattern(*in.FilterPattern)
		if err != nil {
			return nil, invalidLogsParam(err.Error())
		}
		pattern = p
	}
	_, logName, e := a.resolveGroup(r, in.LogGroupName, in.LogGroupIdentifier)
	if e != nil {
		return nil, e
	}
	var from int64
	if in.NextToken != nil {
		b, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		s, ok := strings.CutPrefix(string(b), "p:")
		n, perr := strconv.ParseInt(s, 10, 64)
		if err != nil || !ok || perr != nil || n < 0 {
			return nil, errBadToken
		}
		from = n
	}
	var names map[string]bool
	if in.LogStreamNames != nil {
		names = make(map[string]bool, len(in.LogStreamNames))
		for _, n := range in.LogStreamNames {
			names[n] = true
		}
	}
	events := []filteredEvent{}
	size, scanned := 0, 0
	next := int64(-1)
	err := a.logs.Reader(logName).Scan(from, func(rec logs.Record) bool {
		// Each call reads a bounded part of the group, as the service
		// searches one: a page may then come back with fewer events
		// than limit, or none, and a nextToken to go on from.
		if scanned >= filterScanBytes {
			next = rec.Pos
			return false
		}
		scanned += eventSize(len(rec.Stream) + len(rec.Message))
		if names != nil && !names[string(rec.Stream)] ||
			in.LogStreamNamePrefix != nil && !strings.HasPrefix(string(rec.Stream), *in.LogStreamNamePrefix) ||
			in.StartTime != nil && rec.Time < *in.StartTime || in.EndTime != nil && rec.Time > *in.EndTime ||
			!pattern.Match(rec.Message) {
			return true
		}
		if len(events) == limit || size+eventSize(len(rec.Message)) > maxEventBytes {
			next = rec.Pos // more match: the next page starts here
			return false
		}
		size += eventSize(len(rec.Message))
		events = append(events, filteredEvent{LogStreamName: string(rec.Stream), Timestamp: rec.Time,
			Message: string(rec.Message), IngestionTime: rec.Time, EventID: fmt.Sprintf("%056d", rec.Pos)})
		return true
	})
	if err != nil {
		return nil, internalLogs(err)
	}
	var resp struct {
		Events             []filteredEvent `json:"events"`
		SearchedLogStreams []struct{}      `json:"searchedLogStreams"`
		NextToken          *string         `json:"nextToken,omitempty"`
	}
	resp.Events, resp.SearchedLogStreams = events, []struct{}{} // no longer filled by the service either
	if next >= 0 {
		tok := base64.RawURLEncoding.EncodeToString([]byte("p:" + strconv.FormatInt(next, 10)))
		resp.NextToken = &tok
	}
	return resp, nil
}

func (a *API) putRetentionPolicy(r *http.Request, body []byte) (any, *logsError) {
	var in struct {
		LogGroupName    *string `json:"logGroupName"`
		RetentionInDays *int    `json:"retentionInDays"`
	}
	if e := decodeLogs(body, &in); e != nil {
		return nil, e
	}
	if in.LogGroupName == nil {
		return nil, validationError("null", "logGroupName", "Member must not be null")
	}
	if in.RetentionInDays == nil {
		return nil, validationError("null", "retentionInDays", "Member must not be null")
	}
	if !slices.Contains(logs.RetentionDays, *in.RetentionInDays) {
		set := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(logs.RetentionDays)), ", "), "[]")
		return nil, validationError(*in.RetentionInDays, "retentionInDays", "Member must satisfy enum value set: ["+set+"]")
	}
	_, logName, e := a.resolveGroup(r, in.LogGroupName, nil)
	if e != nil {
		return nil, e
	}
	if err := a.logs.SetRetention(logName, *in.RetentionInDays); err != nil {
		return nil, groupError(err)
	}
	return struct{}{}, nil
}

// namedGroup decodes a request that names one log group (logGroupName,
// required) and resolves it in the caller's account.
func (a *API) namedGroup(r *http.Request, body []byte) (string, *logsError) {
	var in struct {
		LogGroupName *string `json:"logGroupName"`
	}
	if e := decodeLogs(body, &in); e != nil {
		return "", e
	}
	if in.LogGroupName == nil {
		return "", validationError("null", "logGroupName", "Member must not be null")
	}
	_, logName, e := a.resolveGroup(r, in.LogGroupName, nil)
	return logName, e
}

func (a *API) deleteRetentionPolicy(r *http.Request, body []byte) (any, *logsError) {
	logName, e := a.namedGroup(r, body)
	if e != nil {
		return nil, e
	}
	if err := a.logs.SetRetention(logName, 0); err != nil {
		return nil, groupError(err)
	}
	return struct{}{}, nil
}

// deleteLogGroup removes a log group: its files, its retention and the
// streams made in it. A function that logs there logs on into a new
// group.
func (a *API) deleteLogGroup(r *http.Request, body []byte) (any, *logsError) {
	logName, e := a.namedGroup(r, body)
	if e != nil {
		return nil, e
	}
	if err := a.logs.DeleteGroup(logName); err != nil {
		return nil, groupError(err)
	}
	return struct{}{}, nil
}

func groupError(err error) *logsError {
	if errors.Is(err, logs.ErrNoGroup) {
		return errNoLogGroup
	}
	return internalLogs(err)
}
