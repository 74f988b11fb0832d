package logs

import (
	"bufio"
	"errors"
	"io"
	"os"
)

// Record is one stored event as Scan hands it out. Stream and Message
// alias Scan's buffer: they are valid during the callback only.
type Record struct {
	// Pos is the event's position in its log group: unique, and growing
	// with each event for the life of the group. Pagination tokens and
	// event ids are positions.
	Pos     int64
	Time    int64 // milliseconds since the epoch
	Stream  []byte
	Message []byte
}

// fileHead is what the start of a log file says about it.
type fileHead struct {
	exists bool
	header bool  // the file starts with a header
	base   int64 // the header's base
	hdrLen int64 // the header's length, newline included
	size   int64
}

// readHeader reads the head of the file at path; a missing file is a
// zero fileHead.
func readHeader(path string) (fileHead, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return fileHead{}, nil
		}
		return fileHead{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fileHead{}, err
	}
	return readHeaderFile(f, st.Size())
}

// readHeaderFile reads the head of f, which holds size bytes.
func readHeaderFile(f *os.File, size int64) (fileHead, error) {
	h := fileHead{exists: true, size: size}
	var buf [64]byte
	n, err := f.ReadAt(buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return h, err
	}
	line := buf[:n]
	for i, c := range line {
		if c == '\n' {
			if base, ok := parseHeader(line[:i]); ok {
				h.header, h.base, h.hdrLen = true, base, int64(i+1)
			}
			break
		}
	}
	return h, nil
}

// bases returns the positions of the previous file's and the current
// file's first bytes. Files from before headers have none: the previous
// file then ends where the current one starts, and a group whose files
// both lack one starts at 0.
func bases(prev, cur fileHead) (int64, int64) {
	var bp int64
	switch {
	case prev.header:
		bp = prev.base
	case cur.header:
		bp = max(0, cur.base-prev.size)
	}
	bc := bp + prev.size
	if cur.header {
		bc = cur.base
	}
	return bp, bc
}

// segment is one file of a Scan: open, read up to size.
type segment struct {
	f     *os.File
	base  int64
	start int64 // offset of the first line after the header
	size  int64
}

// segments writes out what is pending and opens the files, older first.
// Lines appended later are beyond the sizes taken here; a rotation later
// leaves the open files readable.
func (l *FunctionLog) segments() ([]segment, error) {
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	l.flushFileLocked()
	var files [2]*os.File
	var heads [2]fileHead
	for i, p := range []string{l.path + ".1", l.path} {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			closeAll(files[:])
			return nil, err
		}
		files[i] = f
		st, err := f.Stat()
		if err == nil {
			heads[i], err = readHeaderFile(f, st.Size())
		}
		if err != nil {
			closeAll(files[:])
			return nil, err
		}
	}
	bp, bc := bases(heads[0], heads[1])
	var segs []segment
	for i, b := range []int64{bp, bc} {
		if files[i] != nil {
			segs = append(segs, segment{f: files[i], base: b, start: heads[i].hdrLen, size: heads[i].size})
		}
	}
	return segs, nil
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// Scan calls fn with each stored event at position from or later, oldest
// first, until fn returns false. Events older than the group's retention
// are skipped. Scan holds no lock while it reads or calls fn.
func (l *FunctionLog) Scan(from int64, fn func(Record) bool) error {
	segs, err := l.segments()
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range segs {
			s.f.Close()
		}
	}()
	var cutoff int64
	if l.store != nil {
		cutoff = l.store.cutoff(l.name)
	}
	br := bufio.NewReaderSize(nil, maxLine+1024)
	for _, s := range segs {
		if s.base+s.size <= from {
			continue
		}
		off := max(s.start, from-s.base)
		if off > s.start {
			// A position inside a line (a forged token) starts at the
			// next line.
			var prev [1]byte
			if _, err := s.f.ReadAt(prev[:], off-1); err != nil {
				return err
			}
			if prev[0] != '\n' {
				br.Reset(io.NewSectionReader(s.f, off, s.size-off))
				skipped, err := skipLine(br)
				if err != nil {
					continue
				}
				off += skipped
			}
		}
		br.Reset(io.NewSectionReader(s.f, off, s.size-off))
		for {
			line, err := br.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				// Longer than any line Hearth writes: not an event.
				rest, err := skipLine(br)
				if err != nil {
					break
				}
				off += int64(len(line)) + rest
				continue
			}
			if err != nil {
				break // the end, or a torn last line
			}
			pos := s.base + off
			off += int64(len(line))
			ms, stream, msg, ok := parseRecord(line)
			if !ok || ms < cutoff {
				continue
			}
			if !fn(Record{Pos: pos, Time: ms, Stream: stream, Message: msg}) {
				return nil
			}
		}
	}
	return nil
}

// skipLine reads past the next newline and returns how many bytes that
// took.
func skipLine(br *bufio.Reader) (int64, error) {
	var n int64
	for {
		b, err := br.ReadSlice('\n')
		n += int64(len(b))
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return n, err
		}
	}
}
