package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Store. The zero value needs Dir.
type Config struct {
	// Dir holds one log per function.
	Dir string
	// MaxBytes bounds each function's log on disk. Zero means 8 MiB. The
	// log rotates into one previous file, so at most MaxBytes are kept.
	MaxBytes int64
	// MaxTotalBytes bounds all logs together, those of deleted functions
	// included: past it, Run removes the logs least recently written
	// until they fit. Zero means 1 GiB.
	MaxTotalBytes int64
	// MaxCreatedGroups bounds the log groups CreateLogGroup makes per
	// account (each is kept in groupsFile, rewritten on every change).
	// Zero means DefaultMaxCreatedGroups.
	MaxCreatedGroups int
}

// evictEvery is how often Run checks the logs' total size.
const evictEvery = 10 * time.Second

// Store holds the logs of every function.
type Store struct {
	cfg Config
	log *slog.Logger

	// kick asks Run to flush now rather than at the next tick; a log
	// whose pending text has grown large sends on it without blocking.
	kick chan struct{}

	saveMu sync.Mutex // held while groupsFile is written

	mu          sync.Mutex
	fns         map[string]*FunctionLog    // guarded by mu
	released    map[*FunctionLog]time.Time // guarded by mu; forgotten logs Run still flushes, since when
	groups      map[string]*groupMeta      // guarded by mu; what groupsFile holds, or will
	groupsDirty bool                       // guarded by mu; groups changed since the last save
	done        bool                       // guarded by mu

	tee       atomic.Pointer[Tee]       // SetTee (ship.go)
	changeTee atomic.Pointer[ChangeTee] // SetChangeTee (changes.go)
}

// releasedGrace is how long Run still writes out the lines of a released
// log (an environment of a deleted function stopping), keeping its file
// closed between flushes.
const releasedGrace = time.Minute

// NewStore returns a Store writing under cfg.Dir.
func NewStore(cfg Config, log *slog.Logger) (*Store, error) {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 8 << 20
	}
	if cfg.MaxTotalBytes == 0 {
		cfg.MaxTotalBytes = 1 << 30
	}
	// Logs may hold whatever functions print, secrets included: they are
	// the server's user's alone.
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	if err := makePrivate(cfg.Dir); err != nil {
		return nil, err
	}
	groups, err := loadGroups(cfg.Dir, log)
	if err != nil {
		return nil, err
	}
	return &Store{cfg: cfg, log: log.With("component", "logs"), kick: make(chan struct{}, 1),
		fns: make(map[string]*FunctionLog), released: make(map[*FunctionLog]time.Time), groups: groups}, nil
}

// Function returns the log with key name (a function's, or any log
// group's whose key says its name), opening it on first use.
func (s *Store) Function(name string) *FunctionLog {
	return s.Log(name, "")
}

// Log returns the log with key name, opening it on first use; label is
// the log group's name, recorded with the group when its first file is
// made (needed where the key does not say it, see function.LogKey), or
// "".
func (s *Store) Log(name, label string) *FunctionLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.fns[name]; ok {
		return f
	}
	f := &FunctionLog{
		name:  name,
		label: label,
		store: s,
		path:  filepath.Join(s.cfg.Dir, name+".log"),
		max:   s.cfg.MaxBytes,
		log:   s.log.With("function", name),
		kick:  s.kick,
		subs:  make(map[chan []byte]struct{}),
	}
	s.fns[name] = f
	return f
}

// Reader returns the named log for reading (Scan): the function's own if
// it is open, else one that is not kept, so that reading the group of a
// deleted function leaves nothing behind.
func (s *Store) Reader(name string) *FunctionLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.fns[name]; ok {
		return f
	}
	return &FunctionLog{name: name, store: s, path: filepath.Join(s.cfg.Dir, name+".log"), max: s.cfg.MaxBytes,
		log: s.log.With("function", name), kick: s.kick, subs: make(map[chan []byte]struct{})}
}

