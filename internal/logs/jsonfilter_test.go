package logs_test

import (
	"errors"
	"strings"
	"testing"

	"hearth/internal/logs"
)

// jsonEvent is a record as a function with LogFormat JSON writes it, with
// a few more shapes to select.
const jsonEvent = `{"timestamp":"2026-12-01T10:00:00Z","level":"ERROR","message":"db timeout after 3s","requestId":"79b4f56e",` +
	`"latency":1500,"ratio":0.25,"neg":-3,"ok":false,"done":true,"nothing":null,"ip":"10.1.2.3",` +
	`"user":{"name":"ana","roles":["admin","dev"],"address":{"city":"Porto"}},"items":[{"id":7},{"id":8}],"empty":""}`

func TestJSONPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		msg     string
		want    bool
	}{
		// = and != on strings, quoted and unquoted.
		{`{ $.level = "ERROR" }`, jsonEvent, true},
		{`{ $.level = "ERROR" }`, jsonEvent + "\n", true}, // as a function's line is stored
		{`{ $.level = "WARN" }`, jsonEvent, false},
		{`{ $.level = ERROR }`, jsonEvent, true},
		{`{$.level="ERROR"}`, jsonEvent, true},
		{`{ $.level = "error" }`, jsonEvent, false}, // case-sensitive
		{`{ $.level != "INFO" }`, jsonEvent, true},
		{`{ $.level != "ERROR" }`, jsonEvent, false},
		{`{ $.missing != "ERROR" }`, jsonEvent, false}, // != needs the field
		{`{ $.latency = "1500" }`, jsonEvent, false},   // a string never equals a number field
		{`{ $.empty = "" }`, jsonEvent, true},
		{`{ $.empty = "x" }`, jsonEvent, false},
		// * wildcards.
		{`{ $.message = "db timeout*" }`, jsonEvent, true},
		{`{ $.message = "*timeout*" }`, jsonEvent, true},
		{`{ $.message = "*after 3s" }`, jsonEvent, true},
		{`{ $.message = "*after 4s" }`, jsonEvent, false},
		{`{ $.message = "db*3s" }`, jsonEvent, true},
		{`{ $.message = "db*4s" }`, jsonEvent, false},
		{`{ $.ip = 10.1.* }`, jsonEvent, true},
		{`{ $.ip != 10.1.* }`, jsonEvent, false},
		{`{ $.ip != 192.168.* }`, jsonEvent, true},
		{`{ $.level = * }`, jsonEvent, true},
		{`{ $.missing = * }`, jsonEvent, false},
		{`{ $.user = * }`, jsonEvent, false}, // an object is not a string
		// Numbers, with every operator.
		{`{ $.latency = 1500 }`, jsonEvent, true},
		{`{ $.latency = 1500.0 }`, jsonEvent, true},
		{`{ $.latency = 1501 }`, jsonEvent, false},
		{`{ $.latency != 1501 }`, jsonEvent, true},
		{`{ $.latency != 1500 }`, jsonEvent, false},
		{`{ $.latency > 1000 }`, jsonEvent, true},
		{`{ $.latency > 1500 }`, jsonEvent, false},
		{`{ $.latency >= 1500 }`, jsonEvent, true},
		{`{ $.latency >= 1501 }`, jsonEvent, false},
		{`{ $.latency < 2e3 }`, jsonEvent, true},
		{`{ $.latency < 1500 }`, jsonEvent, false},
		{`{ $.latency <= 1500 }`, jsonEvent, true},
		{`{ $.latency <= 1499.9 }`, jsonEvent, false},
		{`{ $.ratio < 0.5 }`, jsonEvent, true},
		{`{ $.ratio > 0.5 }`, jsonEvent, false},
		{`{ $.neg = -3 }`, jsonEvent, true},
		{`{ $.neg > -2 }`, jsonEvent, false},
		{`{ $.level > 1 }`, jsonEvent, false}, // a string field is not a number
		{`{ $.missing < 1 }`, jsonEvent, false},
		// Nested fields and array indexes.
		{`{ $.user.name = "ana" }`, jsonEvent, true},
		{`{ $.user.name = "bob" }`, jsonEvent, false},
		{`{ $.user.address.city = "Porto" }`, jsonEvent, true},
		{`{ $.user.address.city = "Lisboa" }`, jsonEvent, false},
		{`{ $.user.roles[0] = "admin" }`, jsonEvent, true},
		{`{ $.user.roles[1] = "admin" }`, jsonEvent, false},
		{`{ $.user.roles[2] = * }`, jsonEvent, false}, // past the end
		{`{ $.items[1].id = 8 }`, jsonEvent, true},
		{`{ $.items[0].id = 8 }`, jsonEvent, false},
		{`{ $.level[0] = "E" }`, jsonEvent, false}, // a string is not an array
		{`{ $[1] = 2 }`, `[1, 2, 3]`, true},
		{`{ $[1] = 3 }`, `[1, 2, 3]`, false},
		// IS TRUE, IS FALSE, IS NULL, NOT EXISTS.
		{`{ $.done IS TRUE }`, jsonEvent, true},
		{`{ $.ok IS TRUE }`, jsonEvent, false},
		{`{ $.ok IS FALSE }`, jsonEvent, true},
		{`{ $.done IS FALSE }`, jsonEvent, false},
		{`{ $.level IS TRUE }`, jsonEvent, false},
		{`{ $.nothing IS NULL }`, jsonEvent, true},
		{`{ $.missing IS NULL }`, jsonEvent, false}, // missing is not null
		{`{ $.ok IS NULL }`, jsonEvent, false},
		{`{ $.missing NOT EXISTS }`, jsonEvent, true},
		{`{ $.user.missing NOT EXISTS }`, jsonEvent, true},
		{`{ $.user.name.first NOT EXISTS }`, jsonEvent, true},
		{`{ $.nothing NOT EXISTS }`, jsonEvent, false}, // null exists
		{`{ $.user.name NOT EXISTS }`, jsonEvent, false},
		// && and || with parentheses; && binds tighter.
		{`{ $.level = "ERROR" && $.latency > 1000 }`, jsonEvent, true},
		{`{ $.level = "ERROR" && $.latency > 2000 }`, jsonEvent, false},
		{`{ $.level = "WARN" || $.latency > 1000 }`, jsonEvent, true},
		{`{ $.level = "WARN" || $.latency > 2000 }`, jsonEvent, false},
		{`{ ($.level = "WARN" || $.level = "ERROR") && $.done IS TRUE }`, jsonEvent, true},
		{`{ ($.level = "WARN" || $.level = "ERROR") && $.ok IS TRUE }`, jsonEvent, false},
		{`{ $.level = "WARN" && $.ok IS TRUE || $.done IS TRUE }`, jsonEvent, true},
		{`{ $.level = "WARN" && ($.ok IS TRUE || $.done IS TRUE) }`, jsonEvent, false},
		{`{ ((($.latency = 1500))) }`, jsonEvent, true},
		// A message that is not JSON never matches, not even NOT EXISTS.
		{`{ $.level = "ERROR" }`, `ERROR {"level":"ERROR"}`, false},
		{`{ $.missing NOT EXISTS }`, `START RequestId: 79b4f56e Version: $LATEST`, false},
		{`{ $.missing NOT EXISTS }`, `{"level":`, false},
		{`{ $.missing NOT EXISTS }`, `{}`, true},
		{`{ $.level = "ERROR" }`, "  {\"level\":\"ERROR\"}\n", true},
	}
	for _, tt := range tests {
		p, err := logs.ParsePattern(tt.pattern)
		if err != nil {
			t.Errorf("ParsePattern(%q) = %v", tt.pattern, err)
			continue
		}
		if got := p.Match([]byte(tt.msg)); got != tt.want {
			t.Errorf("ParsePattern(%q).Match(%.60q) = %v; want %v", tt.pattern, tt.msg, got, tt.want)
		}
	}
}

