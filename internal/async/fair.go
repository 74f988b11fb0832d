package async

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Fairness between accounts. Each account's events have their own subject
// (hearth.async.events.ACCOUNT.FUNCTION) and their own durable pull
// consumer, so the pollers can choose whose events to take next: they go
// round the accounts with events waiting, and while several wait, none
// holds more than its share of the pollers (an account alone may hold them
// all). Events stored before accounts had subjects
// (hearth.async.events.FUNCTION) are the default account's.
//
// The ledger knows each account's events and bytes in the stream: they
// are read from the stream when the queue opens, and kept by the
// publishes and acknowledgements since, so an account's queued bytes
// survive restarts and crashes exactly.

const (
	// eventOverhead is what an event's headers and subject add to its
	// payload in an account's byte count.
	eventOverhead = 256
	// idleFor is how long the pollers leave an account alone after
	// finding nothing deliverable in it (its events are all in flight or
	// waiting for a retry), unless it enqueues something new.
	idleFor = 100 * time.Millisecond
	// consumerPrefix + account token is an account's consumer.
	consumerPrefix = "hearth-pollers-"
	// defaultToken stands for the default account in subjects when the
	// queue has no account configured.
	defaultToken = "default"
)

// backlog is one account's events in the stream.
type backlog struct {
	events    int // stored, in flight or not
	bytes     int64
	reserved  int64 // bytes of Enqueues being published
	inflight  int
	idleUntil time.Time
}

// ledger is the stream's events by account. It counts each account's
// events and bytes, and knows which stream sequences it has counted (one
// bit each), so that an event is counted once however often its publish
// or its removal is reported. The account and size of an event removed
// come from its message, as they did when it was counted.
type ledger struct {
	mu       sync.Mutex
	live     seqSet // counted and not removed
	gone     seqSet // removed before their publish was counted
	accounts map[string]*backlog
	last     string // the account served last, for the round
}

func newLedger() *ledger {
	return &ledger{accounts: map[string]*backlog{}}
}

// backlogLocked returns account's backlog, creating it.
func (l *ledger) backlogLocked(account string) *backlog {
	b := l.accounts[account]
	if b == nil {
		b = &backlog{}
		l.accounts[account] = b
	}
	return b
}

// reserve claims size bytes of account's limit for an Enqueue, or reports
// how much the account holds if that would pass limit.
func (l *ledger) reserve(account string, size, limit int64) (held int64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.backlogLocked(account)
	if held := b.bytes + b.reserved; held+size > limit {
		return held, false
	}
	b.reserved += size
	return 0, true
}

// unreserve gives back what reserve claimed.
func (l *ledger) unreserve(account string, size int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.backlogLocked(account).reserved -= size
}

// add records the event the stream stored as seq, and makes its account
// worth a look at once.
func (l *ledger) add(seq uint64, account string, size int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone.remove(seq) || !l.live.add(seq) {
		return
	}
	b := l.backlogLocked(account)
	b.events++
	b.bytes += size
	b.idleUntil = time.Time{}
}

// remove forgets the event of account, of size, stored as seq: the stream
// no longer holds it.
func (l *ledger) remove(seq uint64, account string, size int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.live.remove(seq) {
		l.gone.add(seq)
		return
	}
	b := l.backlogLocked(account)
	b.events--
	b.bytes -= size
}

// seqSet is a set of stream sequences: a bitmap per run of seqChunk
// sequences that holds any. A stream's live events are mostly one run
// from its first sequence to its last, so this takes about a bit per
// event where a map takes tens of bytes.
type seqSet struct {
	chunks map[uint64]*seqBits
}

const seqChunk = 4096

type seqBits struct {
	n    int // bits set
	bits [seqChunk / 64]uint64
}