// Stored reports whether the named function has a log on disk, even if the
// function was deleted (its log stays, as a log group does on AWS).
func (s *Store) Stored(name string) bool {
	base := filepath.Join(s.cfg.Dir, name+".log")
	for _, p := range []string{base, base + ".1"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// Release closes the named function's log file and forgets its
// FunctionLog: DeleteFunction calls it. The files stay, as a deleted
// function's log group stays on AWS (MaxTotalBytes bounds them), and a
// function created again under the name appends to them. Lines written
// through the FunctionLog within releasedGrace (an environment of the
// deleted function stopping) are still written out, each flush opening
// and closing the file; later ones are dropped.
func (s *Store) Release(name string) {
	s.mu.Lock()
	f, ok := s.fns[name]
	if ok {
		delete(s.fns, name)
		s.released[f] = time.Now()
	}
	s.mu.Unlock()
	if ok {
		f.close()
	}
}

// Run writes pending lines to disk every 100 ms, and at once when a log's
// pending text passes flushAt, and keeps the logs within MaxTotalBytes,
// until ctx is done.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	evict := time.NewTicker(evictEvery)
	defer evict.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flushAll()
			return nil
		case <-t.C:
			s.flushAll()
		case <-s.kick:
			s.flushAll()
		case <-evict.C:
			s.evict()
		}
	}
}

// evict removes the files of groups whose events have all passed their
// retention, then the logs least recently written, a function's files
// together, until all logs fit in MaxTotalBytes.
func (s *Store) evict() {
	s.expire()
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		s.log.Warn("list logs", "err", err)
		return
	}
	type fnLogs struct {
		name  string
		size  int64
		mtime time.Time
	}
	byName := map[string]*fnLogs{}
	var total int64
	for _, e := range entries {
		name, ok := strings.CutSuffix(strings.TrimSuffix(e.Name(), ".1"), ".log")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		l := byName[name]
		if l == nil {
			l = &fnLogs{name: name}
			byName[name] = l
		}
		l.size += info.Size()
		total += info.Size()
		if info.ModTime().After(l.mtime) {
			l.mtime = info.ModTime()
		}
	}
	if total <= s.cfg.MaxTotalBytes {
		return
	}
	all := make([]*fnLogs, 0, len(byName))
	for _, l := range byName {
		all = append(all, l)
	}
	slices.SortFunc(all, func(a, b *fnLogs) int { return a.mtime.Compare(b.mtime) })
	for _, l := range all {
		if total <= s.cfg.MaxTotalBytes {
			break
		}
		s.mu.Lock()
		f := s.fns[l.name]
		s.mu.Unlock()
		if f != nil {
			f.dropFiles(false)
		} else {
			removeFiles(filepath.Join(s.cfg.Dir, l.name+".log"))
		}
		total -= l.size
		s.log.Info("removed the oldest function log: all logs passed their size limit", "function", l.name, "bytes", l.size, "limit", s.cfg.MaxTotalBytes)
	}
}

// makePrivate makes the log dir, and logs written by servers before
// logs were private, readable by the server's user only.
func makePrivate(dir string) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("make log dir private: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list logs: %w", err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(filepath.Join(dir, e.Name()), 0o600); err != nil {
				return fmt.Errorf("make log private: %w", err)
			}
		}
	}
	return nil
}

func removeFiles(path string) {
	os.Remove(path + ".1")
	os.Remove(path)
}

func (s *Store) flushAll() {
	s.mu.Lock()
	fns := make([]*FunctionLog, 0, len(s.fns))
	for _, f := range s.fns {
		fns = append(fns, f)
	}
	var released []*FunctionLog
	for f, since := range s.released {
		released = append(released, f)
		if time.Since(since) > releasedGrace {
			delete(s.released, f) // this flush is its last
		}
	}
	s.mu.Unlock()
	for _, f := range fns {
		f.flush()
	}
	for _, f := range released {
		f.close() // flushes; the file stays closed until the next lines
	}
	if err := s.saveGroups(); err != nil {
		s.log.Warn("save log groups", "err", err)
	}
}

// Close writes what is pending and closes every open log file.
func (s *Store) Close() {
	s.mu.Lock()
	var all []*FunctionLog
	for _, f := range s.fns {
		all = append(all, f)
	}
	for f := range s.released {
		all = append(all, f)
	}
	s.done = true
	s.mu.Unlock()
	// Closing flushes, and a first flush records its group under mu.
	for _, f := range all {
		f.close()
	}
	if err := s.saveGroups(); err != nil {
		s.log.Warn("save log groups", "err", err)
	}
}

