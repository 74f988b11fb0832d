package logs

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// groupsFile holds what Hearth knows of each log group besides its events:
// when it was created and its retention. It is replaced whole (written
// aside, synced, renamed), so a crash leaves the old or the new one.
const groupsFile = "groups.json"

// groupMeta is one group's entry in groupsFile.
type groupMeta struct {
	Created       int64 `json:"created"` // milliseconds since the epoch
	RetentionDays int   `json:"retentionInDays,omitempty"`
	// Name is the log group's name as its writers gave it, for a key
	// that does not say it (function.LogKey); empty for Lambda's
	// default groups.
	Name string `json:"name,omitempty"`
	// Kept marks a group made by CreateLogGroup: it exists with no
	// events, and is not forgotten when it has none.
	Kept bool `json:"kept,omitempty"`
	// Streams are the streams made by CreateLogStream, by name, with
	// their creation time: they exist before their first event.
	Streams map[string]int64 `json:"streams,omitempty"`
}

// Group describes a stored log group.
type Group struct {
	Name          string // the log's key: function.LogKey
	Label         string // the group's name when its writers gave it, else ""
	Created       int64  // milliseconds since the epoch
	RetentionDays int    // 0: events never expire
	StoredBytes   int64
}

var (
	// ErrNoGroup is returned for a log group that does not exist.
	ErrNoGroup = errors.New("the specified log group does not exist")
	// ErrGroupExists is returned when creating a log group that exists.
	ErrGroupExists = errors.New("the specified log group already exists")
	// ErrStreamExists is returned when creating a log stream that exists.
	ErrStreamExists = errors.New("the specified log stream already exists")
	// ErrTooManyStreams is returned when a group has MaxCreatedStreams
	// streams made by CreateLogStream.
	ErrTooManyStreams = errors.New("too many log streams created in the log group")
	// ErrTooManyGroups is returned when an account has as many log groups
	// made by CreateLogGroup as Config.MaxCreatedGroups allows.
	ErrTooManyGroups = errors.New("too many log groups created in the account")
)

// DefaultMaxCreatedGroups is Config.MaxCreatedGroups' default. (CloudWatch
// Logs allows 1,000,000 log groups per account and region; Hearth keeps
// every created group's metadata in one file it rewrites on each change.)
const DefaultMaxCreatedGroups = 10000

// keyAccount is the account part of a log key ("ACCOUNT.NAME", or NAME for
// the server's default account: function.LogName), for counting an
// account's groups.
func keyAccount(key string) string {
	account, _, ok := strings.Cut(key, ".")
	if !ok {
		return ""
	}
	return account
}

// MaxCreatedStreams bounds the streams CreateLogStream makes in one group,
// since each is remembered in groupsFile. (CloudWatch Logs has no such
// limit; streams that functions write are not counted.)
const MaxCreatedStreams = 10000

// RetentionDays are the retentions CloudWatch Logs accepts, in days.
var RetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// loadGroups reads groupsFile. One that cannot be parsed (a disk that
// corrupted it) is set aside as groupsFile.bad, with a warning: the logs
// stay readable, their retention is lost.
func loadGroups(dir string, log *slog.Logger) (map[string]*groupMeta, error) {
	groups := make(map[string]*groupMeta)
	p := filepath.Join(dir, groupsFile)
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return groups, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read log groups: %w", err)
	}
	if err := json.Unmarshal(b, &groups); err != nil {
		log.Warn("log groups unreadable; set aside, retention settings lost", "file", p, "err", err)
		if err := os.Rename(p, p+".bad"); err != nil {
			return nil, fmt.Errorf("set aside unreadable log groups: %w", err)
		}
		return make(map[string]*groupMeta), nil
	}
	for name, g := range groups {
		if g == nil {
			delete(groups, name)
		}
	}
	return groups, nil
}

// saveGroups writes the groups' metadata if it changed. Only one save runs
// at a time, and it writes the state as of its start.
func (s *Store) saveGroups() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	if !s.groupsDirty {
		s.mu.Unlock()
		return nil
	}
	b, err := json.Marshal(s.groups)
	s.groupsDirty = false
	s.mu.Unlock()
	if err != nil {
		return err
	}
	p := filepath.Join(s.cfg.Dir, groupsFile)
	err = writeSynced(p+".tmp", b)
	if err == nil {
		err = os.Rename(p+".tmp", p)
	}
	if err != nil {
		s.mu.Lock()
		s.groupsDirty = true // the next flush tries again
		s.mu.Unlock()
		return fmt.Errorf("save log groups: %w", err)
	}
	return nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// groupCreated records that the named log's first file was just created,
// unless the group is known already; label is the group's name if its
// writer gave one. It does no I/O: Run saves.
func (s *Store) groupCreated(name, label string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups[name] == nil {
		s.groups[name] = &groupMeta{Created: time.Now().UnixMilli(), Name: label}
		s.groupsDirty = true
	}
}

// CreateGroup makes the log group with key name (its name label, or ""
// when the key says it) with no events, and saves it before returning;
// ErrGroupExists if it exists.
func (s *Store) CreateGroup(name, label string) error {
	err := s.createGroup(name, label)
	if err == nil {
		s.changed(Change{Kind: ChangeCreateGroup, Key: name, Label: label})
	}
	return err
}

