package async

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"hearth/internal/function"
	"hearth/internal/invoke"
	"hearth/internal/worker"
)

// Conditions of an invocation record.
const (
	conditionSuccess          = "Success"
	conditionRetriesExhausted = "RetriesExhausted"
	conditionEventAgeExceeded = "EventAgeExceeded"
	// conditionZeroReservedConcurrency ends an event of a function whose
	// reserved concurrency is 0; it was never run.
	conditionZeroReservedConcurrency = "ZeroReservedConcurrency"
)

// record is Lambda's invocation record, sent to destinations.
type record struct {
	Version         string           `json:"version"`
	Timestamp       string           `json:"timestamp"`
	RequestContext  requestContext   `json:"requestContext"`
	RequestPayload  json.RawMessage  `json:"requestPayload"`
	ResponseContext *responseContext `json:"responseContext,omitempty"`
	ResponsePayload json.RawMessage  `json:"responsePayload,omitempty"`
}

type requestContext struct {
	RequestID              string `json:"requestId"`
	FunctionArn            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

type responseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"`
}

func (q *Queue) record(ev *event, condition string, res *worker.Result) []byte {
	qual := ev.Qualifier
	if qual == "" {
		qual = function.Latest
	}
	r := record{
		Version:   "1.0",
		Timestamp: q.cfg.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		RequestContext: requestContext{
			RequestID:              ev.RequestID,
			FunctionArn:            function.ARN(q.cfg.Region, ev.Account, ev.Function, qual),
			Condition:              condition,
			ApproximateInvokeCount: ev.Attempt,
		},
		RequestPayload: asJSON(ev.Payload),
	}
	if res != nil {
		r.ResponseContext = &responseContext{StatusCode: 200, ExecutedVersion: res.ExecutedVersion, FunctionError: res.FunctionError}
		r.ResponsePayload = asJSON(res.Payload)
	}
	b, _ := json.Marshal(&r)
	if len(b) > invoke.MaxEventPayload && r.ResponsePayload != nil {
		// Too large for an event: keep the context, drop the payloads.
		r.ResponsePayload = nil
		b, _ = json.Marshal(&r)
	}
	if len(b) > invoke.MaxEventPayload {
		r.RequestPayload = json.RawMessage("null")
		b, _ = json.Marshal(&r)
	}
	return b
}

// asJSON embeds p as JSON when it is JSON, else as a JSON string.
func asJSON(p []byte) json.RawMessage {
	if len(p) > 0 && json.Valid(p) {
		return json.RawMessage(p)
	}
	b, _ := json.Marshal(string(p))
	return b
}

func (q *Queue) settleSuccess(ctx context.Context, ev *event, fn *function.Config, res *worker.Result) {
	ev.Attempt++
	if fn.EventInvoke == nil || fn.EventInvoke.OnSuccess == "" {
		return
	}
	q.deliver(ctx, ev, fn.EventInvoke.OnSuccess, q.record(ev, conditionSuccess, res), nil)
}

// settleFailure sends a failed event's record to the on-failure
// destination and the original event to the dead-letter queue.
func (q *Queue) settleFailure(ctx context.Context, ev *event, fn *function.Config, condition string, res *worker.Result) {
	if fn.EventInvoke != nil && fn.EventInvoke.OnFailure != "" {
		q.deliver(ctx, ev, fn.EventInvoke.OnFailure, q.record(ev, condition, res), nil)
	}
	if fn.DeadLetterTarget != "" {
		code, msg := "200", condition
		if res != nil {
			msg = errorMessageOf(res.Payload)
		}
		switch {
		case res != nil:
		case condition == conditionEventAgeExceeded:
			code = "0" // never run: no HTTP status to give
		case condition == conditionZeroReservedConcurrency:
			code = "429" // refused as throttled
		}
		if len(msg) > 1024 {
			msg = strings.ToValidUTF8(msg[:1024], "")
		}
		h := nats.Header{}
		h.Set("RequestID", ev.RequestID)
		h.Set("ErrorCode", code)
		h.Set("ErrorMessage", msg)
		q.deliver(ctx, ev, fn.DeadLetterTarget, ev.Payload, h)
	}
}

// errorMessageOf is the message of a function's error document: its
// errorMessage, as Lambda gives a dead-letter message's ErrorMessage, or
// the whole payload when it has none.
func errorMessageOf(payload []byte) string {
	var doc struct {
		ErrorMessage *string `json:"errorMessage"`
	}
	if json.Unmarshal(payload, &doc) == nil && doc.ErrorMessage != nil {
		return *doc.ErrorMessage
	}
	return string(payload)
}

// deliver sends body to a destination ARN. Delivery failures are logged;
// the event itself is settled either way, as on Lambda.
func (q *Queue) deliver(ctx context.Context, ev *event, arn string, body []byte, attrs nats.Header) {
	log := q.log.With("function", ev.Function, "request_id", ev.RequestID)
	d, err := function.ParseDestination(arn)
	if err != nil {
		log.Warn("bad destination", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch d.Kind {
	case function.DestinationFunction:
		account := d.Account
		if account == "" {
			account = ev.Account
		}
		next := &event{Event: invoke.Event{
			RequestID: invoke.NewRequestID(),
			Account:   account,
			Function:  d.Name,
			Qualifier: d.Qualifier,
			Payload:   body,
			Enqueued:  q.cfg.Now(),
		}}
		err = q.publish(ctx, next, next.RequestID)
	case function.DestinationQueue:
		account := d.Account
		if account == "" {
			account = ev.Account
		}
		err = q.Send(ctx, account, d.Name, body, attrs)
	}
	if err != nil {
		log.Error("deliver to destination", "destination", arn, "err", err)
		return
	}
	q.stats.delivered.Add(1)
}
