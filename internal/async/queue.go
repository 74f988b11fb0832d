// Package async runs Lambda's asynchronous (Event) invocations. The queue
// is a JetStream stream in the same NATS server the store uses; an event
// is acknowledged to its caller (202) only once the stream has stored it.
// A fleet of pollers pulls events in batches through a durable consumer and
// runs each through the same invoke path as a synchronous call. Function
// errors are retried per the function's event invoke config with Lambda's
// backoff; throttled events wait and are retried until they are too old;
// outcomes go to destinations (another function, or a named Hearth queue)
// and failures to the dead-letter queue.
//
// Delivery is at least once: an event is removed from the stream only after
// its outcome is settled, so a crash at any point redelivers it, and every
// attempt carries the same request id.
//
// A retry is a new message carrying the attempt count and a not-before
// time, published before the old one is acknowledged; a message delivered
// before its not-before time is handed back with a delay. So nothing about
// retries lives outside the stream.
package async

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"hearth/internal/function"
	"hearth/internal/invoke"
	"hearth/internal/worker"
)

const (
	eventStream  = "HEARTH_ASYNC"
	eventSubject = "hearth.async.events." // + account + "." + function name (before accounts: function name)
	// legacyConsumer served every account's events before each had its
	// own.
	legacyConsumer = "hearth-pollers"
	queueStream    = "HEARTH_QUEUES"
	queueSubject   = "hearth.queues." // + queue name

	hdrRequestID = "Hearth-Request-Id"
	hdrAccount   = "Hearth-Account" // absent in events queued before accounts: the default
	hdrFunction  = "Hearth-Function"
	hdrQualifier = "Hearth-Qualifier"
	hdrEnqueued  = "Hearth-Enqueued"   // unix milliseconds
	hdrAttempt   = "Hearth-Attempt"    // invocations made so far
	hdrNotBefore = "Hearth-Not-Before" // unix milliseconds
	hdrTraceID   = "Hearth-Trace-Id"   // absent when the caller sent none, and in events queued before it was kept
)

// Config configures a Queue. Zero fields take the defaults in comments.
type Config struct {
	// RetryBase is the delay before the second attempt of an event whose
	// invocation failed; the third waits twice as long. Zero means 1
	// minute, as Lambda.
	RetryBase time.Duration
	// Concurrency bounds the events being invoked at once. Zero means 64.
	Concurrency int
	// Batch bounds how many events one pull fetches. Zero means 32.
	Batch int
	// AckWait is how long an event may go without a sign of life before
	// the stream redelivers it. Pollers extend it while they work. Zero
	// means 30 s.
	AckWait time.Duration
	// Region and Account build the function ARNs of invocation records.
	Region, Account string
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// MaxBytes bounds the event stream on disk. Zero means 1 GiB. New
	// events are refused (invoke.ErrQueueFull) once it is nine-tenths
	// full; the rest is kept for the retries of events already accepted.
	MaxBytes int64
	// AccountMaxBytes bounds one account's events in the queue, so that
	// one account cannot fill it for all: past it the account's new events
	// are refused (invoke.ErrQueueFull). Zero means a quarter of MaxBytes.
	AccountMaxBytes int64
	// MaxQueueBytes bounds the named queues (destinations, dead-letter
	// queues) together. Zero means 1 GiB.
	MaxQueueBytes int64
	// Recover makes Open hand back at once the events that a previous
	// run of the pollers received but never settled (it crashed), instead
	// of after AckWait. Only safe when no other process polls the queue:
	// the embedded single-node server.
	Recover bool
}

func (c Config) withDefaults() Config {
	if c.RetryBase == 0 {
		c.RetryBase = time.Minute
	}
	if c.Concurrency == 0 {
		c.Concurrency = 64
	}
	if c.Batch == 0 {
		c.Batch = 32
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 1 << 30
	}
	if c.AccountMaxBytes == 0 {
		c.AccountMaxBytes = c.MaxBytes / 4
	}
	if c.MaxQueueBytes == 0 {
		c.MaxQueueBytes = 1 << 30
	}
	return c
}

// Invoker runs an invocation synchronously. *invoke.Service satisfies it.
type Invoker interface {
	Invoke(ctx context.Context, req *invoke.Request) (*worker.Result, error)
}

