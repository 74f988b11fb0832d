package logs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Config configures a Store. The zero value needs Dir.
type Config struct {
	// Dir holds one log per function.
	Dir string
	// MaxBytes bounds each function's log on disk. Zero means 8 MiB. The
	// log rotates into one previous file, so at most MaxBytes are kept.
	MaxBytes int64
}

// Store holds the logs of every function.
type Store struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	fns  map[string]*FunctionLog // guarded by mu
	done bool                    // guarded by mu
}

// NewStore returns a Store writing under cfg.Dir.
func NewStore(cfg Config, log *slog.Logger) (*Store, error) {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 8 << 20
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	return &Store{cfg: cfg, log: log.With("component", "logs"), fns: make(map[string]*FunctionLog)}, nil
}

// Function returns the log of the named function, opening it on first use.
func (s *Store) Function(name string) *FunctionLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.fns[name]; ok {
		return f
	}
	f := &FunctionLog{
		path: filepath.Join(s.cfg.Dir, name+".log"),
		max:  s.cfg.MaxBytes,
		log:  s.log.With("function", name),
		subs: make(map[chan []byte]struct{}),
	}
	s.fns[name] = f
	return f
}

// Run writes pending lines to disk every interval until ctx is done.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flushAll()
			return nil
		case <-t.C:
			s.flushAll()
		}
	}
}

func (s *Store) flushAll() {
	s.mu.Lock()
	fns := make([]*FunctionLog, 0, len(s.fns))
	for _, f := range s.fns {
		fns = append(fns, f)
	}
	s.mu.Unlock()
	for _, f := range fns {
		f.flush()
	}
}

// Close writes what is pending and closes every open log file.
func (s *Store) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.fns {
		f.close()
	}
	s.done = true
}

// FunctionLog is the bounded log of one function: timestamped lines on
// disk, and live delivery to followers.
type FunctionLog struct {
	path string
	max  int64
	log  *slog.Logger

	mu      sync.Mutex
	f       *os.File                 // guarded by mu; nil until first write
	size    int64                    // guarded by mu; bytes in the file
	pending []byte                   // guarded by mu; written, not yet in the file
	subs    map[chan []byte]struct{} // guarded by mu
}

// TimeFormat is the timestamp each stored line starts with.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// flushAt is how much pending text forces a write to disk; below it, the
// Store's Run flushes on a timer, so an invocation's lines cost no system
// call on the invocation path.
const flushAt = 64 << 10

func (l *FunctionLog) write(text []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := len(l.pending)
	l.pending = time.Now().UTC().AppendFormat(l.pending, TimeFormat)
	l.pending = append(l.pending, ' ')
	l.pending = append(l.pending, text...)
	l.pending = append(l.pending, '\n')
	line := l.pending[start:]
	for ch := range l.subs {
		select {
		case ch <- bytes.Clone(line):
		default: // a slow follower misses lines rather than stalling functions
		}
	}
	if len(l.pending) >= flushAt {
		l.flushLocked()
	}
}

func (l *FunctionLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *FunctionLog) flushLocked() {
	if len(l.pending) == 0 {
		return
	}
	if err := l.appendLocked(l.pending); err != nil {
		l.log.Warn("write function log", "err", err)
	}
	l.pending = l.pending[:0]
	if cap(l.pending) > 4*flushAt {
		l.pending = nil
	}
}

// appendLocked writes whole lines to the file, rotating it into the
// previous file whenever it would pass half of max, so that the two files
// together stay within max.
func (l *FunctionLog) appendLocked(b []byte) error {
	half := l.max / 2
	if int64(len(b)) > half {
		// Only the newest half can survive the rotations below.
		cut := len(b) - int(half)
		if i := bytes.IndexByte(b[cut:], '\n'); i >= 0 {
			b = b[cut+i+1:]
		}
	}
	if err := l.openLocked(); err != nil {
		return err
	}
	for len(b) > 0 {
		chunk := b
		if room := half - l.size; int64(len(chunk)) > room {
			n := 0
			if room > 0 {
				n = bytes.LastIndexByte(b[:room], '\n') + 1
			}
			if n == 0 {
				if err := l.rotateLocked(); err != nil {
					return err
				}
				continue
			}
			chunk = b[:n]
		}
		n, err := l.f.Write(chunk)
		l.size += int64(n)
		if err != nil {
			return err
		}
		b = b[len(chunk):]
	}
	return nil
}

func (l *FunctionLog) openLocked() error {
	if l.f != nil {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, st.Size()
	return nil
}

func (l *FunctionLog) rotateLocked() error {
	if l.size == 0 {
		return errors.New("a log line is longer than half the log's size limit")
	}
	l.f.Close()
	l.f = nil
	if err := os.Rename(l.path, l.path+".1"); err != nil && !os.IsNotExist(err) {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	l.f, l.size = f, 0
	return nil
}

func (l *FunctionLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// Follow registers a follower that receives every line written from now
// on, each ending in a newline. Call the returned function to stop.
func (l *FunctionLog) Follow() (<-chan []byte, func()) {
	ch := make(chan []byte, 1024)
	l.mu.Lock()
	l.subs[ch] = struct{}{}
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}
}

// WriteTail writes the last n stored lines (all when n <= 0) to w.
func (l *FunctionLog) WriteTail(w io.Writer, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	var lines [][]byte
	for _, p := range []string{l.path + ".1", l.path} {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), maxLine+64)
		for sc.Scan() {
			lines = append(lines, bytes.Clone(sc.Bytes()))
			if n > 0 && len(lines) > 2*n {
				lines = append(lines[:0], lines[len(lines)-n:]...)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return err
		}
	}
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for _, line := range lines {
		if _, err := w.Write(append(line, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// Write appends a platform line that belongs to no environment (an
// invocation that failed before one started). An empty line is ignored.
func (l *FunctionLog) Write(line string) {
	if line != "" {
		l.write([]byte(line))
	}
}
