package invoke

// validJSON reports whether p is one JSON value, with the verdict of
// encoding/json.Valid (including its nesting limit and its acceptance of
// any byte of 0x80 and above inside strings) at a fraction of the cost:
// one pass, no allocation, strings skipped with a table lookup a byte.
// FuzzValidJSON holds it to encoding/json's verdict.
func validJSON(p []byte) bool {
	// open records, one bit a level, whether each open container is an
	// object (1) or an array (0).
	var open [maxDepth/64 + 1]uint64
	depth := 0
	i := skipSpace(p, 0)
	for {
		// A value starts at p[i].
		if i >= len(p) {
			return false
		}
		switch c := p[i]; {
		case c == '{' || c == '[':
			if depth >= maxDepth {
				return false
			}
			w, b := depth/64, uint64(1)<<(depth%64)
			if c == '{' {
				open[w] |= b
			} else {
				open[w] &^= b
			}
			depth++
			i = skipSpace(p, i+1)
			if i >= len(p) {
				return false
			}
			if c == '{' {
				if p[i] == '}' {
					depth--
					i++
					break
				}
				if i = key(p, i); i < 0 {
					return false
				}
			} else if p[i] == ']' {
				depth--
				i++
				break
			}
			continue // the first member's value
		case c == '"':
			if i = str(p, i); i < 0 {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			if i = number(p, i); i < 0 {
				return false
			}
		case c == 't':
			if i = literal(p, i, "true"); i < 0 {
				return false
			}
		case c == 'f':
			if i = literal(p, i, "false"); i < 0 {
				return false
			}
		case c == 'n':
			if i = literal(p, i, "null"); i < 0 {
				return false
			}
		default:
			return false
		}
		// A value ended before p[i]: close containers, or go on to the
		// next member.
		for {
			i = skipSpace(p, i)
			if depth == 0 {
				return i == len(p)
			}
			if i >= len(p) {
				return false
			}
			obj := open[(depth-1)/64]&(uint64(1)<<((depth-1)%64)) != 0
			c := p[i]
			if c == ',' {
				i = skipSpace(p, i+1)
				if obj {
					if i = key(p, i); i < 0 {
						return false
					}
				}
				break // the next member's value
			}
			if obj && c == '}' || !obj && c == ']' {
				depth--
				i++
				continue
			}
			return false
		}
	}
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// key checks an object key and its colon at p[i:], returning where its
// value starts (after white space), or -1.
func key(p []byte, i int) int {
	if i >= len(p) || p[i] != '"' {
		return -1
	}
	if i = str(p, i); i < 0 {
		return -1
	}
	i = skipSpace(p, i)
	if i >= len(p) || p[i] != ':' {
		return -1
	}
	return skipSpace(p, i+1)
}

// plain marks the bytes that a string holds as they are.
var plain = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

var hex = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF" {
		t[c] = true
	}
	return t
}()

// str checks the string starting at p[i] == '"' and returns the index
// after its closing quote, or -1.
func str(p []byte, i int) int {
	i++
	for {
		for i+8 <= len(p) && plain[p[i]] && plain[p[i+1]] && plain[p[i+2]] && plain[p[i+3]] &&
			plain[p[i+4]] && plain[p[i+5]] && plain[p[i+6]] && plain[p[i+7]] {
			i += 8
		}
		for i < len(p) && plain[p[i]] {
			i++
		}
		if i >= len(p) {
			return -1
		}
		switch p[i] {
		case '"':
			return i + 1
		case '\\':
			if i+1 >= len(p) {
				return -1
			}
			switch p[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(p) || !hex[p[i+2]] || !hex[p[i+3]] || !hex[p[i+4]] || !hex[p[i+5]] {
					return -1
				}
				i += 6
			default:
				return -1
			}
		default: // a control character
			return -1
		}
	}
}

// number checks the number starting at p[i] and returns the index after
// it, or -1.
func number(p []byte, i int) int {
	if p[i] == '-' {
		i++
	}
	switch {
	case i < len(p) && p[i] == '0':
		i++
	case i < len(p) && p[i] >= '1' && p[i] <= '9':
		i = digits(p, i+1)
	default:
		return -1
	}
	if i < len(p) && p[i] == '.' {
		j := digits(p, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(p) && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < len(p) && (p[i] == '+' || p[i] == '-') {
			i++
		}
		j := digits(p, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(p []byte, i int) int {
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	return i
}

func literal(p []byte, i int, lit string) int {
	if len(p)-i < len(lit) || string(p[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

func skipSpace(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\n' || p[i] == '\t' || p[i] == '\r') {
		i++
	}
	return i
}
