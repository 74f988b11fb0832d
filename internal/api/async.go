package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"hearth/internal/async"
	"hearth/internal/function"
)

// Async is what the API needs of the async queue: its statistics and the
// named queues that destinations fill. *async.Queue satisfies it.
type Async interface {
	Stats(ctx context.Context) (async.Stats, error)
	Receive(ctx context.Context, account, name string, max int, wait time.Duration) ([]async.Message, error)
	Send(ctx context.Context, account, name string, body []byte, attrs nats.Header) error
}

// SetAsync connects the async queue's endpoints.
func (a *API) SetAsync(q Async) { a.async = q }

func (a *API) asyncStats(w http.ResponseWriter, r *http.Request) {
	if a.async == nil {
		a.fail(w, r, invalid("asynchronous invocations are not enabled on this server"))
		return
	}
	s, err := a.async.Stats(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.reply(w, r, http.StatusOK, s)
}

// receiveQueue takes messages from a named queue: GET
// /_hearth/v1/queues/{name}/messages?max=10&wait=5s. Messages returned are
// removed from the queue.
func (a *API) receiveQueue(w http.ResponseWriter, r *http.Request) {
	if a.async == nil {
		a.fail(w, r, invalid("asynchronous invocations are not enabled on this server"))
		return
	}
	q := r.URL.Query()
	max := 10
	if s := q.Get("max"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			a.fail(w, r, invalid("max must be between 1 and 1000"))
			return
		}
		max = n
	}
	var wait time.Duration
	if s := q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > 20*time.Second {
			a.fail(w, r, invalid("wait must be a duration up to 20s"))
			return
		}
		wait = d
	}
	name := r.PathValue("name")
	if !function.ValidQueueName(name) {
		a.fail(w, r, invalid("invalid queue name"))
		return
	}
	msgs, err := a.async.Receive(r.Context(), a.account(r), name, max, wait)
	if err != nil && !errors.Is(err, context.Canceled) {
		a.fail(w, r, err)
		return
	}
	if msgs == nil {
		msgs = []async.Message{}
	}
	a.reply(w, r, http.StatusOK, struct {
		Messages []async.Message `json:"messages"`
	}{msgs})
}

// sendQueue appends the request body to a named queue: POST
// /_hearth/v1/queues/{name}/messages.
func (a *API) sendQueue(w http.ResponseWriter, r *http.Request) {
	if a.async == nil {
		a.fail(w, r, invalid("asynchronous invocations are not enabled on this server"))
		return
	}
	name := r.PathValue("name")
	if !function.ValidQueueName(name) {
		a.fail(w, r, invalid("invalid queue name"))
		return
	}
	var body json.RawMessage
	if !a.decode(w, r, &body) {
		return
	}
	if err := a.async.Send(r.Context(), a.account(r), name, body, nil); err != nil {
		a.fail(w, r, err)
		return
	}
	a.noContent(w, r)
}