func TestJSONPatternErrors(t *testing.T) {
	for _, s := range []string{
		`{`, `{ }`, `{ $.level = "ERROR"`, `{ $.level = "ERROR" } x`, `{ level = "ERROR" }`, `{ $ = 1 }`,
		`{ $.level }`, `{ $.level = }`, `{ $.level == "x" }`, `{ $.level = "open }`, `{ $.a > "x" }`, `{ $.a < abc }`,
		`{ $.a = %ERR.*% }`, `{ $.a[x] = 1 }`, `{ $.a[1 = 1 }`, `{ $. = 1 }`, `{ ($.a = 1 }`, `{ $.a = 1) }`,
		`{ $.a = 1 && }`, `{ $.a = 1 || || $.b = 2 }`, `{ $.a IS MAYBE }`, `{ $.a NOT THERE }`, `{ $.a ISTRUE }`,
		`{ $.a[1234567] = 1 }`,
		"{ " + strings.Repeat("(", 17) + "$.a = 1" + strings.Repeat(")", 17) + " }",
		"{ " + strings.Repeat("$.a = 1 && ", 64) + "$.a = 1 }",
		"{ $" + strings.Repeat(".a", 33) + " = 1 }",
	} {
		_, err := logs.ParsePattern(s)
		if !errors.Is(err, logs.ErrPattern) || !strings.HasPrefix(err.Error(), "Invalid filter pattern: ") &&
			!strings.HasPrefix(err.Error(), "If a filter pattern starts with '{' it must end with '}'") {
			t.Errorf("ParsePattern(%.80q) = %v; want ErrPattern", s, err)
		}
	}
	// AWS's message for a missing closing brace (InvalidParameterException,
	// as reported in jorgebastida/awslogs#210).
	for _, s := range []string{`{`, `{ $.level = "ERROR"`, `{ $.a = 1 } x`, `  { $.a = 1 `} {
		if _, err := logs.ParsePattern(s); err == nil || err.Error() != "If a filter pattern starts with '{' it must end with '}'" {
			t.Errorf("ParsePattern(%q) = %v; want AWS's message for an unclosed {", s, err)
		}
	}
	// The bounds leave room for real patterns.
	for _, s := range []string{
		"{ " + strings.Repeat("(", 16) + "$.a = 1" + strings.Repeat(")", 16) + " }",
		"{ " + strings.Repeat("$.a = 1 && ", 63) + "$.a = 1 }",
		"{ $" + strings.Repeat(".a", 32) + " = 1 }",
	} {
		if _, err := logs.ParsePattern(s); err != nil {
			t.Errorf("ParsePattern(%.80q) = %v", s, err)
		}
	}
}