// add puts seq in the set and reports whether it was not there.
func (s *seqSet) add(seq uint64) bool {
	c := s.chunks[seq/seqChunk]
	if c == nil {
		if s.chunks == nil {
			s.chunks = map[uint64]*seqBits{}
		}
		c = &seqBits{}
		s.chunks[seq/seqChunk] = c
	}
	i, bit := seq%seqChunk/64, uint64(1)<<(seq%64)
	if c.bits[i]&bit != 0 {
		return false
	}
	c.bits[i] |= bit
	c.n++
	return true
}

// remove takes seq out of the set and reports whether it was there.
func (s *seqSet) remove(seq uint64) bool {
	c := s.chunks[seq/seqChunk]
	i, bit := seq%seqChunk/64, uint64(1)<<(seq%64)
	if c == nil || c.bits[i]&bit == 0 {
		return false
	}
	c.bits[i] &^= bit
	if c.n--; c.n == 0 {
		delete(s.chunks, seq/seqChunk)
	}
	return true
}

// len is the number of sequences in the set.
func (s *seqSet) len() int {
	n := 0
	for _, c := range s.chunks {
		n += c.n
	}
	return n
}

// count is the number of events the ledger counts.
func (l *ledger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live.len()
}

// replaceCounts takes fresh's events and bytes, keeping this ledger's
// reservations, events in flight and idle times.
func (l *ledger) replaceCounts(fresh *ledger) {
	fresh.mu.Lock()
	defer fresh.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.live, l.gone = fresh.live, seqSet{}
	for a, b := range l.accounts {
		b.events, b.bytes = 0, 0
		if f := fresh.accounts[a]; f != nil {
			b.events, b.bytes = f.events, f.bytes
		}
	}
	for a, f := range fresh.accounts {
		if l.accounts[a] == nil {
			l.accounts[a] = &backlog{events: f.events, bytes: f.bytes}
		}
	}
}

// bytes is what account's events hold.
func (l *ledger) bytes(account string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.accounts[account]; b != nil {
		return b.bytes
	}
	return 0
}

// next chooses whose events the pollers take next, given free pollers out
// of total, and how many it may take: the next account round from the last
// one served with events waiting and fewer in flight than its share. When
// every waiting account has its share, free pollers still go to the one
// with the fewest in flight. It returns "" when no account has events
// waiting.
func (l *ledger) next(now time.Time, free, total int) (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var waiting []string
	for a, b := range l.accounts {
		if b.events > b.inflight && !now.Before(b.idleUntil) {
			waiting = append(waiting, a)
		}
	}
	if len(waiting) == 0 {
		return "", 0
	}
	slices.Sort(waiting)
	share := max(1, total/len(waiting))
	start, _ := slices.BinarySearch(waiting, l.last)
	if start < len(waiting) && waiting[start] == l.last {
		start++
	}
	for i := range waiting {
		a := waiting[(start+i)%len(waiting)]
		b := l.accounts[a]
		if b.inflight < share {
			l.last = a
			return a, min(free, share-b.inflight, b.events-b.inflight)
		}
	}
	fewest := waiting[0]
	for _, a := range waiting[1:] {
		if l.accounts[a].inflight < l.accounts[fewest].inflight {
			fewest = a
		}
	}
	l.last = fewest
	return fewest, 1
}

// started and finished count an account's events in flight.
func (l *ledger) started(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.backlogLocked(account).inflight++
}

func (l *ledger) finished(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.backlogLocked(account).inflight--
}

// idle makes the pollers leave account alone for a while: nothing of it
// was deliverable.
func (l *ledger) idle(account string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.backlogLocked(account).idleUntil = now.Add(idleFor)
}

// accountToken is account's token in event subjects and consumer names.
func (q *Queue) accountToken(account string) string {
	if account == "" {
		account = q.cfg.Account
	}
	if account == "" {
		return defaultToken
	}
	return account
}

// validToken reports whether s can be a subject token and a consumer
// name's part.
func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// subjectAccount is the account token whose queue a stored event's
// subject puts it in: events from before accounts had subjects are the
// default account's.
func (q *Queue) subjectAccount(subject string) string {
	rest := strings.TrimPrefix(subject, eventSubject)
	if a, _, ok := strings.Cut(rest, "."); ok {
		return a
	}
	return q.accountToken("")
}

