package function

import (
	"strings"
	"testing"
)

// TestLogKey: a log group's key says its account and name (but for
// names too long for a file), never holds a path separator, and keeps
// the keys of Lambda's default groups as they were.
func TestLogKey(t *testing.T) {
	const def = "000000000000"
	long := "/" + strings.Repeat("a.b/", 120)
	for _, tt := range []struct {
		account, group, key string
		parsed              bool
	}{
		{def, "/aws/lambda/f", "f", true},
		{"111111111111", "/aws/lambda/f", "111111111111.f", true},
		{def, "/shared/app.logs", "~%shared%app+logs", true},
		{"111111111111", "/shared/app.logs", "111111111111.~%shared%app+logs", true},
		{def, "plain", "~plain", true},
		{def, "/aws/lambda/not.a.function", "~%aws%lambda%not+a+function", true},
		{def, long, "", false},
	} {
		key := LogKey(tt.account, def, tt.group)
		if tt.key != "" && key != tt.key {
			t.Errorf("LogKey(%s, %q) = %q; want %q", tt.account, tt.group, key, tt.key)
		}
		if strings.Contains(key, "/") || len(key) > 13+maxLogKey {
			t.Errorf("LogKey(%s, %q) = %q: not a file name", tt.account, tt.group, key)
		}
		account, group, ok := ParseLogKey(key, def)
		if ok != tt.parsed || account != tt.account || ok && group != tt.group {
			t.Errorf("ParseLogKey(%q) = %s, %q, %v; want %s, %q, %v", key, account, group, ok, tt.account, tt.group, tt.parsed)
		}
	}
	if a, b := LogKey(def, def, long), LogKey(def, def, long+"x"); a == b {
		t.Errorf("two long names share the key %q", a)
	}
}
