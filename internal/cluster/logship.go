package cluster

// Function logs across nodes: every worker node ships the lines its
// environments write to the api nodes over core NATS, and each api node
// writes them into its own logs.Store, where GetLogEvents,
// FilterLogEvents, DescribeLogStreams, `hearth logs` (tail and follow),
// retention and DeleteLogGroup find them as they find local lines.
//
// Why ship rather than have api nodes read the workers' stores on
// demand: every read of the CloudWatch Logs API (paged by positions,
// filtered, followed) would otherwise be a merge over every worker with a
// pagination token per worker, and a worker that died or drained would
// take its logs with it. Shipping keeps every read path as it is, bounded
// by each store's MaxTotalBytes. The cost is at-most-once delivery: a
// batch published while no api node listens, or dropped by NATS for a
// slow subscriber, or lines past the shipper's buffer while NATS is
// unreachable, are lost to the api nodes (the worker's own store keeps
// them), and every api node keeps a copy.

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"hearth/internal/logs"
)

// LogSubject is where worker nodes publish batches of log lines.
const LogSubject = "hearth.cluster.logs"

const (
	// shipEvery is how often a shipper publishes what it holds: the
	// delay before a line is seen on the api nodes.
	shipEvery = 100 * time.Millisecond
	// shipBatch bounds one published batch (NATS' default max_payload is
	// 1 MB); a shipper holding this much publishes at once.
	shipBatch = 256 << 10
	// shipBuffer bounds what a shipper holds; lines past it are dropped
	// (NATS unreachable, or functions writing faster than it publishes).
	shipBuffer = 4 << 20
)

// LogShipper collects the lines of a worker node's logs (its Tee is the
// logs.Store's tee) and publishes them in batches on LogSubject.
//
// A batch is the node's id then entries, each: the log's name, the
// stream, the time in ms since the epoch and the text (strings and text
// as uvarint length and bytes, the time as a varint).
type LogShipper struct {
	nc   *nats.Conn
	node string
	log  *slog.Logger
	kick chan struct{}

	mu      sync.Mutex
	buf     []byte // guarded by mu; encoded entries not yet published
	dropped int    // guarded by mu; lines dropped since the last report
}

// NewLogShipper returns a shipper publishing on nc as node (the worker's
// id).
func NewLogShipper(nc *nats.Conn, node string, log *slog.Logger) *LogShipper {
	return &LogShipper{nc: nc, node: node, log: log.With("component", "cluster"), kick: make(chan struct{}, 1)}
}

// Tee takes one write of a log (logs.Tee): it never blocks.
func (s *LogShipper) Tee(name, stream string, t time.Time, text []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf)+len(name)+len(stream)+len(text)+32 > shipBuffer {
		s.dropped++
		return
	}
	s.buf = appendEntry(s.buf, name, stream, t.UnixMilli(), text)
	if len(s.buf) >= shipBatch {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// Run publishes what the shipper holds every shipEvery (sooner when it
// holds a batch's worth) until ctx is done, then once more.
func (s *LogShipper) Run(ctx context.Context) {
	t := time.NewTicker(shipEvery)
	defer t.Stop()
	var spare []byte
	lastReport := time.Now()
	for {
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-s.kick:
		}
		s.mu.Lock()
		b := s.buf
		s.buf = spare[:0]
		dropped := s.dropped
		if dropped > 0 && time.Since(lastReport) > 10*time.Second {
			s.dropped = 0
		}
		s.mu.Unlock()
		s.publish(b)
		spare = b
		if dropped > 0 && time.Since(lastReport) > 10*time.Second {
			s.log.Warn("log lines not shipped to the api nodes: the buffer was full", "lines", dropped)
			lastReport = time.Now()
		}
		if ctx.Err() != nil {
			s.nc.Flush()
			return
		}
	}
}

