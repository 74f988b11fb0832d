// Package grants makes concurrency limits hold across the api nodes of a
// cluster with slot grants in the JetStream KV bucket hearth-concurrency.
//
// Each limit (an account's unreserved pool, a function's reserved or
// provisioned concurrency) is one record, keyed by the caller, holding
// every node's grant: {slots, expires, busy_until}. A node changes only its
// own entry, only by compare-and-set on the record's revision, and only so
// that its slots and the other nodes' live ones (now before their expires
// or busy_until) stay within the limit. A node admits an invocation against
// its own grant in memory; only when the grant is used up does it ask the
// bucket for more (a quarter of what is free, at least one), and it throttles
// when there is none: early when other nodes hold idle slots, never late.
// Grants are renewed every Renew, valid for TTL, and slots unused for Idle
// are given back. busy_until covers the deadline of every invocation the
// node may admit until its grant expires, so the slots of a node that died
// are counted until its last invocation would have ended, never twice.
package grants

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the KV bucket of the grants.
const Bucket = "hearth-concurrency"

// Config configures a Holder.
type Config struct {
	// Node names the holder's entries; unique in the cluster. Empty means
	// a random name.
	Node string
	// Renew is how often grants are renewed and idle slots given back.
	// Zero means 3 s.
	Renew time.Duration
	// TTL is how long a grant is valid after it was written. Zero means
	// 15 s.
	TTL time.Duration
	// Idle is how long slots stay unused before they are given back.
	// Zero means 5 s.
	Idle time.Duration
	// OpTimeout bounds each read or write of the bucket. Zero means 2 s.
	OpTimeout time.Duration
}

// Holder is one node's grants. Acquire is safe for concurrent use; Run
// renews the grants and gives them back when its context ends.
type Holder struct {
	cfg Config
	kv  jetstream.KeyValue
	log *slog.Logger

	mu     sync.Mutex
	grants map[string]*grant // guarded by mu
	closed bool              // guarded by mu: given back, admits nothing
}

// grant is the holder's share of one limit. Its fields but key and sem are
// guarded by Holder.mu.
type grant struct {
	key string
	// sem lets one write of the holder's entry (growing or renewing) run
	// at a time, never under Holder.mu.
	sem chan struct{}

	limit   int           // the limit the latest caller gave
	synced  int           // the limit the entry was written under
	slots   int           // the slots the record grants this holder
	used    int           // admitted and not yet released
	expires time.Time     // no admission at or after it until renewed
	covered time.Time     // busy_until as written: the latest deadline an admission may have
	longest time.Duration // the longest invocation admitted since the entry was written
	peak    int           // the most used since the last renewal
	peaks   []int         // peak of each of the last renewals, newest last
	written bool          // the record has an entry of this holder
	// fullUntil: the bucket refused this holder more slots (or could not
	// be reached) under limit fullLimit; until then callers with no higher
	// limit are refused without asking again.
	fullUntil time.Time
	fullLimit int
}

// refusalCache is how long a holder refused more slots refuses further
// callers without asking the bucket again: it bounds the bucket traffic
// of a throttled key to 20 reads a second per node.
const refusalCache = 50 * time.Millisecond

// record is the value of one key: every holder's grant.
type record struct {
	Grants map[string]entry `json:"grants"`
	// Wanted (Unix milliseconds) is when WantedBy was last refused a
	// slot while others held some: at their next renewal they give back
	// every slot they are not using.
	Wanted   int64  `json:"wanted,omitempty"`
	WantedBy string `json:"wanted_by,omitempty"`
}

type entry struct {
	Slots int `json:"slots"`
	// Limit is the limit the holder wrote the entry under.
	Limit int `json:"limit"`
	// Expires and BusyUntil are Unix milliseconds; the entry counts
	// until both have passed.
	Expires   int64 `json:"expires"`
	BusyUntil int64 `json:"busy_until"`
}

func (e entry) live(now time.Time) bool {
	ms := now.UnixMilli()
	return ms < e.Expires || ms < e.BusyUntil
}

// others sums the live slots of every holder but node.
func (r *record) others(node string, now time.Time) int {
	n := 0
	for id, e := range r.Grants {
		if id != node && e.live(now) {
			n += e.Slots
		}
	}
	return n
}

// errNoChange stops an update that would write nothing.
var errNoChange = errors.New("no change")

// Open creates (or opens) the bucket and returns a Holder.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) (*Holder, error) {
	if cfg.Node == "" {
		cfg.Node = "node-" + rand.Text()[:12]
	}
	if cfg.Renew == 0 {
		cfg.Renew = 3 * time.Second
	}
	if cfg.TTL == 0 {
		cfg.TTL = 15 * time.Second
	}
	if cfg.Idle == 0 {
		cfg.Idle = 5 * time.Second
	}
	if cfg.OpTimeout == 0 {
		cfg.OpTimeout = 2 * time.Second
	}
	// Memory storage: grants are leases of at most TTL plus the longest
	// invocation; if every NATS server restarts, live holders write
	// their entries again at their next renewal.
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "Hearth: concurrency slots granted to api nodes",
		History:     1,
		Storage:     jetstream.MemoryStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", Bucket, err)
	}
	return &Holder{cfg: cfg, kv: kv, log: log.With("grants_node", cfg.Node), grants: make(map[string]*grant)}, nil
}

