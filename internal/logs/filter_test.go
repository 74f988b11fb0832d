package logs_test

import (
	"errors"
	"strings"
	"testing"

	"hearth/internal/logs"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		msg     string
		want    bool
	}{
		{"", "anything", true},
		{"   ", "anything", true},
		{"ERROR", "an ERROR here", true},
		{"ERROR", "an error here", false}, // case-sensitive
		{"ERROR timeout", "ERROR: timeout", true},
		{"ERROR timeout", "ERROR: gone", false},
		{`"Task timed out"`, "x Task timed out after 3.00 seconds", true},
		{`"Task timed out"`, "Task out timed", false},
		{`ERROR -Exiting`, "ERROR in handler", true},
		{`ERROR -Exiting`, "ERROR Exiting now", false},
		{`-"no such"`, "there is no such thing", false},
		{`?ERROR ?WARN`, "a WARN line", true},
		{`?ERROR ?WARN`, "an INFO line", false},
		{`REPORT ?ms ?MB`, "REPORT Duration: 1 ms", true},
		{`REPORT ?ms ?MB`, "START x", false},
		{`"say \"hi\""`, `they say "hi" here`, true},
		// Lambda's lines as stored, with their newlines.
		{`"END RequestId"`, "END RequestId: 1\n", true},
		{`"timed out after 3.00 seconds"`, "x Task timed out after 3.00 seconds\n\n", true},
		{`REPORT -Status`, "REPORT RequestId: 1\tDuration: 1.00 ms\t\n", true},
	}
	for _, tt := range tests {
		p, err := logs.ParsePattern(tt.pattern)
		if err != nil {
			t.Errorf("ParsePattern(%q) = %v", tt.pattern, err)
			continue
		}
		if got := p.Match([]byte(tt.msg)); got != tt.want {
			t.Errorf("ParsePattern(%q).Match(%q) = %v; want %v", tt.pattern, tt.msg, got, tt.want)
		}
	}
}

func TestPatternErrors(t *testing.T) {
	for _, s := range []string{`"open`, `ERROR { $.level = "ERROR" }`, `[ip, user]`, `%ERR.*%`, `-`, `? x`, `a"b`, `"a"b`} {
		if _, err := logs.ParsePattern(s); !errors.Is(err, logs.ErrPattern) {
			t.Errorf("ParsePattern(%q) = %v; want ErrPattern", s, err)
		}
	}
}

// FuzzParsePattern checks that any pattern either fails with ErrPattern or
// parses into one whose rendering parses back to the same pattern, and
// that a message made of its required terms matches it when it has no
// exclusions.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"", "ERROR", `"a b" -c ?d ?e`, `"x\"y"`, `{ $.a = 1 }`, "-", `a\b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
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
		p.Match([]byte(s))
		if !strings.HasPrefix(p.String(), "{") && !strings.Contains(p.String(), `-"`) && !strings.Contains(p.String(), `?"`) {
			// Only required terms: the pattern's own rendering holds
			// them all.
			if !p.Match([]byte(s)) && strings.TrimSpace(s) != "" && !strings.ContainsAny(s, `"\`) {
				t.Fatalf("ParsePattern(%q) does not match its own text", s)
			}
		}
	})
}
