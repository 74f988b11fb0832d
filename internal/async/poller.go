package async

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"hearth/internal/invoke"
)

// Run pulls events in batches and invokes them, at most Concurrency at
// once, until ctx is done. Then it stops pulling and returns once the
// events in flight are settled.
func (q *Queue) Run(ctx context.Context) error {
	cons, err := q.events.Consumer(ctx, eventConsumer)
	if ctx.Err() != nil {
		return nil // stopped before it started: not a failure
	}
	if err != nil {
		return err
	}
	slots := make(chan struct{}, q.cfg.Concurrency)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for ctx.Err() == nil {
		// Wait for a free slot, then ask for as many events as are free.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		free := 1
	fill:
		for free < q.cfg.Batch {
			select {
			case slots <- struct{}{}:
				free++
			default:
				break fill
			}
		}
		batch, err := cons.Fetch(free, jetstream.FetchMaxWait(time.Second))
		got := 0
		if err == nil {
			for m := range batch.Messages() {
				got++
				q.stats.inflight.Add(1)
				inflight.Go(func() {
					defer func() { <-slots; q.stats.inflight.Add(-1) }()
					q.handle(m)
				})
			}
			err = batch.Error()
		}
		for range free - got {
			<-slots
		}
		if err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			q.log.Warn("fetch events", "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
	}
	return nil
}

// handle settles one delivery of an event.
func (q *Queue) handle(m jetstream.Msg) {
	ev, err := q.decode(m)
	if err != nil {
		q.log.Error("dropping malformed event message", "err", err)
		q.stats.dropped.Add(1)
		m.Term()
		return
	}
	log := q.log.With("function", ev.Function, "request_id", ev.RequestID)
	now := q.cfg.Now()
	if wait := ev.NotBefore.Sub(now); wait > 0 {
		m.NakWithDelay(wait) // a retry that is not due yet
		return
	}
	fn, err := q.configs.Function(ev.Account, ev.Function)
	if err == nil {
		// Retries and destinations are those of the qualifier the event
		// was sent to, as they are now.
		fn.EventInvoke, err = q.configs.EventInvoke(ev.Account, ev.Function, ev.Qualifier)
	}
	if err != nil {
		log.Warn("dropping event: function no longer exists")
		q.stats.dropped.Add(1)
		m.Ack()
		return
	}
	eic := fn.EventInvoke
	if now.Sub(ev.Enqueued) > eic.MaxAge() {
		log.Warn("dropping event older than its maximum age", "age", now.Sub(ev.Enqueued).Round(time.Millisecond), "attempts", ev.Attempt)
		q.stats.expired.Add(1)
		q.settleFailure(context.Background(), ev, &fn, conditionEventAgeExceeded, nil)
		m.Ack()
		return
	}

	// Keep the delivery alive while the function runs (up to 15 min).
	stop := q.keepAlive(m)
	ctx := context.Background()
	res, err := q.inv.Invoke(ctx, &invoke.Request{
		Account:      ev.Account,
		FunctionName: ev.Function,
		Qualifier:    ev.Qualifier,
		RequestID:    ev.RequestID,
		Payload:      ev.Payload,
	})
	stop()
	switch {
	case errors.Is(err, invoke.ErrNotFound):
		log.Warn("dropping event: function no longer exists")
		q.stats.dropped.Add(1)
		m.Ack()
	case err != nil:
		// Throttled, or the platform could not run it (shutting down, no
		// capacity): back to the queue with growing delays, 1 s to 5 min,
		// until the event is too old.
		delay := throttleBackoff(m)
		if errors.Is(err, invoke.ErrThrottled) {
			q.stats.throttled.Add(1)
		}
		log.Debug("event not run; retrying later", "err", err, "dur", delay)
		m.NakWithDelay(delay)
	case res.FunctionError == "":
		q.stats.succeeded.Add(1)
		q.settleSuccess(ctx, ev, &fn, res)
		res.Release()
		m.Ack()
	default:
		attempt := ev.Attempt + 1
		if attempt <= eic.Retries() {
			next := *ev
			next.Attempt = attempt
			next.NotBefore = q.cfg.Now().Add(time.Duration(attempt) * q.cfg.RetryBase)
			next.Payload = append([]byte(nil), ev.Payload...)
			res.Release()
			if err := q.publish(ctx, &next, ev.RequestID+"#"+strconv.Itoa(attempt)); err != nil {
				log.Warn("requeue failed event", "err", err)
				m.NakWithDelay(time.Second)
				return
			}
			q.stats.retried.Add(1)
			log.Debug("event failed; retry scheduled", "attempts", attempt, "error_type", res.ErrorType)
			m.Ack()
			return
		}
		ev.Attempt = attempt
		log.Info("event failed after all attempts", "attempts", attempt, "error_type", res.ErrorType)
		q.stats.failed.Add(1)
		q.settleFailure(ctx, ev, &fn, conditionRetriesExhausted, res)
		res.Release()
		m.Ack()
	}
}

// keepAlive tells the stream the delivery is being worked on, every third
// of AckWait, until the returned function is called.
func (q *Queue) keepAlive(m jetstream.Msg) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(q.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				m.InProgress()
			case <-done:
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// throttleBackoff grows from 1 s, doubling per delivery, to 5 min.
func throttleBackoff(m jetstream.Msg) time.Duration {
	n := uint64(1)
	if md, err := m.Metadata(); err == nil && md.NumDelivered > 0 {
		n = md.NumDelivered
	}
	d := time.Second << min(n-1, 9)
	return min(d, 5*time.Minute)
}