// Node returns the holder's name in the records.
func (h *Holder) Node() string { return h.cfg.Node }

// Acquire takes one of the limit's slots named key for an invocation that
// ends by until, or reports false: the limit is reached across the cluster
// (or other nodes hold the free slots), or the bucket could not be
// reached. Keys are KV keys (letters, digits, '-', '_', '.'). The caller
// calls release once when the invocation ends.
func (h *Holder) Acquire(ctx context.Context, key string, limit int, until time.Time) (release func(), ok bool) {
	if limit <= 0 {
		return nil, false
	}
	now := time.Now()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, false
	}
	g := h.grants[key]
	if g == nil {
		g = &grant{key: key, sem: make(chan struct{}, 1)}
		h.grants[key] = g
	}
	g.limit = limit
	ok = g.admit(now, until)
	h.mu.Unlock()
	if ok {
		return h.releaser(g), true
	}
	return h.grow(ctx, g, until)
}

// admit counts one more invocation against the grant if it has room, is
// valid, covers until, and was written under a limit no higher than the
// caller's (a lowered limit is written first: the holder's slots may be
// more than it leaves beside the other holders'). The caller holds
// Holder.mu.
func (g *grant) admit(now, until time.Time) bool {
	if g.used >= g.slots || g.limit < g.synced || !now.Before(g.expires) || until.After(g.covered) {
		return false
	}
	g.used++
	g.peak = max(g.peak, g.used)
	return true
}

func (h *Holder) releaser(g *grant) func() {
	return func() {
		h.mu.Lock()
		g.used--
		h.mu.Unlock()
	}
}

// grow writes a larger grant (or one covering until, or a renewed one)
// and admits against it.
func (h *Holder) grow(ctx context.Context, g *grant, until time.Time) (func(), bool) {
	select {
	case g.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false
	}
	defer func() { <-g.sem }()
	for range 3 {
		// Another caller may have grown the grant meanwhile.
		now := time.Now()
		h.mu.Lock()
		ok := g.admit(now, until)
		cached := !ok && now.Before(g.fullUntil) && g.limit <= g.fullLimit
		h.mu.Unlock()
		if ok {
			return h.releaser(g), true
		}
		if cached {
			return nil, false
		}
		full := false
		err := h.update(ctx, g, func(rec *record, now time.Time) (*entry, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.closed {
				return nil, errNoChange
			}
			avail := max(0, g.limit-rec.others(h.cfg.Node, now))
			want := g.used + 1
			if full = want > avail; full {
				g.fullUntil, g.fullLimit = now.Add(refusalCache), g.limit
				// The limit was lowered: hold no more than it leaves.
				shrink := g.slots > avail || g.limit < g.synced
				// Others hold slots: ask them to give back what they
				// do not use (once a renewal period).
				ask := rec.others(h.cfg.Node, now) > 0 && now.UnixMilli()-rec.Wanted > h.cfg.Renew.Milliseconds()
				if ask {
					rec.Wanted, rec.WantedBy = now.UnixMilli(), h.cfg.Node
				}
				switch mine, ok := rec.Grants[h.cfg.Node]; {
				case shrink:
					return h.entry(g, avail, now, now), nil
				case !ask:
					return nil, errNoChange
				case ok:
					return &mine, nil
				default:
					return nil, nil
				}
			}
			// A quarter of what is free, at least what this admission
			// needs.
			slots := min(avail, max(want, g.slots+max(0, avail-g.slots)/4))
			return h.entry(g, slots, now, until), nil
		})
		if err != nil && !errors.Is(err, errNoChange) {
			// The bucket cannot be reached: the callers queued behind
			// this one are refused at once rather than each waiting.
			h.mu.Lock()
			g.fullUntil, g.fullLimit = time.Now().Add(refusalCache), g.limit
			h.mu.Unlock()
			h.log.Warn("concurrency grant not written; throttling", "key", g.key, "err", err)
		}
		if err != nil || full {
			return nil, false
		}
	}
	return nil, false
}

// entry is the holder's entry with slots, valid for TTL from now and
// covering until, recorded in g once written. Fewer slots take effect at
// once, so that nothing is admitted meanwhile beyond what the entry will
// say. The caller holds Holder.mu.
func (h *Holder) entry(g *grant, slots int, now, until time.Time) *entry {
	g.slots = min(g.slots, slots)
	g.longest = max(g.longest, until.Sub(now))
	expires := now.Add(h.cfg.TTL)
	covered := expires.Add(g.longest)
	if g.covered.After(covered) {
		covered = g.covered
	}
	return &entry{Slots: slots, Limit: g.limit, Expires: expires.UnixMilli(), BusyUntil: covered.UnixMilli()}
}