// Configs gives functions' current configurations. *store.Store satisfies
// it.
type Configs interface {
	Function(account, name string) (function.Config, error)
	// EventInvoke is the event invoke config of the qualifier the event
	// was sent to (the function's own for none).
	EventInvoke(account, name, qualifier string) (*function.EventInvokeConfig, error)
}

// Queue is the async event queue and its pollers.
type Queue struct {
	cfg     Config
	js      jetstream.JetStream
	events  jetstream.Stream
	queues  jetstream.Stream
	inv     Invoker
	configs Configs
	log     *slog.Logger
	stats   counters
	ledger  *ledger
	// wake tells the pollers an event was enqueued.
	wake chan struct{}
	// notify tells the other nodes what the ledger counts (Share); nil on
	// a single node.
	notify atomic.Pointer[notifier]

	// used is the event stream's size as last read, refreshed at most
	// every usedEvery by whichever Enqueue finds it stale (refreshing).
	used       atomic.Int64
	usedAt     atomic.Int64 // unix nanoseconds of the last read
	refreshing atomic.Bool
}

// usedEvery bounds how stale the size Enqueue checks may be. Enqueues
// between two reads can overshoot the soft limit by what they add in that
// time; the stream's hard limit (MaxBytes) stops them there.
const usedEvery = 100 * time.Millisecond

var _ invoke.Queue = (*Queue)(nil)

// Open creates or opens the event stream, the pollers' durable consumer and
// the stream behind named queues. Call Run to start polling.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config, inv Invoker, configs Configs, log *slog.Logger) (*Queue, error) {
	cfg = cfg.withDefaults()
	events, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        eventStream,
		Description: "Hearth asynchronous invocations",
		Subjects:    []string{eventSubject + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		MaxMsgSize:  4 << 20,
		Duplicates:  2 * time.Minute,
		MaxBytes:    cfg.MaxBytes,
		Discard:     jetstream.DiscardNew,
	})
	if err != nil {
		return nil, fmt.Errorf("open event stream: %w", err)
	}
	// Recreating the consumers forgets which events were delivered; the
	// work-queue stream still holds every unsettled one, so with Recover
	// all of them are delivered again now. Retries keep their not-before.
	if err := resetConsumers(ctx, events, cfg.Recover); err != nil {
		return nil, err
	}
	queues, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        queueStream,
		Description: "Hearth named queues (destinations and dead-letter queues)",
		Subjects:    []string{queueSubject + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		MaxMsgSize:  8 << 20,
		MaxBytes:    cfg.MaxQueueBytes,
		Discard:     jetstream.DiscardNew,
	})
	if err != nil {
		return nil, fmt.Errorf("open queue stream: %w", err)
	}
	q := &Queue{cfg: cfg, js: js, events: events, queues: queues, inv: inv, configs: configs,
		log: log.With("component", "async"), ledger: newLedger(), wake: make(chan struct{}, 1)}
	if err := q.scan(ctx, cfg.Recover); err != nil {
		return nil, err
	}
	return q, nil
}

// event is a queued invocation with its retry state.
type event struct {
	invoke.Event
	Attempt   int       // invocations made so far
	NotBefore time.Time // zero when due at once
}

