package logs

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// The on-disk format of a function's log (its log group).
//
// A file is a sequence of lines. Each event is one line:
//
//	2026-11-30T19:50:17.123Z<TAB>2026/11/30/[$LATEST]0123…<TAB>message
//
// the event's time (UTC, milliseconds, always 24 bytes), its log stream and
// its text, which never holds a newline. Files written since log streams
// exist start with a header line,
//
//	#hearth-log 2 <base>
//
// where base is the group-wide position of the file's first byte: the
// previous file's base plus its size, so that positions (base + offset of a
// line) grow for the life of the group and survive rotation. Pagination
// tokens and event ids are positions.
//
// Most events Lambda writes end in a newline (a line a function printed,
// a Text platform line, see platform.go) and hold no other: such an event
// is stored without its newline, with a bar instead of the first tab,
//
//	2026-11-30T19:50:17.123Z|stream<TAB>START RequestId: … Version: $LATEST
//
// and read back with the newline the stored line ends in. Any other event
// whose text holds newlines (PutLogEvents allows them) is stored escaped,
// with a backslash instead of the first tab:
//
//	2026-11-30T19:50:17.123Z\stream<TAB>first line\nsecond \\ line
//
// where \n stands for a newline and \\ for a backslash.
//
// Lines from before streams ("<time> <message>", a space after the time)
// are read as events of legacyStream. A line that is neither (the torn end
// of a write the machine did not finish) is skipped.

// headerPrefix starts the first line of every file in the current format.
const headerPrefix = "#hearth-log 2 "

// legacyStream is the stream of the events stored before logs had
// streams.
const legacyStream = "0000/00/00/[$LATEST]00000000000000000000000000000000"

// timeLen is the length of a stored time: TimeFormat in UTC.
const timeLen = len("2006-01-02T15:04:05.000Z")

// appendHeader appends the header of a file whose first byte is at base.
func appendHeader(b []byte, base int64) []byte {
	b = append(b, headerPrefix...)
	b = strconv.AppendInt(b, base, 10)
	return append(b, '\n')
}

// parseHeader returns the base of a file whose first line is line
// (without its newline), and whether it is a header.
func parseHeader(line []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(headerPrefix))
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(string(rest), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// appendRecord appends the stored line of an event, newline included.
// stream must hold no tab or newline; text is stored as the record format
// above says.
func appendRecord(b []byte, t time.Time, stream string, text []byte) []byte {
	b = t.UTC().AppendFormat(b, TimeFormat)
	nl := bytes.IndexByte(text, '\n')
	switch {
	case nl < 0:
		b = append(b, '\t')
	case nl == len(text)-1:
		b = append(b, '|')
	default:
		b = append(b, '\\')
	}
	b = append(b, stream...)
	b = append(b, '\t')
	if nl < 0 || nl == len(text)-1 {
		b = append(b, text...) // its newline, if any, ends the stored line
		if nl < 0 {
			b = append(b, '\n')
		}
		return b
	}
	for _, c := range text {
		switch c {
		case '\n':
			b = append(b, '\\', 'n')
		case '\\':
			b = append(b, '\\', '\\')
		default:
			b = append(b, c)
		}
	}
	return append(b, '\n')
}

// StoredLen is the length of text as appendRecord stores it.
func StoredLen(text string) int {
	nl := strings.IndexByte(text, '\n')
	if nl < 0 || nl == len(text)-1 {
		return len(text)
	}
	return len(text) + strings.Count(text, "\n") + strings.Count(text, "\\")
}

// unescape undoes appendRecord's escaping in place.
func unescape(b []byte) []byte {
	out := b[:0]
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\\' && i+1 < len(b) {
			i++
			if b[i] == 'n' {
				c = '\n'
			} else {
				c = b[i]
			}
		}
		out = append(out, c)
	}
	return out
}

// parseRecord parses a stored line, which ends in its newline. The slices
// it returns alias line.
func parseRecord(line []byte) (ms int64, stream, msg []byte, ok bool) {
	if len(line) < timeLen+2 || line[len(line)-1] != '\n' {
		return 0, nil, nil, false
	}
	ms, ok = parseTime(line[:timeLen])
	if !ok {
		return 0, nil, nil, false
	}
	body := line[timeLen+1 : len(line)-1]
	switch line[timeLen] {
	case '\t', '\\', '|':
		stream, msg, ok = bytes.Cut(body, []byte{'\t'})
		if !ok || len(stream) == 0 {
			return 0, nil, nil, false
		}
		switch line[timeLen] {
		case '\\':
			msg = unescape(msg)
		case '|':
			msg = msg[:len(msg)+1] // the line's own newline ends the message
		}
		return ms, stream, msg, true
	case ' ':
		return ms, []byte(legacyStream), body, true
	}
	return 0, nil, nil, false
}

// parseTime parses a time stored as "2006-01-02T15:04:05.000Z" into
// milliseconds since the epoch, without the cost of time.Parse.
func parseTime(b []byte) (int64, bool) {
	if len(b) != timeLen || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != '.' || b[23] != 'Z' {
		return 0, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	var v [7]int
	for i, r := range [7][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}, {20, 23}} {
		n, ok := num(b[r[0]:r[1]])
		if !ok {
			return 0, false
		}
		v[i] = n
	}
	if v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60 {
		return 0, false
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], v[6]*int(time.Millisecond), time.UTC)
	return t.UnixMilli(), true
}