// FunctionLog is the bounded log of one function (its log group): events
// with their time and stream on disk (see record.go), and live delivery
// to followers.
//
// The invocation path (write) takes only mu, which is never held across
// disk or network I/O: lines collect in pending, and a flush swaps pending
// out under mu and writes it to the file under fileMu alone. Readers
// (Scan, WriteTail) take fileMu only to flush and open the files, then
// read them and write to their client holding no lock. Lock order:
// fileMu, then mu.
type FunctionLog struct {
	name  string
	label string // the group's name, if given (Store.Log)
	path  string
	max   int64
	log   *slog.Logger
	kick  chan<- struct{}
	store *Store

	fileMu  sync.Mutex
	f       *os.File // guarded by fileMu; nil until first flush
	size    int64    // guarded by fileMu; bytes in the file
	base    int64    // guarded by fileMu; the file's position in the group
	hdr     int64    // guarded by fileMu; bytes of the file's header
	failing bool     // guarded by fileMu; the last write to the file failed

	mu      sync.Mutex
	pending []byte                   // guarded by mu; written, not yet in the file
	spare   []byte                   // guarded by mu; the buffer pending swaps with
	last    time.Time                // guarded by mu; the time of the newest line
	subs    map[chan []byte]struct{} // guarded by mu
}

// TimeFormat is the timestamp each stored line starts with.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// flushAt is how much pending text asks the Store's Run for a flush before
// its next tick. Writers never flush themselves, so an invocation's lines
// cost no system call on the invocation path.
const flushAt = 64 << 10

// write appends a line of stream. Times never go backwards within a log,
// so that the file's order is the events' order (clients that follow a
// log ask for what is newer than the newest event they saw).
func (l *FunctionLog) write(stream string, text []byte) { l.writeAt(time.Now(), stream, text, true) }

// writeAt is write with the event's time given (never before the log's
// newest) and, when tee is set, the Store's tee (ship.go) told.
func (l *FunctionLog) writeAt(at time.Time, stream string, text []byte, tee bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := at.UTC().Truncate(time.Millisecond)
	if tee {
		l.store.teeLocked(l.name, stream, now, text)
	}
	if now.Before(l.last) {
		now = l.last
	}
	l.last = now
	// One event, text as Lambda stores it: a line the capture read keeps
	// the newline it ended in, and so does a Text platform line.
	l.addLocked(now, stream, text)
	if len(l.pending) >= flushAt {
		select {
		case l.kick <- struct{}{}:
		default: // a flush is already asked for
		}
	}
	if int64(len(l.pending)) > l.max {
		// The disk is slower than the function: keep the newest half,
		// which is all a flush could keep anyway.
		l.pending = keepNewest(l.pending, l.max/2)
	}
}

// Event is an event given with its own time (PutLogEvents).
type Event struct {
	Time    int64 // milliseconds since the epoch
	Message string
}

// Put appends events of stream with their own times, in order; a message
// may hold newlines (it is stored escaped, see record.go). Unlike the
// lines functions write, their times may be older than those stored
// before, as PutLogEvents allows; they do not move the time later lines
// get.
func (l *FunctionLog) Put(stream string, events []Event) {
	l.put(stream, events)
	l.store.changed(Change{Kind: ChangePut, Key: l.name, Label: l.label, Stream: stream, Events: events})
}

