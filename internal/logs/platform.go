package logs

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// Text platform lines are stored as Lambda stores them in CloudWatch
// Logs: each ends in a newline (the REPORT line after its last tab), as
// GetLogEvents shows them (lambda-api.md §7.1). JSON records end in none.

// TextLine is s as a Text line of Lambda's own that is no record (such as
// the error of a runtime that exited): with its newline. An empty s stays
// empty.
func TextLine(s string) string {
	if s == "" {
		return ""
	}
	return s + "\n"
}

// StartLine is Lambda's START line.
func StartLine(requestID, version string) string {
	return "START RequestId: " + requestID + " Version: " + version + "\n"
}

// EndLine is Lambda's END line.
func EndLine(requestID string) string {
	return "END RequestId: " + requestID + "\n"
}

// Report holds the figures of a REPORT line.
type Report struct {
	RequestID     string
	Duration      time.Duration
	MemoryMB      int
	MaxMemoryUsed int64         // bytes
	InitDuration  time.Duration // zero unless this invocation cold-started
	// Status is empty on success, or "timeout" or "error" (with
	// ErrorType) as the newer service prints.
	Status    string
	ErrorType string

	// Tracing is the invocation's, as its platform.start has it; the JSON
	// platform.runtimeDone and platform.report records carry it too.
	Tracing Tracing
	// Start, Posted and Read time the runtime's response, for
	// platform.runtimeDone's spans: when the invocation started, when the
	// runtime's POST /response arrived and when its body had been read.
	// Posted is zero when the runtime posted no response (it posted to
	// /error, crashed or timed out first): the record then has no spans.
	// Next is when the runtime, having posted its response, asked for its
	// next event: zero if it had not when the record was written (it
	// crashed, or was frozen still busy).
	Start, Posted, Read, Next time.Time
	// ProducedBytes is the size of the response the runtime posted
	// (platform.runtimeDone's metrics.producedBytes): 0 without one.
	ProducedBytes int64
}

// span is the Telemetry API's Span, in the order Lambda writes it.
type span struct {
	Name       string  `json:"name"`
	Start      string  `json:"start"`
	DurationMs float64 `json:"durationMs"`
}

// spans are Lambda's spans of the response the runtime posted:
// responseLatency, from the invocation's start until the runtime began its
// POST /response, responseDuration, from then until the body had been
// read, and runtimeOverhead, from then until the runtime asked for its
// next event (only if it has); none when it posted none. Like Lambda's, a
// start is to the millisecond and a duration to the microsecond.
func (r Report) spans() []span {
	if r.Posted.IsZero() {
		return nil
	}
	s := []span{
		{"responseLatency", r.Start.UTC().Format(isoMillis), micros(r.Posted.Sub(r.Start))},
		{"responseDuration", r.Posted.UTC().Format(isoMillis), micros(r.Read.Sub(r.Posted))},
	}
	if !r.Next.IsZero() {
		s = append(s, span{"runtimeOverhead", r.Read.UTC().Format(isoMillis), micros(r.Next.Sub(r.Read))})
	}
	return s
}

// runtimeDuration is platform.runtimeDone's durationMs: from the
// invocation's start until the runtime asked for its next event after its
// response, or, if it has not, the invocation's Duration; to the
// microsecond, as Lambda's records have it.
func (r Report) runtimeDuration() float64 {
	if !r.Posted.IsZero() && !r.Next.IsZero() {
		return micros(r.Next.Sub(r.Start))
	}
	return micros(r.Duration)
}