// FuzzJSONPattern checks that any pattern either fails with ErrPattern or
// parses into one whose rendering parses back to the same pattern and
// matches the same messages, and that matching never panics.
func FuzzJSONPattern(f *testing.F) {
	for _, s := range []string{
		`{ $.level = "ERROR" }`, `{ $.a.b[0] != x* }`, `{ $.n >= -1.5e3 }`, `{ ($.a IS TRUE || $.b IS NULL) && $.c NOT EXISTS }`,
		`{ $.a = "q\"uo\\te" }`, `{ $.a = "*" }`, `{ $[0] < 1 }`, `{ (((`, `{ $.a = %x% }`, `{ $.a = 1e400 }`,
	} {
		f.Add(s, jsonEvent)
	}
	f.Add(`{ $.x = 1 }`, `{"x":1}`)
	f.Add(`{ $.x = a*b*c }`, `{"x":"aabbcc"}`)
	f.Fuzz(func(t *testing.T, s, msg string) {
		if len(s) > 1024 {
			return // FilterLogEvents refuses longer patterns
		}
		p, err := logs.ParsePattern(s)
		if err != nil {
			if !errors.Is(err, logs.ErrPattern) {
				t.Fatalf("ParsePattern(%q) = %v; want ErrPattern", s, err)
			}
			return
		}
		again, err := logs.ParsePattern(p.String())
		if err != nil {
			t.Fatalf("ParsePattern(%q) rendered %q, which does not parse: %v", s, p.String(), err)
		}
		if again.String() != p.String() {
			t.Fatalf("ParsePattern(%q): %q parses back as %q", s, p.String(), again.String())
		}
		for _, m := range []string{msg, jsonEvent, s} {
			if p.Match([]byte(m)) != again.Match([]byte(m)) {
				t.Fatalf("ParsePattern(%q) and its rendering %q disagree on %q", s, p.String(), m)
			}
		}
	})
}

// BenchmarkJSONPatternMatch measures matching one JSON record, which
// FilterLogEvents does for every event it reads with a JSON pattern, and
// one text line, which is refused before any JSON parsing.
func BenchmarkJSONPatternMatch(b *testing.B) {
	p, err := logs.ParsePattern(`{ $.level = "ERROR" && ($.latency > 1000 || $.user.roles[0] = admin*) }`)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []struct{ name, msg string }{{"json", jsonEvent}, {"text", "2026-12-01T10:00:00Z 79b4f56e ERROR db timeout after 3s"}} {
		b.Run(m.name, func(b *testing.B) {
			msg := []byte(m.msg)
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				p.Match(msg)
			}
		})
	}
}