func (l *FunctionLog) put(stream string, events []Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range events {
		l.addLocked(time.UnixMilli(e.Time).UTC(), stream, []byte(e.Message))
	}
	if len(l.pending) >= flushAt {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	if int64(len(l.pending)) > l.max {
		l.pending = keepNewest(l.pending, l.max/2)
	}
}

// addLocked appends one event to pending and hands it to followers. mu
// must be held.
func (l *FunctionLog) addLocked(now time.Time, stream string, text []byte) {
	start := len(l.pending)
	l.pending = appendRecord(l.pending, now, stream, text)
	if len(l.subs) == 0 {
		return
	}
	rec := l.pending[start:]
	text = bytes.TrimRight(text, "\n") // one line each, as WriteTail writes them
	line := make([]byte, 0, timeLen+1+len(text)+1)
	line = append(append(append(line, rec[:timeLen]...), ' '), text...)
	line = append(line, '\n')
	for ch := range l.subs {
		select {
		case ch <- bytes.Clone(line):
		default: // a slow follower misses lines rather than stalling functions
		}
	}
}

// keepNewest returns the whole lines at the end of b that fit in n bytes,
// moved to the start of b.
func keepNewest(b []byte, n int64) []byte {
	if int64(len(b)) <= n {
		return b
	}
	cut := len(b) - int(n)
	i := bytes.IndexByte(b[cut:], '\n')
	if i < 0 {
		return b[:0]
	}
	return append(b[:0], b[cut+i+1:]...)
}

func (l *FunctionLog) flush() {
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	l.flushFileLocked()
}

// flushFileLocked writes pending text to the file. fileMu must be held;
// mu is taken only to swap the buffers.
func (l *FunctionLog) flushFileLocked() {
	l.mu.Lock()
	b := l.pending
	l.pending, l.spare = l.spare[:0], nil
	l.mu.Unlock()
	if len(b) > 0 {
		// Log when writing starts failing and when it works again, not at
		// every flush of a full disk.
		err := l.appendLocked(b)
		switch {
		case err != nil && !l.failing:
			l.log.Warn("write function log; dropping lines until it works again", "err", err)
		case err == nil && l.failing:
			l.log.Info("function log writable again")
		}
		l.failing = err != nil
		if err != nil && l.f != nil {
			// The file may end in part of a line: opening it again ends
			// that line before the next.
			l.f.Close()
			l.f = nil
		}
	}
	if cap(b) > 4*flushAt {
		b = nil
	}
	l.mu.Lock()
	l.spare = b[:0]
	l.mu.Unlock()
}

// appendLocked writes whole lines to the file, rotating it into the
// previous file whenever it would pass half of max, so that the two files
// together stay within max. fileMu must be held.
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

// openLocked opens the file for appending. A new file gets its header; a
// file that ends in part of a line (a write the machine did not finish)
// gets a newline, so that the torn line stays alone and is skipped.
func (l *FunctionLog) openLocked() error {
	if l.f != nil {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	size := st.Size()
	prev, _ := readHeader(l.path + ".1")
	l.base, l.hdr = prev.base+prev.size, 0
	switch {
	case size == 0:
		if l.store != nil {
			l.store.groupCreated(l.name, l.label)
		}
		hdr := appendHeader(nil, l.base)
		n, err := f.Write(hdr)
		if err != nil {
			f.Close()
			return err
		}
		size, l.hdr = int64(n), int64(n)
	default:
		cur, err := readHeaderFile(f, size)
		if err != nil {
			f.Close()
			return err
		}
		if cur.header {
			l.base, l.hdr = cur.base, cur.hdrLen
		}
		var last [1]byte
		if _, err := f.ReadAt(last[:], size-1); err != nil {
			f.Close()
			return err
		}
		if last[0] != '\n' {
			n, err := f.Write([]byte{'\n'})
			size += int64(n)
			if err != nil {
				f.Close()
				return err
			}
		}
	}
	l.f, l.size = f, size
	return nil
}

func (l *FunctionLog) rotateLocked() error {
	if l.size <= l.hdr {
		return errors.New("a log line is longer than half the log's size limit")
	}
	next := l.base + l.size
	l.f.Close()
	l.f = nil
	if err := os.Rename(l.path, l.path+".1"); err != nil && !os.IsNotExist(err) {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	n, err := f.Write(appendHeader(nil, next))
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size, l.base, l.hdr = f, int64(n), next, int64(n)
	return nil
}

// dropFiles removes the log's files, closing its own; with pending, the
// lines not yet written go too (the log group is deleted, not trimmed).
func (l *FunctionLog) dropFiles(pending bool) {
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	if pending {
		l.mu.Lock()
		l.pending = l.pending[:0]
		l.mu.Unlock()
	}
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	l.size = 0
	removeFiles(l.path)
}

// close writes what is pending and closes the file; the next flush opens
// it again.
func (l *FunctionLog) close() {
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	l.flushFileLocked()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// Follow registers a follower that receives every line written from now
// on, as WriteTail writes them. Call the returned function to stop.
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

// WriteTail writes the last n stored lines (all when n <= 0) to w, each
// as "<time> <text>\n" (the text without the newlines it ends in),
// whatever its stream. It holds no lock while it
// writes to w, so a client that stops reading stalls only itself.
func (l *FunctionLog) WriteTail(w io.Writer, n int) error {
	lines, err := l.tail(n)
	if err != nil {
		return err
	}
	for _, line := range lines {
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// tail returns the last n stored lines (all when n <= 0), each ending in a
// newline.
func (l *FunctionLog) tail(n int) ([][]byte, error) {
	var lines [][]byte
	err := l.Scan(0, func(r Record) bool {
		line := make([]byte, 0, timeLen+len(r.Message)+2)
		line = time.UnixMilli(r.Time).UTC().AppendFormat(line, TimeFormat)
		line = append(append(append(line, ' '), bytes.TrimRight(r.Message, "\n")...), '\n')
		lines = append(lines, line)
		// Keep at most 2n lines; written so that a huge n cannot
		// overflow.
		if n > 0 && len(lines)-n > n {
			lines = append(lines[:0], lines[len(lines)-n:]...)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}

// Write appends a platform line of stream that belongs to no environment's
// output (an invocation that failed before one started). An empty line is
// ignored.
func (l *FunctionLog) Write(stream, line string) {
	if line != "" {
		l.write(stream, []byte(line))
	}
}
