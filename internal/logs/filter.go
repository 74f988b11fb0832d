package logs

import (
	"bytes"
	"errors"
	"strings"
)

// Pattern is a CloudWatch Logs filter pattern, of plain terms or a JSON
// pattern (see jsonfilter.go). With terms, an event matches when it
// contains every term, at least one of the ?terms (if there are any) and
// none of the -terms. Terms match case-sensitively, anywhere in the
// message; "quoted phrases" are one term with their spaces.
type Pattern struct {
	all, any, none [][]byte
	json           jsonNode // a JSON pattern, { $.level = "ERROR" }
}

// ErrPattern is wrapped by ParsePattern's errors.
var ErrPattern = errors.New("invalid filter pattern")

// ParsePattern parses a filter pattern. The empty pattern matches every
// event. Space-delimited ([a, b]) and regular expression (%…%) patterns
// are refused.
func ParsePattern(s string) (*Pattern, error) {
	if t := strings.TrimLeft(s, " \t\n\r"); strings.HasPrefix(t, "{") {
		n, err := parseJSONPattern(s)
		if err != nil {
			return nil, err
		}
		return &Pattern{json: n}, nil
	}
	p := &Pattern{}
	for i := 0; ; {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			return p, nil
		}
		switch s[i] {
		case '{':
			return nil, patternError("a JSON pattern { … } must be the whole pattern")
		case '[', '%':
			return nil, patternError("space-delimited and regular-expression patterns are not supported; use terms, \"phrases\", ?any and -excluded terms, or a JSON pattern { $.field = value }")
		}
		list := &p.all
		switch s[i] {
		case '?':
			list = &p.any
			i++
		case '-':
			list = &p.none
			i++
		}
		if i == len(s) || isSpace(s[i]) {
			return nil, patternError("a ? or - must be followed by a term")
		}
		var term []byte
		if s[i] == '"' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				i++
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' && i < len(s) {
					c = s[i]
					i++
				}
				term = append(term, c)
			}
			if !closed {
				return nil, patternError("a quoted phrase is not closed")
			}
			if i < len(s) && !isSpace(s[i]) {
				return nil, patternError("a quoted phrase must be followed by a space")
			}
		} else {
			j := i
			for j < len(s) && !isSpace(s[j]) {
				if s[j] == '"' {
					return nil, patternError("a quote inside a term")
				}
				j++
			}
			term = []byte(s[i:j])
			i = j
		}
		*list = append(*list, term)
	}
}

func patternError(msg string) error {
	return &patternErr{"Invalid filter pattern: " + msg}
}

type patternErr struct{ msg string }

func (e *patternErr) Error() string { return e.msg }
func (e *patternErr) Unwrap() error { return ErrPattern }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// Match reports whether msg matches the pattern. A nil Pattern matches
// everything.
func (p *Pattern) Match(msg []byte) bool {
	if p == nil {
		return true
	}
	if p.json != nil {
		return matchJSON(p.json, msg)
	}
	for _, t := range p.all {
		if !bytes.Contains(msg, t) {
			return false
		}
	}
	for _, t := range p.none {
		if bytes.Contains(msg, t) {
			return false
		}
	}
	if len(p.any) == 0 {
		return true
	}
	for _, t := range p.any {
		if bytes.Contains(msg, t) {
			return true
		}
	}
	return false
}

// String renders the pattern in a form ParsePattern reads back as the
// same pattern.
func (p *Pattern) String() string {
	var b strings.Builder
	if p.json != nil {
		b.WriteString("{ ")
		p.json.render(&b)
		b.WriteString(" }")
		return b.String()
	}
	write := func(prefix string, terms [][]byte) {
		for _, t := range terms {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(prefix)
			b.WriteByte('"')
			for _, c := range t {
				if c == '"' || c == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(c)
			}
			b.WriteByte('"')
		}
	}
	write("", p.all)
	write("?", p.any)
	write("-", p.none)
	return b.String()
}
