package logs

import (
	"errors"
	"fmt"
	"strings"
)

// Changes made through the CloudWatch Logs API (log groups and streams
// created, retention set, groups deleted, events put), as opposed to the
// lines functions write, which a cluster ships separately. A node of a
// cluster tells the others of each change it makes (SetChangeTee) and
// applies theirs (Apply), so that every node answers the same.

// Change kinds.
const (
	ChangeCreateGroup  = "create-group"
	ChangeCreateStream = "create-stream"
	ChangeRetention    = "retention"
	ChangeDeleteGroup  = "delete-group"
	ChangePut          = "put"
)

// Change is one change made to a Store through its API.
type Change struct {
	Kind   string  `json:"kind"`
	Key    string  `json:"key"`             // the log's key (function.LogKey)
	Label  string  `json:"label,omitempty"` // the group's name where the key does not say it
	Stream string  `json:"stream,omitempty"`
	Days   int     `json:"days,omitempty"` // retention; 0 removes it
	Events []Event `json:"events,omitempty"`
}

// ChangeTee is told of every change made through the Store's methods
// (not through Apply). It is called with no lock held, after the change
// is made, on the caller's goroutine: it must not block for long.
type ChangeTee func(Change)

// SetChangeTee has f told of every change made from now on; nil stops it.
func (s *Store) SetChangeTee(f ChangeTee) {
	if f == nil {
		s.changeTee.Store(nil)
		return
	}
	s.changeTee.Store(&f)
}

func (s *Store) changed(c Change) {
	if f := s.changeTee.Load(); f != nil {
		(*f)(c)
	}
}

// Apply makes a change another node made, without telling the change tee.
// What the change finds done already (a group that exists, a group that
// is gone) is not an error: nodes apply each other's changes in whatever
// order they arrive.
func (s *Store) Apply(c Change) error {
	if !ValidKey(c.Key) {
		return fmt.Errorf("log change %s: invalid key %q", c.Kind, c.Key)
	}
	var err error
	switch c.Kind {
	case ChangeCreateGroup:
		err = s.createGroup(c.Key, c.Label)
		if errors.Is(err, ErrGroupExists) || errors.Is(err, ErrTooManyGroups) {
			err = nil
		}
	case ChangeCreateStream:
		err = s.createStream(c.Key, c.Stream)
		if errors.Is(err, ErrStreamExists) || errors.Is(err, ErrTooManyStreams) || errors.Is(err, ErrNoGroup) {
			err = nil
		}
	case ChangeRetention:
		err = s.setRetention(c.Key, c.Days)
		if errors.Is(err, ErrNoGroup) {
			err = nil
		}
	case ChangeDeleteGroup:
		err = s.deleteGroup(c.Key)
		if errors.Is(err, ErrNoGroup) {
			err = nil
		}
	case ChangePut:
		s.Log(c.Key, c.Label).put(c.Stream, c.Events)
	default:
		err = fmt.Errorf("unknown log change %q", c.Kind)
	}
	return err
}

// ValidKey reports whether key can name a log: a file name in the store's
// directory (no separator, not hidden, at most 256 bytes).
func ValidKey(key string) bool {
	return len(key) > 0 && len(key) <= 256 && key[0] != '.' && !strings.ContainsAny(key, "/\\\x00")
}