// consumer returns account's consumer, creating it.
func (q *Queue) consumer(ctx context.Context, account string) (jetstream.Consumer, error) {
	filters := []string{eventSubject + account + ".*"}
	if account == q.accountToken("") {
		filters = append(filters, eventSubject+"*") // stored before accounts had subjects
	}
	c, err := q.events.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:        consumerPrefix + account,
		Description:    "Hearth async pollers for account " + account,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        q.cfg.AckWait,
		MaxDeliver:     -1,
		MaxAckPending:  -1,
		FilterSubjects: filters,
	})
	if err != nil {
		return nil, fmt.Errorf("open pollers' consumer for account %s: %w", account, err)
	}
	return c, nil
}

// resetConsumers deletes the pollers' consumers: the one that served every
// account before accounts had their own (its filter would overlap theirs,
// which a work-queue stream refuses), and with all, every account's, so
// that what they had delivered and not settled is delivered again.
func resetConsumers(ctx context.Context, events jetstream.Stream, all bool) error {
	if err := events.DeleteConsumer(ctx, legacyConsumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete pollers' consumer: %w", err)
	}
	if !all {
		return nil
	}
	names := events.ConsumerNames(ctx)
	var del []string
	for n := range names.Name() {
		if strings.HasPrefix(n, consumerPrefix) {
			del = append(del, n)
		}
	}
	if err := names.Err(); err != nil {
		return fmt.Errorf("list pollers' consumers: %w", err)
	}
	for _, n := range del {
		if err := events.DeleteConsumer(ctx, n); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("delete pollers' consumer %s: %w", n, err)
		}
	}
	return nil
}

// scan fills the ledger from the stream. With exclusive (no consumer of
// the pollers exists), it reads every event's headers through a
// temporary consumer; otherwise it reads the events one by one.
func (q *Queue) scan(ctx context.Context, exclusive bool) error {
	return q.scanInto(ctx, q.ledger, exclusive)
}

// scanInto fills l from the stream, as scan does.
func (q *Queue) scanInto(ctx context.Context, l *ledger, exclusive bool) error {
	info, err := q.events.Info(ctx)
	if err != nil {
		return fmt.Errorf("event stream info: %w", err)
	}
	st := info.State
	if st.Msgs == 0 {
		return nil
	}
	if !exclusive {
		for seq := st.FirstSeq; seq <= st.LastSeq; seq++ {
			m, err := q.events.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read event %d: %w", seq, err)
			}
			l.add(seq, q.subjectAccount(m.Subject), int64(len(m.Data))+eventOverhead)
		}
		return nil
	}
	const scanner = "hearth-ledger-scan"
	c, err := q.events.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       scanner,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Hour,
		MaxDeliver:    -1,
		MaxAckPending: -1,
		HeadersOnly:   true,
	})
	if err != nil {
		return fmt.Errorf("open ledger scan: %w", err)
	}
	defer q.events.DeleteConsumer(context.WithoutCancel(ctx), scanner)
	for {
		batch, err := c.FetchNoWait(1000)
		if err != nil {
			return fmt.Errorf("ledger scan: %w", err)
		}
		got, pending := 0, uint64(0)
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("ledger scan: %w", err)
			}
			size, _ := strconv.ParseInt(m.Headers().Get("Nats-Msg-Size"), 10, 64)
			l.add(md.Sequence.Stream, q.subjectAccount(m.Subject()), size+eventOverhead)
			pending = md.NumPending
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("ledger scan: %w", err)
		}
		if got == 0 || pending == 0 {
			return nil
		}
	}
}

// AccountBytes is what account's events in the queue count against
// AccountMaxBytes ("" is the default account).
func (q *Queue) AccountBytes(account string) int64 {
	return q.ledger.bytes(q.accountToken(account))
}
