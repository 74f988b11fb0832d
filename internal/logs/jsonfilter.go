package logs

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// A JSON filter pattern, { $.level = "ERROR" && $.latency > 100 }, matches
// events whose message is a JSON value in which the selected fields hold
// the given values. Grammar, after CloudWatch Logs' filter pattern syntax:
//
//	pattern    = "{" or "}"
//	or         = and { "||" and }
//	and        = unary { "&&" unary }
//	unary      = "(" or ")" | comparison
//	comparison = selector ( op value | "IS" ("TRUE"|"FALSE"|"NULL") | "NOT" "EXISTS" )
//	selector   = "$" { "." name | "[" index "]" }
//	op         = "=" | "!=" | "<" | "<=" | ">" | ">="
//	value      = "quoted string" | number | unquoted-string
//
// Strings compare with = and != only, and * in them matches any run of
// characters; numbers compare with all six operators. A comparison holds
// only when the selected field exists and has the value's type: a string
// comparison never matches a number field and != never matches a missing
// field (NOT EXISTS is for that). Regular expression values (%…%) are
// refused.

// Bounds on a JSON pattern: it comes from the caller, and is parsed
// recursively.
const (
	maxJSONDepth       = 16 // nested parentheses
	maxJSONComparisons = 64
	maxSelectorSteps   = 32
)

type jsonNode interface {
	match(doc any) bool
	render(b *strings.Builder)
}

type jsonBool struct {
	or   bool // || rather than &&
	l, r jsonNode
}

func (n *jsonBool) match(doc any) bool {
	if n.or {
		return n.l.match(doc) || n.r.match(doc)
	}
	return n.l.match(doc) && n.r.match(doc)
}

func (n *jsonBool) render(b *strings.Builder) {
	b.WriteByte('(')
	n.l.render(b)
	if n.or {
		b.WriteString(" || ")
	} else {
		b.WriteString(" && ")
	}
	n.r.render(b)
	b.WriteByte(')')
}

// step is one selector step: a field name, or an array index when index
// >= 0.
type step struct {
	name  string
	index int
}

type jsonCmp struct {
	sel   []step
	op    string // =, !=, <, <=, >, >=, IS TRUE, IS FALSE, IS NULL, NOT EXISTS
	num   float64
	str   string
	isNum bool
}

func (n *jsonCmp) match(doc any) bool {
	v, ok := doc, true
	for _, s := range n.sel {
		if s.index >= 0 {
			a, isArr := v.([]any)
			if !isArr || s.index >= len(a) {
				ok = false
				break
			}
			v = a[s.index]
			continue
		}
		o, isObj := v.(map[string]any)
		if !isObj {
			ok = false
			break
		}
		if v, ok = o[s.name]; !ok {
			break
		}
	}
	if n.op == "NOT EXISTS" {
		return !ok
	}
	if !ok {
		return false
	}
	switch n.op {
	case "IS TRUE":
		return v == true
	case "IS FALSE":
		return v == false
	case "IS NULL":
		return v == nil
	}
	if !n.isNum {
		s, isStr := v.(string)
		return isStr && globMatch(n.str, s) == (n.op == "=")
	}
	f, isNum := v.(float64)
	if !isNum {
		return false
	}
	switch n.op {
	case "=":
		return f == n.num
	case "!=":
		return f != n.num
	case "<":
		return f < n.num
	case "<=":
		return f <= n.num
	case ">":
		return f > n.num
	default: // >=
		return f >= n.num
	}
}

func (n *jsonCmp) render(b *strings.Builder) {
	b.WriteByte('$')
	for _, s := range n.sel {
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		} else {
			b.WriteByte('.')
			b.WriteString(s.name)
		}
	}
	b.WriteByte(' ')
	b.WriteString(n.op)
	switch {
	case strings.HasPrefix(n.op, "IS") || n.op == "NOT EXISTS":
	case n.isNum:
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(n.num, 'g', -1, 64))
	default:
		b.WriteString(` "`)
		for _, c := range []byte(n.str) {
			if c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
		b.WriteByte('"')
	}
}

// globMatch reports whether s matches pattern, in which * stands for any
// run of characters. It runs in O(len(pattern)·len(s)) at worst.
func globMatch(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// matchJSON reports whether msg is JSON that root matches. A message
// that is not JSON matches no JSON pattern.
func matchJSON(root jsonNode, msg []byte) bool {
	t := bytes.TrimSpace(msg)
	if len(t) == 0 || t[0] != '{' && t[0] != '[' {
		return false
	}
	var doc any
	if json.Unmarshal(t, &doc) != nil {
		return false
	}
	return root.match(doc)
}

type jsonParser struct {
	s     string
	i     int
	depth int
	cmps  int
}

// parseJSONPattern parses s, which starts with "{" after leading spaces.
func parseJSONPattern(s string) (jsonNode, error) {
	if !strings.HasSuffix(strings.TrimRight(s, " \t\n\r"), "}") {
		// The service's own words for this one.
		return nil, &patternErr{"If a filter pattern starts with '{' it must end with '}'"}
	}
	p := &jsonParser{s: s}
	p.skip()
	p.i++ // {
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	p.skip()
	if !p.eat("}") {
		return nil, p.errorf("expected && or || or a closing }")
	}
	p.skip()
	if p.i != len(p.s) {
		return nil, p.errorf("unexpected text after the closing }")
	}
	return n, nil
}

func (p *jsonParser) errorf(msg string) error {
	return patternError(msg + " at offset " + strconv.Itoa(p.i))
}

func (p *jsonParser) skip() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
}

