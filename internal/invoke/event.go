package invoke

import (
	"context"
	"fmt"
	"time"

	"hearth/internal/worker"
)

// Payload limits of asynchronous invocations, in bytes.
const (
	MaxEventPayload       = 1024 * 1024 // Invoke with InvocationType Event
	MaxInvokeAsyncPayload = 256 * 1024  // the deprecated InvokeAsync
)

// Event is an asynchronous invocation as queued.
type Event struct {
	RequestID string
	Account   string // owner of the function
	Function  string // bare name
	// Qualifier is the version or alias the caller addressed, empty for
	// none: an alias picks its version anew at every attempt.
	Qualifier string
	Payload   []byte
	// Enqueued is when the caller's event was accepted; the event's age
	// counts from it across retries.
	Enqueued time.Time
	// TraceID is the trace header the function gets (every attempt the
	// same): the caller's X-Amzn-Trace-Id as worker.TraceHeader continues
	// it, empty when the caller sent none (each attempt then starts a
	// trace of its own).
	TraceID string
}

// Queue stores events durably. *async.Queue satisfies it.
type Queue interface {
	// Enqueue returns once ev is durably stored.
	Enqueue(ctx context.Context, ev *Event) error
}

// SetQueue connects the Service to the async queue. Call it before
// serving.
func (s *Service) SetQueue(q Queue) { s.queue = q }

// Enqueue accepts req as an asynchronous (Event) invocation: it checks the
// payload and that the function exists, then stores the event durably. It
// returns the event's request id.
func (s *Service) Enqueue(ctx context.Context, req *Request, limit int) (string, error) {
	if s.queue == nil {
		return "", fmt.Errorf("%w: asynchronous invocations are not enabled on this server", ErrInvalidParam)
	}
	if len(req.Payload) > limit {
		return "", fmt.Errorf("%w: %d byte payload is too large for the Event invocation type (limit %d bytes)", ErrTooLarge, len(req.Payload), limit)
	}
	payload, err := checkPayload(req.Payload)
	if err != nil {
		return "", err
	}
	t, err := s.resolve(ctx, req.Account, req.FunctionName, req.Qualifier)
	if err != nil {
		return "", err
	}
	if req.RequestID == "" {
		req.RequestID = NewRequestID()
	}
	ev := &Event{
		RequestID: req.RequestID,
		Account:   t.Config.Account,
		Function:  t.Config.Name,
		Qualifier: t.Qualifier,
		Payload:   payload,
		Enqueued:  time.Now(),
	}
	if req.TraceID != "" {
		ev.TraceID = worker.TraceHeader(req.TraceID)
	}
	if err := s.queue.Enqueue(ctx, ev); err != nil {
		return "", err
	}
	return ev.RequestID, nil
}
