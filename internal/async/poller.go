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

// Run pulls events and invokes them, at most Concurrency at once, until
// ctx is done. Then it stops pulling and returns once the events in flight
// are settled. It goes round the accounts with events waiting; while
// several wait, each gets at most its share of Concurrency.
func (q *Queue) Run(ctx context.Context) error {
	consumers := map[string]jetstream.Consumer{} // by account token
	slots := make(chan struct{}, q.cfg.Concurrency)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for ctx.Err() == nil {
		// Wait for a free slot, then count the others free.
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
		acct, n := q.ledger.next(time.Now(), free, q.cfg.Concurrency)
		if acct == "" {
			for range free {
				<-slots
			}
			// Nothing waiting: until an event is enqueued, or a retry or
			// an idle account's time may have come.
			select {
			case <-q.wake:
			case <-time.After(idleFor):
			case <-ctx.Done():
			}
			continue
		}
		for range free - n {
			<-slots
		}
		cons, err := q.accountConsumer(ctx, consumers, acct)
		got := 0
		if err == nil {
			var batch jetstream.MessageBatch
			batch, err = cons.FetchNoWait(n)
			if err == nil {
				for m := range batch.Messages() {
					got++
					q.stats.inflight.Add(1)
					q.ledger.started(acct)
					inflight.Go(func() {
						defer func() { <-slots; q.stats.inflight.Add(-1); q.ledger.finished(acct) }()
						q.handle(m)
					})
				}
				err = batch.Error()
			}
		}
		for range n - got {
			<-slots
		}
		if got == 0 {
			q.ledger.idle(acct, time.Now())
		}
		if err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			q.log.Warn("fetch events", "account", acct, "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
	}
	return nil
}

// accountConsumer returns account's consumer from consumers, opening it
// the first time.
func (q *Queue) accountConsumer(ctx context.Context, consumers map[string]jetstream.Consumer, account string) (jetstream.Consumer, error) {
	if c, ok := consumers[account]; ok {
		return c, nil
	}
	c, err := q.consumer(ctx, account)
	if err != nil {
		return nil, err
	}
	consumers[account] = c
	return c, nil
}

// ack settles m: the stream removes it. Only a confirmed acknowledgement
// takes it off its account's bytes; an unconfirmed one is delivered again
// after AckWait and settled then.
func (q *Queue) ack(m jetstream.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.DoubleAck(ctx); err != nil {
		q.log.Warn("acknowledge event", "err", err)
		return
	}
	q.forget(m)
}

// forget takes m off its account's bytes: what its subject and size
// counted for when it was stored.
func (q *Queue) forget(m jetstream.Msg) {
	if md, err := m.Metadata(); err == nil {
		acct, size := q.subjectAccount(m.Subject()), int64(len(m.Data()))+eventOverhead
		q.ledger.remove(md.Sequence.Stream, acct, size)
		q.noticeRemoved(md.Sequence.Stream, acct, size)
	}
}

// handle settles one delivery of an event.
func (q *Queue) handle(m jetstream.Msg) {
	ev, err := q.decode(m)
	if err != nil {
		q.log.Error("dropping malformed event message", "err", err)
		q.stats.dropped.Add(1)
		if m.Term() == nil {
			q.forget(m)
		}
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
		q.ack(m)
		return
	}
	eic := fn.EventInvoke
	if now.Sub(ev.Enqueued) > eic.MaxAge() {
		log.Warn("dropping event older than its maximum age", "age", now.Sub(ev.Enqueued).Round(time.Millisecond), "attempts", ev.Attempt)
		q.stats.expired.Add(1)
		q.settleFailure(context.Background(), ev, &fn, conditionEventAgeExceeded, nil)
		q.ack(m)
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
		TraceID:      ev.TraceID,
	})
	stop()
	switch {
	case errors.Is(err, invoke.ErrNotFound):
		log.Warn("dropping event: function no longer exists")
		q.stats.dropped.Add(1)
		q.ack(m)
	case errors.Is(err, invoke.ErrReservedThrottled) && fn.ReservedConcurrency != nil && *fn.ReservedConcurrency == 0:
		// Switched off: Lambda does not keep such events, it fails them
		// at once (no retries, no wait for the maximum age).
		log.Info("event failed: the function's reserved concurrency is 0", "attempts", ev.Attempt)
		q.stats.failed.Add(1)
		q.settleFailure(ctx, ev, &fn, conditionZeroReservedConcurrency, nil)
		q.ack(m)
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
		q.ack(m)
	default:
		attempt := ev.Attempt + 1
		due := q.cfg.Now().Add(time.Duration(attempt) * q.cfg.RetryBase)
		if attempt <= eic.Retries() && due.Sub(ev.Enqueued) > eic.MaxAge() {
			// The retry would come too late: Lambda ends the event now,
			// with this attempt's response in the record.
			ev.Attempt = attempt
			log.Info("event failed; its next attempt would exceed its maximum age", "attempts", attempt, "error_type", res.ErrorType)
			q.stats.expired.Add(1)
			q.settleFailure(ctx, ev, &fn, conditionEventAgeExceeded, res)
			res.Release()
			q.ack(m)
			return
		}
		if attempt <= eic.Retries() {
			next := *ev
			next.Attempt = attempt
			next.NotBefore = due
			next.Payload = append([]byte(nil), ev.Payload...)
			res.Release()
			if err := q.publish(ctx, &next, ev.RequestID+"#"+strconv.Itoa(attempt)); err != nil {
				log.Warn("requeue failed event", "err", err)
				m.NakWithDelay(time.Second)
				return
			}
			q.stats.retried.Add(1)
			log.Debug("event failed; retry scheduled", "attempts", attempt, "error_type", res.ErrorType)
			q.ack(m)
			return
		}
		ev.Attempt = attempt
		log.Info("event failed after all attempts", "attempts", attempt, "error_type", res.ErrorType)
		q.stats.failed.Add(1)
		q.settleFailure(ctx, ev, &fn, conditionRetriesExhausted, res)
		res.Release()
		q.ack(m)
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