// micros is d in milliseconds, to the microsecond.
func micros(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BilledMillis is Duration plus InitDuration rounded up to the next
// millisecond, at least 1. Since 1 August 2025 Lambda bills the init phase
// of every on-demand environment with its first invocation (lambda-api.md
// §7.2; a captured cold timeout of 2025 reads "Duration: 3000.00 ms\t
// Billed Duration: 3068 ms\t…\tInit Duration: 67.49 ms"). InitDuration is
// only set on that first invocation's report, never for provisioned
// concurrency, whose init is not billed with an invocation.
func (r Report) BilledMillis() int64 {
	ms := int64(math.Ceil(float64(r.Duration+r.InitDuration) / float64(time.Millisecond)))
	return max(ms, 1)
}

// Line renders the REPORT line: tab-separated, ending with a tab and a
// newline; with a Status, the newer service's line ends after the status
// (or its Error Type) without a tab.
func (r Report) Line() string {
	used := (r.MaxMemoryUsed + (1<<20 - 1)) >> 20
	s := fmt.Sprintf("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB\t",
		r.RequestID, millis(r.Duration), r.BilledMillis(), r.MemoryMB, used)
	if r.InitDuration > 0 {
		s += fmt.Sprintf("Init Duration: %.2f ms\t", millis(r.InitDuration))
	}
	if r.Status != "" {
		s += "Status: " + r.Status
		if r.ErrorType != "" {
			s += "\tError Type: " + r.ErrorType
		}
	}
	return s + "\n"
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// TimeoutLine is Lambda's line for a timed-out invocation. Lambda stores
// it with two newlines at its end.
func TimeoutLine(requestID string, at time.Time, timeout time.Duration) string {
	return fmt.Sprintf("%s %s Task timed out after %.2f seconds\n\n", at.UTC().Format("2006-01-02T15:04:05.000Z"), requestID, timeout.Seconds())
}

// Platform renders the platform's records in a function's log format
// (LoggingConfig): Text lines (START, END, REPORT, ...) or, with JSON, the
// Telemetry API records {"time","type":"platform.*","record":{...}} of
// lambda-api.md §7.4, filtered by the SystemLogLevel. A method returns ""
// for a record the level filters out; Capture.Platform and
// FunctionLog.Write ignore empty lines.
//
// Levels of the JSON records, from AWS's "event mapping for system log
// levels" as we read it (the exact table is UNCONFIRMED): platform.start,
// platform.report, platform.initStart and platform.initReport are INFO,
// platform.runtimeDone and platform.initRuntimeDone are DEBUG, and a
// record whose status is not success is WARN, so that WARN keeps exactly
// the failures. The default level, INFO, thus logs start and report, as
// AWS documents. In JSON the END line becomes platform.runtimeDone and a
// timeout is that record's status "timeout" rather than a line of its own.
type Platform struct {
	json  bool
	level int // the lowest level written (JSON only)
}

const (
	levelDebug = iota
	levelInfo
	levelWarn
)

// NewPlatform returns the renderer for LogFormat format ("Text" or "JSON")
// and SystemLogLevel systemLevel (DEBUG, INFO or WARN; empty means INFO).
func NewPlatform(format, systemLevel string) Platform {
	p := Platform{json: format == "JSON", level: levelInfo}
	switch systemLevel {
	case "DEBUG":
		p.level = levelDebug
	case "WARN":
		p.level = levelWarn
	}
	return p
}

// JSON reports whether records are JSON.
func (p Platform) JSON() bool { return p.json }

// isoMillis is the time format of the records and their spans.
const isoMillis = "2006-01-02T15:04:05.000Z"

// record renders one JSON record at level, or "" when filtered out.
func (p Platform) record(level int, typ string, rec any) string {
	if level < p.level {
		return ""
	}
	b, err := json.Marshal(struct {
		Time   string `json:"time"`
		Type   string `json:"type"`
		Record any    `json:"record"`
	}{time.Now().UTC().Format(isoMillis), typ, rec})
	if err != nil { // the records are plain structs; this cannot happen
		return ""
	}
	return string(b)
}

func statusLevel(status string, ok int) int {
	if status != "success" {
		return levelWarn
	}
	return ok
}

func reportStatus(s string) string {
	if s == "" {
		return "success"
	}
	return s
}

// Tracing is an invocation's X-Ray context as platform records carry it
// (the Telemetry API's TraceContext): Value is the trace header the
// runtime got as Lambda-Runtime-Trace-Id, SpanID the id of the platform's
// span of the invocation. Records leave out a Tracing without a Value.
type Tracing struct {
	SpanID string
	Value  string
}

// traceContext is Tracing in JSON, in the order Lambda writes it.
type traceContext struct {
	SpanID string `json:"spanId,omitempty"`
	Type   string `json:"type"`
	Value  string `json:"value"`
}

func (t Tracing) context() *traceContext {
	if t.Value == "" {
		return nil
	}
	return &traceContext{t.SpanID, "X-Amzn-Trace-Id", t.Value}
}

// Start is the START line or platform.start record, whose tracing is tr
// (lambda-api.md §7.4); the START line has none.
func (p Platform) Start(requestID, version string, tr Tracing) string {
	if !p.json {
		return StartLine(requestID, version)
	}
	return p.record(levelInfo, "platform.start", struct {
		RequestID string        `json:"requestId"`
		Version   string        `json:"version"`
		Tracing   *traceContext `json:"tracing,omitempty"`
	}{requestID, version, tr.context()})
}

type initReportMetrics struct {
	DurationMs float64 `json:"durationMs"`
}

type runtimeDoneMetrics struct {
	DurationMs    float64 `json:"durationMs"`
	ProducedBytes int64   `json:"producedBytes"`
}

// End is the END line or platform.runtimeDone record for r. The record
// carries the invocation's tracing, the spans of its response and the
// response's size (producedBytes, 0 without a response, as Lambda's
// runtime interface emulator has it), in the order Lambda writes them:
// requestId, status, tracing, spans, metrics. Its durationMs runs until
// the runtime asked for its next event, if it has (r.Next).
func (p Platform) End(r Report) string {
	if !p.json {
		return EndLine(r.RequestID)
	}
	status := reportStatus(r.Status)
	return p.record(statusLevel(status, levelDebug), "platform.runtimeDone", struct {
		RequestID string             `json:"requestId"`
		Status    string             `json:"status"`
		ErrorType string             `json:"errorType,omitempty"`
		Tracing   *traceContext      `json:"tracing,omitempty"`
		Spans     []span             `json:"spans,omitempty"`
		Metrics   runtimeDoneMetrics `json:"metrics"`
	}{r.RequestID, status, r.ErrorType, r.Tracing.context(), r.spans(), runtimeDoneMetrics{r.runtimeDuration(), r.ProducedBytes}})
}

// WritesRuntimeDone reports whether End writes a platform.runtimeDone
// record for an invocation whose status is status ("" for success): in
// JSON, at a level the SystemLogLevel lets through.
func (p Platform) WritesRuntimeDone(status string) bool {
	return p.json && statusLevel(reportStatus(status), levelDebug) >= p.level
}

// Report is the REPORT line or platform.report record for r. The record
// carries the invocation's tracing after its metrics, as Lambda's does.
func (p Platform) Report(r Report) string {
	if !p.json {
		return r.Line()
	}
	status := reportStatus(r.Status)
	type metrics struct {
		DurationMs       float64  `json:"durationMs"`
		BilledDurationMs int64    `json:"billedDurationMs"`
		MemorySizeMB     int      `json:"memorySizeMB"`
		MaxMemoryUsedMB  int64    `json:"maxMemoryUsedMB"`
		InitDurationMs   *float64 `json:"initDurationMs,omitempty"`
	}
	m := metrics{
		DurationMs:       micros(r.Duration),
		BilledDurationMs: r.BilledMillis(),
		MemorySizeMB:     r.MemoryMB,
		MaxMemoryUsedMB:  (r.MaxMemoryUsed + (1<<20 - 1)) >> 20,
	}
	if r.InitDuration > 0 {
		d := micros(r.InitDuration)
		m.InitDurationMs = &d
	}
	return p.record(statusLevel(status, levelInfo), "platform.report", struct {
		RequestID string        `json:"requestId"`
		Status    string        `json:"status"`
		ErrorType string        `json:"errorType,omitempty"`
		Metrics   metrics       `json:"metrics"`
		Tracing   *traceContext `json:"tracing,omitempty"`
	}{r.RequestID, status, r.ErrorType, m, r.Tracing.context()})
}

// Timeout is the "Task timed out" line; in JSON the runtimeDone record's
// status says it, so it is "".
func (p Platform) Timeout(requestID string, at time.Time, timeout time.Duration) string {
	if p.json {
		return ""
	}
	return TimeoutLine(requestID, at, timeout)
}

// Init names an init in the init records: its initialization type
// (on-demand or provisioned-concurrency) and its phase: "init", or
// "invoke" for the init Lambda retries as part of the first invocation
// after the init phase's failed.
type Init struct {
	Type  string
	Phase string
}

// InitReport is the INIT_REPORT line or platform.initReport record of a
// failed init in: status is "error" (with errorType) or "timeout". The
// line, like INIT_START's, ends without a tab (but with its newline).
func (p Platform) InitReport(in Init, d time.Duration, status, errorType string) string {
	if !p.json {
		s := fmt.Sprintf("INIT_REPORT Init Duration: %.2f ms\tPhase: %s\tStatus: %s", millis(d), in.Phase, status)
		if errorType != "" {
			s += "\tError Type: " + errorType
		}
		return s + "\n"
	}
	return p.record(statusLevel(status, levelInfo), "platform.initReport", struct {
		InitializationType string            `json:"initializationType"`
		Phase              string            `json:"phase"`
		Status             string            `json:"status"`
		ErrorType          string            `json:"errorType,omitempty"`
		Metrics            initReportMetrics `json:"metrics"`
	}{in.Type, in.Phase, status, errorType, initReportMetrics{micros(d)}})
}

// Extension is Lambda's EXTENSION line or platform.extension record for an
// extension: its state (Ready, or Crashed, LaunchError, InitError when it
// failed the environment, then with errorType) and the events it asked
// for.
func (p Platform) Extension(name, state string, events []string, errorType string) string {
	if events == nil {
		events = []string{}
	}
	if !p.json {
		s := fmt.Sprintf("EXTENSION\tName: %s\tState: %s\tEvents: [%s]", name, state, strings.Join(events, ","))
		if errorType != "" {
			s += "\tError Type: " + errorType
		}
		return s + "\n"
	}
	level := levelInfo
	if errorType != "" {
		level = levelWarn
	}
	return p.record(level, "platform.extension", struct {
		Name      string   `json:"name"`
		State     string   `json:"state"`
		Events    []string `json:"events"`
		ErrorType string   `json:"errorType,omitempty"`
	}{name, state, events, errorType})
}

// InitStart is the INIT_START line or platform.initStart record that
// begins init in of a runtime whose version and version ARN are
// runtimeVersion and runtimeVersionARN, each left out when empty. The line
// is Lambda's "INIT_START Runtime Version: python:3.12.v18\tRuntime Version
// ARN: arn:aws:lambda:…::runtime:…\n": tab-separated and, unlike REPORT,
// without a tab at its end, as CloudWatch Logs shows it. An init retried in
// the invoke phase has no line (Lambda's log shows one INIT_START however
// many times the init ran), only its record.
func (p Platform) InitStart(in Init, runtimeVersion, runtimeVersionARN string) string {
	if !p.json {
		if in.Phase != "init" {
			return ""
		}
		var fields []string
		if runtimeVersion != "" {
			fields = append(fields, "Runtime Version: "+runtimeVersion)
		}
		if runtimeVersionARN != "" {
			fields = append(fields, "Runtime Version ARN: "+runtimeVersionARN)
		}
		if len(fields) == 0 {
			return "INIT_START\n"
		}
		return "INIT_START " + strings.Join(fields, "\t") + "\n"
	}
	return p.record(levelInfo, "platform.initStart", struct {
		InitializationType string `json:"initializationType"`
		Phase              string `json:"phase"`
		RuntimeVersion     string `json:"runtimeVersion,omitempty"`
		RuntimeVersionARN  string `json:"runtimeVersionArn,omitempty"`
	}{in.Type, in.Phase, runtimeVersion, runtimeVersionARN})
}

// InitRuntimeDone is the platform.initRuntimeDone record (JSON only) of
// init in once its runtime has started: status is "success", "error"
// (with errorType) or "timeout".
func (p Platform) InitRuntimeDone(in Init, status, errorType string) string {
	if !p.json {
		return ""
	}
	return p.record(statusLevel(status, levelDebug), "platform.initRuntimeDone", struct {
		InitializationType string `json:"initializationType"`
		Phase              string `json:"phase"`
		Status             string `json:"status"`
		ErrorType          string `json:"errorType,omitempty"`
	}{in.Type, in.Phase, status, errorType})
}
