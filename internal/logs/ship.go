package logs

import "time"

// Tee is told of every line a Store's logs are written (the lines of one
// write, with the time they are stored under), so that a worker node of
// a cluster can ship them to the api nodes. It is called with the log's
// lock held: it must not block or do I/O, and must copy text to keep it.
type Tee func(name, stream string, t time.Time, text []byte)

// SetTee has f told of every line written from now on, except those
// written with WriteAt (lines shipped from elsewhere). Nil stops it.
func (s *Store) SetTee(f Tee) {
	if f == nil {
		s.tee.Store(nil)
		return
	}
	s.tee.Store(&f)
}

// teeLocked tells the tee, if any, of a write; the log's mu is held.
func (s *Store) teeLocked(name, stream string, t time.Time, text []byte) {
	if s == nil {
		return
	}
	if f := s.tee.Load(); f != nil {
		(*f)(name, stream, t, text)
	}
}

// WriteAt appends the event text to stream with the time t,
// or the time of the log's newest event if t is earlier: times never go
// backwards within a log. The tee is not told: these are lines written
// elsewhere (shipped from a worker node of a cluster).
func (l *FunctionLog) WriteAt(t time.Time, stream string, text []byte) {
	l.writeAt(t, stream, text, false)
}
