package logs

import (
	"fmt"
	"math"
	"time"
)

// StartLine is Lambda's START line.
func StartLine(requestID, version string) string {
	return "START RequestId: " + requestID + " Version: " + version
}

// EndLine is Lambda's END line.
func EndLine(requestID string) string {
	return "END RequestId: " + requestID
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
}

// BilledMillis is Duration rounded up to the next millisecond, at least 1.
func (r Report) BilledMillis() int64 {
	ms := int64(math.Ceil(float64(r.Duration) / float64(time.Millisecond)))
	return max(ms, 1)
}

// Line renders the REPORT line: tab-separated, ending with a tab.
func (r Report) Line() string {
	used := (r.MaxMemoryUsed + (1<<20 - 1)) >> 20
	s := fmt.Sprintf("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB\t",
		r.RequestID, millis(r.Duration), r.BilledMillis(), r.MemoryMB, used)
	if r.InitDuration > 0 {
		s += fmt.Sprintf("Init Duration: %.2f ms\t", millis(r.InitDuration))
	}
	if r.Status != "" {
		s += "Status: " + r.Status + "\t"
		if r.ErrorType != "" {
			s += "Error Type: " + r.ErrorType + "\t"
		}
	}
	return s
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// TimeoutLine is Lambda's line for a timed-out invocation.
func TimeoutLine(requestID string, at time.Time, timeout time.Duration) string {
	return fmt.Sprintf("%s %s Task timed out after %.2f seconds", at.UTC().Format("2006-01-02T15:04:05.000Z"), requestID, timeout.Seconds())
}