func (s *Store) createGroup(name, label string) error {
	if _, err := s.Group(name); err == nil {
		return ErrGroupExists
	} else if !errors.Is(err, ErrNoGroup) {
		return err
	}
	s.mu.Lock()
	if s.groups[name] != nil {
		s.mu.Unlock()
		return ErrGroupExists
	}
	if s.createdGroupsLocked(keyAccount(name)) >= s.MaxCreatedGroups() {
		s.mu.Unlock()
		return ErrTooManyGroups
	}
	s.groups[name] = &groupMeta{Created: time.Now().UnixMilli(), Name: label, Kept: true}
	s.groupsDirty = true
	s.mu.Unlock()
	return s.saveGroups()
}

// createdGroupsLocked counts account's groups made by CreateLogGroup.
func (s *Store) createdGroupsLocked(account string) int {
	n := 0
	for key, g := range s.groups {
		if g.Kept && keyAccount(key) == account {
			n++
		}
	}
	return n
}

// CreateStream makes a stream with no events in the named group, and
// saves it before returning: ErrNoGroup, ErrStreamExists (made before, or
// written to), or ErrTooManyStreams.
func (s *Store) CreateStream(name, stream string) error {
	err := s.createStream(name, stream)
	if err == nil {
		s.changed(Change{Kind: ChangeCreateStream, Key: name, Stream: stream})
	}
	return err
}

func (s *Store) createStream(name, stream string) error {
	if _, err := s.Group(name); err != nil {
		return err
	}
	s.mu.Lock()
	g := s.groups[name]
	made := false
	if g != nil {
		_, made = g.Streams[stream]
	}
	s.mu.Unlock()
	if g == nil {
		return ErrNoGroup
	}
	if made {
		return ErrStreamExists
	}
	written, err := s.Reader(name).hasStream(stream)
	if err != nil {
		return err
	}
	if written {
		return ErrStreamExists
	}
	s.mu.Lock()
	switch {
	case s.groups[name] != g: // deleted meanwhile
		err = ErrNoGroup
	case g.Streams[stream] != 0:
		err = ErrStreamExists
	case len(g.Streams) >= MaxCreatedStreams:
		err = ErrTooManyStreams
	default:
		if g.Streams == nil {
			g.Streams = make(map[string]int64)
		}
		g.Streams[stream] = time.Now().UnixMilli()
		s.groupsDirty = true
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.saveGroups()
}

// CreatedStreams returns the streams CreateLogStream made in the named
// group, with their creation times.
func (s *Store) CreatedStreams(name string) map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[name]
	if g == nil {
		return nil
	}
	out := make(map[string]int64, len(g.Streams))
	for k, v := range g.Streams {
		out[k] = v
	}
	return out
}

// HasStream reports whether the named group has the stream: made by
// CreateLogStream, or with events.
func (s *Store) HasStream(name, stream string) (bool, error) {
	s.mu.Lock()
	made := false
	if g := s.groups[name]; g != nil {
		_, made = g.Streams[stream]
	}
	s.mu.Unlock()
	if made {
		return true, nil
	}
	return s.Reader(name).hasStream(stream)
}

// hasStream reports whether the log holds an event of stream.
func (l *FunctionLog) hasStream(stream string) (bool, error) {
	found := false
	err := l.Scan(0, func(r Record) bool {
		found = string(r.Stream) == stream
		return !found
	})
	return found, err
}

// cutoff is the time (ms since the epoch) before which the named group's
// events have expired; 0 when they never do.
func (s *Store) cutoff(name string) int64 {
	s.mu.Lock()
	g := s.groups[name]
	days := 0
	if g != nil {
		days = g.RetentionDays
	}
	s.mu.Unlock()
	if days == 0 {
		return 0
	}
	return time.Now().Add(-time.Duration(days) * 24 * time.Hour).UnixMilli()
}

// storedFiles lists the logs with files in the directory: name → total
// size and oldest modification time.
func (s *Store) storedFiles() (map[string]Group, error) {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("list logs: %w", err)
	}
	out := make(map[string]Group)
	for _, e := range entries {
		name, ok := strings.CutSuffix(strings.TrimSuffix(e.Name(), ".1"), ".log")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		g := out[name]
		g.Name = name
		g.StoredBytes += info.Size()
		if mt := info.ModTime().UnixMilli(); g.Created == 0 || mt < g.Created {
			g.Created = mt
		}
		out[name] = g
	}
	return out, nil
}

