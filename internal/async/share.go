package async

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
)

// Sharing the ledger between the nodes of a cluster. Each node's ledger
// learns of the events its own Enqueues stored and its own pollers
// settled; in a cluster an event is often stored by one node (an api
// node) and settled by another (a poller), so without more every poller
// would miss the events other nodes stored (it polls only accounts its
// ledger says have events waiting) and an api node's account bytes would
// only grow until it refused every event with 429. Share makes each node
// tell the others, on core NATS, what it added and removed. The ledger
// counts a sequence once however often it hears of it, in whatever order
// the add and the remove arrive; a node ignores its own notices (a remove
// it hears of after its own would count as one that came first). Core
// NATS may drop a message (a slow subscriber); every resyncEvery a node
// compares its ledger with the stream and, when they disagree by the same
// number twice in a row, reads the stream again.

// ledgerSubject carries the ledger notices of every node.
const ledgerSubject = "hearth.async.ledger"

// resyncEvery is how often a sharing node checks its ledger against the
// stream.
const resyncEvery = 2 * time.Second

// Notice kinds.
const (
	noticeAdd    = 'a'
	noticeRemove = 'r'
)

// A notice is its kind, the sender's id, the sequence and the size (8
// bytes each, big-endian) and the account token.
type notice struct {
	kind    byte
	sender  uint64
	seq     uint64
	size    int64
	account string
}

func (n notice) encode() []byte {
	b := make([]byte, 0, 25+len(n.account))
	b = append(b, n.kind)
	b = binary.BigEndian.AppendUint64(b, n.sender)
	b = binary.BigEndian.AppendUint64(b, n.seq)
	b = binary.BigEndian.AppendUint64(b, uint64(n.size))
	return append(b, n.account...)
}

func decodeNotice(b []byte) (notice, error) {
	if len(b) < 26 || b[0] != noticeAdd && b[0] != noticeRemove {
		return notice{}, errors.New("malformed ledger notice")
	}
	n := notice{kind: b[0], sender: binary.BigEndian.Uint64(b[1:9]), seq: binary.BigEndian.Uint64(b[9:17]),
		size: int64(binary.BigEndian.Uint64(b[17:25])), account: string(b[25:])}
	if !validToken(n.account) || n.size < 0 {
		return notice{}, errors.New("malformed ledger notice")
	}
	return n, nil
}

// Share makes the queue's ledger the cluster's: it publishes what this
// node adds to the stream and removes from it on nc, applies what the
// other nodes publish, and checks the ledger against the stream every
// resyncEvery, until ctx is done. Call it before the node enqueues or
// polls; it returns once it has subscribed, and its goroutine ends with
// ctx (done is closed then).
func (q *Queue) Share(ctx context.Context, nc *nats.Conn) (done <-chan struct{}, err error) {
	self := &notifier{nc: nc, id: rand.Uint64()}
	sub, err := nc.Subscribe(ledgerSubject, func(m *nats.Msg) {
		n, err := decodeNotice(m.Data)
		if err != nil {
			q.log.Warn("ledger notice refused", "err", err)
			return
		}
		if n.sender == self.id {
			return
		}
		if n.kind == noticeAdd {
			q.ledger.add(n.seq, n.account, n.size)
			select {
			case q.wake <- struct{}{}:
			default:
			}
			return
		}
		q.ledger.remove(n.seq, n.account, n.size)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to ledger notices: %w", err)
	}
	// Large backlogs arrive in bursts; the subscriber's buffer is what
	// lets it keep up without the server dropping it as slow.
	_ = sub.SetPendingLimits(1<<20, 64<<20)
	q.notify.Store(self)
	// Events stored by others between Open's scan and the subscription
	// are missing: read the stream once more now that nothing can be
	// missed any more.
	if err := q.resync(ctx); err != nil {
		sub.Unsubscribe()
		return nil, err
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		defer sub.Unsubscribe()
		t := time.NewTicker(resyncEvery)
		defer t.Stop()
		var lastDiff int64
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			diff, err := q.ledgerDiff(ctx)
			if err != nil {
				q.log.Warn("check async ledger", "err", err)
				continue
			}
			// Under load the two differ by what is in flight, a number
			// that changes; a lost notice leaves the same difference.
			if diff != 0 && diff == lastDiff {
				if err := q.resync(ctx); err != nil {
					q.log.Warn("resync async ledger", "err", err)
					continue
				}
				diff = 0
			}
			lastDiff = diff
		}
	}()
	return ch, nil
}

// notifier publishes a node's ledger notices.
type notifier struct {
	nc *nats.Conn
	id uint64 // in its notices, to know them again
}

func (n *notifier) send(kind byte, seq uint64, account string, size int64) {
	// A lost notice costs the others accuracy until the next resync.
	_ = n.nc.Publish(ledgerSubject, notice{kind: kind, sender: n.id, seq: seq, size: size, account: account}.encode())
}

// noticeAdded and noticeRemoved tell the other nodes, when sharing.
func (q *Queue) noticeAdded(seq uint64, account string, size int64) {
	if n := q.notify.Load(); n != nil {
		n.send(noticeAdd, seq, account, size)
	}
}

func (q *Queue) noticeRemoved(seq uint64, account string, size int64) {
	if n := q.notify.Load(); n != nil {
		n.send(noticeRemove, seq, account, size)
	}
}

// ledgerDiff is the number of events the ledger counts less the
// stream's.
func (q *Queue) ledgerDiff(ctx context.Context) (int64, error) {
	info, err := q.events.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("event stream info: %w", err)
	}
	return int64(q.ledger.count()) - int64(info.State.Msgs), nil
}

// resync rebuilds the ledger's counts from the stream, keeping what this
// node has in flight and reserved. A notice that arrives while it reads
// the stream may be lost to the new counts; the next checks find the
// difference and resync again.
func (q *Queue) resync(ctx context.Context) error {
	fresh := newLedger()
	if err := q.scanInto(ctx, fresh, false); err != nil {
		return err
	}
	q.ledger.replaceCounts(fresh)
	return nil
}
