package function

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Latest is the only mutable version of a function.
const Latest = "$LATEST"

// ErrInvalidName reports a function name, ARN or qualifier that does not
// match Lambda's patterns.
var ErrInvalidName = errors.New("invalid function name")

// MaxNameLen is the longest function name Lambda creates.
const MaxNameLen = 64

// ValidName reports whether s is a bare function name: 1 to 64 characters of
// [a-zA-Z0-9-_].
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// ValidQualifier reports whether s is $LATEST, a version number or an alias
// name.
func ValidQualifier(s string) bool {
	if s == Latest {
		return true
	}
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}

// Ref is a function named by a caller: a bare name with an optional
// qualifier, and the account and region when the caller gave an ARN.
type Ref struct {
	Name      string
	Qualifier string // empty when none was given
	Region    string // empty unless given in an ARN
	Account   string // empty unless given in an ARN
}

// ParseRef parses any form Lambda accepts in a FunctionName parameter:
// "name", "name:qualifier", "ACCOUNT:function:name[:qualifier]" and
// "arn:PARTITION:lambda:REGION:ACCOUNT:function:name[:qualifier]".
func ParseRef(s string) (Ref, error) {
	if len(s) == 0 || len(s) > 256 {
		return Ref{}, fmt.Errorf("%w: length %d", ErrInvalidName, len(s))
	}
	var buf [9]string
	parts := splitColons(s, buf[:0])
	var r Ref
	switch {
	case len(parts) >= 7 && parts[0] == "arn":
		if parts[2] != "lambda" || parts[5] != "function" || len(parts) > 8 || parts[1] == "" {
			return Ref{}, fmt.Errorf("%w: %q is not a function ARN", ErrInvalidName, s)
		}
		r = Ref{Region: parts[3], Account: parts[4], Name: parts[6]}
		if len(parts) == 8 {
			r.Qualifier = parts[7]
		}
		if !validRegion(r.Region) || !validAccount(r.Account) {
			return Ref{}, fmt.Errorf("%w: %q has a malformed region or account", ErrInvalidName, s)
		}
	case len(parts) >= 3 && parts[1] == "function":
		if len(parts) > 4 || !validAccount(parts[0]) {
			return Ref{}, fmt.Errorf("%w: %q", ErrInvalidName, s)
		}
		r = Ref{Account: parts[0], Name: parts[2]}
		if len(parts) == 4 {
			r.Qualifier = parts[3]
		}
	case len(parts) <= 2:
		r = Ref{Name: parts[0]}
		if len(parts) == 2 {
			r.Qualifier = parts[1]
		}
	default:
		return Ref{}, fmt.Errorf("%w: %q", ErrInvalidName, s)
	}
	if !ValidName(r.Name) {
		return Ref{}, fmt.Errorf("%w: %q", ErrInvalidName, r.Name)
	}
	if len(parts) == 2 || len(parts) == 4 || len(parts) == 8 {
		if !ValidQualifier(r.Qualifier) {
			return Ref{}, fmt.Errorf("%w: qualifier %q", ErrInvalidName, r.Qualifier)
		}
	}
	return r, nil
}

// splitColons is strings.Split(s, ":") into parts' room when it has
// enough (a function ARN has at most 8 parts), so that parsing a
// reference allocates nothing.
func splitColons(s string, parts []string) []string {
	if strings.Count(s, ":") >= cap(parts) {
		return strings.Split(s, ":")
	}
	for {
		part, rest, ok := strings.Cut(s, ":")
		parts = append(parts, part)
		if !ok {
			return parts
		}
		s = rest
	}
}

// NamePart returns the part of a FunctionName parameter that names the
// function, whatever its form, without checking it.
func NamePart(s string) string {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) >= 7 && parts[0] == "arn":
		return parts[6]
	case len(parts) >= 3 && parts[1] == "function":
		return parts[2]
	}
	return parts[0]
}

func validAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validRegion(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ARN returns the function ARN for name in region and account, qualified
// when qualifier is not empty.
func ARN(region, account, name, qualifier string) string {
	arn := "arn:aws:lambda:" + region + ":" + account + ":function:" + name
	if qualifier != "" {
		arn += ":" + qualifier
	}
	return arn
}

// LogName is the name of the log that holds the lines of account's
// function name: the name itself in the server's own account
// (defaultAccount), as before accounts, and ACCOUNT.NAME in another, which
// no function's name can be (names have no dots).
func LogName(account, defaultAccount, name string) string {
	if account == "" || account == defaultAccount {
		return name
	}
	return account + "." + name
}

// ParseLogName is the inverse of LogName: the account and function name
// of a log's name.
func ParseLogName(logName, defaultAccount string) (account, name string) {
	if account, name, ok := strings.Cut(logName, "."); ok {
		return account, name
	}
	return defaultAccount, logName
}

// DefaultLogGroupPrefix starts the name of a function's default log group,
// /aws/lambda/NAME.
const DefaultLogGroupPrefix = "/aws/lambda/"

// maxLogKey bounds the part of a log key after the account, so that a
// file named after the key (plus ".log.1") fits in 255 bytes.
const maxLogKey = 200

// logKeyEscaper maps the two characters of log group names that a log key
// cannot hold: '/' (a file name's separator) and '.' (LogName's account
// separator). Neither '%' nor '+' is allowed in a group name, so the
// mapping is reversible.
var (
	logKeyEscaper   = strings.NewReplacer("/", "%", ".", "+")
	logKeyUnescaper = strings.NewReplacer("%", "/", "+", ".")
)

// LogKey names the log that holds account's log group group. Lambda's
// default groups, /aws/lambda/NAME, keep the name they had before log
// groups could be chosen (LogName); any other group's key is "~" and the
// group's name with '/' and '.' mapped to '%' and '+', or, when that is
// too long for a file name, "~=" and a hash of the name (ParseLogKey then
// cannot recover the name: the log store records it).
func LogKey(account, defaultAccount, group string) string {
	if fn, ok := strings.CutPrefix(group, DefaultLogGroupPrefix); ok && ValidName(fn) {
		return LogName(account, defaultAccount, fn)
	}
	k := "~" + logKeyEscaper.Replace(group)
	if len(k) > maxLogKey {
		sum := sha256.Sum256([]byte(group))
		k = "~=" + hex.EncodeToString(sum[:20])
	}
	return LogName(account, defaultAccount, k)
}

// ParseLogKey is the inverse of LogKey: the account and log group of a
// log's key; ok is false for a key made of a hash.
func ParseLogKey(key, defaultAccount string) (account, group string, ok bool) {
	account, name := ParseLogName(key, defaultAccount)
	rest, custom := strings.CutPrefix(name, "~")
	switch {
	case !custom:
		return account, DefaultLogGroupPrefix + name, true
	case strings.HasPrefix(rest, "="):
		return account, "", false
	}
	return account, logKeyUnescaper.Replace(rest), true
}

// LogKey is the key of the log that holds the function's lines: that of
// its log group (LogGroupName) in its account.
func (c *Config) LogKey(defaultAccount string) string {
	return LogKey(c.Account, defaultAccount, c.LogGroupName())
}