func (p *jsonParser) eat(tok string) bool {
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func (p *jsonParser) or() (jsonNode, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for {
		p.skip()
		if !p.eat("||") {
			return l, nil
		}
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &jsonBool{or: true, l: l, r: r}
	}
}

func (p *jsonParser) and() (jsonNode, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		p.skip()
		if !p.eat("&&") {
			return l, nil
		}
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &jsonBool{l: l, r: r}
	}
}

func (p *jsonParser) unary() (jsonNode, error) {
	p.skip()
	if p.eat("(") {
		if p.depth++; p.depth > maxJSONDepth {
			return nil, p.errorf("parentheses nested too deep")
		}
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		p.skip()
		if !p.eat(")") {
			return nil, p.errorf("expected a closing )")
		}
		p.depth--
		return n, nil
	}
	return p.comparison()
}

// isNameByte reports whether c may be part of a selector's field name.
func isNameByte(c byte) bool {
	return !isSpace(c) && !strings.ContainsRune(`.[]=!<>&|(){}"$*%`, rune(c))
}

func (p *jsonParser) comparison() (jsonNode, error) {
	if p.cmps++; p.cmps > maxJSONComparisons {
		return nil, p.errorf("too many comparisons")
	}
	if !p.eat("$") {
		return nil, p.errorf("expected a selector starting with $")
	}
	n := &jsonCmp{}
	for p.i < len(p.s) && (p.s[p.i] == '.' || p.s[p.i] == '[') {
		if len(n.sel) == maxSelectorSteps {
			return nil, p.errorf("selector too long")
		}
		if p.eat(".") {
			j := p.i
			for p.i < len(p.s) && isNameByte(p.s[p.i]) {
				p.i++
			}
			if j == p.i {
				return nil, p.errorf("expected a field name after .")
			}
			n.sel = append(n.sel, step{name: p.s[j:p.i], index: -1})
			continue
		}
		p.i++ // [
		j := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		idx, err := strconv.Atoi(p.s[j:p.i])
		if err != nil || p.i-j > 6 || !p.eat("]") {
			return nil, p.errorf("expected an array index such as [0]")
		}
		n.sel = append(n.sel, step{index: idx})
	}
	if len(n.sel) == 0 {
		return nil, p.errorf("expected a field after $, such as $.level")
	}
	p.skip()
	for _, kw := range []string{"IS TRUE", "IS FALSE", "IS NULL", "NOT EXISTS"} {
		if p.keyword(kw) {
			n.op = kw
			return n, nil
		}
	}
	for _, op := range []string{"!=", "<=", ">=", "=", "<", ">"} {
		if p.eat(op) {
			n.op = op
			break
		}
	}
	if n.op == "" {
		return nil, p.errorf("expected an operator (=, !=, <, <=, >, >=, IS or NOT EXISTS)")
	}
	p.skip()
	if p.i == len(p.s) {
		return nil, p.errorf("expected a value")
	}
	switch p.s[p.i] {
	case '"':
		p.i++
		var b strings.Builder
		closed := false
		for p.i < len(p.s) {
			c := p.s[p.i]
			p.i++
			if c == '"' {
				closed = true
				break
			}
			if c == '\\' && p.i < len(p.s) {
				c = p.s[p.i]
				p.i++
			}
			b.WriteByte(c)
		}
		if !closed {
			return nil, p.errorf("a quoted value is not closed")
		}
		n.str = b.String()
	case '%':
		return nil, p.errorf("regular expression values are not supported")
	default:
		j := p.i
		for p.i < len(p.s) && !isSpace(p.s[p.i]) && !strings.ContainsRune(`(){}&|"`, rune(p.s[p.i])) {
			p.i++
		}
		v := p.s[j:p.i]
		if v == "" {
			return nil, p.errorf("expected a value")
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil && isPlainNumber(v) && !math.IsInf(f, 0) {
			n.num, n.isNum = f, true
		} else {
			n.str = v
		}
	}
	if !n.isNum && n.op != "=" && n.op != "!=" {
		return nil, p.errorf(n.op + " needs a number")
	}
	return n, nil
}

// isPlainNumber reports whether v is a decimal number: digits with an
// optional sign, fraction and exponent (no hex, Inf or NaN).
func isPlainNumber(v string) bool {
	for _, c := range []byte(v) {
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return false
		}
	}
	return true
}

// keyword consumes kw (its words separated by any spaces) when it comes
// next as whole words.
func (p *jsonParser) keyword(kw string) bool {
	i := p.i
	for k, w := range strings.Fields(kw) {
		if k > 0 {
			j := i
			for i < len(p.s) && isSpace(p.s[i]) {
				i++
			}
			if i == j {
				return false
			}
		}
		if !strings.HasPrefix(p.s[i:], w) {
			return false
		}
		i += len(w)
	}
	if i < len(p.s) && isNameByte(p.s[i]) {
		return false
	}
	p.i = i
	return true
}