// Enqueue stores ev durably; it returns after the stream has acknowledged
// it. Enqueueing the same request id twice within two minutes stores it
// once.
func (q *Queue) Enqueue(ctx context.Context, ev *invoke.Event) error {
	if q.usedBytes(ctx)+int64(len(ev.Payload)) > q.cfg.MaxBytes/10*9 {
		return fmt.Errorf("%w: the asynchronous event queue holds %d of its %d bytes", invoke.ErrQueueFull, q.used.Load(), q.cfg.MaxBytes)
	}
	e := &event{Event: *ev}
	if e.Account == "" {
		e.Account = q.cfg.Account
	}
	acct := q.accountToken(e.Account)
	if !validToken(acct) {
		return fmt.Errorf("enqueue event %s: invalid account %q", ev.RequestID, e.Account)
	}
	size := eventSize(e)
	if held, ok := q.ledger.reserve(acct, size, q.cfg.AccountMaxBytes); !ok {
		return fmt.Errorf("%w: account %s's asynchronous events hold %d of its %d bytes", invoke.ErrQueueFull, e.Account, held, q.cfg.AccountMaxBytes)
	}
	err := q.publish(ctx, e, ev.RequestID)
	q.ledger.unreserve(acct, size)
	if err != nil {
		return err
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
	q.stats.enqueued.Add(1)
	return nil
}

func (q *Queue) publish(ctx context.Context, ev *event, msgID string) error {
	// One backing array for the header values, and the message id set
	// here rather than by a publish option: an enqueue allocates little
	// besides what the NATS client and server need.
	vals := [9]string{ev.RequestID, ev.Account, ev.Function, strconv.FormatInt(ev.Enqueued.UnixMilli(), 10), strconv.Itoa(ev.Attempt), msgID}
	h := make(nats.Header, 9)
	h[hdrRequestID] = vals[0:1:1]
	h[hdrAccount] = vals[1:2:2]
	h[hdrFunction] = vals[2:3:3]
	h[hdrEnqueued] = vals[3:4:4]
	h[hdrAttempt] = vals[4:5:5]
	h[jetstream.MsgIDHeader] = vals[5:6:6]
	if ev.Qualifier != "" {
		vals[6] = ev.Qualifier
		h[hdrQualifier] = vals[6:7:7]
	}
	if !ev.NotBefore.IsZero() {
		vals[7] = strconv.FormatInt(ev.NotBefore.UnixMilli(), 10)
		h[hdrNotBefore] = vals[7:8:8]
	}
	if ev.TraceID != "" {
		vals[8] = ev.TraceID
		h[hdrTraceID] = vals[8:9:9]
	}
	acct := q.accountToken(ev.Account)
	msg := &nats.Msg{Subject: eventSubject + acct + "." + ev.Function, Header: h, Data: ev.Payload}
	ack, err := q.js.PublishMsg(ctx, msg)
	if err != nil {
		if streamFull(err) {
			return fmt.Errorf("%w: the asynchronous event queue is at its %d byte limit", invoke.ErrQueueFull, q.cfg.MaxBytes)
		}
		return fmt.Errorf("store event %s: %w", ev.RequestID, err)
	}
	if !ack.Duplicate {
		q.ledger.add(ack.Sequence, acct, eventSize(ev))
		q.noticeAdded(ack.Sequence, acct, eventSize(ev))
	}
	return nil
}

// eventSize is what ev counts for in its account's bytes.
func eventSize(ev *event) int64 { return int64(len(ev.Payload)) + eventOverhead }

// usedBytes returns the event stream's size, at most usedEvery old.
func (q *Queue) usedBytes(ctx context.Context) int64 {
	if time.Since(time.Unix(0, q.usedAt.Load())) < usedEvery || !q.refreshing.CompareAndSwap(false, true) {
		return q.used.Load()
	}
	defer q.refreshing.Store(false)
	info, err := q.events.Info(ctx)
	if err != nil {
		return q.used.Load() // the publish that follows meets the hard limit
	}
	q.used.Store(int64(info.State.Bytes))
	q.usedAt.Store(time.Now().UnixNano())
	return int64(info.State.Bytes)
}

// streamFull reports a publish refused by a stream's MaxBytes.
func streamFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && strings.Contains(apiErr.Description, "maximum bytes exceeded")
}

var errMalformed = errors.New("malformed event message")

func (q *Queue) decode(m jetstream.Msg) (*event, error) {
	h := m.Headers()
	ev := &event{Event: invoke.Event{
		RequestID: h.Get(hdrRequestID),
		Account:   h.Get(hdrAccount),
		Function:  h.Get(hdrFunction),
		Qualifier: h.Get(hdrQualifier),
		TraceID:   h.Get(hdrTraceID),
		Payload:   m.Data(),
	}}
	enq, err1 := strconv.ParseInt(h.Get(hdrEnqueued), 10, 64)
	att, err2 := strconv.Atoi(h.Get(hdrAttempt))
	if err1 != nil || err2 != nil || ev.RequestID == "" || !function.ValidName(ev.Function) || att < 0 {
		return nil, errMalformed
	}
	ev.Enqueued, ev.Attempt = time.UnixMilli(enq), att
	if ev.Account == "" {
		ev.Account = q.cfg.Account
	}
	if nb := h.Get(hdrNotBefore); nb != "" {
		ms, err := strconv.ParseInt(nb, 10, 64)
		if err != nil {
			return nil, errMalformed
		}
		ev.NotBefore = time.UnixMilli(ms)
	}
	return ev, nil
}

// counters are the queue's lifetime totals since the server started.
type counters struct {
	enqueued, succeeded, failed, retried, throttled, expired, dropped, delivered atomic.Int64
	inflight                                                                     atomic.Int64
}
