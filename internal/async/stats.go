package async

import (
	"context"
	"fmt"
	"time"
)

// Stats describes the queue now and what it has done since the server
// started.
type Stats struct {
	// Depth is the number of events waiting or being retried.
	Depth uint64 `json:"depth"`
	// OldestAgeSeconds is how long the oldest stored event has waited.
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	InFlight         int     `json:"in_flight"`

	Enqueued  int64 `json:"enqueued"`
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`    // all attempts failed
	Retried   int64 `json:"retried"`   // retries scheduled after a function error
	Throttled int64 `json:"throttled"` // deliveries put back because of throttling
	Expired   int64 `json:"expired"`   // dropped for exceeding the maximum age
	Dropped   int64 `json:"dropped"`   // dropped because the function was deleted, or malformed
	Delivered int64 `json:"delivered"` // records sent to destinations and dead-letter queues
}

// Stats reports the queue's depth, its oldest event's age and counters.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	info, err := q.events.Info(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("event stream info: %w", err)
	}
	s := Stats{
		Depth:     info.State.Msgs,
		InFlight:  int(q.stats.inflight.Load()),
		Enqueued:  q.stats.enqueued.Load(),
		Succeeded: q.stats.succeeded.Load(),
		Failed:    q.stats.failed.Load(),
		Retried:   q.stats.retried.Load(),
		Throttled: q.stats.throttled.Load(),
		Expired:   q.stats.expired.Load(),
		Dropped:   q.stats.dropped.Load(),
		Delivered: q.stats.delivered.Load(),
	}
	if info.State.Msgs > 0 && !info.State.FirstTime.IsZero() {
		s.OldestAgeSeconds = q.cfg.Now().Sub(info.State.FirstTime).Round(time.Millisecond).Seconds()
	}
	return s, nil
}

// ReportEvery logs the counters every interval while they change, until
// ctx is done, so that operators see retries and drops in the log.
func (q *Queue) ReportEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last Stats
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s, err := q.Stats(ctx)
		if err != nil {
			continue
		}
		cmp := s
		cmp.OldestAgeSeconds, cmp.InFlight = last.OldestAgeSeconds, last.InFlight
		if cmp == last && s.Depth == 0 {
			continue
		}
		last = s
		q.log.Info("async queue", "depth", s.Depth, "oldest_age_s", s.OldestAgeSeconds, "enqueued", s.Enqueued,
			"succeeded", s.Succeeded, "failed", s.Failed, "retried", s.Retried, "throttled", s.Throttled,
			"expired", s.Expired, "dropped", s.Dropped, "delivered", s.Delivered)
	}
}
