package async

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"hearth/internal/function"
	"hearth/internal/invoke"
)

// ErrInvalidQueue reports a malformed queue name.
var ErrInvalidQueue = errors.New("invalid queue name")

// Message is one message of a named queue. Body is the message's JSON, or
// a JSON string holding it when it is not JSON.
type Message struct {
	Body       json.RawMessage   `json:"body"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Sent       time.Time         `json:"sent"`
}

// queueKey is the part of a named queue's subject (and consumer) after
// the prefix: account's queue name, which no other account's shares. The
// server's own account keeps the bare name its queues had before
// accounts, so none of their messages is lost. Queue names hold no dots,
// so ACCOUNT.NAME is unambiguous.
func (q *Queue) queueKey(account, name string) string {
	if account == "" || account == q.cfg.Account {
		return name
	}
	return account + "." + name
}

// Send appends body (with attributes) to account's named queue.
func (q *Queue) Send(ctx context.Context, account, name string, body []byte, attrs nats.Header) error {
	if !function.ValidQueueName(name) {
		return fmt.Errorf("%w: %q", ErrInvalidQueue, name)
	}
	msg := &nats.Msg{Subject: queueSubject + q.queueKey(account, name), Header: attrs, Data: body}
	if _, err := q.js.PublishMsg(ctx, msg); err != nil {
		if streamFull(err) {
			return fmt.Errorf("%w: the named queues are at their %d byte limit", invoke.ErrQueueFull, q.cfg.MaxQueueBytes)
		}
		return fmt.Errorf("send to queue %s: %w", name, err)
	}
	return nil
}

// Receive takes up to max messages from account's named queue, waiting up
// to wait for the first. Received messages are removed from the queue.
func (q *Queue) Receive(ctx context.Context, account, name string, max int, wait time.Duration) ([]Message, error) {
	if !function.ValidQueueName(name) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidQueue, name)
	}
	key := q.queueKey(account, name)
	cons, err := q.queues.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		// A durable name takes no dots.
		Durable:       "queue-" + strings.ReplaceAll(key, ".", "-"),
		AckPolicy:     jetstream.AckExplicitPolicy,
		FilterSubject: queueSubject + key,
		// A reader that disappears without acknowledging gives the
		// messages back after this long.
		AckWait:           30 * time.Second,
		InactiveThreshold: 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", name, err)
	}
	// Like SQS long polling: take what is there; if nothing is, wait up
	// to wait for one message, then take what else has arrived.
	out, err := take(ctx, cons, max, 0)
	if err != nil || len(out) > 0 || wait <= 0 {
		return out, err
	}
	out, err = take(ctx, cons, 1, wait)
	if err != nil || len(out) == 0 || max == 1 {
		return out, err
	}
	more, err := take(ctx, cons, max-1, 0)
	return append(out, more...), err
}

// take fetches up to max messages, waiting up to wait (none when zero),
// and removes them from the queue.
func take(ctx context.Context, cons jetstream.Consumer, max int, wait time.Duration) ([]Message, error) {
	var batch jetstream.MessageBatch
	var err error
	if wait > 0 {
		batch, err = cons.Fetch(max, jetstream.FetchMaxWait(wait))
	} else {
		batch, err = cons.FetchNoWait(max)
	}
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	var out []Message
	for m := range batch.Messages() {
		msg := Message{Body: asJSON(m.Data())}
		if md, err := m.Metadata(); err == nil {
			msg.Sent = md.Timestamp
		}
		for k := range m.Headers() {
			if msg.Attributes == nil {
				msg.Attributes = map[string]string{}
			}
			msg.Attributes[k] = m.Headers().Get(k)
		}
		if err := m.DoubleAck(ctx); err != nil {
			return out, fmt.Errorf("remove received message: %w", err)
		}
		out = append(out, msg)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
		return out, fmt.Errorf("receive: %w", err)
	}
	return out, nil
}
