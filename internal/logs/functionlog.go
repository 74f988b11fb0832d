package logs

import (
	"bufio"
	"bytes"
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

// Close closes every open log file.
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

	mu   sync.Mutex
	f    *os.File                 // guarded by mu; nil until first write
	size int64                    // guarded by mu
	subs map[chan []byte]struct{} // guarded by mu
	line []byte                   // guarded by mu; scratch
}

// TimeFormat is the timestamp each stored line starts with.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

func (l *FunctionLog) write(text []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.line = time.Now().UTC().AppendFormat(l.line[:0], TimeFormat)
	l.line = append(l.line, ' ')
	l.line = append(l.line, text...)
	l.line = append(l.line, '\n')
	if err := l.appendLocked(l.line); err != nil {
		l.log.Warn("write function log", "err", err)
	}
	for ch := range l.subs {
		select {
		case ch <- bytes.Clone(l.line):
		default: // a slow follower misses lines rather than stalling functions
		}
	}
}

func (l *FunctionLog) appendLocked(b []byte) error {
	if l.f == nil {
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
	}
	if l.size+int64(len(b)) > l.max/2 {
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
	}
	n, err := l.f.Write(b)
	l.size += int64(n)
	return err
}

func (l *FunctionLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
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
// invocation that failed before one started).
func (l *FunctionLog) Write(line string) { l.write([]byte(line)) }
