package cluster

// CloudWatch Logs changes across nodes: a log group created, a stream
// created, a retention set or removed, a group deleted or events put
// through one node's API are published on LogChangeSubject, and every
// other node of the cluster applies them to its own logs store
// (logs.Store.Apply), so that whichever node a client asks answers the
// same. Like shipped log lines, delivery is at most once: a node that is
// not connected when a change is published does not see it.

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/nats-io/nats.go"

	"hearth/internal/logs"
)

// LogChangeSubject is where nodes publish the changes made through their
// CloudWatch Logs API.
const LogChangeSubject = "hearth.cluster.logchanges"

// logChangeMsg is one published change; Node is its publisher's id, so
// that it skips its own.
type logChangeMsg struct {
	Node   string      `json:"node"`
	Change logs.Change `json:"change"`
}

// ReplicateLogChanges publishes every change made through ls's API (its
// change tee) and applies the other nodes' to ls, until ctx is done. It
// subscribes and sets the tee before it returns; the returned channel is
// closed once it has stopped (the tee removed, the subscription ended).
func ReplicateLogChanges(ctx context.Context, nc *nats.Conn, ls *logs.Store, log *slog.Logger) (<-chan struct{}, error) {
	log = log.With("component", "cluster")
	self := NewNodeID()
	sub, err := nc.Subscribe(LogChangeSubject, func(m *nats.Msg) {
		var msg logChangeMsg
		if err := json.Unmarshal(m.Data, &msg); err != nil {
			log.Warn("log change refused", "err", err)
			return
		}
		if msg.Node == self {
			return
		}
		if err := ls.Apply(msg.Change); err != nil {
			log.Warn("apply a log change from another node", "node", msg.Node, "kind", msg.Change.Kind, "err", err)
		}
	})
	if err != nil {
		return nil, err
	}
	// PutLogEvents batches of 1 MiB arrive as several messages; past these
	// NATS drops messages for a slow subscriber rather than holding more.
	sub.SetPendingLimits(64<<10, 64<<20)
	limit := 512 << 10
	if mp := int(nc.MaxPayload()); mp > 0 && limit > mp/2 {
		limit = mp / 2
	}
	ls.SetChangeTee(func(c logs.Change) {
		for _, part := range splitChange(c, limit) {
			b, err := json.Marshal(logChangeMsg{Node: self, Change: part})
			if err != nil {
				continue // cannot happen: strings and numbers only
			}
			if err := nc.Publish(LogChangeSubject, b); err != nil {
				log.Debug("publish log change", "kind", c.Kind, "err", err)
			}
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		ls.SetChangeTee(nil)
		sub.Unsubscribe()
	}()
	return done, nil
}

// splitChange cuts a put whose events exceed limit bytes of text into
// puts of consecutive events that do not (a longer event alone); other
// changes are returned whole.
func splitChange(c logs.Change, limit int) []logs.Change {
	if c.Kind != logs.ChangePut {
		return []logs.Change{c}
	}
	var out []logs.Change
	size, start := 0, 0
	for i, e := range c.Events {
		n := len(e.Message) + 32 // the JSON around it
		if i > start && size+n > limit {
			part := c
			part.Events = c.Events[start:i]
			out = append(out, part)
			start, size = i, 0
		}
		size += n
	}
	part := c
	part.Events = c.Events[start:]
	return append(out, part)
}