// update reads the record of g, has change compute the holder's new entry
// (nil removes it), and writes it by compare-and-set, reading again on a
// conflict. On success g takes the entry's values.
func (h *Holder) update(ctx context.Context, g *grant, change func(rec *record, now time.Time) (*entry, error)) error {
	for try := 0; ; try++ {
		octx, cancel := context.WithTimeout(ctx, h.cfg.OpTimeout)
		err := h.tryUpdate(octx, g, change)
		cancel()
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) || try == 8 {
			return err
		}
	}
}

func (h *Holder) tryUpdate(ctx context.Context, g *grant, change func(rec *record, now time.Time) (*entry, error)) error {
	var rec record
	var rev uint64
	switch e, err := h.kv.Get(ctx, g.key); {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return err
	default:
		rev = e.Revision()
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			return fmt.Errorf("record %s: %w", g.key, err)
		}
	}
	if rec.Grants == nil {
		rec.Grants = make(map[string]entry)
	}
	// The time the entry's expiry counts from is taken before the write,
	// so the holder stops admitting no later than the others think.
	now := time.Now()
	e, err := change(&rec, now)
	if err != nil {
		return err
	}
	if e == nil {
		delete(rec.Grants, h.cfg.Node)
	} else {
		rec.Grants[h.cfg.Node] = *e
	}
	// Entries past their time are dropped by whoever writes.
	for id, o := range rec.Grants {
		if !o.live(now) {
			delete(rec.Grants, id)
		}
	}
	b, err := json.Marshal(&rec)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = h.kv.Create(ctx, g.key, b)
	} else {
		_, err = h.kv.Update(ctx, g.key, b, rev)
	}
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if e == nil {
		g.slots, g.synced, g.written, g.longest = 0, 0, false, 0
		g.expires, g.covered = time.Time{}, time.Time{}
		return nil
	}
	g.slots, g.synced, g.written = e.Slots, e.Limit, true
	g.expires = time.UnixMilli(e.Expires)
	g.covered = time.UnixMilli(e.BusyUntil)
	return nil
}

// Run renews the holder's grants every Renew until ctx ends, then gives
// them back: an entry with nothing in flight is removed, one with
// invocations still running keeps their slots until its busy_until.
func (h *Holder) Run(ctx context.Context) error {
	t := time.NewTicker(h.cfg.Renew)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.renewAll(ctx)
		case <-ctx.Done():
			h.giveBack()
			return nil
		}
	}
}

func (h *Holder) snapshot() []*grant {
	h.mu.Lock()
	defer h.mu.Unlock()
	gs := make([]*grant, 0, len(h.grants))
	for _, g := range h.grants {
		if g.written || g.used > 0 {
			gs = append(gs, g)
		}
	}
	return gs
}

func (h *Holder) renewAll(ctx context.Context) {
	for _, g := range h.snapshot() {
		if err := h.renew(ctx, g); err != nil && ctx.Err() == nil {
			h.log.Warn("concurrency grant not renewed", "key", g.key, "err", err)
		}
	}
}

// renew writes g's entry again with a fresh expiry, its slots cut to the
// most used over the last Idle and to what the limit leaves.
func (h *Holder) renew(ctx context.Context, g *grant) error {
	select {
	case g.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.sem }()
	keep := max(1, int(h.cfg.Idle/h.cfg.Renew))
	h.mu.Lock()
	g.peaks = append(g.peaks, g.peak)
	if len(g.peaks) > keep {
		g.peaks = slices.Delete(g.peaks, 0, len(g.peaks)-keep)
	}
	g.peak = g.used
	h.mu.Unlock()
	return h.update(ctx, g, func(rec *record, now time.Time) (*entry, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		slots := min(g.slots, max(g.used, slices.Max(g.peaks)))
		if rec.WantedBy != h.cfg.Node && now.UnixMilli()-rec.Wanted < 2*h.cfg.Renew.Milliseconds() {
			slots = min(slots, g.used) // another holder was refused
		}
		slots = min(slots, max(0, g.limit-rec.others(h.cfg.Node, now)))
		if slots == 0 && g.used == 0 {
			g.slots = 0
			return nil, nil
		}
		return h.entry(g, slots, now, now), nil
	})
}

// giveBack removes the holder's entries, or for those with invocations
// in flight leaves their slots counted until busy_until.
func (h *Holder) giveBack() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*h.cfg.OpTimeout)
	defer cancel()
	for _, g := range h.snapshot() {
		g.sem <- struct{}{}
		err := h.update(ctx, g, func(rec *record, now time.Time) (*entry, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			g.expires = now // admit nothing more
			if g.used == 0 {
				g.slots = 0
				return nil, nil
			}
			return &entry{Slots: g.used, Limit: g.limit, Expires: now.UnixMilli(), BusyUntil: g.covered.UnixMilli()}, nil
		})
		<-g.sem
		if err != nil {
			h.log.Warn("concurrency grant not given back; it lapses by itself", "key", g.key, "err", err)
		}
	}
}