// publish sends b's entries in batches of at most shipBatch bytes (a
// longer entry alone).
func (s *LogShipper) publish(b []byte) {
	limit := shipBatch
	if mp := int(s.nc.MaxPayload()); mp > 0 && limit > mp/2 {
		limit = mp / 2
	}
	head := binary.AppendUvarint(nil, uint64(len(s.node)))
	head = append(head, s.node...)
	for len(b) > 0 {
		n, err := cutBatch(b, limit)
		if err != nil { // cannot happen: b is what appendEntry wrote
			s.log.Error("log shipper buffer corrupt", "err", err)
			return
		}
		msg := make([]byte, 0, len(head)+n)
		msg = append(append(msg, head...), b[:n]...)
		if err := s.nc.Publish(LogSubject, msg); err != nil {
			s.log.Debug("ship log lines", "err", err)
		}
		b = b[n:]
	}
}

// cutBatch is the length of the entries b starts with that fit in limit
// bytes (at least one entry).
func cutBatch(b []byte, limit int) (int, error) {
	n := 0
	for n < len(b) {
		m, err := entryLen(b[n:])
		if err != nil {
			return 0, err
		}
		if n > 0 && n+m > limit {
			break
		}
		n += m
	}
	return n, nil
}

func appendEntry(b []byte, name, stream string, ms int64, text []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(name)))
	b = append(b, name...)
	b = binary.AppendUvarint(b, uint64(len(stream)))
	b = append(b, stream...)
	b = binary.AppendVarint(b, ms)
	b = binary.AppendUvarint(b, uint64(len(text)))
	return append(b, text...)
}

var errLogBatch = errors.New("malformed log batch")

// field reads a uvarint-prefixed field of b.
func field(b []byte) (f, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, errLogBatch
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

type logEntry struct {
	name, stream, text []byte
	ms                 int64
}

// nextEntry decodes the entry b starts with.
func nextEntry(b []byte) (e logEntry, rest []byte, err error) {
	if e.name, b, err = field(b); err != nil {
		return e, nil, err
	}
	if e.stream, b, err = field(b); err != nil {
		return e, nil, err
	}
	ms, k := binary.Varint(b)
	if k <= 0 {
		return e, nil, errLogBatch
	}
	e.ms = ms
	if e.text, b, err = field(b[k:]); err != nil {
		return e, nil, err
	}
	return e, b, nil
}

// entryLen is the length of the entry b starts with.
func entryLen(b []byte) (int, error) {
	_, rest, err := nextEntry(b)
	if err != nil {
		return 0, err
	}
	return len(b) - len(rest), nil
}

// decodeBatch calls fn with each entry of a batch and returns its node.
func decodeBatch(msg []byte, fn func(logEntry)) (string, error) {
	node, b, err := field(msg)
	if err != nil {
		return "", err
	}
	for len(b) > 0 {
		var e logEntry
		if e, b, err = nextEntry(b); err != nil {
			return string(node), err
		}
		fn(e)
	}
	return string(node), nil
}

// ReceiveLogs writes the lines worker nodes ship into ls until ctx is
// done, skipping those of self (this node's own worker id, "" for none:
// its lines are in ls already).
func ReceiveLogs(ctx context.Context, nc *nats.Conn, self string, ls *logs.Store, log *slog.Logger) error {
	log = log.With("component", "cluster")
	sub, err := nc.Subscribe(LogSubject, func(m *nats.Msg) {
		node, _, err := field(m.Data)
		if err != nil || string(node) == self {
			return
		}
		if _, err := decodeBatch(m.Data, func(e logEntry) {
			if !safeLogName(e.name) {
				return
			}
			ls.Function(string(e.name)).WriteAt(time.UnixMilli(e.ms), string(e.stream), e.text)
		}); err != nil {
			log.Warn("log lines from a worker refused", "worker", string(node), "err", err)
		}
	})
	if err != nil {
		return err
	}
	// Lines of busy functions arrive faster than the default limits
	// expect of a subscription; past these NATS drops batches (the
	// slow-consumer error) rather than holding more.
	sub.SetPendingLimits(64<<10, 64<<20)
	<-ctx.Done()
	return sub.Unsubscribe()
}

// safeLogName reports whether name can name a log file in the store's
// directory (function.LogName's names can): a batch names files on the
// api node.
func safeLogName(name []byte) bool {
	return logs.ValidKey(string(name))
}