// Groups lists every log group, of every account, by name, after writing
// out what is pending. A group whose files predate groupsFile is created
// as of its oldest file.
func (s *Store) Groups() ([]Group, error) {
	// A function that logged for the first time has its group once its
	// lines are written.
	s.flushAll()
	files, err := s.storedFiles()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []Group
	for name, g := range s.groups {
		out = append(out, Group{Name: name, Label: g.Name, Created: g.Created, RetentionDays: g.RetentionDays, StoredBytes: files[name].StoredBytes})
	}
	for name, f := range files {
		if s.groups[name] == nil {
			s.groups[name] = &groupMeta{Created: f.Created}
			s.groupsDirty = true
			out = append(out, f)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Group) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Group describes the named log group, or returns ErrNoGroup.
func (s *Store) Group(name string) (Group, error) {
	groups, err := s.Groups()
	if err != nil {
		return Group{}, err
	}
	i, ok := slices.BinarySearchFunc(groups, name, func(g Group, n string) int { return strings.Compare(g.Name, n) })
	if !ok {
		return Group{}, ErrNoGroup
	}
	return groups[i], nil
}

// SetRetention sets the named group's retention in days (0 removes it)
// and saves it before returning.
func (s *Store) SetRetention(name string, days int) error {
	err := s.setRetention(name, days)
	if err == nil {
		s.changed(Change{Kind: ChangeRetention, Key: name, Days: days})
	}
	return err
}

func (s *Store) setRetention(name string, days int) error {
	if _, err := s.Group(name); err != nil {
		return err
	}
	s.mu.Lock()
	g := s.groups[name]
	if g == nil {
		g = &groupMeta{Created: time.Now().UnixMilli()}
		s.groups[name] = g
	}
	g.RetentionDays = days
	s.groupsDirty = true
	s.mu.Unlock()
	return s.saveGroups()
}

// DeleteGroup removes the named group: its files, the lines not yet
// written and its metadata. A function that logs again creates it anew.
func (s *Store) DeleteGroup(name string) error {
	err := s.deleteGroup(name)
	if err == nil {
		s.changed(Change{Kind: ChangeDeleteGroup, Key: name})
	}
	return err
}

func (s *Store) deleteGroup(name string) error {
	if _, err := s.Group(name); err != nil {
		return err
	}
	s.mu.Lock()
	f := s.fns[name]
	var released []*FunctionLog
	for r := range s.released {
		if r.name == name {
			released = append(released, r)
		}
	}
	delete(s.groups, name)
	s.groupsDirty = true
	s.mu.Unlock()
	for _, r := range released {
		r.dropFiles(true)
	}
	if f != nil {
		f.dropFiles(true)
	} else {
		removeFiles(filepath.Join(s.cfg.Dir, name+".log"))
	}
	return s.saveGroups()
}

// expire removes the files of groups with a retention whose newest event
// (the file's modification time) has expired, and forgets the groups of
// deleted functions that have neither files nor a retention.
func (s *Store) expire() {
	stored, err := s.storedFiles()
	if err != nil {
		s.log.Warn("list logs", "err", err)
		return
	}
	files := make(map[string]bool, len(stored))
	for name := range stored {
		files[name] = true
	}
	s.mu.Lock()
	type exp struct {
		name   string
		cutoff time.Time
		f      *FunctionLog
	}
	var todo []exp
	for name, g := range s.groups {
		if g.RetentionDays == 0 && !g.Kept && s.fns[name] == nil && !files[name] && !s.releasedLocked(name) {
			// Nothing to remember of a group whose files were evicted
			// and whose function is gone: forget it, so that deleted
			// functions do not pile up here.
			delete(s.groups, name)
			s.groupsDirty = true
			continue
		}
		if g.RetentionDays > 0 {
			todo = append(todo, exp{name, time.Now().Add(-time.Duration(g.RetentionDays) * 24 * time.Hour), s.fns[name]})
		}
	}
	s.mu.Unlock()
	for _, e := range todo {
		if e.f != nil {
			e.f.expire(e.cutoff)
			continue
		}
		expireFiles(filepath.Join(s.cfg.Dir, e.name+".log"), e.cutoff, func() {})
	}
}

// expire removes the log's files whose events are all older than cutoff.
func (l *FunctionLog) expire(cutoff time.Time) {
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	expireFiles(l.path, cutoff, func() {
		if l.f != nil {
			l.f.Close()
			l.f = nil
		}
	})
}

// expireFiles removes the previous file at path+".1" if it was last
// written before cutoff, and both files if the current one was; closeCur
// closes the current file first.
func expireFiles(path string, cutoff time.Time, closeCur func()) {
	if st, err := os.Stat(path); err == nil && st.ModTime().Before(cutoff) {
		closeCur()
		removeFiles(path)
		return
	}
	if st, err := os.Stat(path + ".1"); err == nil && st.ModTime().Before(cutoff) {
		os.Remove(path + ".1")
	}
}

// releasedLocked reports whether a released log of the name may still
// write. mu must be held.
func (s *Store) releasedLocked(name string) bool {
	for f := range s.released {
		if f.name == name {
			return true
		}
	}
	return false
}

// Cutoff is the time (ms since the epoch) before which the named group's
// events have expired by its retention; 0 when they never do.
func (s *Store) Cutoff(name string) int64 { return s.cutoff(name) }

// MaxCreatedGroups is the number of log groups CreateLogGroup may make per
// account.
func (s *Store) MaxCreatedGroups() int {
	return cmp.Or(s.cfg.MaxCreatedGroups, DefaultMaxCreatedGroups)
}
